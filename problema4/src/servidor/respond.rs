//! La respuesta a una petición ya leída: validación (Host, cuerpo, método, destino), la ruta
//! en disco y el envío del fichero, del listado o de la página de error.
//!
//! Todo devuelve `(estado, bytes de cuerpo, After)` para el registro de accesos y para que el
//! bucle de la conexión sepa si seguir.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::SystemTime;

use common::http::{
    self, BodyKind, BodyReader, ChunkLimits, HttpError, RequestHead, ResponseHead, Target, Version,
};

use super::{After, Context, DeadlineStream, SERVER_NAME, SMALL_FILE};
use crate::protocolo::{
    self, error_detail, error_html, etag, listing_html, mime_type, none_match, not_modified_since,
    parse_range, resolve, ListingEntry, PathError, RangeRequest, KNOWN_METHODS,
    MAX_LISTING_ENTRIES,
};

/// Atiende una petición ya leída. Devuelve estado, bytes de cuerpo enviados y si seguir.
pub(super) fn serve_request(
    ctx: &Context,
    head: &RequestHead,
    reader: &mut BufReader<DeadlineStream>,
    out: &mut &TcpStream,
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

    let real = match resolve(&ctx.root, &path) {
        Ok(real) => real,
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
    let opened = File::open(&real).and_then(|f| f.metadata().map(|m| (f, m)));
    let (file, meta) = match opened {
        Ok(pair) => pair,
        Err(e) => {
            let status = if e.kind() == io::ErrorKind::PermissionDenied {
                403
            } else {
                404
            };
            let n = send_error_for(out, status, version, keep, &[], is_head)?;
            return Ok((status, n, after(keep)));
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
        // `index.html` puede ser un enlace simbólico: se canonicaliza y se comprueba igual.
        if let Ok(index) = std::fs::canonicalize(real.join("index.html")) {
            if index.starts_with(&ctx.root) {
                if let Ok(f) = File::open(&index) {
                    if let Ok(m) = f.metadata() {
                        if m.is_file() {
                            return serve_file(head, &index, f, &m, out, keep);
                        }
                    }
                }
            }
        }
        // El título muestra la ruta decodificada (`/mis fotos/`), escapada luego para HTML.
        let display = percent_encoding::percent_decode_str(&path).decode_utf8_lossy();
        return serve_listing(&real, &display, version, keep, is_head, out);
    }
    if !meta.is_file() {
        let n = send_error_for(out, 403, version, keep, &[], is_head)?;
        return Ok((403, n, after(keep)));
    }
    serve_file(head, &real, file, &meta, out, keep)
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

/// Las cabeceras comunes a toda respuesta: `Date`, `Server` y `Connection` si hace falta.
fn base_head(status: u16, version: Version, keep: bool) -> ResponseHead {
    let mut head = ResponseHead::new(status);
    head.headers
        .push("Date", httpdate::fmt_http_date(SystemTime::now()));
    head.headers.push("Server", SERVER_NAME);
    match (keep, version) {
        (false, _) => head.headers.push("Connection", "close"),
        (true, Version::Http10) => head.headers.push("Connection", "keep-alive"),
        (true, Version::Http11) => {}
    }
    head
}

pub(super) fn send_error(
    out: &mut &TcpStream,
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
    out: &mut &TcpStream,
    status: u16,
    version: Version,
    keep: bool,
    extra: &[(&str, &str)],
    is_head: bool,
) -> io::Result<u64> {
    let mut head = base_head(status, version, keep);
    let reason = head.reason.clone();
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
        error_html(status, &reason, error_detail(status))
    };
    for (n, v) in extra {
        head.headers.push(*n, *v);
    }
    head.headers
        .push("Content-Type", "text/html; charset=utf-8");
    head.headers.push("Content-Length", body.len().to_string());
    let mut bytes = Vec::with_capacity(512 + body.len());
    head.encode(&mut bytes);
    if !is_head {
        bytes.extend_from_slice(body.as_bytes());
    }
    out.write_all(&bytes)?;
    Ok(if is_head { 0 } else { body.len() as u64 })
}

fn serve_listing(
    dir: &Path,
    display: &str,
    version: Version,
    keep: bool,
    is_head: bool,
    out: &mut &TcpStream,
) -> io::Result<(u16, u64, After)> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(_) => {
            let n = send_error_for(out, 403, version, keep, &[], is_head)?;
            return Ok((403, n, after(keep)));
        }
    };
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in read.flatten() {
        if entries.len() == MAX_LISTING_ENTRIES {
            truncated = true;
            break;
        }
        use std::os::unix::ffi::OsStrExt;
        // `metadata` sigue enlaces: un enlace a un directorio se lista como directorio.
        let meta = entry.metadata().ok();
        let followed = std::fs::metadata(entry.path()).ok().or(meta);
        entries.push(ListingEntry {
            name: entry.file_name().as_bytes().to_vec(),
            is_dir: followed.as_ref().is_some_and(|m| m.is_dir()),
            size: followed.as_ref().map_or(0, |m| m.len()),
            modified: followed.and_then(|m| m.modified().ok()),
        });
    }
    let html = listing_html(display, entries, truncated);
    let mut head = base_head(200, version, keep);
    head.headers
        .push("Content-Type", "text/html; charset=utf-8");
    head.headers.push("Content-Length", html.len().to_string());
    let mut bytes = Vec::with_capacity(256 + html.len());
    head.encode(&mut bytes);
    if !is_head {
        bytes.extend_from_slice(html.as_bytes());
    }
    out.write_all(&bytes)?;
    Ok((
        200,
        if is_head { 0 } else { html.len() as u64 },
        after(keep),
    ))
}

fn serve_file(
    req: &RequestHead,
    path: &Path,
    mut file: File,
    meta: &std::fs::Metadata,
    out: &mut &TcpStream,
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
        let mut head = base_head(304, version, keep);
        head.headers.push("ETag", tag.as_str());
        head.headers.push("Last-Modified", last_modified.as_str());
        http::write_response_head(out, &head)?;
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

    let mut head = base_head(status, version, keep);
    head.headers.push("Content-Type", mime_type(path));
    head.headers.push("Content-Length", count.to_string());
    head.headers.push("Last-Modified", last_modified);
    head.headers.push("ETag", tag);
    head.headers.push("Accept-Ranges", "bytes");
    if status == 206 {
        head.headers.push(
            "Content-Range",
            format!("bytes {start}-{}/{len}", start + count - 1),
        );
    }
    let mut bytes = Vec::with_capacity(512);
    head.encode(&mut bytes);
    if is_head {
        out.write_all(&bytes)?;
        return Ok((status, 0, after(keep)));
    }
    if count <= SMALL_FILE {
        if start > 0 {
            file.seek(SeekFrom::Start(start))?;
        }
        // Cabecera y cuerpo en una sola escritura: un paquete para los ficheros pequeños.
        let head_len = bytes.len();
        (&mut file).take(count).read_to_end(&mut bytes)?;
        if (bytes.len() - head_len) as u64 != count {
            // El fichero encogió mientras lo leíamos: no podemos cumplir Content-Length.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "el fichero cambió",
            ));
        }
        out.write_all(&bytes)?;
        return Ok((status, count, after(keep)));
    }
    out.write_all(&bytes)?;
    // `sendfile(2)`: del fichero al socket sin pasar por nuestra memoria.
    let sent = common::sendfile::send_file(&file, start, count, out)?;
    if sent != count {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "el fichero cambió",
        ));
    }
    Ok((status, sent, after(keep)))
}
