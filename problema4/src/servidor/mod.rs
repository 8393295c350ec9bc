//! El servidor: acepta conexiones (un hilo cada una, vía [`common::serve`]) y en cada una
//! atiende peticiones en orden mientras la conexión siga viva (*keep-alive* y *pipelining*).
//!
//! Cada petición tiene un plazo total ([`ServerConfig::timeout`]) desde que se empieza a
//! esperar hasta que llega entera: un cliente lento (*slowloris*) o inactivo no retiene el
//! hilo más de ese tiempo. El fichero se envía con `common::sendfile` (`sendfile(2)` en
//! Linux): memoria constante y sin copias por el espacio de usuario.
//!
//! Aquí están el bucle de cada conexión, los plazos y el cierre; la respuesta a cada petición
//! (validación, ficheros, listados, errores) está en `respond`.

use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::conn::{linger_close, DeadlineReader, Linger};
use common::http::{self, HttpError, Limits, RequestHead, ResponseHead, Version};
use common::{ServeConfig, Shutdown};

mod open;
mod respond;

use respond::{send_error, serve_request, Output};

use crate::protocolo::{error_detail, error_html, DEFAULT_MAX_DISCARD, DEFAULT_TIMEOUT};

/// Valor de la cabecera `Server`.
pub const SERVER_NAME: &str = "taller-redes-problema4";

/// Ficheros de hasta este tamaño se envían junto a la cabecera en una sola escritura; los
/// mayores, con `sendfile` (`common::sendfile`).
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
    /// ¿Se sirven y se listan los ficheros ocultos (`.git/`, `.env`)? Por omisión no: se
    /// contestan con 404 como si no existieran (`--hidden` los muestra).
    pub hidden: bool,
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
            hidden: false,
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
    root: open::Root,
    config: ServerConfig,
    shutdown: Shutdown,
}

/// Un servidor ya comprobado (la raíz existe, es un directorio y está abierta) que aún no
/// escucha. Se separa de [`Server::run`] para que el binario valide todo antes de abrir el
/// puerto e imprimir `escuchando en ...`: quien espera esa línea no debe oír "listo" de un
/// servidor que va a fallar (issue 16).
pub struct Server {
    root: open::Root,
    config: ServerConfig,
}

impl Server {
    /// Comprueba la configuración y abre la raíz.
    ///
    /// # Errores
    /// [`ServerError::Root`] si la raíz no es un directorio accesible.
    pub fn new(config: ServerConfig) -> Result<Server, ServerError> {
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
        let root = open::Root::new(root.clone()).map_err(|e| ServerError::Root {
            path: root,
            reason: common::net::describe_io_error(&e),
        })?;
        Ok(Server { root, config })
    }

    /// Sirve la raíz en `listener` hasta que se dispare `shutdown`.
    ///
    /// # Errores
    /// [`ServerError::Io`] si falla el bucle de aceptación.
    pub fn run(self, listener: TcpListener, shutdown: Shutdown) -> Result<(), ServerError> {
        log::info!("[problema4] sirviendo {}", self.root.path().display());
        let mut serve = ServeConfig::new("problema4");
        serve.max_connections = self.config.max_connections;
        serve.refusal = refusal_bytes();
        let ctx = Arc::new(Context {
            root: self.root,
            config: self.config,
            shutdown: shutdown.clone(),
        });
        common::serve(listener, serve, shutdown, move |stream, peer| {
            handle_connection(&ctx, stream, peer)
        })?;
        Ok(())
    }
}

/// Sirve `config.root` en `listener` hasta que se dispare `shutdown` ([`Server::new`] y
/// [`Server::run`] de una vez).
///
/// # Errores
/// [`ServerError::Root`] si la raíz no es un directorio accesible.
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    Server::new(config)?.run(listener, shutdown)
}

/// La respuesta 503 que reciben las conexiones por encima del tope (`common::serve` le
/// añade `Date` al enviarla: [`common::http::stamp_date`]).
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

/// El lado de lectura de una conexión: con buffer y con el plazo total de
/// [`common::conn::DeadlineReader`] (el mismo socket que escribe `Output`, prestado: sin
/// duplicar el descriptor).
type Reader<'a> = BufReader<DeadlineReader<&'a TcpStream>>;

/// El cierre con espera de una conexión que se corta tras responder: como mucho 256 KiB y
/// 1 s (lo que ya venía en camino; un cliente hostil no retiene el hilo).
const LINGER: Linger = Linger {
    max_bytes: 256 * 1024,
    max_time: Duration::from_secs(1),
};

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
    let mut reader: Reader = BufReader::with_capacity(16 * 1024, DeadlineReader::new(&stream));
    let mut out = Output::new(&stream);
    loop {
        // Plazo total para la petición entera, desde que se empieza a esperarla.
        reader.get_mut().expire_in(Some(ctx.config.timeout));
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
                linger_close(&stream, LINGER);
                return;
            }
        };
        match serve_request(ctx, &head, &mut reader, &mut out) {
            Ok((status, bytes, after)) => {
                if log::log_enabled!(log::Level::Info) {
                    access_log(peer, &request_line(&head), status, bytes, started);
                }
                if after == After::Close || ctx.shutdown.is_triggered() {
                    linger_close(&stream, LINGER);
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
