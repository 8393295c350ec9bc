//! El cliente: dibuja el tablero, lee casillas, muestra los eventos según llegan y sabe
//! mirar partidas o jugar solo (`--bot`).
//!
//! Tres modos, cada uno en su módulo:
//! - [`interactive`]: la persona juega por teclado. Un hilo lee el socket y otro el teclado,
//!   y los dos dejan lo que reciben en un mismo canal: el bucle principal decide con cada
//!   evento (mostrar, enviar, terminar). Guarda el token de reconexión en un fichero
//!   ([`token`]) para volver solo a la partida tras una caída.
//! - [`bot`]: juega solo, al azar o perfecto (minimax), las partidas que se le pidan.
//! - [`watch`]: mira una partida y sus revanchas hasta que un jugador deja la mesa.
//!
//! Aquí queda lo que comparten: leer mensajes del servidor ([`Messages`]), contarlos a una
//! persona ([`describe`], [`render_board`]) y los errores ([`ClientError`]), cada uno con su
//! código de salida (`common::exit`).

use std::io::{BufRead, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::ayuda::plural;
use common::exit::Failure;

use crate::protocolo::{Board, Command, ForfeitReason, Mark, ProtocolError, ServerMessage};

pub mod bot;
pub mod interactive;
pub mod token;
pub mod watch;

pub use bot::{run_bot, BotKind, BotReport};
pub use interactive::{run_interactive, Player};
pub use token::TokenFile;
pub use watch::run_watch;

/// Cuánto esperar al servidor. Una respuesta directa (el `HELLO` tras `NAME`, el `WATCHING`
/// tras `WATCH`, el `BYE` tras `QUIT`) tiene plazo: si no llega, algo va mal. Un evento (la
/// jugada del rival, que llegue alguien a la cola, una revancha) puede tardar lo que quiera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// Plazo de una respuesta directa (el `--timeout` del binario).
    pub reply: Duration,
    /// Plazo entre eventos: `None`, sin límite (el binario); las pruebas ponen uno para no
    /// colgarse.
    pub events: Option<Duration>,
}

impl Patience {
    /// El mismo plazo para todo (lo que usan las pruebas).
    pub fn fixed(timeout: Duration) -> Patience {
        Patience {
            reply: timeout,
            events: Some(timeout),
        }
    }

    /// Espera una respuesta directa en `stream` (el plazo vale para todas sus copias).
    fn for_reply(&self, stream: &TcpStream) -> Result<(), ClientError> {
        Ok(stream.set_read_timeout(Some(self.reply.max(Duration::from_millis(1))))?)
    }

    /// Espera eventos en `stream`.
    fn for_events(&self, stream: &TcpStream) -> Result<(), ClientError> {
        Ok(stream.set_read_timeout(self.events.map(|d| d.max(Duration::from_millis(1))))?)
    }
}

/// Longitud máxima de una línea del servidor (la más larga, `GAME`, no llega a 100 bytes).
pub const MAX_SERVER_LINE: usize = 4096;

/// Lo que puede salir mal en el cliente. Cada variante tiene su código de salida
/// (véase `From<ClientError> for Failure`).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Fallo del socket (incluido el tiempo de espera agotado): código 4.
    #[error("error de conexión: {}", common::net::describe_io_error(.0))]
    Io(#[from] std::io::Error),
    /// No se pudo escribir en la salida estándar: si quien leía la cerró (`| head`), el
    /// cliente termina en silencio con 0.
    #[error("no se pudo escribir en la salida estándar: {}", common::net::describe_io_error(.0))]
    Output(std::io::Error),
    /// Línea del servidor demasiado larga, no UTF-8 o ilegible: código 4.
    #[error("respuesta del servidor no válida: {0}")]
    Line(#[from] common::line::LineError),
    /// Mensaje del servidor que no se entiende: código 4.
    #[error("respuesta del servidor no válida: {0}")]
    Protocol(#[from] ProtocolError),
    /// El servidor rechazó una orden sin la que no se puede seguir: código 1.
    #[error("el servidor respondió {code}: {text}")]
    Refused {
        /// El código del `ERROR`.
        code: &'static str,
        /// El motivo.
        text: String,
    },
    /// El servidor se despidió (`BYE`) antes de que el bot jugara sus partidas: código 1.
    #[error("el servidor cerró la sesión («{text}») tras {played} de {games} partidas")]
    Unfinished {
        /// El texto del `BYE`.
        text: String,
        /// Partidas jugadas.
        played: u32,
        /// Partidas pedidas.
        games: u32,
    },
    /// El servidor cerró la conexión sin despedirse (sin `BYE`): código 4.
    #[error("el servidor cerró la conexión sin despedirse")]
    Closed,
}

impl ClientError {
    /// El `ERROR` de un mensaje del servidor como error del cliente.
    fn refused(code: crate::protocolo::ErrorCode, text: &str) -> Self {
        ClientError::Refused {
            code: code.as_str(),
            text: text.to_string(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Output(e) => Failure::stdout(&e),
            ClientError::Io(e) | ClientError::Line(common::line::LineError::Io(e)) => {
                Failure::io("la conexión con el servidor falló", &e)
            }
            e @ (ClientError::Refused { .. } | ClientError::Unfinished { .. }) => {
                Failure::refused(e.to_string())
            }
            e @ (ClientError::Line(_) | ClientError::Protocol(_) | ClientError::Closed) => {
                Failure::network(e.to_string())
            }
        }
    }
}

/// Lector de mensajes del servidor, uno por línea.
pub struct Messages<R> {
    reader: R,
}

impl<R: BufRead> Messages<R> {
    /// Envuelve un lector con buffer.
    pub fn new(reader: R) -> Self {
        Self { reader }
    }

    /// El siguiente mensaje; `None` si el servidor cerró.
    ///
    /// # Errores
    /// De lectura, de longitud o de formato.
    pub fn next_message(&mut self) -> Result<Option<ServerMessage>, ClientError> {
        match common::line::read_utf8_line(&mut self.reader, MAX_SERVER_LINE)? {
            Some(line) => Ok(Some(ServerMessage::parse(&line)?)),
            None => Ok(None),
        }
    }
}

/// Envía una orden al servidor.
fn send(stream: &mut impl Write, cmd: &Command) -> Result<(), ClientError> {
    stream.write_all(format!("{}\n", cmd.encode()).as_bytes())?;
    Ok(())
}

/// El tablero como rejilla, con el número de cada casilla libre para elegirla.
///
/// ```
/// use problema8::cliente::render_board;
/// use problema8::protocolo::Board;
/// let grid = render_board(&Board::parse("X...O....").unwrap());
/// assert_eq!(grid, " X | 2 | 3\n---+---+---\n 4 | O | 6\n---+---+---\n 7 | 8 | 9");
/// ```
pub fn render_board(board: &Board) -> String {
    let cell = |c: u8| match board.get(c) {
        Some(m) => m.as_char(),
        None => char::from(b'0' + c),
    };
    let row = |r: u8| {
        format!(
            " {} | {} | {}",
            cell(r * 3 + 1),
            cell(r * 3 + 2),
            cell(r * 3 + 3)
        )
    };
    [row(0), row(1), row(2)].join("\n---+---+---\n")
}

fn reason_text(reason: ForfeitReason) -> &'static str {
    match reason {
        ForfeitReason::Left => "abandonó",
        ForfeitReason::Disconnected => "se desconectó y no volvió a tiempo",
        ForfeitReason::Timeout => "se le acabó el tiempo de turno",
    }
}

fn turn_text(turn: Option<Mark>) -> String {
    match turn {
        Some(m) => format!("le toca a {m}"),
        None => "partida terminada".to_string(),
    }
}

/// El mensaje contado para una persona (`me` es su nombre, si juega).
pub fn describe(msg: &ServerMessage, me: Option<&str>) -> String {
    use ServerMessage as M;
    let is_me = |n: &str| me == Some(n);
    match msg {
        M::Welcome(t) => t.clone(),
        M::Hello { name, token } => {
            format!("Hola, {name}. Si se corta la conexión, vuelva con: NAME {name} {token}")
        }
        M::Queued(p) => format!("En la cola (posición {p}): esperando rival..."),
        M::Waiting(code) => format!("Partida privada «{code}»: esperando a su amigo..."),
        M::Start {
            game,
            mark,
            opponent,
        } => format!("Partida {game}: juega con {mark} contra {opponent}."),
        M::Watching { game, x, o } => format!("Mirando la partida {game}: {x} (X) contra {o} (O)."),
        M::Board { board, turn, .. } => format!("{}\n{}", render_board(board), turn_text(*turn)),
        M::YourTurn { mark, board, .. } => {
            let free: Vec<String> = board.free_cells().iter().map(u8::to_string).collect();
            format!("Su turno ({mark}): elija casilla ({})", free.join(", "))
        }
        M::Moved {
            mark,
            cell,
            board,
            next,
            ..
        } => format!(
            "{mark} juega en {cell}.\n{}\n{}",
            render_board(board),
            turn_text(*next)
        ),
        M::Win {
            name, mark, line, ..
        } if is_me(name) => {
            format!(
                "¡Ha ganado! (línea {},{},{} con {mark})",
                line[0], line[1], line[2]
            )
        }
        M::Win {
            name, mark, line, ..
        } => {
            format!(
                "Gana {name} ({mark}) con la línea {},{},{}.",
                line[0], line[1], line[2]
            )
        }
        M::Draw(_) => "Tablas.".to_string(),
        M::Forfeit {
            name, mark, reason, ..
        } => format!("{name} ({mark}) pierde: {}.", reason_text(*reason)),
        M::Away { name, grace_ms, .. } => format!(
            "{name} se ha desconectado: tiene {} para volver.",
            common::progress::format_seconds(std::time::Duration::from_millis(*grace_ms))
        ),
        M::Back { name, .. } => format!("{name} ha vuelto."),
        M::Left { name, .. } if is_me(name) => "Ha dejado la mesa.".to_string(),
        M::Left { name, .. } => format!("{name} ha dejado la mesa."),
        M::RematchWaiting(_) => "Esperando a que el rival acepte la revancha...".to_string(),
        M::RematchOffered { name, .. } => {
            format!("{name} pide la revancha: escriba REMATCH para aceptar.")
        }
        M::Games(0) => "No hay partidas en curso.".to_string(),
        M::Games(n) => format!("Partidas en curso: {n}"),
        M::Game(g) => format!(
            "  {}: {} (X) contra {} (O), {} jugadas, {} [{}]",
            g.id,
            g.x,
            g.o,
            g.moves,
            g.board,
            turn_text(g.turn)
        ),
        M::Scores(n) => format!("Clasificación ({}):", plural(*n, "jugador", "jugadores")),
        M::Score {
            name,
            wins,
            draws,
            losses,
        } => format!("  {name}: {}", tally(*wins, *draws, *losses)),
        M::Ok(what) => format!("Hecho ({what})."),
        M::Info(t) => t.clone(),
        M::Error { code, text } => format!("Error ({}): {text}", code.as_str()),
        M::Bye(t) => format!("El servidor cierra: {t}"),
    }
}

/// `3 ganadas, 1 empate, 1 perdida`: el marcador de un jugador, con cada palabra en singular
/// o en plural según su número.
fn tally<N>(wins: N, draws: N, losses: N) -> String
where
    N: Copy + std::fmt::Display + TryInto<u64>,
{
    format!(
        "{}, {}, {}",
        plural(wins, "ganada", "ganadas"),
        plural(draws, "empate", "empates"),
        plural(losses, "perdida", "perdidas")
    )
}
