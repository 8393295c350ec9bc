//! El cliente: pide una o varias URL (o rutas) por una misma conexión persistente y escribe
//! los cuerpos en la salida o en un fichero.
//!
//! Lee cuerpos con `Content-Length`, `chunked` o hasta el cierre (con el lector de
//! [`common::http`]). Si el servidor cerró una conexión reutilizada antes de responder, se
//! reintenta una vez con una nueva: es lo normal cuando venció su tiempo de inactividad.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use common::cli::{connect_with_timeout, host_port};
use common::exit::{Exit, Failure};
use common::http::{self, ChunkLimits, HttpError, Limits, RequestHead, Target, Version};
use common::progress::Bar;

/// Lo que tiene que hacer el cliente.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// URL (`http://host:puerto/ruta`) o rutas (`/ruta`, relativas a `host`/`port`).
    /// Vacío equivale a `/`.
    pub urls: Vec<String>,
    /// Host para las rutas sin servidor.
    pub host: String,
    /// Puerto para las rutas sin servidor.
    pub port: u16,
    /// Pedir con `HEAD` y mostrar solo la cabecera (`-I`).
    pub head_only: bool,
    /// Mostrar también la línea de estado y las cabeceras (`-i`).
    pub include_headers: bool,
    /// Guardar los cuerpos en este fichero en vez de la salida (`-o`).
    pub output: Option<PathBuf>,
    /// Espera máxima para conectar y para cada lectura.
    pub timeout: Duration,
    /// Dibujar una barra de progreso en stderr (solo se dibuja si stderr es una terminal).
    pub progress: bool,
}

/// Lo que puede fallar en el cliente. Todos los mensajes, en español, dicen qué hacer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// La URL no es `http://...` ni una ruta `/...`.
    #[error("URL no válida {url:?}: {reason}")]
    InvalidUrl {
        /// La URL dada.
        url: String,
        /// El motivo.
        reason: String,
    },
    /// No se pudo conectar.
    #[error("no se pudo conectar a {addr}: {reason}. ¿Está el servidor en marcha? Pruebe `cargo run -p problema4 --bin servidor`")]
    Connect {
        /// La dirección.
        addr: String,
        /// El motivo.
        reason: String,
    },
    /// La respuesta no es HTTP válido o se cortó.
    #[error("respuesta no válida de {addr}: {source}")]
    Protocol {
        /// La dirección.
        addr: String,
        /// El error de análisis.
        source: HttpError,
    },
    /// Error de red durante la transferencia.
    #[error("error de red con {addr}: {reason}")]
    Network {
        /// La dirección.
        addr: String,
        /// El motivo.
        reason: String,
    },
    /// No se pudo escribir la salida.
    #[error("no se pudo escribir {what}: {}", common::net::describe_io_error(.error))]
    Output {
        /// Qué salida.
        what: String,
        /// El error (con `BrokenPipe`, quien leía la salida estándar la cerró).
        error: io::Error,
    },
    /// El servidor respondió con un error (4xx/5xx).
    #[error("el servidor respondió {status} {reason} a {url}")]
    Status {
        /// La URL.
        url: String,
        /// El código.
        status: u16,
        /// La frase.
        reason: String,
    },
}

struct Request {
    url: String,
    addr: String,
    host_header: String,
    path: String,
}

fn parse_url(url: &str, host: &str, port: u16) -> Result<Request, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if url.starts_with('/') {
        return Ok(Request {
            url: url.to_string(),
            addr: host_port(host, port),
            host_header: host_port(host, port),
            path: url.to_string(),
        });
    }
    if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
        return Err(invalid("este cliente solo habla http:// (sin TLS)"));
    }
    match Target::parse("GET", url) {
        Ok(Target::Absolute {
            scheme,
            host,
            port,
            path_and_query,
        }) if scheme == "http" => {
            let hp = host_port(&host, port);
            Ok(Request {
                url: url.to_string(),
                addr: hp.clone(),
                host_header: if port == 80 { host_port_no_default(&host) } else { hp },
                path: path_and_query,
            })
        }
        _ => Err(invalid(
            "use http://host:puerto/ruta o una ruta que empiece por / (y caracteres ASCII codificados con %)",
        )),
    }
}

fn host_port_no_default(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

struct Connection {
    addr: String,
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

/// Ejecuta todas las peticiones de `config`, escribiendo en `out` los cuerpos (si no hay
/// `-o`) y las cabeceras pedidas; con `config.progress`, la barra va a stderr si es una
/// terminal.
///
/// Sigue con las demás URL aunque una responda con error; al final devuelve el primer
/// error de estado.
///
/// # Errores
/// [`ClientError`]: de conexión, de protocolo, de salida, o el primer estado 4xx/5xx.
pub fn run(config: &ClientConfig, out: &mut dyn Write) -> Result<(), ClientError> {
    let urls: Vec<String> = if config.urls.is_empty() {
        vec!["/".to_string()]
    } else {
        config.urls.clone()
    };
    let requests = urls
        .iter()
        .map(|u| parse_url(u, &config.host, config.port))
        .collect::<Result<Vec<_>, _>>()?;
    let mut file = match &config.output {
        Some(path) => Some(File::create(path).map_err(|error| ClientError::Output {
            what: path.display().to_string(),
            error,
        })?),
        None => None,
    };
    let mut conn: Option<Connection> = None;
    let mut first_status_error = None;
    for req in &requests {
        let result = fetch(config, req, &mut conn, out, &mut file)?;
        if let Some(e) = result {
            first_status_error.get_or_insert(e);
        }
    }
    if let Some(f) = file.as_mut() {
        f.flush()
            .map_err(|e| output_error(config.output.as_ref(), e))?;
    }
    out.flush().map_err(|e| output_error(None, e))?;
    match first_status_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Un error al escribir en el fichero de `-o` (`Some`) o en la salida estándar (`None`).
fn output_error(path: Option<&PathBuf>, error: io::Error) -> ClientError {
    ClientError::Output {
        what: path.map_or("la salida estándar".to_string(), |p| {
            p.display().to_string()
        }),
        error,
    }
}

/// El código de salida de cada error (véase `common::exit`): 2 una URL mal escrita (como un
/// argumento mal escrito), 3 sin conexión, 4 una respuesta cortada o que no es HTTP, 1 un
/// estado 4xx/5xx o un fichero de `-o` que no se puede escribir. Una salida estándar cerrada
/// (`| head`) no es un error: se termina en silencio.
impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let message = e.to_string();
        match e {
            ClientError::InvalidUrl { .. } => Failure {
                exit: Exit::Usage,
                message,
            },
            ClientError::Connect { .. } => Failure::connect(message),
            ClientError::Protocol { .. } | ClientError::Network { .. } => Failure::network(message),
            ClientError::Output { error, .. } if error.kind() == io::ErrorKind::BrokenPipe => {
                Failure::stdout(&error)
            }
            ClientError::Output { .. } | ClientError::Status { .. } => Failure::refused(message),
        }
    }
}

fn connect(addr: &str, timeout: Duration) -> Result<Connection, ClientError> {
    let stream = connect_with_timeout(addr, timeout).map_err(|e| ClientError::Connect {
        addr: addr.to_string(),
        reason: common::net::describe_io_error(&e),
    })?;
    let _ = stream.set_nodelay(true);
    let reader = BufReader::with_capacity(
        64 * 1024,
        stream.try_clone().map_err(|e| ClientError::Network {
            addr: addr.to_string(),
            reason: common::net::describe_io_error(&e),
        })?,
    );
    Ok(Connection {
        addr: addr.to_string(),
        reader,
        stream,
    })
}

/// Hace una petición; devuelve `Some(error)` si el estado fue 4xx/5xx.
fn fetch(
    config: &ClientConfig,
    req: &Request,
    conn: &mut Option<Connection>,
    out: &mut dyn Write,
    file: &mut Option<File>,
) -> Result<Option<ClientError>, ClientError> {
    let method = if config.head_only { "HEAD" } else { "GET" };
    let mut head = RequestHead::new(method, req.path.clone(), Version::Http11);
    head.headers.push("Host", req.host_header.clone());
    head.headers
        .push("User-Agent", "taller-redes-problema4-cliente");
    head.headers.push("Accept", "*/*");

    // Una conexión reutilizada puede haberla cerrado el servidor: un reintento con otra.
    let reused = conn.as_ref().is_some_and(|c| c.addr == req.addr);
    let attempts = if reused { 2 } else { 1 };
    let mut response = None;
    for attempt in 0..attempts {
        if attempt > 0 || !conn.as_ref().is_some_and(|c| c.addr == req.addr) {
            *conn = Some(connect(&req.addr, config.timeout)?);
        }
        let Some(c) = conn.as_mut() else { continue };
        let net = |e: io::Error| ClientError::Network {
            addr: req.addr.clone(),
            reason: common::net::describe_io_error(&e),
        };
        let sent = http::write_request_head(&mut c.stream, &head);
        let read = sent
            .map_err(HttpError::Io)
            .and_then(|_| http::read_response_head(&mut c.reader, &Limits::default()));
        match read {
            Ok(Some(r)) => {
                response = Some(r);
                break;
            }
            Ok(None) | Err(HttpError::Io(_)) | Err(HttpError::UnexpectedEof)
                if attempt + 1 < attempts =>
            {
                continue
            }
            Ok(None) => {
                return Err(ClientError::Protocol {
                    addr: req.addr.clone(),
                    source: HttpError::UnexpectedEof,
                })
            }
            Err(HttpError::Io(e)) => return Err(net(e)),
            Err(HttpError::Timeout { .. }) => return Err(net(io::ErrorKind::TimedOut.into())),
            Err(e) => {
                return Err(ClientError::Protocol {
                    addr: req.addr.clone(),
                    source: e,
                })
            }
        }
    }
    let Some(resp) = response else {
        return Err(ClientError::Protocol {
            addr: req.addr.clone(),
            source: HttpError::UnexpectedEof,
        });
    };
    let Some(c) = conn.as_mut() else {
        return Ok(None);
    };

    if config.head_only || config.include_headers {
        let mut bytes = Vec::new();
        resp.encode(&mut bytes);
        out.write_all(&bytes).map_err(|e| output_error(None, e))?;
    }
    let kind = http::response_body_kind(method, resp.status, &resp.headers).map_err(|e| {
        ClientError::Protocol {
            addr: req.addr.clone(),
            source: e,
        }
    })?;
    let total = match kind {
        http::BodyKind::Length(n) => Some(n),
        _ => None,
    };
    let mut body = http::BodyReader::new(&mut c.reader, kind, ChunkLimits::default());
    let (sink, sink_path): (&mut dyn Write, _) = match file.as_mut() {
        Some(f) => (f, config.output.as_ref()),
        None => (out, None),
    };
    let mut progress = if config.progress {
        Bar::new(req.url.clone())
    } else {
        Bar::hidden()
    };
    progress.start(total, 0);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match HttpError::from_io_error(e) {
                    HttpError::Io(e) => ClientError::Network {
                        addr: req.addr.clone(),
                        reason: common::net::describe_io_error(&e),
                    },
                    other => ClientError::Protocol {
                        addr: req.addr.clone(),
                        source: other,
                    },
                })
            }
        };
        sink.write_all(&buf[..n])
            .map_err(|e| output_error(sink_path, e))?;
        progress.add(n as u64);
    }
    progress.finish();
    if !resp.keep_alive() || kind == http::BodyKind::CloseDelimited {
        *conn = None;
    }
    if resp.status >= 400 {
        return Ok(Some(ClientError::Status {
            url: req.url.clone(),
            status: resp.status,
            reason: resp.reason,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        let r = parse_url("/a?b", "127.0.0.1", 8004).unwrap();
        assert_eq!(
            (r.addr.as_str(), r.path.as_str()),
            ("127.0.0.1:8004", "/a?b")
        );
        let r = parse_url("http://localhost:9000", "x", 1).unwrap();
        assert_eq!((r.addr.as_str(), r.path.as_str()), ("localhost:9000", "/"));
        assert_eq!(r.host_header, "localhost:9000");
        let r = parse_url("http://example.com/x", "x", 1).unwrap();
        assert_eq!(
            (r.addr.as_str(), r.host_header.as_str()),
            ("example.com:80", "example.com")
        );
        assert!(parse_url("https://x/", "x", 1).is_err());
        assert!(parse_url("ftp://x/", "x", 1).is_err());
        assert!(parse_url("x/y", "x", 1).is_err());
    }
}
