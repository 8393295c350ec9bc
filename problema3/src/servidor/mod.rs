//! El servidor del chat: un hilo lector por cliente, un hilo difusor para la sala y, por
//! cliente, una cola de salida acotada con su propio hilo escritor.
//!
//! Difundir un mensaje es solo meterlo en la cola ([`Outbox`]) de cada destinatario, sin
//! bloquear: un cliente que no lee llena su cola y se le desconecta, en lugar de frenar a
//! todos. Los límites (línea, ritmo, cola, conexiones, tiempo para elegir nombre) están en
//! [`ServerConfig`], con los valores por omisión de [`crate::protocolo`].
//!
//! Este módulo tiene la E/S de cada conexión (presentación, lectura acotada, ritmo, cierre);
//! la sala y la difusión en lotes están en [`sala`].

pub mod sala;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::conn::{
    linger_close, EndReason, Ending, Event, LineSession, Linger, MessageRule, RateRule, Rejection,
    DEFAULT_PAUSE,
};
use common::outbox::{Outbox, DEFAULT_WRITE_TIMEOUT};
use common::{serve_shared, ServeConfig, Shutdown};

use crate::protocolo::{self, Input};
use sala::Room;

/// El cierre con espera del chat: la despedida es corta y medio segundo basta para que lo
/// que el cliente aún enviaba (una inundación, líneas tras `/quit`) llegue y se tire.
const LINGER: Linger = Linger {
    max_bytes: 1024 * 1024,
    max_time: Duration::from_millis(500),
};

/// Límites y tiempos del servidor. [`ServerConfig::default`] da los valores documentados en
/// [`crate::protocolo`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Máximo de conexiones simultáneas (las demás reciben `ERROR servidor lleno...`).
    pub max_connections: usize,
    /// Longitud máxima de una línea del cliente, en bytes.
    pub max_line_bytes: usize,
    /// Envíos que caben en la cola de salida de cada cliente (cada envío es un mensaje o, bajo
    /// carga, un lote de hasta [`sala::MAX_BATCH_BYTES`]); si se llena, se le desconecta.
    pub queue_messages: usize,
    /// Tiempo máximo que el escritor de un cliente espera a que su socket acepte bytes.
    pub write_timeout: Duration,
    /// Mensajes por segundo sostenidos que se admiten de cada cliente.
    pub rate_per_sec: f64,
    /// Ráfaga de mensajes que se admite de golpe.
    pub rate_burst: u32,
    /// Mensajes rechazados seguidos por ritmo tras los que se desconecta al cliente.
    pub flood_strikes: u32,
    /// Tiempo (total) para elegir un nombre válido; ya dentro, también el tiempo máximo que
    /// puede tardar en llegar un mensaje desde su primer byte (callar sí se puede).
    pub handshake_timeout: Duration,
    /// Silencio que termina un mensaje sin salto de línea, como los del cliente del taller
    /// (`None`: solo `\n` o el cierre). Véase `common::conn::message`.
    pub pause: Option<Duration>,
    /// Tiempo que se espera al apagar a que los clientes reciban el aviso y cierren.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            max_line_bytes: protocolo::DEFAULT_MAX_LINE_BYTES,
            queue_messages: protocolo::DEFAULT_QUEUE_MESSAGES,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            rate_per_sec: protocolo::DEFAULT_RATE_PER_SEC,
            rate_burst: protocolo::DEFAULT_RATE_BURST,
            flood_strikes: protocolo::DEFAULT_FLOOD_STRIKES,
            handshake_timeout: protocolo::DEFAULT_HANDSHAKE_TIMEOUT,
            pause: Some(DEFAULT_PAUSE),
            drain_timeout: common::server::DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// Lo que puede hacer fallar al servidor entero (no a una conexión).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// El socket de escucha falló.
    #[error("error del socket de escucha: {0}")]
    Io(#[from] io::Error),
}

/// Atiende el chat en `listener` hasta que se dispare `shutdown`; entonces avisa a cada
/// cliente con `servidor cerrándose`, espera a que se vayan (hasta `drain_timeout`) y vuelve.
///
/// # Errores
/// [`ServerError::Io`] si no se puede consultar la dirección del listener o crear el hilo
/// difusor.
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let mut serve_config = ServeConfig::new("problema3");
    serve_config.max_connections = config.max_connections;
    serve_config.drain_timeout = config.drain_timeout;
    let (room, broadcaster) = Room::start()?;
    let ctx = Arc::new(Context {
        config,
        room,
        shutdown: shutdown.clone(),
        next_id: AtomicU64::new(0),
    });
    let handler_ctx = Arc::clone(&ctx);
    let served = serve_shared(listener, serve_config, shutdown, move |stream, peer| {
        handle_connection(&handler_ctx, stream, peer);
    });
    // Las conexiones ya terminaron (o se cortaron): el difusor procesa lo que quede y sale.
    ctx.room.stop();
    if broadcaster.join().is_err() {
        log::error!("[problema3] el hilo difusor entró en pánico");
    }
    served?;
    log::info!("[problema3] servidor detenido");
    Ok(())
}

/// Lo que comparten todas las conexiones.
struct Context {
    config: ServerConfig,
    room: Room,
    shutdown: Shutdown,
    next_id: AtomicU64,
}

/// Cómo terminó una sesión: qué decirle al cliente al despedirlo y qué anunciar.
#[derive(Debug)]
enum End {
    /// El cliente cerró la conexión.
    Left,
    /// El cliente envió `/quit`.
    Quit,
    /// Se apaga el servidor.
    Shutdown,
    /// El servidor cortó al cliente (inundación, lentitud, error de red, ...), con la línea
    /// de despedida que explica por qué, si procede.
    Kicked {
        reason: String,
        farewell: Option<&'static str>,
    },
}

impl End {
    fn kicked(reason: impl Into<String>) -> End {
        End::Kicked {
            reason: reason.into(),
            farewell: None,
        }
    }

    /// La última línea para el cliente.
    fn farewell(&self) -> Option<&'static str> {
        match self {
            End::Left => None,
            End::Quit => Some(protocolo::GOODBYE),
            End::Shutdown => Some(protocolo::SHUTTING_DOWN),
            End::Kicked { farewell, .. } => *farewell,
        }
    }
}

/// Atiende una conexión de principio a fin.
fn handle_connection(ctx: &Context, stream: Arc<TcpStream>, peer: SocketAddr) {
    let id = ctx.next_id.fetch_add(1, Ordering::Relaxed);
    // Mensajes cortos e interactivos: sin el algoritmo de Nagle, que junto al ACK retardado
    // del otro extremo puede retener cada línea ~40 ms.
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("[problema3] {peer}: no se pudo activar TCP_NODELAY: {e}");
    }
    let (outbox, writer) = match Outbox::spawn_shared(
        Arc::clone(&stream),
        ctx.config.queue_messages,
        ctx.config.write_timeout,
        &format!("problema3-{id}"),
    ) {
        Ok(pair) => pair,
        Err(e) => {
            log::error!("[problema3] {peer}: no se pudo crear el escritor: {e}");
            return;
        }
    };
    log::info!("[problema3] {peer}: conectado");
    let rule = MessageRule {
        pause: ctx.config.pause,
        ..MessageRule::new(ctx.config.max_line_bytes)
    };
    let mut session = Session {
        ctx,
        id,
        peer,
        lines: LineSession::new(&*stream, rule),
        outbox: &outbox,
        chatting: false,
    };
    let (name, end) = match session.handshake() {
        Ok(name) => {
            log::info!("[problema3] {peer}: entra como {name}");
            let end = session.chat(&name);
            (Some(name), end)
        }
        Err(end) => (None, end),
    };
    match &name {
        Some(name) => {
            // La despedida la envía el difusor, para que llegue después de todo lo anterior.
            let announce = !matches!(end, End::Shutdown);
            ctx.room.leave(id, end.farewell(), announce);
            ctx.room.release(name);
        }
        None => {
            if let Some(line) = end.farewell() {
                let _ = outbox.send_line(line);
            }
        }
    }
    match &end {
        End::Kicked { reason, .. } => {
            log::warn!("[problema3] {peer}: desconectado: {reason}")
        }
        _ => log::info!("[problema3] {peer}: desconectado"),
    }
    // Al soltar la última cola (la nuestra y la del difusor) el escritor envía lo pendiente
    // (la despedida) y termina.
    drop(outbox);
    if writer.join().is_err() {
        log::error!("[problema3] {peer}: el hilo escritor entró en pánico");
    }
    linger_close(&stream, LINGER);
}

/// Lo que una conexión necesita mientras dura.
struct Session<'a> {
    ctx: &'a Context,
    /// Identificador único de la conexión (el nombre puede reutilizarse después).
    id: u64,
    peer: SocketAddr,
    /// El bucle de lectura común (`common::conn`): límites, pausa, plazos y ritmo.
    lines: LineSession<&'a TcpStream>,
    outbox: &'a Outbox,
    /// ¿Ya está dentro de la sala? (Cambia qué significa un plazo vencido.)
    chatting: bool,
}

/// Lo que devolvió una lectura de línea, ya traducido a lo que la sesión debe hacer.
enum Read {
    Line(String),
    /// La línea era inválida; ya se envió el error y se puede seguir.
    Skipped,
    /// Hay que terminar la sesión.
    End(End),
}

impl Session<'_> {
    /// Encola una línea para este cliente. Si su cola está llena o cerrada, la sesión termina.
    fn send(&self, line: &str) -> Result<(), End> {
        self.outbox.send_line(line).map_err(|e| {
            self.outbox.close();
            End::kicked(e.to_string())
        })
    }

    /// Lee el siguiente mensaje con los límites de la configuración y contesta los rechazos.
    fn read(&mut self) -> Read {
        let peer = self.peer;
        match self.lines.next_event() {
            Event::Message { text, ending } => {
                if ending != Ending::Newline {
                    log::debug!("[problema3] {peer}: mensaje {}", ending.describe());
                }
                Read::Line(text)
            }
            Event::Rejected(rejection) => {
                let line = match rejection {
                    Rejection::RateLimited { per_sec } => {
                        log::debug!("[problema3] {peer}: mensaje rechazado por ritmo");
                        protocolo::rate_limited_line(per_sec)
                    }
                    other => {
                        log::warn!("[problema3] {peer}: {other}");
                        protocolo::error_line(&other.to_string())
                    }
                };
                match self.send(&line) {
                    Ok(()) => Read::Skipped,
                    Err(end) => Read::End(end),
                }
            }
            Event::End(EndReason::Closed) => Read::End(self.closed()),
            Event::End(EndReason::TimedOut) if self.chatting => Read::End(End::Kicked {
                reason: "un mensaje goteó más allá del plazo".into(),
                farewell: Some(protocolo::MESSAGE_TIMEOUT),
            }),
            Event::End(EndReason::TimedOut) => Read::End(End::Kicked {
                reason: "no eligió nombre a tiempo".into(),
                farewell: Some(protocolo::HANDSHAKE_TIMEOUT),
            }),
            Event::End(EndReason::Flood) => Read::End(End::Kicked {
                reason: "inundación de mensajes".into(),
                farewell: Some(protocolo::FLOOD_DISCONNECT),
            }),
            Event::End(EndReason::TooLong { max }) => {
                let _ = self.send(&protocolo::error_line(
                    &Rejection::TooLong { max }.to_string(),
                ));
                Read::End(End::kicked(format!(
                    "línea de más de {max} bytes sin final"
                )))
            }
            Event::End(EndReason::Failed(e)) => Read::End(self.closed_with(e)),
        }
    }

    /// Fin del flujo: o el cliente se fue, o el apagado nos cerró la lectura.
    fn closed(&self) -> End {
        if self.ctx.shutdown.is_triggered() {
            End::Shutdown
        } else {
            End::Left
        }
    }

    fn closed_with(&self, e: io::Error) -> End {
        if self.ctx.shutdown.is_triggered() {
            End::Shutdown
        } else if common::net::is_disconnect(&e) {
            End::Left
        } else {
            End::kicked(format!("error de lectura: {e}"))
        }
    }

    /// Pide nombre hasta que llega uno válido y libre; devuelve el nombre ya en la sala.
    fn handshake(&mut self) -> Result<String, End> {
        // Un plazo total, no por lectura: quien envía un byte cada poco no lo alarga. Un
        // nombre vacío merece su error, así que aquí no se saltan las líneas vacías.
        self.lines
            .set_deadline(Some(Instant::now() + self.ctx.config.handshake_timeout));
        self.lines.skip_blank(false);
        self.send(protocolo::NAME_PROMPT)?;
        for _ in 0..protocolo::MAX_NAME_ATTEMPTS {
            let raw = match self.read() {
                Read::Line(line) => line,
                Read::Skipped => {
                    self.send(protocolo::NAME_PROMPT)?;
                    continue;
                }
                Read::End(end) => return Err(end),
            };
            let name = match protocolo::validate_name(&raw) {
                Ok(name) => name.to_string(),
                Err(e) => {
                    log::warn!("[problema3] {}: nombre no válido: {e}", self.peer);
                    self.send(&protocolo::error_line(&e.to_string()))?;
                    self.send(protocolo::NAME_PROMPT)?;
                    continue;
                }
            };
            if !self.ctx.room.reserve(&name) {
                log::info!("[problema3] {}: nombre {name} ocupado", self.peer);
                self.send(&protocolo::name_taken_line(&name))?;
                self.send(protocolo::NAME_PROMPT)?;
                continue;
            }
            // La confirmación sale antes de entrar en la sala: así llega antes que cualquier
            // mensaje de los demás.
            let entered = self
                .send(protocolo::CONNECTED)
                .and_then(|()| {
                    self.ctx
                        .room
                        .join(self.id, &name, self.outbox)
                        .map_err(|_| End::Shutdown)
                })
                .map(|()| self.enter_chat());
            return match entered {
                Ok(()) => Ok(name),
                Err(end) => {
                    self.ctx.room.leave(self.id, None, false);
                    self.ctx.room.release(&name);
                    Err(end)
                }
            };
        }
        Err(End::Kicked {
            reason: "demasiados intentos de nombre".into(),
            farewell: Some(protocolo::TOO_MANY_ATTEMPTS),
        })
    }

    /// Ya dentro, estar callado es parte del chat: sin plazo entre mensajes, pero cada
    /// mensaje debe llegar entero dentro de `handshake_timeout` desde su primer byte, y con
    /// el ritmo de la configuración.
    fn enter_chat(&mut self) {
        let config = &self.ctx.config;
        self.chatting = true;
        self.lines.set_deadline(None);
        self.lines.skip_blank(true);
        self.lines
            .set_message_timeout(Some(config.handshake_timeout));
        self.lines.limit_rate(Some(RateRule {
            per_sec: config.rate_per_sec,
            burst: config.rate_burst,
            strikes: Some(config.flood_strikes),
            // `/quit` se atiende siempre, también en plena inundación (el README lo promete).
            exempt: |m| std::str::from_utf8(m).is_ok_and(|t| protocolo::classify(t) == Input::Quit),
        }));
    }

    /// El bucle del chat: cada mensaje admitido se difunde a los demás.
    fn chat(&mut self, name: &str) -> End {
        loop {
            let line = match self.read() {
                Read::Line(line) => line,
                Read::Skipped => continue,
                Read::End(end) => return end,
            };
            let text = match protocolo::classify(&line) {
                Input::Quit => return End::Quit,
                Input::Empty => continue,
                Input::Message(text) => text,
            };
            log::debug!("[problema3] {name}: {text}");
            let line = protocolo::relay_line(name, &text);
            if self.ctx.room.relay(self.id, line).is_err() {
                return End::Shutdown;
            }
        }
    }
}
