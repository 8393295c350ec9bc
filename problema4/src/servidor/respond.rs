//! La respuesta a una petición ya leída: validación (Host, cuerpo, método, destino), la ruta
//! en disco y el envío del fichero, del listado o de la página de error.
//!
//! Todo devuelve `(estado, bytes de cuerpo, After)` para el registro de accesos y para que el
//! bucle de la conexión sepa si seguir.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::http::{
    self, BodyKind, BodyReader, ChunkLimits, HttpError, RequestHead, Target, Version,
};

use super::open::list_dir;
use super::{After, Context, DeadlineStream, SERVER_NAME, SMALL_FILE};
use crate::protocolo::{
    self, decode_path, error_detail, error_html, etag, listing_html, mime_type, none_match,
    not_modified_since, parse_range, PathError, RangeRequest, KNOWN_METHODS, MAX_LISTING_ENTRIES,
};

/// El lado de escritura de una conexión y el buffer donde se compone cada respuesta.
///
/// El buffer se reutiliza de una respuesta a la siguiente (sin reservar memoria por
/// petición); la cabecera se escribe directamente en él, campo a campo, y sale con el cuerpo
/// pequeño en una sola llamada a `write`.
pub(super) struct Output<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
}

/// Por encima de esta capacidad (un listado grande), el buffer se libera tras enviarlo.
const KEEP_BUFFER: usize = 64 * 1024;

impl<'a> Output<'a> {
    pub(super) fn new(stream: &'a TcpStream) -> Self {
        Output {
            stream,
            buf: Vec::with_capacity(1024),
        }
    }

    /// Empieza una respuesta: línea de estado y los campos comunes (`Date`, `Server` y
    /// `Connection` si hace falta).
    fn start(&mut self, status: u16, version: Version, keep: bool) {
        self.buf.clear();
        self.buf.extend_from_slice(b"HTTP/1.1 ");
        // Los códigos que usamos tienen tres cifras.
        let _ = write!(self.buf, "{status:03} ");
        self.buf
            .extend_from_slice(http::reason_phrase(status).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        with_http_date(|date| self.field("Date", date));
        self.field("Server", SERVER_NAME);
        match (keep, version) {
            (false, _) => self.field("Connection", "close"),
            (true, Version::Http10) => self.field("Connection", "keep-alive"),
            (true, Version::Http11) => {}
        }
    }

    /// Añade un campo `Nombre: valor`.
    fn field(&mut self, name: &str, value: &str) {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Añade un campo numérico sin pasar por un `String`.
    fn field_num(&mut self, name: &str, value: u64) {
        self.buf.extend_from_slice(name.as_bytes());
        let _ = write!(self.buf, ": {value}\r\n");
    }

    /// Cierra la cabecera (línea vacía).
    fn end_head(&mut self) {
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Envía lo compuesto en una sola escritura.
    fn send(&mut self) -> io::Result<()> {
        let result = self.stream.write_all(&self.buf);
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::with_capacity(1024);
        }
        result
    }
}

/// Atiende una petición ya leída. Devuelve estado, bytes de cuerpo enviados y si seguir.
pub(super) fn serve_request(
    ctx: &Context,
    head: &RequestHead,
    reader: &mut BufReader<DeadlineStream>,
    out: &mut Output,
) -> io::Result<(u16, u64, After)> {
    let version = head.version;
    // Al apagar, la respuesta en curso avisa con `Connection: close` (lo que HTTP permite).
    let mut keep = head.keep_alive() && !ctx.shutdown.is_triggered();

    if head.check_host().is_err() {
        let n = send_error(out, 400, version, false, &[])?;
        return Ok((400, n, After::Close));
    }
    let kind = match http::request_body_kind(head) {
        Ok(kind) => kind,
        Err(e) => {
            log::warn!("[problema4] cuerpo mal delimitado: {e}");
            let status = e.status();
            let n = send_error(out, status, version, false, &[])?;
            return Ok((status, n, After::Close));
        }
    };
    // El cuerpo (que un GET no debería llevar) se lee y descarta para que la siguiente
    // petición se analice desde su primer byte.
    if kind != BodyKind::None {
        let expects_continue = head.headers.has_token("expect", "100-continue");
        let too_big = matches!(kind, BodyKind::Length(n) if n > ctx.config.max_discard);
        if expects_continue || too_big || !discard_body(reader, kind, ctx.config.max_discard)? {
            keep = false;
        }
    }

    let method = head.method.as_str();
    if method != "GET" && method != "HEAD" {
        let (status, extra): (u16, &[(&str, &str)]) = if KNOWN_METHODS.contains(&method) {
            (405, &[("Allow", "GET, HEAD")])
        } else {
            (501, &[])
        };
        let n = send_error(out, status, version, keep, extra)?;
        return Ok((status, n, after(keep)));
    }
    let is_head = method == "HEAD";

    let (path, query) = match Target::parse(method, &head.target) {
        Ok(Target::Origin { path, query }) => (path, query),
        Ok(Target::Absolute { path_and_query, .. }) => match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query, None),
        },
        _ => {
            let n = send_error_for(out, 400, version, keep, &[], is_head)?;
            return Ok((400, n, after(keep)));
        }
    };

    // La ruta se decodifica sin tocar el disco y se abre sin salir de la raíz (`open`).
    let opened = decode_path(&path).and_then(|segments| {
        let file = ctx.root.open(&segments, None)?;
        Ok((segments, file))
    });
    let (segments, file) = match opened {
        Ok(pair) => pair,
        Err(e) => {
            if e == PathError::Outside || matches!(e, PathError::Malformed(_)) {
                log::warn!("[problema4] ruta rechazada {:?}: {e}", head.target);
            }
            let status = e.status();
            let n = send_error_for(out, status, version, keep, &[], is_head)?;
            return Ok((status, n, after(keep)));
        }
    };
    // Se abre una sola vez y se consulta con `fstat`: el mismo descriptor sirve el fichero.
    let meta = match file.metadata() {
        Ok(meta) => meta,
        Err(_) => {
            let n = send_error_for(out, 404, version, keep, &[], is_head)?;
            return Ok((404, n, after(keep)));
        }
    };

    if meta.is_dir() {
        if !path.ends_with('/') {
            let mut location = format!("{path}/");
            if let Some(q) = &query {
                location.push('?');
                location.push_str(q);
            }
            let n = send_error_for(out, 301, version, keep, &[("Location", &location)], is_head)?;
            return Ok((301, n, after(keep)));
        }
        // `index.html` puede ser un enlace simbólico: se abre con las mismas reglas.
        if let Ok(f) = ctx.root.open(&segments, Some("index.html")) {
            if let Ok(m) = f.metadata() {
                if m.is_file() {
                    return serve_file(head, Path::new("index.html"), f, &m, out, keep);
                }
            }
        }
        // El título muestra la ruta decodificada (`/mis fotos/`), escapada luego para HTML.
        let display = percent_encoding::percent_decode_str(&path).decode_utf8_lossy();
        return serve_listing(&file, &display, version, keep, is_head, out);
    }
    if !meta.is_file() {
        let n = send_error_for(out, 403, version, keep, &[], is_head)?;
        return Ok((403, n, after(keep)));
    }
    // El tipo MIME sale del nombre pedido (como en nginx), no del destino de un enlace.
    let name = segments.last().map_or(&[][..], Vec::as_slice);
    serve_file(
        head,
        Path::new(OsStr::from_bytes(name)),
        file,
        &meta,
        out,
        keep,
    )
}

fn after(keep: bool) -> After {
    if keep {
        After::KeepAlive
    } else {
        After::Close
    }
}

/// Lee y descarta el cuerpo, como mucho `max` bytes. `Ok(false)` si no se pudo leer entero
/// (demasiado grande o mal formado): entonces hay que cerrar tras responder.
fn discard_body(
    reader: &mut BufReader<DeadlineStream>,
    kind: BodyKind,
    max: u64,
) -> io::Result<bool> {
    let mut body = BodyReader::new(&mut *reader, kind, ChunkLimits::default());
    match io::copy(
        &mut (&mut body).take(max.saturating_add(1)),
        &mut io::sink(),
    ) {
        Ok(n) if n <= max => Ok(true),
        Ok(_) => Ok(false),
        Err(e) if HttpError::from_io(&e).is_some() || common::net::is_timeout(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Llama a `f` con la fecha actual en formato HTTP, formateada una vez por segundo y por hilo
/// (cada respuesta lleva `Date`; a miles de respuestas por segundo, formatearla cada vez se
/// nota).
fn with_http_date(f: impl FnOnce(&str)) {
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            *cache = (secs, httpdate::fmt_http_date(now));
        }
        f(&cache.1);
    });
}

pub(super) fn send_error(
    out: &mut Output,
    status: u16,
    version: Version,
    keep: bool,
    extra: &[(&str, &str)],
) -> io::Result<u64> {
    send_error_for(out, status, version, keep, extra, false)
}

/// Envía una respuesta de error (o una redirección) con su pequeña página HTML; sin cuerpo si
/// la petición era `HEAD`. Devuelve los bytes de cuerpo enviados.
fn send_error_for(
    out: &mut Output,
    status: u16,
    version: Version,
    keep: bool,
    extra: &[(&str, &str)],
    is_head: bool,
) -> io::Result<u64> {
    let body = if status == 301 {
        let location = extra
            .iter()
            .find(|(n, _)| *n == "Location")
            .map_or("", |(_, v)| *v);
        format!(
            "<!DOCTYPE html>\n<html lang=\"es\"><head><meta charset=\"utf-8\"><title>301 Moved Permanently</title></head>\n<body><p>Movido a <a href=\"{0}\">{0}</a>.</p></body></html>\n",
            protocolo::html_escape(location)
        )
    } else {
        error_html(status, http::reason_phrase(status), error_detail(status))
    };
    out.start(status, version, keep);
    for (n, v) in extra {
        out.field(n, v);
    }
    out.field("Content-Type", "text/html; charset=utf-8");
    out.field_num("Content-Length", body.len() as u64);
    out.end_head();
    if !is_head {
        out.buf.extend_from_slice(body.as_bytes());
    }
    out.send()?;
    Ok(if is_head { 0 } else { body.len() as u64 })
}

fn serve_listing(
    dir: &File,
    display: &str,
    version: Version,
    keep: bool,
    is_head: bool,
    out: &mut Output,
) -> io::Result<(u16, u64, After)> {
    let Ok((entries, truncated)) = list_dir(dir, MAX_LISTING_ENTRIES) else {
        let n = send_error_for(out, 403, version, keep, &[], is_head)?;
        return Ok((403, n, after(keep)));
    };
    let html = listing_html(display, entries, truncated);
    out.start(200, version, keep);
    out.field("Content-Type", "text/html; charset=utf-8");
    out.field_num("Content-Length", html.len() as u64);
    out.end_head();
    if !is_head {
        out.buf.extend_from_slice(html.as_bytes());
    }
    out.send()?;
    Ok((
        200,
        if is_head { 0 } else { html.len() as u64 },
        after(keep),
    ))
}

fn serve_file(
    req: &RequestHead,
    path: &Path,
    file: File,
    meta: &std::fs::Metadata,
    out: &mut Output,
    keep: bool,
) -> io::Result<(u16, u64, After)> {
    let version = req.version;
    let is_head = req.method == "HEAD";
    let len = meta.len();
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let tag = etag(modified, len);
    let last_modified = httpdate::fmt_http_date(modified);

    // Peticiones condicionales (RFC 9110 §13.2.2): If-None-Match manda sobre If-Modified-Since.
    let not_modified = match req.headers.get("if-none-match") {
        Some(inm) => none_match(inm, &tag),
        None => req
            .headers
            .get("if-modified-since")
            .is_some_and(|ims| not_modified_since(ims, modified)),
    };
    if not_modified {
        out.start(304, version, keep);
        out.field("ETag", &tag);
        out.field("Last-Modified", &last_modified);
        out.end_head();
        out.send()?;
        return Ok((304, 0, after(keep)));
    }

    // Rango, salvo que If-Range diga que la copia del cliente ya no es la actual.
    let range_applies = match req.headers.get("if-range") {
        None => true,
        Some(v) => {
            let v = v.trim();
            v == tag || v == last_modified
        }
    };
    let range = match req.headers.get("range") {
        Some(r) if range_applies => parse_range(r, len),
        _ => RangeRequest::Full,
    };
    let (status, start, count) = match range {
        RangeRequest::Full => (200, 0, len),
        RangeRequest::Partial { start, end } => (206, start, end - start + 1),
        RangeRequest::Unsatisfiable => {
            let cr = format!("bytes */{len}");
            let n = send_error_for(out, 416, version, keep, &[("Content-Range", &cr)], is_head)?;
            return Ok((416, n, after(keep)));
        }
    };

    out.start(status, version, keep);
    out.field("Content-Type", mime_type(path));
    out.field_num("Content-Length", count);
    out.field("Last-Modified", &last_modified);
    out.field("ETag", &tag);
    out.field("Accept-Ranges", "bytes");
    if status == 206 {
        let _ = write!(
            out.buf,
            "Content-Range: bytes {start}-{}/{len}\r\n",
            start + count - 1
        );
    }
    out.end_head();
    if is_head {
        out.send()?;
        return Ok((status, 0, after(keep)));
    }
    if count <= SMALL_FILE {
        // Cabecera y cuerpo en una sola escritura: un paquete para los ficheros pequeños. El
        // cuerpo se lee con un solo `pread` del tamaño justo (sin `seek` ni lecturas de
        // tanteo); si el fichero encogió, `read_exact_at` falla y se corta la conexión: no
        // podemos cumplir el `Content-Length` prometido.
        let head_len = out.buf.len();
        out.buf.resize(head_len + count as usize, 0);
        file.read_exact_at(&mut out.buf[head_len..], start)?;
        out.send()?;
        return Ok((status, count, after(keep)));
    }
    // Con el socket taponado (como `tcp_nopush` de nginx) la cabecera sale junto al principio
    // del fichero y el fichero en segmentos llenos; el tapón se quita al terminar.
    let cork = common::sendfile::Cork::new(out.stream);
    out.send()?;
    // `sendfile(2)`: del fichero al socket sin pasar por nuestra memoria.
    let sent = common::sendfile::send_file(&file, start, count, out.stream)?;
    drop(cork);
    if sent != count {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "el fichero cambió",
        ));
    }
    Ok((status, sent, after(keep)))
}
