//! El proxy: configuración, bucle de aceptación y reparto de cada conexión.
//!
//! Cada conexión de cliente se atiende en su propio hilo (el bucle de `common::serve`, con
//! su tope de conexiones). El hilo lee peticiones una tras otra (conexión persistente) y
//! decide qué hacer con cada una en `conexion`; el trabajo se reparte en módulos, uno por
//! tarea:
//! - [`args`]: las opciones de línea de órdenes y su traducción a [`ServerConfig`].
//! - `client`: el vocabulario común de una conexión de cliente (la conexión, el resultado
//!   de cada petición, los tamaños de buffer); no depende de ningún otro módulo del servidor.
//! - `conexion`: leer cada petición y decidir a qué módulo le toca.
//! - [`access`]: quién puede usar el proxy (`--allow`, `--auth`) y a dónde (`--block`).
//! - [`forward`]: reenviar una petición al origen y la respuesta de vuelta, en flujo.
//! - [`tunnel`]: los túneles `CONNECT`.
//! - [`transparent`]: el destino de una petición en modo transparente (dirección original
//!   de una conexión redirigida por el núcleo, o `Host`).
//! - [`rewrite`]: las cabeceras que se quitan y se añaden al pasar (RFC 9110 §7.6).
//! - `upstream`: abrir y reutilizar conexiones con el origen (502/504/508 si no se puede).
//! - [`pool`]: las conexiones al origen en reposo, para reutilizarlas.
//! - [`stats`]: los contadores en vivo y su JSON.
//! - [`access_log`]: una línea por petición y por túnel.

pub mod access;
pub mod access_log;
pub mod args;
mod client;
mod conexion;
pub mod forward;
pub mod pool;
pub mod rewrite;
pub mod stats;
pub mod transparent;
pub mod tunnel;
mod upstream;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::http::{ChunkLimits, Limits};
use common::net::describe_io_error;
use common::{serve, ServeConfig, Shutdown};

use crate::protocolo::{
    simple_response, Origin, DEFAULT_CLIENT_TIMEOUT, DEFAULT_CONNECT_PORTS, DEFAULT_POOL_IDLE,
    DEFAULT_POOL_PER_ORIGIN, DEFAULT_TUNNEL_IDLE, DEFAULT_UPSTREAM_TIMEOUT, VIA_PSEUDONYM,
};
use access::{Credentials, Network};
use access_log::AccessLog;
use pool::Pool;
use rewrite::HeaderRules;
use stats::Stats;

/// Todo lo que se puede ajustar del proxy. [`ServerConfig::default`] da los valores de las
/// constantes `DEFAULT_*` de [`crate::protocolo`] y `common::http`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Modo inverso: las peticiones en forma de origen (`GET /x`) van siempre a este backend.
    /// Sin él, el proxy solo acepta la forma absoluta (`GET http://host/x`) y `CONNECT`.
    pub upstream: Option<Origin>,
    /// Modo transparente: las peticiones en forma de origen van a la dirección original de la
    /// conexión (si el núcleo la redirigió) o a su `Host`. Incompatible con `auth` y
    /// `upstream`.
    pub transparent: bool,
    /// Puertos a los que se permite `CONNECT`.
    pub connect_ports: Vec<u16>,
    /// Dominios bloqueados (con sus subdominios): 403.
    pub block: Vec<String>,
    /// Si está, cada petición de proxy debe traer estas credenciales (407 si no).
    pub auth: Option<Credentials>,
    /// Redes cuyos clientes reciben servicio; los demás, 403.
    pub allow: Vec<Network>,
    /// Redes de destino permitidas (`--allow-dest`), comprobadas tras resolver el nombre; por
    /// omisión, solo loopback.
    pub allow_dest: Vec<Network>,
    /// Redes de destino prohibidas (`--deny-dest`): ganan a `allow_dest`.
    pub deny_dest: Vec<Network>,
    /// El seudónimo de este proxy en `Via` (`--via-name`), y con el que reconoce una petición
    /// que ya pasó por él (bucle: 508). Dos instancias encadenadas necesitan nombres distintos.
    pub via_name: String,
    /// Reglas `--remove-header` / `--add-header` para las peticiones reenviadas.
    pub rules: HeaderRules,
    /// Tope de conexiones de clientes simultáneas.
    pub max_connections: usize,
    /// Límites de las cabeceras (de clientes y de orígenes).
    pub limits: Limits,
    /// Límites de los cuerpos `chunked`.
    pub chunk_limits: ChunkLimits,
    /// Espera máxima por cada lectura o escritura con el cliente (y en reposo entre peticiones).
    pub client_timeout: Duration,
    /// Espera máxima para conectar con el origen y por cada lectura de su respuesta (504).
    pub upstream_timeout: Duration,
    /// Un túnel sin tráfico durante este tiempo se cierra.
    pub tunnel_idle: Duration,
    /// Conexiones en reposo guardadas por origen (0 = sin reutilización).
    pub pool_per_origin: usize,
    /// Tiempo máximo que una conexión al origen espera en reposo.
    pub pool_idle: Duration,
    /// Fichero del registro de accesos; sin él, las líneas van al registro (`acceso`).
    pub access_log: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            upstream: None,
            transparent: false,
            connect_ports: DEFAULT_CONNECT_PORTS.to_vec(),
            block: Vec::new(),
            auth: None,
            allow: Network::loopback(),
            allow_dest: Network::loopback(),
            deny_dest: Vec::new(),
            via_name: VIA_PSEUDONYM.to_string(),
            rules: HeaderRules::default(),
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            limits: Limits::default(),
            chunk_limits: ChunkLimits::default(),
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            tunnel_idle: DEFAULT_TUNNEL_IDLE,
            pool_per_origin: DEFAULT_POOL_PER_ORIGIN,
            pool_idle: DEFAULT_POOL_IDLE,
            access_log: None,
        }
    }
}

/// Lo que puede impedir que el proxy arranque o siga aceptando.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Fallo del socket de escucha.
    #[error("error del socket de escucha: {}", describe_io_error(.0))]
    Listen(io::Error),
    /// No se pudo abrir el fichero del registro de accesos.
    #[error("no se pudo abrir el registro de accesos {path}: {}", describe_io_error(.error))]
    AccessLog {
        /// El fichero pedido.
        path: PathBuf,
        /// El motivo (en el mensaje, en español; no como `source`, que `{:#}` repetiría).
        error: io::Error,
    },
    /// Una combinación de opciones que no tiene sentido.
    #[error("configuración no válida: {0}")]
    Config(&'static str),
    /// No se pudo crear el hilo del puerto de estadísticas.
    #[error("no se pudo crear el hilo de estadísticas: {}", describe_io_error(.0))]
    Thread(io::Error),
}

/// Por qué `--transparent` no admite `--auth`.
pub const TRANSPARENT_WITH_AUTH: &str = "--transparent no admite --auth: un cliente \
    interceptado no sabe que hay un proxy y nunca contestará a un 407 con credenciales; \
    limite quién lo usa con --allow";

/// Por qué `--transparent` no admite `--upstream`.
pub const TRANSPARENT_WITH_UPSTREAM: &str = "--transparent y --upstream se excluyen: los dos \
    deciden a dónde van las peticiones en forma de origen (GET /ruta)";

/// El estado compartido por todas las conexiones: configuración, contadores, conexiones al
/// origen en reposo y registro de accesos.
pub(crate) struct Proxy {
    pub(crate) config: ServerConfig,
    pub(crate) stats: Arc<Stats>,
    pub(crate) pool: Pool,
    pub(crate) log: AccessLog,
    /// La dirección en la que escucha el proxy, para no reenviarse peticiones a sí mismo.
    pub(crate) local: SocketAddr,
}

/// Atiende clientes en `listener` hasta que se dispare `shutdown`.
///
/// # Errores
/// [`ServerError`] si falla el socket de escucha o no se puede abrir el registro de accesos.
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    run_with_stats(listener, None, config, shutdown)
}

/// Como [`run`], y además contesta las estadísticas en JSON en `stats_listener`
/// (`--stats-port`) a cualquier `GET`.
///
/// # Errores
/// Como [`run`].
pub fn run_with_stats(
    listener: TcpListener,
    stats_listener: Option<TcpListener>,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    if config.transparent && config.auth.is_some() {
        return Err(ServerError::Config(TRANSPARENT_WITH_AUTH));
    }
    if config.transparent && config.upstream.is_some() {
        return Err(ServerError::Config(TRANSPARENT_WITH_UPSTREAM));
    }
    let log = match &config.access_log {
        Some(path) => AccessLog::to_file(path).map_err(|error| ServerError::AccessLog {
            path: path.clone(),
            error,
        })?,
        None => AccessLog::to_logger(),
    };
    let local = listener.local_addr().map_err(ServerError::Listen)?;
    let proxy = Arc::new(Proxy {
        pool: Pool::new(config.pool_per_origin, config.pool_idle),
        stats: Arc::new(Stats::default()),
        log,
        local,
        config,
    });
    let mut serve_config = ServeConfig::new("problema7");
    serve_config.max_connections = proxy.config.max_connections;
    serve_config.refusal = simple_response(
        503,
        &[("Retry-After", "1")],
        "proxy lleno: demasiadas conexiones, pruebe más tarde\n",
        true,
    );

    let stats_thread = match stats_listener {
        Some(l) => {
            let p = Arc::clone(&proxy);
            let s = shutdown.clone();
            let mut cfg = serve_config.clone();
            cfg.name = "problema7-stats".to_string();
            let handle = thread::Builder::new()
                .name("problema7-stats".to_string())
                .spawn(move || {
                    serve(l, cfg, s, move |stream, peer| {
                        conexion::handle_stats_only(&p, stream, peer)
                    })
                })
                .map_err(ServerError::Thread)?;
            Some(handle)
        }
        None => None,
    };

    let p = Arc::clone(&proxy);
    let result = serve(
        listener,
        serve_config,
        shutdown.clone(),
        move |stream, peer| conexion::handle(&p, stream, peer),
    );
    // Si el bucle principal terminó por error, el de estadísticas también debe parar.
    shutdown.trigger();
    if let Some(h) = stats_thread {
        match h.join() {
            Ok(Err(e)) => log::error!("el puerto de estadísticas terminó con error: {e}"),
            Err(_) => log::error!("el hilo de estadísticas entró en pánico"),
            Ok(Ok(())) => {}
        }
    }
    proxy.pool.clear();
    log::info!("proxy detenido");
    result.map_err(ServerError::Listen)
}
