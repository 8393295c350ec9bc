//! El juego por teclado.
//!
//! Hay dos fuentes de eventos que no se pueden esperar a la vez con una sola lectura: el
//! servidor (la jugada del rival llega cuando llega) y el teclado. Cada una tiene su hilo,
//! que solo lee y deja lo leído en un canal ([`Event`]); el bucle de [`run_interactive`]
//! recibe del canal y decide: mostrar el mensaje, enviar la orden, guardar o borrar el token,
//! terminar. Así el cliente termina en cuanto el servidor se va, aunque la persona no
//! escriba nada (el hilo del teclado puede quedarse bloqueado en su lectura: no se le
//! espera, y desaparece con el proceso).
//!
//! Lo que se escribe antes de que el servidor acepte el nombre espera en una cola: al volver
//! con un token el cliente no sabe aún si hay que pedir partida (`PLAY`) o si el servidor le
//! devuelve a la suya.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::protocolo::{Command, ErrorCode, PlayTarget, ServerMessage};

use super::{describe, send, ClientError, Messages, Patience, TokenFile};

/// Quién juega y cómo: lo que el binario saca de su línea de órdenes.
#[derive(Debug, Clone)]
pub struct Player {
    /// El nombre con el que se presenta (`NAME`).
    pub name: String,
    /// Dónde pedir partida tras el `HELLO` (`None`: la persona escribe `PLAY` a mano).
    pub target: Option<PlayTarget>,
    /// Un token dado a mano (`--token`) para volver a una partida; manda sobre el fichero.
    pub token: Option<String>,
    /// Dónde guardar el token para volver tras una caída (`None`: no se guarda).
    pub token_file: Option<TokenFile>,
    /// Cuánto esperar el `HELLO` y el `BYE` (respuestas) y la jugada del rival (evento).
    pub patience: Patience,
}

impl Player {
    /// Un jugador sin token ni fichero que pide partida en `target`, con 10 s de plazo para
    /// todo (lo que usan las pruebas; el binario no pone plazo a los eventos).
    pub fn new(name: &str, target: Option<PlayTarget>) -> Player {
        Player {
            name: name.to_string(),
            target,
            token: None,
            token_file: None,
            patience: Patience::fixed(Duration::from_secs(10)),
        }
    }
}

/// Lo que reciben los hilos lectores y entregan al bucle principal.
enum Event {
    /// Un mensaje del servidor, su cierre (`Ok(None)`) o un fallo al leerlo.
    Server(Result<Option<ServerMessage>, ClientError>),
    /// Una línea del teclado, o su final (`None`).
    Key(Option<String>),
}

/// Juego por teclado: envía `NAME` (con el token de `player`, si hay), pide partida al
/// recibir `HELLO` (salvo si ha vuelto a la suya) y luego envía cada línea de `input` (un
/// número es `MOVE n`; lo demás va tal cual: `LIST`, `REMATCH`...). Escribe en `output` cada
/// mensaje del servidor, contado para una persona, según llega. Al final del teclado se
/// despide con `QUIT`.
///
/// Termina bien cuando el servidor se despide (`BYE`: tras `QUIT` o porque se apaga). El
/// `HELLO` y el `BYE` se esperan `player.patience.reply`; entre medias, los eventos se
/// esperan `player.patience.events` (el binario no pone límite: el rival puede pensar lo que
/// quiera).
///
/// # Errores
/// [`ClientError::Refused`] si el servidor rechaza el nombre (`NAME_TAKEN`, `BAD_NAME`) o
/// cierra con un `ERROR` (`FULL`, `IDLE`),
/// [`ClientError::Closed`] si cierra sin despedirse, los de lectura y escritura del socket,
/// y [`ClientError::Output`] si no se pudo escribir en `output` (entonces ya se despidió).
pub fn run_interactive(
    stream: TcpStream,
    player: &Player,
    input: impl BufRead + Send + 'static,
    output: impl Write,
) -> Result<(), ClientError> {
    let writer = stream.try_clone()?;
    let (events, inbox) = mpsc::channel();
    let server = {
        let events = events.clone();
        thread::Builder::new()
            .name("cliente-servidor".to_string())
            .spawn(move || read_server(stream, &events))?
    };
    thread::Builder::new()
        .name("cliente-teclado".to_string())
        .spawn(move || read_keyboard(input, &events))?;
    let mut session = Session::new(player, writer, output);
    let result = session.run(&inbox);
    // El hilo del servidor termina con el cierre del socket; se le espera si ya terminó o
    // está a punto (tras un `BYE` el servidor cierra). Si no, cortar el socket lo despierta.
    let _ = session.writer.shutdown(std::net::Shutdown::Both);
    let _ = server.join();
    result
}

/// Lee mensajes del servidor hasta su cierre o un error, y los deja en el canal.
fn read_server(stream: TcpStream, events: &mpsc::Sender<Event>) {
    let mut messages = Messages::new(BufReader::new(stream));
    loop {
        let next = messages.next_message();
        let last = !matches!(next, Ok(Some(_)));
        if events.send(Event::Server(next)).is_err() || last {
            return;
        }
    }
}

/// Lee líneas del teclado hasta su final y las deja en el canal.
fn read_keyboard(input: impl BufRead, events: &mpsc::Sender<Event>) {
    for line in input.lines() {
        let Ok(line) = line else { break };
        if events.send(Event::Key(Some(line))).is_err() {
            return;
        }
    }
    let _ = events.send(Event::Key(None));
}

/// Lo que el bucle principal recuerda entre eventos.
struct Session<'a, W> {
    player: &'a Player,
    writer: TcpStream,
    output: W,
    /// El primer fallo al escribir en `output`: desde entonces no se escribe más.
    output_failed: Option<io::Error>,
    /// El token enviado con `NAME` (del fichero o de `--token`).
    sent_token: Option<String>,
    /// El token de este jugador, desde el `HELLO`.
    token: Option<String>,
    /// ¿Aceptó el servidor el nombre?
    named: bool,
    /// Líneas escritas antes del `HELLO`, y si el teclado ya terminó entonces.
    pending: VecDeque<String>,
    keyboard_closed: bool,
    /// La partida en la que juega, si juega una.
    game: Option<u64>,
    /// ¿Se envió ya `QUIT`?
    quitting: bool,
}

impl<'a, W: Write> Session<'a, W> {
    fn new(player: &'a Player, writer: TcpStream, output: W) -> Self {
        let sent_token = player
            .token
            .clone()
            .or_else(|| player.token_file.as_ref().and_then(|file| file.load()));
        Session {
            player,
            writer,
            output,
            output_failed: None,
            sent_token,
            token: None,
            named: false,
            pending: VecDeque::new(),
            keyboard_closed: false,
            game: None,
            quitting: false,
        }
    }

    /// El bucle: un evento cada vez, hasta la despedida del servidor o un error.
    fn run(&mut self, inbox: &mpsc::Receiver<Event>) -> Result<(), ClientError> {
        self.player.patience.for_reply(&self.writer)?;
        send(
            &mut self.writer,
            &Command::Name {
                name: self.player.name.clone(),
                token: self.sent_token.clone(),
            },
        )?;
        self.show(
            "Conectado. Escriba el número de una casilla (1-9), o HELP, LIST, REMATCH, QUIT...",
        );
        loop {
            // Los dos hilos guardan un extremo del canal: mientras el del servidor viva
            // llegará al menos su cierre, así que `recv` no se queda esperando para siempre.
            let Ok(event) = inbox.recv() else {
                return Err(ClientError::Closed);
            };
            match event {
                Event::Key(Some(line)) => self.typed(line)?,
                Event::Key(None) => {
                    self.keyboard_closed = true;
                    if self.named {
                        self.quit()?;
                    }
                }
                Event::Server(Ok(Some(msg))) => {
                    if self.on_message(msg)? {
                        return self
                            .output_failed
                            .take()
                            .map_or(Ok(()), |e| Err(ClientError::Output(e)));
                    }
                }
                Event::Server(Ok(None)) => return Err(ClientError::Closed),
                Event::Server(Err(e)) => return Err(e),
            }
            self.show_failed()?;
        }
    }

    /// Una línea del teclado: un número es `MOVE n`; lo demás va tal cual.
    fn typed(&mut self, line: String) -> Result<(), ClientError> {
        let line = line.trim();
        if line.is_empty() || self.quitting {
            return Ok(());
        }
        if !self.named {
            self.pending.push_back(line.to_string());
            return Ok(());
        }
        let out = match line.parse::<u8>() {
            Ok(n) => Command::Move(n).encode(),
            Err(_) => line.to_string(),
        };
        self.writer.write_all(format!("{out}\n").as_bytes())?;
        if out.eq_ignore_ascii_case("QUIT") {
            self.start_quitting()?;
        }
        Ok(())
    }

    /// Despedirse (si no se hizo ya) y esperar el `BYE` con plazo.
    fn quit(&mut self) -> Result<(), ClientError> {
        if !self.quitting {
            send(&mut self.writer, &Command::Quit)?;
            self.start_quitting()?;
        }
        Ok(())
    }

    fn start_quitting(&mut self) -> Result<(), ClientError> {
        self.quitting = true;
        // Un plazo en el socket vale para todas sus copias: también para el hilo lector.
        self.player.patience.for_reply(&self.writer)
    }

    /// Si ya no se puede escribir en pantalla, no tiene sentido seguir jugando: despedirse.
    fn show_failed(&mut self) -> Result<(), ClientError> {
        if self.output_failed.is_some() {
            self.quit()?;
        }
        Ok(())
    }

    /// Un mensaje del servidor. Devuelve `true` cuando la conversación terminó bien (`BYE`).
    fn on_message(&mut self, msg: ServerMessage) -> Result<bool, ClientError> {
        match &msg {
            // El saludo dice «NAME <nombre> para empezar»: el cliente ya lo envió.
            ServerMessage::Welcome(_) => return Ok(false),
            ServerMessage::Hello { name, token } => {
                self.hello(name, token)?;
                return Ok(false);
            }
            // Sin nombre no hay juego; con el servidor lleno o tras una hora callado, el
            // servidor cierra después de este `ERROR`.
            ServerMessage::Error { code, text }
                if matches!(code, ErrorCode::Full | ErrorCode::Idle)
                    || (!self.named
                        && matches!(code, ErrorCode::NameTaken | ErrorCode::BadName)) =>
            {
                return Err(ClientError::refused(*code, text));
            }
            ServerMessage::Start { game, .. } => {
                self.game = Some(*game);
                self.save_token();
            }
            m if m.is_game_over() && m.game().is_some() && m.game() == self.game => {
                // Tras el final el servidor ya no guarda el asiento: el token no sirve.
                self.forget_token();
            }
            ServerMessage::Bye(_) => {
                self.show(&describe(&msg, Some(&self.player.name)));
                self.forget_token();
                return Ok(true);
            }
            _ => {}
        }
        self.show(&describe(&msg, Some(&self.player.name)));
        Ok(false)
    }

    /// El nombre fue aceptado: ¿ha vuelto a su partida o empieza de cero?
    fn hello(&mut self, name: &str, token: &str) -> Result<(), ClientError> {
        self.named = true;
        if !self.quitting {
            self.player.patience.for_events(&self.writer)?;
        }
        self.token = Some(token.to_string());
        let back = self.sent_token.as_deref() == Some(token);
        if back {
            self.show(&format!("Hola de nuevo, {name}: vuelve a su partida."));
        } else {
            if self.sent_token.is_some() {
                self.show(
                    "El token guardado ya no sirve (la partida terminó o el servidor se reinició): se empieza de cero.",
                );
                if let Some(file) = &self.player.token_file {
                    file.remove();
                }
            }
            let again = match &self.player.token_file {
                Some(_) => format!("vuelva a abrir el cliente con --name {name}"),
                None => format!("vuelva a abrir el cliente con --name {name} --token {token}"),
            };
            self.show(&format!(
                "Hola, {name}. Si se corta la conexión en mitad de una partida, {again} y volverá a ella."
            ));
            if let Some(target) = self.player.target.as_ref().filter(|_| !self.quitting) {
                send(&mut self.writer, &Command::Play(target.clone()))?;
            }
        }
        while let Some(line) = self.pending.pop_front() {
            self.typed(line)?;
        }
        if self.keyboard_closed {
            self.quit()?;
        }
        Ok(())
    }

    /// Guarda el token mientras hay partida en curso (para volver tras una caída).
    fn save_token(&mut self) {
        if let (Some(file), Some(token)) = (&self.player.token_file, &self.token) {
            if let Err(e) = file.save(token) {
                log::warn!(
                    "no se pudo guardar el token en {}: {}",
                    file.path().display(),
                    common::net::describe_io_error(&e)
                );
            }
        }
    }

    fn forget_token(&mut self) {
        if let Some(file) = &self.player.token_file {
            file.remove();
        }
    }

    /// Escribe una línea para la persona. Si la salida está cerrada se recuerda el fallo y no
    /// se vuelve a intentar (el bucle se despide del servidor).
    fn show(&mut self, text: &str) {
        if self.output_failed.is_some() {
            return;
        }
        if let Err(e) = writeln!(self.output, "{text}").and_then(|()| self.output.flush()) {
            self.output_failed = Some(e);
        }
    }
}
