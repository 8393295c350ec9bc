//! El hilo de cada cliente: saludo con el nombre, lectura de líneas y órdenes.
//!
//! Cada lectura está acotada a `max_line_bytes` (`common::line`): una línea más larga recibe
//! `ERROR línea demasiado larga...`, se descarta hasta su `\n` (como mucho
//! [`MAX_DISCARD_BYTES`]; si no aparece, se cierra) y la conexión sigue. Una línea que no es
//! UTF-8 recibe un error y la conexión sigue. El saludo tiene plazo
//! (`handshake_timeout`) y un máximo de intentos; después, estar callado es parte del chat y
//! no hay plazo de lectura.
//!
//! Todo lo que se envía al cliente pasa por su [`Outbox`]: este hilo nunca escribe en el
//! socket, así que nunca se bloquea por un cliente que no lee.

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Instant;

use common::line::{discard_line, read_utf8_line, LineError};
use common::outbox::{Outbox, OutboxError};
use common::rate::TokenBucket;
use common::Shutdown;

use super::rooms::{Chat, ChatError};
use super::ServerConfig;
use crate::protocolo::{self as p, parse_command, Command};

/// Bytes que se descartan como mucho de una línea demasiado larga buscando su `\n`: quien
/// envía más de 1 MiB sin salto de línea no es un cliente de chat, y se le cierra.
pub const MAX_DISCARD_BYTES: u64 = 1024 * 1024;

/// Lo que sale de intentar leer una línea.
enum Incoming {
    Line(String),
    /// Línea demasiado larga; `fatal` si ni siquiera se encontró su final.
    TooLong {
        fatal: bool,
    },
    InvalidUtf8,
    TimedOut,
    Closed,
}

/// ¿Sigue la sesión tras una orden?
enum Flow {
    Continue,
    Quit,
}

struct Connection<'a> {
    stream: &'a TcpStream,
    reader: BufReader<&'a TcpStream>,
    outbox: &'a Outbox,
    peer: SocketAddr,
    config: &'a ServerConfig,
}

/// Atiende una conexión de principio a fin. Nunca entra en pánico por lo que envíe el
/// cliente; al salir, el cliente ya no está en el chat y su cola se ha vaciado en el socket.
pub fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    chat: &Chat,
    config: &ServerConfig,
    shutdown: &Shutdown,
) {
    log::info!("[problema6] {peer}: conectado");
    // Líneas cortas e interactivas: sin el algoritmo de Nagle, que junto al ACK retardado del
    // otro extremo puede retener cada línea unos 40 ms.
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("[problema6] {peer}: no se pudo activar TCP_NODELAY: {e}");
    }
    let thread_name = thread::current().name().unwrap_or("problema6").to_string();
    let (outbox, writer) = match Outbox::spawn(
        &stream,
        config.queue_messages,
        config.write_timeout,
        &thread_name,
    ) {
        Ok(pair) => pair,
        Err(e) => {
            log::error!("[problema6] {peer}: no se pudo crear la cola de salida: {e}");
            return;
        }
    };
    let mut conn = Connection {
        stream: &stream,
        reader: BufReader::new(&stream),
        outbox: &outbox,
        peer,
        config,
    };
    if let Some(mut name) = conn.handshake(chat, shutdown) {
        conn.session(chat, &mut name, shutdown);
    }
    drop(conn);
    // Soltar la última `Outbox` (la del chat ya se quitó al salir) hace que el escritor envíe
    // lo pendiente (la despedida, el aviso de apagado) y termine.
    drop(outbox);
    let _ = writer.join();
    log::info!("[problema6] {peer}: desconectado");
}

impl Connection<'_> {
    /// Pide un nombre hasta que llegue uno válido y libre. `None` si el cliente se va, se
    /// agota el plazo o gasta los intentos.
    fn handshake(&mut self, chat: &Chat, shutdown: &Shutdown) -> Option<String> {
        let _ = self
            .stream
            .set_read_timeout(Some(self.config.handshake_timeout.max(MIN_TIMEOUT)));
        self.send(p::NAME_PROMPT);
        let mut attempts = 0;
        loop {
            let rejection = match self.next_line() {
                Incoming::Line(raw) => {
                    if raw.trim() == p::QUIT_COMMAND {
                        self.send(p::GOODBYE);
                        return None;
                    }
                    match p::validate_name(&raw) {
                        Ok(name) => match chat.login(name, self.outbox.clone(), self.peer) {
                            Ok(()) => {
                                log::info!("[problema6] {}: entra como {name}", self.peer);
                                return Some(name.to_string());
                            }
                            Err(ChatError::NameTaken(_)) => p::name_taken_line(name),
                            Err(e) => p::error_line(&e.to_string()),
                        },
                        Err(e) => p::error_line(&e.to_string()),
                    }
                }
                Incoming::TooLong { fatal: true } => {
                    self.send(&self.too_long_line());
                    return None;
                }
                Incoming::TooLong { fatal: false } => self.too_long_line(),
                Incoming::InvalidUtf8 => p::error_line(&LineError::InvalidUtf8.to_string()),
                Incoming::TimedOut => {
                    log::warn!("[problema6] {}: no eligió nombre a tiempo", self.peer);
                    self.send(p::HANDSHAKE_TIMEOUT);
                    return None;
                }
                Incoming::Closed => {
                    // Al apagar se cierra el lado de lectura: quien aún no tenía nombre
                    // también merece saber por qué.
                    if shutdown.is_triggered() {
                        self.send(p::SHUTTING_DOWN);
                    }
                    return None;
                }
            };
            log::debug!("[problema6] {}: nombre rechazado: {rejection}", self.peer);
            self.send(&rejection);
            attempts += 1;
            if attempts >= p::MAX_NAME_ATTEMPTS {
                log::warn!("[problema6] {}: demasiados intentos de nombre", self.peer);
                self.send(p::TOO_MANY_ATTEMPTS);
                return None;
            }
            self.send(p::NAME_PROMPT);
        }
    }

    /// La sesión de chat de `name` hasta `/quit`, el cierre o una inundación.
    fn session(&mut self, chat: &Chat, name: &mut String, shutdown: &Shutdown) {
        let _ = self.stream.set_read_timeout(None);
        let mut bucket = TokenBucket::new(self.config.rate_per_sec, self.config.rate_burst);
        let mut strikes: u32 = 0;
        let announce = loop {
            let line = match self.next_line() {
                Incoming::Line(line) => line,
                Incoming::TooLong { fatal } => {
                    log::warn!(
                        "[problema6] {} ({name}): línea de más de {} bytes",
                        self.peer,
                        self.config.max_line_bytes
                    );
                    self.send(&self.too_long_line());
                    if fatal {
                        break true;
                    }
                    continue;
                }
                Incoming::InvalidUtf8 => {
                    log::warn!("[problema6] {} ({name}): línea que no es UTF-8", self.peer);
                    self.send(&p::error_line(&LineError::InvalidUtf8.to_string()));
                    continue;
                }
                Incoming::TimedOut => continue,
                // Al apagar, el lado de lectura se cierra: no es que el usuario se fuera.
                Incoming::Closed => break !shutdown.is_triggered(),
            };
            if !bucket.try_take(Instant::now()) {
                strikes += 1;
                if strikes == 1 {
                    log::warn!(
                        "[problema6] {} ({name}): va demasiado rápido; se descartan mensajes",
                        self.peer
                    );
                }
                if strikes >= self.config.flood_strikes {
                    log::warn!(
                        "[problema6] {} ({name}): inundación; se desconecta",
                        self.peer
                    );
                    self.send(p::FLOOD_DISCONNECT);
                    break true;
                }
                self.send(&p::rate_limited_line(self.config.rate_per_sec));
                continue;
            }
            strikes = 0;
            if let Flow::Quit = self.dispatch(chat, name, &line) {
                break true;
            }
        };
        chat.logout(name, announce);
        log::info!("[problema6] {}: {name} sale del chat", self.peer);
    }

    /// Ejecuta una línea de `name` ya admitida por el límite de ritmo.
    fn dispatch(&mut self, chat: &Chat, name: &mut String, line: &str) -> Flow {
        let command = match parse_command(line) {
            Ok(Some(c)) => c,
            Ok(None) => return Flow::Continue,
            Err(e) => {
                self.send(&p::error_line(&e.to_string()));
                return Flow::Continue;
            }
        };
        log::debug!("[problema6] {} ({name}): {command:?}", self.peer);
        let result = match command {
            Command::Say(text) => chat.say(name, text),
            Command::Create(room) => chat.create(name, room),
            Command::Join(room) => chat.join(name, room),
            Command::Leave => chat.leave(name),
            Command::Rooms => chat.list_rooms(name),
            Command::Users => chat.list_users(name),
            Command::Msg { to, text } => chat.private(name, to, text),
            Command::Nick(new) => match p::validate_name(new) {
                Ok(new) => chat.rename(name, new).map(|()| {
                    log::info!("[problema6] {}: {name} ahora es {new}", self.peer);
                    *name = new.to_string();
                }),
                Err(e) => Err(ChatError::InvalidName(e)),
            },
            Command::Topic(topic) => chat.topic(name, topic),
            Command::Help => {
                self.send(&p::HELP.join("\n"));
                Ok(())
            }
            Command::Quit => {
                self.send(p::GOODBYE);
                return Flow::Quit;
            }
        };
        match result {
            Ok(()) => Flow::Continue,
            // Nos sacaron del chat (cola llena): no hay sesión que seguir.
            Err(ChatError::NotConnected) => Flow::Quit,
            Err(e) => {
                self.send(&p::error_line(&e.to_string()));
                Flow::Continue
            }
        }
    }

    /// Lee la siguiente línea con el límite de longitud y clasifica lo que pase.
    fn next_line(&mut self) -> Incoming {
        match read_utf8_line(&mut self.reader, self.config.max_line_bytes) {
            Ok(Some(line)) => Incoming::Line(line),
            Ok(None) => Incoming::Closed,
            Err(LineError::TooLong { .. }) => {
                let found_end = discard_line(&mut self.reader, MAX_DISCARD_BYTES).unwrap_or(false);
                Incoming::TooLong { fatal: !found_end }
            }
            Err(LineError::InvalidUtf8) => Incoming::InvalidUtf8,
            Err(e) if e.is_timeout() => Incoming::TimedOut,
            Err(e) => {
                log::debug!("[problema6] {}: {e}", self.peer);
                Incoming::Closed
            }
        }
    }

    fn too_long_line(&self) -> String {
        p::error_line(
            &LineError::TooLong {
                max: self.config.max_line_bytes,
            }
            .to_string(),
        )
    }

    /// Encola una línea (o varias) para este cliente; si su cola está llena, se le corta.
    fn send(&self, text: &str) {
        if let Err(OutboxError::Full) = self.outbox.send_line(text) {
            log::warn!(
                "[problema6] {}: su cola de salida está llena (no lee); se desconecta",
                self.peer
            );
            self.outbox.close();
        }
    }
}

/// Un plazo de lectura de cero significaría "sin plazo" para `set_read_timeout` (y es un
/// error): usamos al menos un milisegundo.
const MIN_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1);
