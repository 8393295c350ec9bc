//! El servidor: acepta conexiones (un hilo cada una, vía [`common::serve`]) y en cada una
//! atiende peticiones en orden mientras la conexión siga viva (*keep-alive* y *pipelining*).
//!
//! Cada petición tiene un plazo total ([`ServerConfig::timeout`]) desde que se empieza a
//! esperar hasta que llega entera: un cliente lento (*slowloris*) o inactivo no retiene el
//! hilo más de ese tiempo. El fichero se envía con `io::copy` de `File` a `TcpStream`, que en
//! Linux usa `sendfile`/`copy_file_range`: memoria constante y sin copias por el espacio de
//! usuario.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::http::{
    self, BodyKind, BodyReader, ChunkLimits, HttpError, Limits, RequestHead, ResponseHead, Target,
    Version,
};
use common::{ServeConfig, Shutdown};

use crate::protocolo::{
    self, error_detail, error_html, etag, listing_html, mime_type, none_match, not_modified_since,
    parse_range, resolve, ListingEntry, PathError, RangeRequest, DEFAULT_MAX_DISCARD,
    DEFAULT_TIMEOUT, KNOWN_METHODS, MAX_LISTING_ENTRIES,
};

/// Valor de la cabecera `Server`.
pub const SERVER_NAME: &str = "taller-redes-problema4";

/// Ficheros de hasta este tamaño se envían junto a la cabecera en una sola escritura; los
/// mayores, con `io::copy` (que usa `sendfile`).
const SMALL_FILE: u64 = 16 * 1024;

/// Configuración del servidor.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Directorio que se sirve. Nada fuera de él es accesible.
    pub root: PathBuf,
    /// Límites de la cabecera de cada petición (414/431 al pasarlos).
    pub limits: Limits,
    /// Plazo para recibir cada petición completa; también el máximo de inactividad de una
    /// conexión persistente (408 si la petición quedó a medias).
    pub timeout: Duration,
    /// Cuerpo máximo que se descarta en un `GET`/`HEAD` para seguir con la conexión.
    pub max_discard: u64,
    /// Máximo de conexiones simultáneas (las demás reciben 503).
    pub max_connections: usize,
}

impl ServerConfig {
    /// Configuración por omisión para servir `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            limits: Limits::default(),
            timeout: DEFAULT_TIMEOUT,
            max_discard: DEFAULT_MAX_DISCARD,
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Lo que impide arrancar el servidor.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// El directorio raíz no existe o no es un directorio.
    #[error("no se puede servir {path}: {reason}")]
    Root {
        /// El directorio pedido.
        path: PathBuf,
        /// El motivo.
        reason: String,
    },
    /// Falló el bucle de aceptación.
    #[error("error del bucle de aceptación: {0}")]
    Io(#[from] io::Error),
}

struct Context {
    root: PathBuf,
    config: ServerConfig,
    shutdown: Shutdown,
}

/// Sirve `config.root` en `listener` hasta que se dispare `shutdown`.
///
/// # Errores
/// [`ServerError::Root`] si la raíz no es un directorio accesible.
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let root = std::fs::canonicalize(&config.root).map_err(|e| ServerError::Root {
        path: config.root.clone(),
        reason: common::net::describe_io_error(&e),
    })?;
    if !root.is_dir() {
        return Err(ServerError::Root {
            path: config.root.clone(),
            reason: "no es un directorio".into(),
        });
    }
    log::info!("[problema4] sirviendo {}", root.display());
    let mut serve = ServeConfig::new("problema4");
    serve.max_connections = config.max_connections;
    serve.refusal = refusal_bytes();
    let ctx = Arc::new(Context {
        root,
        config,
        shutdown: shutdown.clone(),
    });
    common::serve(listener, serve, shutdown, move |stream, peer| {
        handle_connection(&ctx, stream, peer)
    })?;
    Ok(())
}

/// La respuesta 503 que reciben las conexiones por encima del tope.
pub fn refusal_bytes() -> Vec<u8> {
    let body = error_html(503, "Service Unavailable", error_detail(503));
    let mut head = ResponseHead::new(503);
    head.headers.push("Server", SERVER_NAME);
    head.headers
        .push("Content-Type", "text/html; charset=utf-8");
    head.headers.push("Content-Length", body.len().to_string());
    head.headers.push("Retry-After", "1");
    head.headers.push("Connection", "close");
    let mut out = Vec::new();
    head.encode(&mut out);
    out.extend_from_slice(body.as_bytes());
    out
}

/// Un socket cuya lectura respeta un plazo absoluto: antes de cada `read` se ajusta el
/// tiempo de espera del socket a lo que queda hasta el plazo.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
    /// El último tiempo de espera puesto en el socket (para no repetir la llamada al sistema
    /// en cada lectura cuando apenas ha cambiado).
    applied: Option<Duration>,
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // Con una holgura de 1/8 del plazo: en una conexión rápida el tiempo restante casi no
        // cambia entre lecturas y nos ahorramos un `setsockopt` por petición.
        let close_enough = self.applied.is_some_and(|a| {
            let diff = if a > left { a - left } else { left - a };
            diff <= left / 8
        });
        if !close_enough {
            self.stream.set_read_timeout(Some(left))?;
            self.applied = Some(left);
        }
        self.stream.read(buf)
    }
}

/// Lo que hay que hacer con la conexión tras una respuesta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    KeepAlive,
    Close,
}

fn handle_connection(ctx: &Context, stream: TcpStream, peer: SocketAddr) {
    log::debug!("[problema4] {peer}: conectado");
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(ctx.config.timeout));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(
        16 * 1024,
        DeadlineStream {
            stream: read_half,
            deadline: Instant::now() + ctx.config.timeout,
            applied: None,
        },
    );
    let mut out = &stream;
    loop {
        reader.get_mut().deadline = Instant::now() + ctx.config.timeout;
        let started = Instant::now();
        let head = match http::read_request_head(&mut reader, &ctx.config.limits) {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(HttpError::Timeout { received: 0 }) => {
                log::debug!("[problema4] {peer}: conexión inactiva, se cierra");
                break;
            }
            Err(HttpError::Io(e)) => {
                log::debug!("[problema4] {peer}: error de lectura: {e}");
                break;
            }
            Err(e) => {
                log::warn!("[problema4] {peer}: petición no válida: {e}");
                let status = e.status();
                let sent = send_error(&mut out, status, Version::Http11, false, &[]);
                access_log(peer, "-", status, sent.unwrap_or(0), started);
                lingering_close(&stream, &mut reader);
                return;
            }
        };
        match serve_request(ctx, &head, &mut reader, &mut out) {
            Ok((status, bytes, after)) => {
                if log::log_enabled!(log::Level::Info) {
                    access_log(peer, &request_line(&head), status, bytes, started);
                }
                if after == After::Close || ctx.shutdown.is_triggered() {
                    lingering_close(&stream, &mut reader);
                    return;
                }
            }
            Err(e) => {
                log::debug!("[problema4] {peer}: conexión cortada: {e}");
                return;
            }
        }
    }
    log::debug!("[problema4] {peer}: desconectado");
}

fn request_line(head: &RequestHead) -> String {
    format!("{} {} {}", head.method, head.target, head.version)
}

fn access_log(peer: SocketAddr, line: &str, status: u16, bytes: u64, started: Instant) {
    log::info!(
        "[problema4] {peer} \"{line}\" {status} {bytes} {:.1}ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

/// Cierre "con espera" (como el `lingering close` de Apache): cerramos nuestra escritura y
/// leemos un poco lo que el cliente siga enviando, para que el núcleo no responda con un
/// RST que destruya la respuesta antes de que el cliente la lea.
fn lingering_close(stream: &TcpStream, reader: &mut BufReader<DeadlineStream>) {
    let _ = stream.shutdown(NetShutdown::Write);
    reader.get_mut().deadline = Instant::now() + Duration::from_secs(1);
    let _ = io::copy(&mut reader.take(256 * 1024), &mut io::sink());
}

/// Atiende una petición ya leída. Devuelve estado, bytes de cuerpo enviados y si seguir.
fn serve_request(
    ctx: &Context,
    head: &RequestHead,
    reader: &mut BufReader<DeadlineStream>,
    out: &mut &TcpStream,
) -> io::Result<(u16, u64, After)> {
    let version = head.version;
    let mut keep = head.keep_alive();

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
        return serve_listing(&real, &path, version, keep, is_head, out);
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

fn send_error(
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
    if start > 0 {
        file.seek(SeekFrom::Start(start))?;
    }
    if count <= SMALL_FILE {
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
    // `io::copy` de `Take<File>` a `&TcpStream`: en Linux, `sendfile` sin pasar por nosotros.
    let sent = io::copy(&mut file.take(count), out)?;
    if sent != count {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "el fichero cambió",
        ));
    }
    Ok((status, sent, after(keep)))
}
