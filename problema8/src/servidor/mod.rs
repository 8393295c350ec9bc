//! El servidor de tres en raya: un hilo por conexión (el bucle de `common::serve`), una cola
//! de salida por cliente y el estado compartido repartido por trabajos:
//! - [`lobby`]: nombres, cola de emparejamiento, partidas privadas e índice de partidas;
//! - [`games`]: cada partida con su cerrojo, sus reglas y sus anuncios;
//! - [`spectators`]: quién mira cada partida y cómo se le difunde;
//! - [`scoreboard`]: la clasificación;
//! - [`timers`]: el plazo de gracia y el tiempo de turno, en un solo hilo vigilante.
//!
//! # Orden de los cerrojos
//!
//! Para que no haya interbloqueos, un hilo toma los cerrojos siempre en este orden y nunca al
//! revés: **vestíbulo → una partida → (clasificación | relojes)**. La clasificación, los
//! relojes y la copia del asiento de cada jugador (`lobby::SeatSlot`) son hojas: con ellos
//! tomados no se toma nada más. Las jugadas no pasan por el vestíbulo: leen el asiento y van
//! directas al cerrojo de su partida. Nunca se tienen dos partidas
//! tomadas a la vez (`LIST` las consulta una a una tras soltar el vestíbulo). Las colas de
//! salida no son cerrojos que esperen: encolar nunca bloquea, así que un cliente lento no
//! frena una partida; si su cola se llena se le desconecta.

pub mod games;
pub mod lobby;
pub mod scoreboard;
pub mod spectators;
pub mod timers;

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::line::{discard_line, read_utf8_line, LineError};
use common::outbox::{Outbox, DEFAULT_WRITE_TIMEOUT};
use common::rate::TokenBucket;
use common::{ServeConfig, Shutdown};

use crate::protocolo::{
    parse_command, ErrorCode, ServerMessage, DEFAULT_GRACE, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_LINE,
    DEFAULT_OUTBOX, DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT,
};
use lobby::{Flow, Hub, Session};
use spectators::Conn;

/// Bytes que se descartan como mucho tras una línea demasiado larga antes de cerrar.
const MAX_DISCARD: u64 = 64 * 1024;

/// Límites y plazos del servidor.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Máximo de conexiones simultáneas (jugadores y espectadores).
    pub max_connections: usize,
    /// Longitud máxima de una línea del cliente.
    pub max_line_bytes: usize,
    /// Plazo para volver tras una desconexión antes de perder por abandono.
    pub grace: Duration,
    /// Tiempo máximo por turno (`None`: sin límite).
    pub turn_timeout: Option<Duration>,
    /// Tiempo sin recibir nada tras el que se cierra la conexión.
    pub idle_timeout: Duration,
    /// Mensajes pendientes por cliente antes de desconectarlo por lento.
    pub outbox_capacity: usize,
    /// Tiempo máximo que el escritor de un cliente espera a que el socket acepte bytes.
    pub write_timeout: Duration,
    /// Órdenes por segundo admitidas por conexión (ritmo sostenido).
    pub rate_limit: f64,
    /// Ráfaga de órdenes admitida por conexión.
    pub rate_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            max_line_bytes: DEFAULT_MAX_LINE,
            grace: DEFAULT_GRACE,
            turn_timeout: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            outbox_capacity: DEFAULT_OUTBOX,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_burst: DEFAULT_RATE_BURST,
        }
    }
}

/// Lo que puede impedir que el servidor arranque o siga.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Fallo de E/S del listener o al crear el hilo de los relojes.
    #[error("error de E/S del servidor: {0}")]
    Io(#[from] std::io::Error),
}

/// Atiende clientes en `listener` hasta que se dispare `shutdown`.
///
/// # Errores
/// [`ServerError::Io`] si no se puede consultar el listener o crear el hilo de los relojes.
pub fn run(
    listener: std::net::TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let hub = Arc::new(Hub::new(config.clone()));
    let timer_thread = {
        let hub = Arc::clone(&hub);
        let s = shutdown.clone();
        thread::Builder::new()
            .name("problema8-relojes".to_string())
            .spawn(move || hub.timers().run(&s, |event| hub.fire(event)))?
    };
    {
        let hub = Arc::clone(&hub);
        shutdown.on_trigger(move || hub.timers().wake());
    }
    let mut serve_config = ServeConfig::new("problema8");
    serve_config.max_connections = config.max_connections;
    serve_config.refusal = format!(
        "{}\n",
        ServerMessage::error(ErrorCode::Full, "servidor lleno, pruebe más tarde").encode()
    )
    .into_bytes();
    let s = shutdown.clone();
    let handler_hub = Arc::clone(&hub);
    let served = common::serve(
        listener,
        serve_config,
        shutdown.clone(),
        move |stream, peer| handle(&handler_hub, stream, peer, &s),
    );
    shutdown.trigger();
    if timer_thread.join().is_err() {
        log::error!("el hilo de los relojes terminó con pánico");
    }
    log::info!("servidor apagado");
    served.map_err(ServerError::from)
}

/// Una conexión: lee órdenes hasta `QUIT`, el cierre o el apagado.
fn handle(hub: &Hub, stream: TcpStream, peer: SocketAddr, shutdown: &Shutdown) {
    let config = hub.config();
    let id = hub.next_conn_id();
    if let Err(e) = stream.set_read_timeout(Some(config.idle_timeout.max(Duration::from_millis(1))))
    {
        log::warn!("{peer}: no se pudo fijar el tiempo de espera: {e}");
    }
    let _ = stream.set_nodelay(true);
    let (outbox, _writer) = match Outbox::spawn(
        &stream,
        config.outbox_capacity,
        config.write_timeout,
        &format!("problema8-{id}"),
    ) {
        Ok(pair) => pair,
        Err(e) => {
            log::error!("{peer}: no se pudo crear la cola de salida: {e}");
            return;
        }
    };
    let conn = Conn { id, outbox };
    log::info!("{peer}: conectado (conexión {id})");
    conn.send(&ServerMessage::Welcome(
        "tres en raya (problema8): NAME <nombre> para empezar, HELP para las órdenes".to_string(),
    ));
    let mut session = Session::default();
    let mut reader = BufReader::new(&stream);
    // Cada orden gasta una ficha: una inundación de órdenes no acapara el vestíbulo.
    let mut bucket = TokenBucket::new(config.rate_limit, config.rate_burst);
    loop {
        match read_utf8_line(&mut reader, config.max_line_bytes) {
            Ok(None) => break,
            Ok(Some(line)) => {
                if line.trim().is_empty() {
                    continue;
                }
                if !bucket.try_take(Instant::now()) {
                    log::warn!("{peer}: demasiadas órdenes por segundo");
                    conn.send(&ServerMessage::error(
                        ErrorCode::RateLimited,
                        format!(
                            "demasiadas órdenes: el máximo es {} por segundo; se ignoró esta",
                            config.rate_limit
                        ),
                    ));
                    continue;
                }
                match parse_command(&line) {
                    Ok(cmd) => {
                        log::debug!("{peer}: {line}");
                        if hub.dispatch(&conn, &mut session, cmd) == Flow::Quit {
                            break;
                        }
                    }
                    Err(e) => {
                        log::warn!("{peer}: orden no válida {line:?}: {e}");
                        conn.send(&ServerMessage::error(e.code(), e.to_string()));
                    }
                }
            }
            Err(LineError::TooLong { max }) => {
                log::warn!("{peer}: línea de más de {max} bytes");
                conn.send(&ServerMessage::error(
                    ErrorCode::LineTooLong,
                    format!("línea demasiado larga: el máximo es {max} bytes"),
                ));
                if !matches!(discard_line(&mut reader, MAX_DISCARD), Ok(true)) {
                    break;
                }
            }
            Err(LineError::InvalidUtf8) => {
                log::warn!("{peer}: línea que no es UTF-8");
                conn.send(&ServerMessage::error(
                    ErrorCode::InvalidUtf8,
                    "la línea no es texto UTF-8 válido",
                ));
            }
            Err(e) if e.is_timeout() => {
                conn.send(&ServerMessage::error(
                    ErrorCode::Idle,
                    format!(
                        "{:?} sin recibir nada: se cierra la conexión",
                        config.idle_timeout
                    ),
                ));
                break;
            }
            Err(e) => {
                log::debug!("{peer}: {e}");
                break;
            }
        }
    }
    if shutdown.is_triggered() {
        // Al apagar no hay plazos de gracia que empezar: solo la despedida.
        conn.send(&ServerMessage::Bye("servidor cerrándose".to_string()));
    } else {
        hub.disconnect(&conn, &mut session);
    }
    log::info!("{peer}: desconectado (conexión {id})");
    // Al soltar la última copia de `conn.outbox` su escritor envía lo pendiente y cierra.
}
