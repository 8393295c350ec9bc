//! El hilo de cada cliente: saludo con el nombre, lectura de mensajes y órdenes.
//!
//! La lectura es el bucle común de `common::conn` ([`LineSession`]): cada mensaje termina en
//! `\n`, en el medio cierre o tras una pausa (los clientes del taller no envían `\n`), está
//! acotado a `max_line_bytes` (uno más largo recibe `ERROR línea demasiado larga...` y se
//! descarta hasta su final; si no aparece, se cierra), y uno que no es UTF-8 recibe un error
//! y la conexión sigue. El saludo tiene un plazo **total** (`handshake_timeout`: un byte cada
//! poco no lo alarga) y un máximo de intentos; después, estar callado es parte del chat, pero
//! cada mensaje debe llegar entero en ese mismo plazo desde su primer byte.
//!
//! Todo lo que se envía al cliente pasa por su [`Outbox`]: este hilo nunca escribe en el
//! socket, así que nunca se bloquea por un cliente que no lee.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use common::conn::{EndReason, Ending, Event, LineSession, MessageRule, RateRule, Rejection};
use common::outbox::{Outbox, OutboxError};
use common::Shutdown;

use super::rooms::{Chat, ChatError};
use super::ServerConfig;
use crate::protocolo::{self as p, parse_command, Command};

/// Lo que sale de intentar leer un mensaje.
enum Incoming {
    Line(String),
    /// Rechazado (largo, no UTF-8, ritmo): lleva la línea de error para el cliente.
    Rejected(String),
    /// La sesión termina, con la última línea para el cliente si procede.
    End(Option<String>),
}

/// ¿Sigue la sesión tras una orden?
enum Flow {
    Continue,
    Quit,
}

struct Connection<'a> {
    lines: LineSession<&'a TcpStream>,
    outbox: &'a Outbox,
    peer: SocketAddr,
    config: &'a ServerConfig,
    shutdown: &'a Shutdown,
    /// ¿Ya tiene nombre? (Cambia qué significa un plazo vencido.)
    chatting: bool,
}

/// Atiende una conexión de principio a fin. Nunca entra en pánico por lo que envíe el
/// cliente; al salir, el cliente ya no está en el chat y su cola se ha vaciado en el socket.
pub fn handle(
    stream: Arc<TcpStream>,
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
    let (outbox, writer) = match Outbox::spawn_shared(
        Arc::clone(&stream),
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
    let rule = MessageRule {
        pause: config.pause,
        ..MessageRule::new(config.max_line_bytes)
    };
    let mut conn = Connection {
        lines: LineSession::new(&*stream, rule),
        outbox: &outbox,
        peer,
        config,
        shutdown,
        chatting: false,
    };
    if let Some(mut name) = conn.handshake(chat) {
        conn.session(chat, &mut name);
    }
    drop(conn);
    // Soltar la última `Outbox` (la del chat ya se quitó al salir) hace que el escritor envíe
    // lo pendiente (la despedida, el aviso de apagado) y termine.
    drop(outbox);
    let _ = writer.join();
    common::conn::linger_close(&stream, super::LINGER);
    log::info!("[problema6] {peer}: desconectado");
}

impl Connection<'_> {
    /// Pide un nombre hasta que llegue uno válido y libre. `None` si el cliente se va, se
    /// agota el plazo o gasta los intentos.
    fn handshake(&mut self, chat: &Chat) -> Option<String> {
        // Un plazo total, no por lectura (issue 16): quien envía un byte cada poco no lo
        // alarga. Un nombre vacío merece su error: aquí no se saltan las líneas vacías.
        self.lines
            .set_deadline(Some(Instant::now() + self.config.handshake_timeout));
        self.lines.skip_blank(false);
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
                Incoming::Rejected(line) => line,
                Incoming::End(last) => {
                    if let Some(line) = last {
                        self.send(&line);
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
    fn session(&mut self, chat: &Chat, name: &mut String) {
        // Callar es parte del chat: sin plazo entre mensajes, pero cada mensaje debe llegar
        // entero en `handshake_timeout` desde su primer byte, y con el ritmo configurado.
        self.chatting = true;
        self.lines.set_deadline(None);
        self.lines.skip_blank(true);
        self.lines
            .set_message_timeout(Some(self.config.handshake_timeout));
        self.lines.limit_rate(Some(RateRule {
            per_sec: self.config.rate_per_sec,
            burst: self.config.rate_burst,
            strikes: Some(self.config.flood_strikes.max(1)),
            exempt: RateRule::NOTHING_EXEMPT,
        }));
        let announce = loop {
            let line = match self.next_line() {
                Incoming::Line(line) => line,
                Incoming::Rejected(line) => {
                    self.send(&line);
                    continue;
                }
                Incoming::End(last) => {
                    // Al apagar, el lado de lectura se cierra: no es que el usuario se fuera.
                    if let Some(line) = last {
                        self.send(&line);
                    }
                    break !self.shutdown.is_triggered();
                }
            };
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

    /// Lee el siguiente mensaje (bucle común de `common::conn`) y lo traduce a este
    /// protocolo, con su línea de registro.
    fn next_line(&mut self) -> Incoming {
        let peer = self.peer;
        match self.lines.next_event() {
            Event::Message { text, ending } => {
                if ending != Ending::Newline {
                    log::debug!("[problema6] {peer}: mensaje {}", ending.describe());
                }
                Incoming::Line(text)
            }
            Event::Rejected(Rejection::RateLimited { per_sec }) => {
                if self.lines.strikes() == 1 {
                    log::warn!("[problema6] {peer}: va demasiado rápido; se descartan mensajes");
                }
                Incoming::Rejected(p::rate_limited_line(per_sec))
            }
            Event::Rejected(other) => {
                log::warn!("[problema6] {peer}: {other}");
                Incoming::Rejected(p::error_line(&other.to_string()))
            }
            Event::End(EndReason::Closed) => {
                // Al apagar se cierra el lado de lectura: quien aún no tenía nombre también
                // merece saber por qué (a quien ya está dentro se lo dice el chat).
                let last = (!self.chatting && self.shutdown.is_triggered())
                    .then(|| p::SHUTTING_DOWN.to_string());
                Incoming::End(last)
            }
            Event::End(EndReason::TimedOut) if self.chatting => {
                log::warn!("[problema6] {peer}: un mensaje goteó más allá del plazo");
                Incoming::End(Some(p::MESSAGE_TIMEOUT.to_string()))
            }
            Event::End(EndReason::TimedOut) => {
                log::warn!("[problema6] {peer}: no eligió nombre a tiempo");
                Incoming::End(Some(p::HANDSHAKE_TIMEOUT.to_string()))
            }
            Event::End(EndReason::Flood) => {
                log::warn!("[problema6] {peer}: inundación; se desconecta");
                Incoming::End(Some(p::FLOOD_DISCONNECT.to_string()))
            }
            Event::End(EndReason::TooLong { max }) => {
                log::warn!("[problema6] {peer}: línea de más de {max} bytes sin final");
                Incoming::End(Some(p::error_line(&Rejection::TooLong { max }.to_string())))
            }
            Event::End(EndReason::Failed(e)) => {
                log::debug!("[problema6] {peer}: {e}");
                Incoming::End(None)
            }
        }
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
