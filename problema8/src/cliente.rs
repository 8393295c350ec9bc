//! El cliente: dibuja el tablero, lee casillas, muestra los eventos según llegan y sabe
//! mirar partidas o jugar solo (`--bot`).
//!
//! Tres modos:
//! - [`run_interactive`]: un hilo lector muestra cada mensaje del servidor según llega
//!   (jugada del rival, fin de partida) mientras el hilo principal lee lo que escribe la
//!   persona: un número del 1 al 9 es `MOVE n`; cualquier otra línea se envía tal cual
//!   (`LIST`, `REMATCH`, `SCORES`...).
//! - [`run_bot`]: juega solo, al azar o perfecto (minimax), las partidas que se le pidan.
//! - [`run_watch`]: mira una partida hasta que termina.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;

use common::ayuda::plural;
use rand::seq::SliceRandom;

use crate::protocolo::{
    best_move, Board, Command, ForfeitReason, Mark, PlayTarget, ProtocolError, ServerMessage,
};

/// Longitud máxima de una línea del servidor (la más larga, `GAME`, no llega a 100 bytes).
pub const MAX_SERVER_LINE: usize = 4096;

/// Cómo elige casilla el bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BotKind {
    /// Una casilla libre al azar.
    #[value(alias = "aleatorio")]
    Random,
    /// La mejor jugada (minimax): nunca pierde.
    #[value(alias = "perfecto")]
    Perfect,
}

impl BotKind {
    /// La casilla que elige este bot (`None` si no queda ninguna libre).
    pub fn choose(self, board: &Board, me: Mark) -> Option<u8> {
        match self {
            BotKind::Random => board.free_cells().choose(&mut rand::thread_rng()).copied(),
            BotKind::Perfect => best_move(board, me),
        }
    }
}

/// Lo que puede salir mal en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Fallo del socket (incluido el tiempo de espera agotado).
    #[error("error de conexión: {}", common::net::describe_io_error(.0))]
    Io(#[from] std::io::Error),
    /// Línea del servidor demasiado larga o no UTF-8.
    #[error("respuesta del servidor no válida: {0}")]
    Line(#[from] common::line::LineError),
    /// Mensaje del servidor que no se entiende.
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// El servidor rechazó una orden.
    #[error("el servidor respondió {code}: {text}")]
    Refused {
        /// El código del `ERROR`.
        code: &'static str,
        /// El motivo.
        text: String,
    },
    /// El servidor cerró la conexión antes de tiempo.
    #[error("el servidor cerró la conexión")]
    Closed,
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
            "{name} se ha desconectado: tiene {:.1} s para volver.",
            *grace_ms as f64 / 1000.0
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

/// Resultado de un bot: partidas ganadas, empatadas y perdidas.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BotReport {
    /// Ganadas.
    pub wins: u32,
    /// Tablas.
    pub draws: u32,
    /// Perdidas.
    pub losses: u32,
}

/// Juega `games` partidas seguidas como `name` contra `target`, eligiendo casilla con
/// `kind`, y escribe en `out` una línea por partida terminada. Al acabar envía `QUIT`.
///
/// # Errores
/// Si el servidor rechaza una orden (por ejemplo, nombre en uso), cierra antes de tiempo o
/// envía algo que no se entiende.
pub fn run_bot(
    stream: TcpStream,
    name: &str,
    target: PlayTarget,
    kind: BotKind,
    games: u32,
    out: &mut impl Write,
) -> Result<BotReport, ClientError> {
    let mut writer = stream.try_clone()?;
    let mut messages = Messages::new(BufReader::new(stream));
    let mut report = BotReport::default();
    let mut current: Option<u64> = None;
    let mut played = 0;
    send(
        &mut writer,
        &Command::Name {
            name: name.to_string(),
            token: None,
        },
    )?;
    while let Some(msg) = messages.next_message()? {
        match &msg {
            ServerMessage::Hello { .. } => {
                if games == 0 {
                    send(&mut writer, &Command::Quit)?;
                } else {
                    send(&mut writer, &Command::Play(target.clone()))?;
                }
            }
            ServerMessage::Start { game, .. } => current = Some(*game),
            ServerMessage::YourTurn { game, mark, board } if current == Some(*game) => {
                if let Some(cell) = kind.choose(board, *mark) {
                    send(&mut writer, &Command::Move(cell))?;
                }
            }
            m if m.is_game_over() && m.game() == current && current.is_some() => {
                match m {
                    ServerMessage::Win { name: w, .. } if w == name => report.wins += 1,
                    ServerMessage::Forfeit { name: l, .. } if l != name => report.wins += 1,
                    ServerMessage::Draw(_) => report.draws += 1,
                    _ => report.losses += 1,
                }
                writeln!(out, "{name}: {}", describe(m, Some(name)))?;
                current = None;
                played += 1;
                if played >= games {
                    send(&mut writer, &Command::Quit)?;
                } else {
                    send(&mut writer, &Command::Play(target.clone()))?;
                }
            }
            ServerMessage::Error { code, text } => {
                return Err(ClientError::Refused {
                    code: code.as_str(),
                    text: text.clone(),
                })
            }
            ServerMessage::Bye(_) => {
                if played >= games {
                    writeln!(
                        out,
                        "{name}: {}",
                        tally(report.wins, report.draws, report.losses)
                    )?;
                    return Ok(report);
                }
                return Err(ClientError::Closed);
            }
            _ => {}
        }
    }
    Err(ClientError::Closed)
}

/// Mira la partida `game` y escribe en `out` cada evento hasta que termina.
///
/// # Errores
/// Si la partida no existe (`NO_SUCH_GAME`), el servidor cierra o envía algo inválido.
pub fn run_watch(stream: TcpStream, game: u64, out: &mut impl Write) -> Result<(), ClientError> {
    let mut writer = stream.try_clone()?;
    let mut messages = Messages::new(BufReader::new(stream));
    send(&mut writer, &Command::Watch(game))?;
    while let Some(msg) = messages.next_message()? {
        match &msg {
            ServerMessage::Welcome(_) => continue,
            ServerMessage::Error { code, text } => {
                return Err(ClientError::Refused {
                    code: code.as_str(),
                    text: text.clone(),
                })
            }
            _ => {}
        }
        writeln!(out, "{}", describe(&msg, None))?;
        out.flush()?;
        let finished = matches!(msg, ServerMessage::Board { turn: None, .. });
        if (msg.is_game_over() || finished) && msg.game() == Some(game) {
            let _ = send(&mut writer, &Command::Quit);
            return Ok(());
        }
    }
    Err(ClientError::Closed)
}

/// Juego por teclado: envía `NAME` (y `PLAY target` si se da), y luego cada línea de
/// `input` (un número es `MOVE n`); un hilo lector escribe en `output` cada mensaje del
/// servidor según llega. Termina con `QUIT`, con el fin de `input` o cuando el servidor cierra.
/// El tiempo de espera de lectura del socket es el que traiga `stream`: para jugar sin prisa,
/// quien llama lo quita (el binario lo hace; las pruebas lo dejan para no colgarse).
///
/// # Errores
/// Si no se puede escribir al servidor o duplicar el socket.
pub fn run_interactive(
    stream: TcpStream,
    name: &str,
    target: Option<PlayTarget>,
    input: impl BufRead,
    output: impl Write + Send + 'static,
) -> Result<(), ClientError> {
    let mut writer = stream.try_clone()?;
    let output = Arc::new(Mutex::new(output));
    let reader = {
        let output = Arc::clone(&output);
        let me = name.to_string();
        thread::Builder::new()
            .name("cliente-lector".to_string())
            .spawn(move || read_events(stream, &me, &output))?
    };
    send(
        &mut writer,
        &Command::Name {
            name: name.to_string(),
            token: None,
        },
    )?;
    if let Some(t) = target {
        send(&mut writer, &Command::Play(t))?;
    }
    for line in input.lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if reader.is_finished() {
            break;
        }
        let out = match line.parse::<u8>() {
            Ok(n) => Command::Move(n).encode(),
            Err(_) => line.to_string(),
        };
        writer.write_all(format!("{out}\n").as_bytes())?;
        if out.eq_ignore_ascii_case("QUIT") {
            let _ = reader.join();
            return Ok(());
        }
    }
    // Fin del teclado: despedirse (si la conexión sigue) y esperar al lector.
    if !reader.is_finished() {
        let _ = send(&mut writer, &Command::Quit);
    }
    let _ = reader.join();
    Ok(())
}

fn read_events(stream: TcpStream, me: &str, output: &Mutex<impl Write>) {
    let mut messages = Messages::new(BufReader::new(stream));
    loop {
        let text = match messages.next_message() {
            Ok(Some(msg)) => describe(&msg, Some(me)),
            Ok(None) => {
                let _ = writeln!(common::lock(output), "Conexión cerrada.");
                return;
            }
            Err(ClientError::Line(common::line::LineError::Io(e)))
                if common::net::is_disconnect(&e) =>
            {
                let _ = writeln!(common::lock(output), "Conexión cerrada.");
                return;
            }
            Err(e) => {
                let _ = writeln!(common::lock(output), "Error: {e}");
                return;
            }
        };
        let mut out = common::lock(output);
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}
