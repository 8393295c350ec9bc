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

use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::line::{discard_line, read_line, LineError};
use common::outbox::{Outbox, DEFAULT_WRITE_TIMEOUT};
use common::rate::TokenBucket;
use common::{serve, ServeConfig, Shutdown};

use crate::protocolo::{self, Input};
use sala::Room;

/// Bytes que como mucho se descartan del resto de una línea demasiado larga antes de cerrar
/// la conexión: quien envía más de 1 MiB sin salto de línea no es un cliente de chat.
const MAX_DISCARD_BYTES: u64 = 1024 * 1024;

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
    /// Tiempo para elegir un nombre válido.
    pub handshake_timeout: Duration,
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
    let served = serve(listener, serve_config, shutdown, move |stream, peer| {
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
fn handle_connection(ctx: &Context, stream: TcpStream, peer: SocketAddr) {
    let id = ctx.next_id.fetch_add(1, Ordering::Relaxed);
    // Mensajes cortos e interactivos: sin el algoritmo de Nagle, que junto al ACK retardado
    // del otro extremo puede retener cada línea ~40 ms.
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("[problema3] {peer}: no se pudo activar TCP_NODELAY: {e}");
    }
    let (outbox, writer) = match Outbox::spawn(
        &stream,
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
    let mut session = Session {
        ctx,
        id,
        peer,
        reader: BufReader::new(DeadlineReader {
            stream: &stream,
            deadline: None,
        }),
        stream: &stream,
        outbox: &outbox,
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
    linger_close(&stream);
}

/// Cierre "con espera": si cerrásemos con bytes del cliente aún sin leer (una inundación,
/// líneas tras `/quit`), el kernel enviaría un RST y el cliente podría perder nuestra última
/// línea (la despedida o el motivo del cierre). Así que primero enviamos FIN y descartamos lo
/// que siga llegando, acotado en bytes y en tiempo.
fn linger_close(stream: &TcpStream) {
    const MAX_LINGER_BYTES: usize = 1024 * 1024;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if stream.set_read_timeout(Some(LINGER_TIMEOUT)).is_err() {
        return;
    }
    let mut sink = [0u8; 8192];
    let mut total = 0;
    let mut reader = stream;
    let deadline = Instant::now() + LINGER_TIMEOUT;
    while total < MAX_LINGER_BYTES && Instant::now() < deadline {
        match io::Read::read(&mut reader, &mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// Cuánto esperamos como mucho, al cerrar, a que el cliente deje de enviar (en total).
const LINGER_TIMEOUT: Duration = Duration::from_millis(500);

/// Lector del socket con un plazo total opcional: antes de cada lectura ajusta el tiempo de
/// espera del socket a lo que queda hasta `deadline`, y al pasarlo devuelve `TimedOut`. Sin
/// plazo es una lectura normal (sin llamadas de más).
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Option<Instant>,
}

impl io::Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        let mut stream = self.stream;
        stream.read(buf)
    }
}

/// Lo que una conexión necesita mientras dura.
struct Session<'a> {
    ctx: &'a Context,
    /// Identificador único de la conexión (el nombre puede reutilizarse después).
    id: u64,
    peer: SocketAddr,
    reader: BufReader<DeadlineReader<'a>>,
    stream: &'a TcpStream,
    outbox: &'a Outbox,
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

    /// Lee la siguiente línea con los límites de la configuración.
    fn read(&mut self) -> Read {
        let max = self.ctx.config.max_line_bytes;
        let mut buf = Vec::new();
        let result = read_line(&mut self.reader, &mut buf, max).and_then(|more| match more {
            false => Ok(None),
            true => String::from_utf8(std::mem::take(&mut buf))
                .map(Some)
                .map_err(|_| LineError::InvalidUtf8),
        });
        match result {
            Ok(Some(line)) => Read::Line(line),
            Ok(None) => Read::End(self.closed()),
            Err(LineError::TooLong { max }) => {
                log::warn!("[problema3] {}: línea de más de {max} bytes", self.peer);
                let msg = protocolo::error_line(&LineError::TooLong { max }.to_string());
                if let Err(end) = self.send(&msg) {
                    return Read::End(end);
                }
                // El resto de la línea, con su `\n`, sigue en el flujo: lo saltamos.
                match discard_line(&mut self.reader, MAX_DISCARD_BYTES) {
                    Ok(true) => Read::Skipped,
                    Ok(false) => Read::End(self.closed()),
                    Err(e) => Read::End(End::kicked(format!("error de lectura: {e}"))),
                }
            }
            Err(LineError::InvalidUtf8) => {
                log::warn!("[problema3] {}: línea que no es UTF-8", self.peer);
                match self.send(&protocolo::error_line(&LineError::InvalidUtf8.to_string())) {
                    Ok(()) => Read::Skipped,
                    Err(end) => Read::End(end),
                }
            }
            Err(e) if e.is_timeout() => Read::End(End::Kicked {
                reason: "no eligió nombre a tiempo".into(),
                farewell: Some(protocolo::HANDSHAKE_TIMEOUT),
            }),
            Err(e) => Read::End(self.closed_with(e)),
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

    fn closed_with(&self, e: LineError) -> End {
        if self.ctx.shutdown.is_triggered() {
            return End::Shutdown;
        }
        match &e {
            LineError::Io(io) if common::net::is_disconnect(io) => End::Left,
            _ => End::kicked(format!("error de lectura: {e}")),
        }
    }

    /// Pide nombre hasta que llega uno válido y libre; devuelve el nombre ya en la sala.
    fn handshake(&mut self) -> Result<String, End> {
        // Un plazo total, no por lectura: quien envía un byte cada poco no lo alarga.
        self.reader.get_mut().deadline = Some(Instant::now() + self.ctx.config.handshake_timeout);
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
                .and_then(|()| {
                    // Ya dentro, estar callado es parte del chat: sin plazo de lectura.
                    self.reader.get_mut().deadline = None;
                    self.stream
                        .set_read_timeout(None)
                        .map_err(|e| End::kicked(format!("no se pudo quitar el plazo: {e}")))
                });
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

    /// El bucle del chat: cada línea válida se difunde a los demás, respetando el ritmo.
    fn chat(&mut self, name: &str) -> End {
        let config = &self.ctx.config;
        let mut bucket = TokenBucket::new(config.rate_per_sec, config.rate_burst);
        let mut strikes: u32 = 0;
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
            if !bucket.try_take(Instant::now()) {
                strikes = strikes.saturating_add(1);
                if strikes >= config.flood_strikes {
                    return End::Kicked {
                        reason: "inundación de mensajes".into(),
                        farewell: Some(protocolo::FLOOD_DISCONNECT),
                    };
                }
                log::debug!("[problema3] {name}: mensaje rechazado por ritmo");
                if let Err(end) = self.send(&protocolo::rate_limited_line(config.rate_per_sec)) {
                    return end;
                }
                continue;
            }
            strikes = 0;
            log::debug!("[problema3] {name}: {text}");
            let line = protocolo::relay_line(name, &text);
            if self.ctx.room.relay(self.id, line).is_err() {
                return End::Shutdown;
            }
        }
    }
}
