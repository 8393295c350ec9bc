//! El servidor del chat con salas: configuración, arranque y apagado ordenado.
//!
//! Cada conexión se atiende en su propio hilo (bucle de aceptación de `common::serve`, con
//! tope de conexiones) y tiene una cola de salida acotada con su hilo escritor
//! (`common::outbox`), para que un cliente lento no frene a los demás. El trabajo se reparte
//! así:
//! - [`connection`]: el hilo de cada cliente (saludo con el nombre, lectura acotada de líneas,
//!   límite de ritmo y órdenes);
//! - [`rooms`]: el estado compartido (salas, usuarios, historial) y el reparto de mensajes;
//! - [`persistence`]: el fichero JSON de salas, escrito de forma atómica.
//!
//! Al apagar (Ctrl-C, SIGTERM o `Shutdown::trigger`): se avisa a todos con
//! `servidor cerrándose`, se deja de aceptar, cada conexión sale por su camino normal, se
//! guarda la lista de salas y `run` vuelve con `Ok(())`.

pub mod connection;
pub mod persistence;
pub mod rooms;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::conn::{Linger, DEFAULT_PAUSE};
use common::net::describe_io_error;
use common::{serve_shared, ServeConfig, Shutdown};

use crate::protocolo::{
    DEFAULT_FLOOD_STRIKES, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_HISTORY, DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_ROOMS, DEFAULT_QUEUE_MESSAGES, DEFAULT_RATE_BURST, DEFAULT_RATE_PER_SEC,
    DEFAULT_ROOMS_FILE, SHUTTING_DOWN,
};
use persistence::{LoadError, RoomInfo, SaveError};
use rooms::Chat;

/// Todos los límites y opciones del servidor; los binarios los llenan desde la línea de
/// órdenes y las pruebas los ajustan.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Longitud máxima de una línea del cliente, en bytes.
    pub max_line_bytes: usize,
    /// Máximo de conexiones simultáneas (las demás reciben `ERROR servidor lleno...`).
    pub max_connections: usize,
    /// Mensajes en la cola de salida de cada cliente antes de desconectarlo por lento.
    pub queue_messages: usize,
    /// Cuánto puede tardar el socket de un cliente en aceptar una escritura.
    pub write_timeout: Duration,
    /// Plazo (total) para elegir un nombre válido al conectar; ya dentro, también lo que
    /// puede tardar un mensaje en llegar entero desde su primer byte.
    pub handshake_timeout: Duration,
    /// Silencio que termina un mensaje sin salto de línea, como los del cliente del taller
    /// (`None`: solo `\n` o el cierre). Véase `common::conn::message`.
    pub pause: Option<Duration>,
    /// Mensajes por segundo sostenidos por cliente.
    pub rate_per_sec: f64,
    /// Ráfaga de mensajes admitida por cliente.
    pub rate_burst: u32,
    /// Mensajes rechazados seguidos por ritmo tras los que se desconecta al cliente.
    pub flood_strikes: u32,
    /// Mensajes de historial por sala (los que ve quien entra).
    pub history: usize,
    /// Máximo de salas (incluida `general`).
    pub max_rooms: usize,
    /// Fichero JSON con la lista de salas.
    pub rooms_file: PathBuf,
    /// Cuánto se espera a que terminen las conexiones al apagar.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            queue_messages: DEFAULT_QUEUE_MESSAGES,
            write_timeout: common::outbox::DEFAULT_WRITE_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            pause: Some(DEFAULT_PAUSE),
            rate_per_sec: DEFAULT_RATE_PER_SEC,
            rate_burst: DEFAULT_RATE_BURST,
            flood_strikes: DEFAULT_FLOOD_STRIKES,
            history: DEFAULT_HISTORY,
            max_rooms: DEFAULT_MAX_ROOMS,
            rooms_file: PathBuf::from(DEFAULT_ROOMS_FILE),
            drain_timeout: common::server::DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// El cierre con espera de cada conexión: la despedida es corta; medio segundo y 1 MiB bastan
/// para que lo que el cliente aún enviaba llegue y se tire sin convertirla en un RST.
pub(crate) const LINGER: Linger = Linger {
    max_bytes: 1024 * 1024,
    max_time: Duration::from_millis(500),
};

/// Lo que puede hacer fallar al servidor entero (los fallos de un cliente no llegan aquí).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Error del socket de escucha.
    #[error("error del socket de escucha: {}", describe_io_error(.0))]
    Io(std::io::Error),
    /// No se pudo guardar la lista de salas al apagar. El motivo va en el mensaje, y no
    /// como `source`: `{:#}` lo repetiría.
    #[error("no se pudo guardar la lista de salas al apagar: {0}")]
    Save(SaveError),
}

impl From<std::io::Error> for ServerError {
    fn from(e: std::io::Error) -> Self {
        ServerError::Io(e)
    }
}

impl From<SaveError> for ServerError {
    fn from(e: SaveError) -> Self {
        ServerError::Save(e)
    }
}

/// Atiende el chat en `listener` hasta que se dispare `shutdown`.
///
/// Carga las salas de `config.rooms_file` (si falta, empieza con `general`; si está corrupto,
/// lo aparta, lo registra como error y empieza con `general`), atiende a los clientes y, al
/// apagar, avisa a todos, espera a que salgan y guarda las salas.
///
/// # Errores
/// [`ServerError::Io`] si falla el listener; [`ServerError::Save`] si no se pudo guardar la
/// lista de salas al final (el fichero anterior queda intacto).
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    for stale in persistence::remove_stale_temps(&config.rooms_file) {
        log::warn!(
            "[problema6] borrado el temporal {} de un guardado interrumpido",
            stale.display()
        );
    }
    let rooms = load_rooms(&config.rooms_file, config.max_rooms);
    log::info!(
        "[problema6] salas cargadas: {}; se guardarán en {}",
        rooms.len(),
        config.rooms_file.display()
    );
    let chat = Arc::new(Chat::new(
        rooms,
        config.rooms_file.clone(),
        config.history,
        config.max_rooms.max(1),
    ));
    {
        // Se registra antes que el despertar del bucle de aceptación: el aviso se encola
        // mientras todos siguen dentro, y cada escritor lo envía antes de cerrar.
        let chat = Arc::clone(&chat);
        shutdown.on_trigger(move || {
            log::info!("[problema6] apagando: avisando a los clientes");
            chat.broadcast_all(SHUTTING_DOWN);
        });
    }
    let serve_config = ServeConfig {
        max_connections: config.max_connections,
        drain_timeout: config.drain_timeout,
        ..ServeConfig::new("problema6")
    };
    let handler_chat = Arc::clone(&chat);
    let handler_shutdown = shutdown.clone();
    let config = Arc::new(config);
    serve_shared(listener, serve_config, shutdown, move |stream, peer| {
        connection::handle(stream, peer, &handler_chat, &config, &handler_shutdown);
    })?;
    chat.save()?;
    log::info!("[problema6] lista de salas guardada; apagado completo");
    Ok(())
}

/// Las salas con las que arrancar: las del fichero, saneadas, o solo `general` si no existe
/// o no se puede leer. Un fichero corrupto se aparta para no perderlo en el próximo guardado.
fn load_rooms(path: &Path, max_rooms: usize) -> Vec<RoomInfo> {
    match persistence::load(path) {
        Ok(Some(rooms)) => persistence::sanitize(rooms, max_rooms),
        Ok(None) => {
            log::info!(
                "[problema6] {} no existe: se empieza solo con la sala general",
                path.display()
            );
            vec![RoomInfo::general()]
        }
        Err(
            e @ (LoadError::Corrupt { .. } | LoadError::Version { .. } | LoadError::TooBig { .. }),
        ) => {
            log::error!("[problema6] fichero de salas ilegible: {e}");
            match persistence::move_aside(path) {
                Ok(aside) => log::error!(
                    "[problema6] se apartó como {} y se arranca solo con la sala general",
                    aside.display()
                ),
                Err(err) => log::error!(
                    "[problema6] no se pudo apartar ({err}); se arranca solo con la sala general y el próximo guardado lo sustituirá"
                ),
            }
            vec![RoomInfo::general()]
        }
        Err(e) => {
            log::error!("[problema6] {e}; se arranca solo con la sala general");
            vec![RoomInfo::general()]
        }
    }
}
