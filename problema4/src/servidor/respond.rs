//! La respuesta a una petición ya leída: validación (Host, cuerpo, método, destino), la ruta
//! en disco y el envío del fichero, del listado o de la página de error.
//!
//! Todo devuelve `(estado, bytes de cuerpo, After)` para el registro de accesos y para que el
//! bucle de la conexión sepa si seguir.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::SystemTime;

use common::http::{
    self, BodyKind, BodyReader, ChunkLimits, HttpError, RequestHead, Target, Version,
};

use super::open::list_dir;
use super::{After, Context, Reader, SERVER_NAME, SMALL_FILE};
use crate::protocolo::{
    self, decode_path, error_detail, error_html, etag, evaluate_preconditions, is_hidden,
    listing_html, mime_type, parse_range, ByteRange, PathError, Precondition, RangeRequest,
    KNOWN_METHODS, MAX_LISTING_ENTRIES,
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
        http::with_http_date(|date| self.field("Date", date));
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
    reader: &mut Reader<'_>,
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
    let method = head.method.as_str();
    // El cuerpo (que un GET no debería llevar) se lee y descarta para que la siguiente
    // petición se analice desde su primer byte.
    if kind != BodyKind::None {
        let too_big = matches!(kind, BodyKind::Length(n) if n > ctx.config.max_discard);
        // Con `Expect: 100-continue` el cliente espera permiso antes de enviar el cuerpo
        // (RFC 9110 §10.1.1): si lo vamos a leer, `100 Continue` primero; si no (método que
        // no servimos o cuerpo demasiado grande), la respuesta final sin leerlo y se cierra.
        // En HTTP/1.0 la expectativa se ignora.
        let expects_continue =
            head.version == Version::Http11 && head.headers.has_token("expect", "100-continue");
        let will_read = !too_big && (!expects_continue || method == "GET" || method == "HEAD");
        if will_read && expects_continue {
            out.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if !will_read || !discard_body(reader, kind, ctx.config.max_discard)? {
            keep = false;
        }
    }

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
    // Los ficheros ocultos (`.git/`, `.env`) no existen para el cliente salvo con `--hidden`.
    let opened = decode_path(&path).and_then(|segments| {
        if !ctx.config.hidden && is_hidden(&segments) {
            return Err(PathError::NotFound);
        }
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
        return serve_listing(ctx, head, &file, &display, keep, out);
    }
    // Un fichero pedido como directorio (`/index.html/`) no existe, como en nginx: si no,
    // los enlaces relativos de la página se rompen y una regla por ruta delante del
    // servidor se puede saltar.
    if path.ends_with('/') {
        let n = send_error_for(out, 404, version, keep, &[], is_head)?;
        return Ok((404, n, after(keep)));
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
fn discard_body(reader: &mut Reader<'_>, kind: BodyKind, max: u64) -> io::Result<bool> {
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
    ctx: &Context,
    req: &RequestHead,
    dir: &File,
    display: &str,
    keep: bool,
    out: &mut Output,
) -> io::Result<(u16, u64, After)> {
    let version = req.version;
    let is_head = req.method == "HEAD";
    // Un listado no tiene etiqueta ni fecha, pero `If-None-Match: *` sí le aplica (existe).
    match evaluate_preconditions(&req.headers, None, None) {
        Precondition::Proceed => {}
        Precondition::NotModified => return send_not_modified(out, version, keep, None),
        Precondition::Failed => {
            let n = send_error_for(out, 412, version, keep, &[], is_head)?;
            return Ok((412, n, after(keep)));
        }
    }
    let Ok((entries, truncated)) = list_dir(dir, MAX_LISTING_ENTRIES, ctx.config.hidden) else {
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

/// 304 con los validadores del fichero (si los tiene).
fn send_not_modified(
    out: &mut Output,
    version: Version,
    keep: bool,
    validators: Option<(&str, &str)>,
) -> io::Result<(u16, u64, After)> {
    out.start(304, version, keep);
    if let Some((tag, last_modified)) = validators {
        out.field("ETag", tag);
        out.field("Last-Modified", last_modified);
    }
    out.end_head();
    out.send()?;
    Ok((304, 0, after(keep)))
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

    // Peticiones condicionales, en el orden de RFC 9110 §13.2.2.
    match evaluate_preconditions(&req.headers, Some(&tag), Some(modified)) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            return send_not_modified(out, version, keep, Some((&tag, &last_modified)))
        }
        Precondition::Failed => {
            let n = send_error_for(out, 412, version, keep, &[], is_head)?;
            return Ok((412, n, after(keep)));
        }
    }

    // Rango, salvo que If-Range diga que la copia del cliente ya no es la actual.
    let range_applies = match req.headers.get("if-range") {
        None => true,
        Some(v) => {
            let v = v.trim();
            v == tag || v == last_modified
        }
    };
    let ranges = match req.headers.get("range") {
        Some(r) if range_applies => parse_range(r, len),
        _ => RangeRequest::Full,
    };
    let ranges = match ranges {
        RangeRequest::Full => None,
        RangeRequest::Partial(ranges) => Some(ranges),
        RangeRequest::Unsatisfiable => {
            let cr = format!("bytes */{len}");
            let n = send_error_for(out, 416, version, keep, &[("Content-Range", &cr)], is_head)?;
            return Ok((416, n, after(keep)));
        }
    };
    let mime = mime_type(path);
    // Lo que sigue a la cabecera: trozos del fichero, cada uno con sus bytes previos (las
    // cabeceras de parte de `multipart/byteranges`), y un cierre.
    let (status, pieces, tail, content_type) = match ranges.as_deref() {
        None => {
            let whole = Piece::plain(ByteRange::whole(len));
            (200, vec![whole], String::new(), Cow::Borrowed(mime))
        }
        Some([range]) => (
            206,
            vec![Piece::plain(Some(*range))],
            String::new(),
            Cow::Borrowed(mime),
        ),
        Some(ranges) => {
            let boundary = multipart_boundary();
            let (pieces, tail) = multipart_pieces(ranges, mime, len, &boundary);
            let content_type = format!("multipart/byteranges; boundary={boundary}");
            (206, pieces, tail, Cow::Owned(content_type))
        }
    };
    let count = pieces
        .iter()
        .map(|p| p.prefix.len() as u64 + p.range.map_or(0, |r| r.len()))
        .sum::<u64>()
        + tail.len() as u64;

    out.start(status, version, keep);
    out.field("Content-Type", &content_type);
    out.field_num("Content-Length", count);
    out.field("Last-Modified", &last_modified);
    out.field("ETag", &tag);
    out.field("Accept-Ranges", "bytes");
    if let Some([range]) = ranges.as_deref() {
        let _ = write!(
            out.buf,
            "Content-Range: bytes {}-{}/{len}\r\n",
            range.start, range.end
        );
    }
    out.end_head();
    if is_head {
        out.send()?;
        return Ok((status, 0, after(keep)));
    }
    send_pieces(out, &file, &pieces, tail.as_bytes(), count)?;
    Ok((status, count, after(keep)))
}

/// Un trozo del cuerpo: unos bytes propios y después, si hay, un rango del fichero.
struct Piece {
    prefix: String,
    range: Option<ByteRange>,
}

impl Piece {
    fn plain(range: Option<ByteRange>) -> Piece {
        Piece {
            prefix: String::new(),
            range,
        }
    }
}

impl ByteRange {
    /// Todo un fichero de `len` bytes (`None` si está vacío).
    fn whole(len: u64) -> Option<ByteRange> {
        (len > 0).then(|| ByteRange {
            start: 0,
            end: len - 1,
        })
    }
}

/// Un separador de partes aleatorio (64 bits de `RandomState`, sin dependencias), para que
/// no aparezca por casualidad dentro del fichero.
fn multipart_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("taller-redes-{random:016x}")
}

/// Las partes de un `multipart/byteranges` (RFC 9110 §14.6): cada una con su separador,
/// `Content-Type` y `Content-Range`, y el separador final.
fn multipart_pieces(
    ranges: &[ByteRange],
    mime: &str,
    len: u64,
    boundary: &str,
) -> (Vec<Piece>, String) {
    let pieces = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| Piece {
            prefix: format!(
                "{}--{boundary}\r\nContent-Type: {mime}\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
                if i == 0 { "" } else { "\r\n" },
                r.start,
                r.end
            ),
            range: Some(*r),
        })
        .collect();
    (pieces, format!("\r\n--{boundary}--\r\n"))
}

/// Envía los trozos tras la cabecera ya compuesta en `out` (`count` bytes en total).
///
/// Si caben en [`SMALL_FILE`], todo sale en una sola escritura: cada rango se lee con un
/// `pread` del tamaño justo (sin `seek` ni lecturas de tanteo); si el fichero encogió,
/// `read_exact_at` falla y se corta la conexión: no podemos cumplir el `Content-Length`
/// prometido. Si no, con el socket taponado (como `tcp_nopush` de nginx) la cabecera sale
/// junto al principio del fichero y cada rango con `sendfile(2)`, del fichero al socket sin
/// pasar por nuestra memoria, en segmentos llenos; el tapón se quita al terminar.
fn send_pieces(
    out: &mut Output,
    file: &File,
    pieces: &[Piece],
    tail: &[u8],
    count: u64,
) -> io::Result<()> {
    if count <= SMALL_FILE {
        for piece in pieces {
            out.buf.extend_from_slice(piece.prefix.as_bytes());
            if let Some(r) = piece.range {
                let at = out.buf.len();
                out.buf.resize(at + r.len() as usize, 0);
                file.read_exact_at(out.buf.get_mut(at..).unwrap_or_default(), r.start)?;
            }
        }
        out.buf.extend_from_slice(tail);
        return out.send();
    }
    let cork = common::sendfile::Cork::new(out.stream);
    for piece in pieces {
        out.buf.extend_from_slice(piece.prefix.as_bytes());
        out.send()?;
        if let Some(r) = piece.range {
            let sent = common::sendfile::send_file(file, r.start, r.len(), out.stream)?;
            if sent != r.len() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "el fichero cambió",
                ));
            }
        }
    }
    out.buf.extend_from_slice(tail);
    out.send()?;
    drop(cork);
    Ok(())
}
