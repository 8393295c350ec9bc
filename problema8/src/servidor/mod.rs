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

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::conn::{
    linger_close, EndReason, Ending, Event, LineSession, Linger, MessageRule, RateRule, Rejection,
};
use common::outbox::{Outbox, DEFAULT_WRITE_TIMEOUT};
use common::{ServeConfig, Shutdown};

use crate::protocolo::{
    parse_command, ErrorCode, ServerMessage, DEFAULT_GRACE, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_LINE,
    DEFAULT_OUTBOX, DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT,
};
use lobby::{Flow, Hub, Session};
use spectators::Conn;

/// Bytes que se descartan como mucho tras una línea demasiado larga antes de cerrar.
const MAX_DISCARD: u64 = 64 * 1024;

/// El cierre con espera de cada conexión: la despedida (`BYE`) es corta.
const LINGER: Linger = Linger {
    max_bytes: 64 * 1024,
    max_time: Duration::from_millis(500),
};

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
    /// Tiempo máximo que puede tardar en llegar cada orden entera, contando desde que se
    /// terminó la anterior: esperar callado cuenta, y un goteo de bytes no lo alarga.
    pub idle_timeout: Duration,
    /// Silencio que termina una orden sin salto de línea (`None`, por omisión: solo `\n` o el
    /// cierre). Véase `common::conn::message`.
    pub pause: Option<Duration>,
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
            pause: None,
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
    let served = common::serve_shared(
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
fn handle(hub: &Hub, stream: Arc<TcpStream>, peer: SocketAddr, shutdown: &Shutdown) {
    let config = hub.config();
    let id = hub.next_conn_id();
    let _ = stream.set_nodelay(true);
    let (outbox, writer) = match Outbox::spawn_shared(
        Arc::clone(&stream),
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
    let mut lines = LineSession::new(
        &*stream,
        MessageRule {
            pause: config.pause,
            max_discard: MAX_DISCARD,
            ..MessageRule::new(config.max_line_bytes)
        },
    );
    // Cada orden gasta una ficha: una inundación de órdenes no acapara el vestíbulo. Aquí
    // no se expulsa por ritmo: se avisa y se ignora la orden.
    lines.limit_rate(Some(RateRule {
        per_sec: config.rate_limit,
        burst: config.rate_burst,
        strikes: None,
        exempt: RateRule::NOTHING_EXEMPT,
    }));
    loop {
        // El plazo es total por orden (issue 16): callar cuenta, y un byte cada poco no lo
        // renueva.
        lines.expire_in(Some(config.idle_timeout));
        match lines.next_event() {
            Event::Message { text, ending } => {
                if ending != Ending::Newline {
                    log::debug!("{peer}: orden {}", ending.describe());
                }
                match parse_command(&text) {
                    Ok(cmd) => {
                        log::debug!("{peer}: {text}");
                        if hub.dispatch(&conn, &mut session, cmd) == Flow::Quit {
                            break;
                        }
                    }
                    Err(e) => {
                        log::warn!("{peer}: orden no válida {text:?}: {e}");
                        conn.send(&ServerMessage::error(e.code(), e.to_string()));
                    }
                }
            }
            Event::Rejected(rejection) => {
                log::warn!("{peer}: {rejection}");
                conn.send(&rejection_message(rejection));
            }
            Event::End(EndReason::TooLong { max }) => {
                log::warn!("{peer}: línea de más de {max} bytes sin final");
                conn.send(&rejection_message(Rejection::TooLong { max }));
                break;
            }
            Event::End(EndReason::TimedOut) => {
                conn.send(&ServerMessage::error(
                    ErrorCode::Idle,
                    format!(
                        "{:?} sin recibir una orden completa: se cierra la conexión",
                        config.idle_timeout
                    ),
                ));
                break;
            }
            Event::End(EndReason::Failed(e)) => {
                log::debug!("{peer}: {e}");
                break;
            }
            Event::End(EndReason::Closed | EndReason::Flood) => break,
        }
    }
    if shutdown.is_triggered() {
        // Al apagar no hay plazos de gracia que empezar: solo la despedida.
        conn.send(&ServerMessage::Bye("servidor cerrándose".to_string()));
    } else {
        hub.disconnect(&conn, &mut session);
    }
    log::info!("{peer}: desconectado (conexión {id})");
    // El escritor envía lo pendiente (el `BYE`) y termina, aunque una partida guarde aún una
    // copia de la cola; se le espera (issue 16, punto 7: antes el hilo quedaba suelto y la
    // salida del proceso podía adelantarse al `BYE`). Cada escritura tiene su plazo, así que
    // la espera está acotada.
    conn.outbox.finish();
    drop(conn);
    if writer.join().is_err() {
        log::error!("{peer}: el hilo escritor entró en pánico");
    }
    linger_close(&stream, LINGER);
}

/// El `ERROR` de este protocolo para un mensaje rechazado por el bucle común.
fn rejection_message(rejection: Rejection) -> ServerMessage {
    match rejection {
        Rejection::TooLong { max } => ServerMessage::error(
            ErrorCode::LineTooLong,
            format!("línea demasiado larga: el máximo es {max} bytes"),
        ),
        Rejection::InvalidUtf8 => {
            ServerMessage::error(ErrorCode::InvalidUtf8, "la línea no es texto UTF-8 válido")
        }
        Rejection::RateLimited { per_sec } => ServerMessage::error(
            ErrorCode::RateLimited,
            format!("demasiadas órdenes: el máximo es {per_sec} por segundo; se ignoró esta"),
        ),
    }
}
