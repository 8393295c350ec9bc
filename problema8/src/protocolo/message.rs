//! Los mensajes del servidor (una línea cada uno, con su clave primero), los códigos de
//! `ERROR` y el analizador que usa el cliente.

use std::fmt;

use super::*;

/// Turno en un mensaje: `X`, `O` o `-` (partida terminada).
fn encode_turn(turn: Option<Mark>) -> char {
    turn.map_or('-', Mark::as_char)
}

fn parse_turn(s: &str) -> Result<Option<Mark>, ProtocolError> {
    if s == "-" {
        Ok(None)
    } else {
        Mark::parse(s).map(Some)
    }
}

/// Los códigos de `ERROR`: estables, para que un programa reaccione sin leer el texto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Orden desconocida o línea vacía.
    UnknownCommand,
    /// Argumento que falta, sobra o no se entiende.
    BadArgument,
    /// Línea más larga que el máximo.
    LineTooLong,
    /// Línea que no es UTF-8.
    InvalidUtf8,
    /// Nombre no válido.
    BadName,
    /// Hace falta `NAME` antes.
    NoName,
    /// Ya tiene nombre en esta conexión.
    AlreadyNamed,
    /// El nombre lo usa otra conexión (o lo guarda un jugador desconectado).
    NameTaken,
    /// Casilla fuera de 1..=9.
    OutOfRange,
    /// Casilla ocupada.
    Occupied,
    /// No es su turno.
    NotYourTurn,
    /// La partida ya terminó.
    GameOver,
    /// No está jugando ninguna partida.
    NotInGame,
    /// Los espectadores no mueven.
    Spectator,
    /// Ya está en la cola o en una partida en curso.
    Busy,
    /// No existe esa partida.
    NoSuchGame,
    /// No se puede pedir revancha ahora.
    NoRematch,
    /// El servidor está lleno.
    Full,
    /// Demasiado tiempo sin recibir una orden completa.
    Idle,
    /// Demasiadas órdenes por segundo: se ignoró esta.
    RateLimited,
}

pub(super) const ERROR_CODES: [(ErrorCode, &str); 20] = [
    (ErrorCode::UnknownCommand, "UNKNOWN_COMMAND"),
    (ErrorCode::BadArgument, "BAD_ARGUMENT"),
    (ErrorCode::LineTooLong, "LINE_TOO_LONG"),
    (ErrorCode::InvalidUtf8, "INVALID_UTF8"),
    (ErrorCode::BadName, "BAD_NAME"),
    (ErrorCode::NoName, "NO_NAME"),
    (ErrorCode::AlreadyNamed, "ALREADY_NAMED"),
    (ErrorCode::NameTaken, "NAME_TAKEN"),
    (ErrorCode::OutOfRange, "OUT_OF_RANGE"),
    (ErrorCode::Occupied, "OCCUPIED"),
    (ErrorCode::NotYourTurn, "NOT_YOUR_TURN"),
    (ErrorCode::GameOver, "GAME_OVER"),
    (ErrorCode::NotInGame, "NOT_IN_GAME"),
    (ErrorCode::Spectator, "SPECTATOR"),
    (ErrorCode::Busy, "BUSY"),
    (ErrorCode::NoSuchGame, "NO_SUCH_GAME"),
    (ErrorCode::NoRematch, "NO_REMATCH"),
    (ErrorCode::Full, "FULL"),
    (ErrorCode::Idle, "IDLE"),
    (ErrorCode::RateLimited, "RATE_LIMITED"),
];

impl ErrorCode {
    /// La palabra con que viaja (`OCCUPIED`).
    pub fn as_str(self) -> &'static str {
        ERROR_CODES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("UNKNOWN", |(_, s)| s)
    }

    fn parse(s: &str) -> Option<ErrorCode> {
        ERROR_CODES.iter().find(|(_, w)| *w == s).map(|(c, _)| *c)
    }
}

/// Por qué alguien pierde por abandono.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForfeitReason {
    /// Envió `LEAVE` o `QUIT` con la partida en curso.
    Left,
    /// Se desconectó y no volvió dentro del plazo de gracia.
    Disconnected,
    /// Se le acabó el tiempo de turno (`--turn-timeout`).
    Timeout,
}

impl ForfeitReason {
    fn as_str(self) -> &'static str {
        match self {
            ForfeitReason::Left => "LEFT",
            ForfeitReason::Disconnected => "DISCONNECTED",
            ForfeitReason::Timeout => "TIMEOUT",
        }
    }

    fn parse(s: &str) -> Result<Self, ProtocolError> {
        match s {
            "LEFT" => Ok(ForfeitReason::Left),
            "DISCONNECTED" => Ok(ForfeitReason::Disconnected),
            "TIMEOUT" => Ok(ForfeitReason::Timeout),
            _ => Err(ProtocolError::BadMessage(format!("motivo no válido: {s}"))),
        }
    }
}

/// Una fila de `LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameSummary {
    /// Número de la partida.
    pub id: u64,
    /// Nombre de quien juega con `X`.
    pub x: String,
    /// Nombre de quien juega con `O`.
    pub o: String,
    /// Jugadas hechas.
    pub moves: usize,
    /// El tablero.
    pub board: Board,
    /// A quién le toca (`None` si terminó).
    pub turn: Option<Mark>,
}

/// Un mensaje del servidor: una línea, con la palabra clave primero. El texto para personas
/// (en español) solo aparece al final de `WELCOME`, `INFO`, `ERROR` y `BYE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// `WELCOME <texto>`: saludo al conectar.
    Welcome(String),
    /// `HELLO <nombre> <token>`: nombre aceptado; el token sirve para reconectar.
    Hello {
        /// El nombre.
        name: String,
        /// El token de reconexión.
        token: String,
    },
    /// `QUEUED <posición>`: en la cola de emparejamiento.
    Queued(usize),
    /// `WAITING <código>`: partida privada creada, esperando al amigo.
    Waiting(String),
    /// `START <id> <ficha> <rival>`: empieza (o se retoma) una partida.
    Start {
        /// Partida.
        game: u64,
        /// Su ficha.
        mark: Mark,
        /// Nombre del rival.
        opponent: String,
    },
    /// `WATCHING <id> <nombre X> <nombre O>`: empieza a mirar (o empieza una revancha).
    Watching {
        /// Partida.
        game: u64,
        /// Quien juega con X.
        x: String,
        /// Quien juega con O.
        o: String,
    },
    /// `BOARD <id> <tablero> <turno>`: el estado completo.
    Board {
        /// Partida.
        game: u64,
        /// Tablero.
        board: Board,
        /// A quién le toca (`-` si terminó).
        turn: Option<Mark>,
    },
    /// `YOUR_TURN <id> <ficha> <tablero>`: le toca mover.
    YourTurn {
        /// Partida.
        game: u64,
        /// Su ficha.
        mark: Mark,
        /// Tablero.
        board: Board,
    },
    /// `MOVED <id> <ficha> <casilla> <tablero> <turno>`: jugada aplicada (a jugadores y
    /// espectadores; para quien movió es la confirmación).
    Moved {
        /// Partida.
        game: u64,
        /// Quien movió.
        mark: Mark,
        /// Dónde.
        cell: u8,
        /// Tablero después.
        board: Board,
        /// A quién le toca ahora (`-` si terminó).
        next: Option<Mark>,
    },
    /// `WIN <id> <ficha> <nombre> <a,b,c>`: victoria por línea.
    Win {
        /// Partida.
        game: u64,
        /// Ficha ganadora.
        mark: Mark,
        /// Nombre del ganador.
        name: String,
        /// La línea.
        line: [u8; 3],
    },
    /// `DRAW <id>`: tablas.
    Draw(u64),
    /// `FORFEIT <id> <ficha> <nombre> <motivo>`: ese jugador pierde por abandono.
    Forfeit {
        /// Partida.
        game: u64,
        /// Ficha de quien pierde.
        mark: Mark,
        /// Nombre de quien pierde.
        name: String,
        /// Motivo.
        reason: ForfeitReason,
    },
    /// `AWAY <id> <ficha> <nombre> <ms>`: un jugador se desconectó; pierde si no vuelve en `ms`.
    Away {
        /// Partida.
        game: u64,
        /// Su ficha.
        mark: Mark,
        /// Su nombre.
        name: String,
        /// Plazo de gracia en milisegundos.
        grace_ms: u64,
    },
    /// `BACK <id> <ficha> <nombre>`: volvió a tiempo.
    Back {
        /// Partida.
        game: u64,
        /// Su ficha.
        mark: Mark,
        /// Su nombre.
        name: String,
    },
    /// `LEFT <id> <ficha> <nombre>`: dejó la mesa tras la partida (ya no hay revancha).
    Left {
        /// Partida.
        game: u64,
        /// Su ficha.
        mark: Mark,
        /// Su nombre.
        name: String,
    },
    /// `REMATCH_WAITING <id>`: pidió revancha; falta el rival.
    RematchWaiting(u64),
    /// `REMATCH_OFFERED <id> <nombre>`: el rival pide revancha.
    RematchOffered {
        /// Partida.
        game: u64,
        /// Quien la pide.
        name: String,
    },
    /// `GAMES <n>`: cabecera de `LIST`, seguida de `n` líneas `GAME`.
    Games(usize),
    /// `GAME <id> <X> <O> <jugadas> <tablero> <turno>`: una partida en curso.
    Game(GameSummary),
    /// `SCORES <n>`: cabecera de la clasificación, seguida de `n` líneas `SCORE`.
    Scores(usize),
    /// `SCORE <nombre> <ganadas> <tablas> <perdidas>`.
    Score {
        /// Nombre.
        name: String,
        /// Victorias.
        wins: u64,
        /// Tablas.
        draws: u64,
        /// Derrotas.
        losses: u64,
    },
    /// `OK <ORDEN>`: confirmación de una orden sin más datos (`OK LEAVE`).
    Ok(String),
    /// `INFO <texto>`: ayuda para personas.
    Info(String),
    /// `ERROR <CÓDIGO> <texto>`: orden rechazada; la conexión sigue.
    Error {
        /// Código estable.
        code: ErrorCode,
        /// Motivo en español.
        text: String,
    },
    /// `BYE <texto>`: el servidor cierra esta conexión.
    Bye(String),
}

fn join_line(line: &[u8; 3]) -> String {
    format!("{},{},{}", line[0], line[1], line[2])
}

fn parse_line_cells(s: &str) -> Result<[u8; 3], ProtocolError> {
    let bad = || ProtocolError::BadMessage(format!("línea no válida: {s}"));
    let mut out = [0u8; 3];
    let mut parts = s.split(',');
    for slot in &mut out {
        let cell: u8 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if !(1..=9).contains(&cell) {
            return Err(bad());
        }
        *slot = cell;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

impl ServerMessage {
    /// Atajo para construir un `ERROR`.
    pub fn error(code: ErrorCode, text: impl Into<String>) -> Self {
        ServerMessage::Error {
            code,
            text: text.into(),
        }
    }

    /// La línea (sin `\n`) que envía el servidor.
    pub fn encode(&self) -> String {
        use ServerMessage as M;
        let with_text = |key: &str, text: &str| {
            if text.is_empty() {
                key.to_string()
            } else {
                format!("{key} {text}")
            }
        };
        match self {
            M::Welcome(t) => with_text("WELCOME", t),
            M::Hello { name, token } => format!("HELLO {name} {token}"),
            M::Queued(p) => format!("QUEUED {p}"),
            M::Waiting(c) => format!("WAITING {c}"),
            M::Start {
                game,
                mark,
                opponent,
            } => format!("START {game} {mark} {opponent}"),
            M::Watching { game, x, o } => format!("WATCHING {game} {x} {o}"),
            M::Board { game, board, turn } => {
                format!("BOARD {game} {board} {}", encode_turn(*turn))
            }
            M::YourTurn { game, mark, board } => format!("YOUR_TURN {game} {mark} {board}"),
            M::Moved {
                game,
                mark,
                cell,
                board,
                next,
            } => format!("MOVED {game} {mark} {cell} {board} {}", encode_turn(*next)),
            M::Win {
                game,
                mark,
                name,
                line,
            } => format!("WIN {game} {mark} {name} {}", join_line(line)),
            M::Draw(game) => format!("DRAW {game}"),
            M::Forfeit {
                game,
                mark,
                name,
                reason,
            } => format!("FORFEIT {game} {mark} {name} {}", reason.as_str()),
            M::Away {
                game,
                mark,
                name,
                grace_ms,
            } => format!("AWAY {game} {mark} {name} {grace_ms}"),
            M::Back { game, mark, name } => format!("BACK {game} {mark} {name}"),
            M::Left { game, mark, name } => format!("LEFT {game} {mark} {name}"),
            M::RematchWaiting(game) => format!("REMATCH_WAITING {game}"),
            M::RematchOffered { game, name } => format!("REMATCH_OFFERED {game} {name}"),
            M::Games(n) => format!("GAMES {n}"),
            M::Game(g) => format!(
                "GAME {} {} {} {} {} {}",
                g.id,
                g.x,
                g.o,
                g.moves,
                g.board,
                encode_turn(g.turn)
            ),
            M::Scores(n) => format!("SCORES {n}"),
            M::Score {
                name,
                wins,
                draws,
                losses,
            } => format!("SCORE {name} {wins} {draws} {losses}"),
            M::Ok(what) => format!("OK {what}"),
            M::Info(t) => with_text("INFO", t),
            M::Error { code, text } => with_text(&format!("ERROR {}", code.as_str()), text),
            M::Bye(t) => with_text("BYE", t),
        }
    }

    /// Analiza una línea del servidor (la usa el cliente).
    ///
    /// # Errores
    /// [`ProtocolError::BadMessage`] si la clave no existe o los campos no encajan.
    ///
    /// ```
    /// use problema8::protocolo::{Mark, ServerMessage};
    /// let m = ServerMessage::parse("YOUR_TURN 3 X X...O....").unwrap();
    /// assert!(matches!(m, ServerMessage::YourTurn { game: 3, mark: Mark::X, .. }));
    /// ```
    pub fn parse(line: &str) -> Result<ServerMessage, ProtocolError> {
        use ServerMessage as M;
        let bad = || ProtocolError::BadMessage(line.to_string());
        let (key, rest) = match line.split_once(' ') {
            Some((k, r)) => (k, r),
            None => (line, ""),
        };
        let text = || rest.to_string();
        let f: Vec<&str> = rest.split(' ').collect();
        let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
        let want = |n: usize| if f.len() == n { Ok(()) } else { Err(bad()) };
        let field = |i: usize| f.get(i).copied().ok_or_else(bad);
        let word = |i: usize| {
            let w = field(i)?;
            if is_valid_word(w) {
                Ok(w.to_string())
            } else {
                Err(bad())
            }
        };
        let msg = match key {
            "WELCOME" => M::Welcome(text()),
            "INFO" => M::Info(text()),
            "BYE" => M::Bye(text()),
            "ERROR" => {
                let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
                M::Error {
                    code: ErrorCode::parse(code).ok_or_else(bad)?,
                    text: text.to_string(),
                }
            }
            "OK" => {
                want(1)?;
                M::Ok(word(0)?)
            }
            "HELLO" => {
                want(2)?;
                let token = field(1)?;
                if !is_valid_token(token) {
                    return Err(bad());
                }
                M::Hello {
                    name: word(0)?,
                    token: token.to_string(),
                }
            }
            "QUEUED" => {
                want(1)?;
                M::Queued(usize::try_from(num(field(0)?)?).map_err(|_| bad())?)
            }
            "WAITING" => {
                want(1)?;
                M::Waiting(word(0)?)
            }
            "START" => {
                want(3)?;
                M::Start {
                    game: num(field(0)?)?,
                    mark: Mark::parse(field(1)?)?,
                    opponent: word(2)?,
                }
            }
            "WATCHING" => {
                want(3)?;
                M::Watching {
                    game: num(field(0)?)?,
                    x: word(1)?,
                    o: word(2)?,
                }
            }
            "BOARD" => {
                want(3)?;
                M::Board {
                    game: num(field(0)?)?,
                    board: Board::parse(field(1)?)?,
                    turn: parse_turn(field(2)?)?,
                }
            }
            "YOUR_TURN" => {
                want(3)?;
                M::YourTurn {
                    game: num(field(0)?)?,
                    mark: Mark::parse(field(1)?)?,
                    board: Board::parse(field(2)?)?,
                }
            }
            "MOVED" => {
                want(5)?;
                let cell = num(field(2)?)?;
                if !(1..=9).contains(&cell) {
                    return Err(bad());
                }
                M::Moved {
                    game: num(field(0)?)?,
                    mark: Mark::parse(field(1)?)?,
                    cell: u8::try_from(cell).map_err(|_| bad())?,
                    board: Board::parse(field(3)?)?,
                    next: parse_turn(field(4)?)?,
                }
            }
            "WIN" => {
                want(4)?;
                M::Win {
                    game: num(field(0)?)?,
                    mark: Mark::parse(field(1)?)?,
                    name: word(2)?,
                    line: parse_line_cells(field(3)?)?,
                }
            }
            "DRAW" => {
                want(1)?;
                M::Draw(num(field(0)?)?)
            }
            "FORFEIT" => {
                want(4)?;
                M::Forfeit {
                    game: num(field(0)?)?,
                    mark: Mark::parse(field(1)?)?,
                    name: word(2)?,
                    reason: ForfeitReason::parse(field(3)?)?,
                }
            }
            "AWAY" => {
                want(4)?;
                M::Away {
                    game: num(field(0)?)?,
                    mark: Mark::parse(field(1)?)?,
                    name: word(2)?,
                    grace_ms: num(field(3)?)?,
                }
            }
            "BACK" | "LEFT" => {
                want(3)?;
                let (game, mark, name) = (num(field(0)?)?, Mark::parse(field(1)?)?, word(2)?);
                if key == "BACK" {
                    M::Back { game, mark, name }
                } else {
                    M::Left { game, mark, name }
                }
            }
            "REMATCH_WAITING" => {
                want(1)?;
                M::RematchWaiting(num(field(0)?)?)
            }
            "REMATCH_OFFERED" => {
                want(2)?;
                M::RematchOffered {
                    game: num(field(0)?)?,
                    name: word(1)?,
                }
            }
            "GAMES" | "SCORES" => {
                want(1)?;
                let n = usize::try_from(num(field(0)?)?).map_err(|_| bad())?;
                if key == "GAMES" {
                    M::Games(n)
                } else {
                    M::Scores(n)
                }
            }
            "GAME" => {
                want(6)?;
                M::Game(GameSummary {
                    id: num(field(0)?)?,
                    x: word(1)?,
                    o: word(2)?,
                    moves: usize::try_from(num(field(3)?)?).map_err(|_| bad())?,
                    board: Board::parse(field(4)?)?,
                    turn: parse_turn(field(5)?)?,
                })
            }
            "SCORE" => {
                want(4)?;
                M::Score {
                    name: word(0)?,
                    wins: num(field(1)?)?,
                    draws: num(field(2)?)?,
                    losses: num(field(3)?)?,
                }
            }
            _ => return Err(bad()),
        };
        Ok(msg)
    }

    /// La partida a la que se refiere el mensaje, si es un evento de partida.
    pub fn game(&self) -> Option<u64> {
        use ServerMessage as M;
        match self {
            M::Start { game, .. }
            | M::Watching { game, .. }
            | M::Board { game, .. }
            | M::YourTurn { game, .. }
            | M::Moved { game, .. }
            | M::Win { game, .. }
            | M::Draw(game)
            | M::Forfeit { game, .. }
            | M::Away { game, .. }
            | M::Back { game, .. }
            | M::Left { game, .. }
            | M::RematchWaiting(game)
            | M::RematchOffered { game, .. } => Some(*game),
            M::Game(g) => Some(g.id),
            _ => None,
        }
    }

    /// ¿Anuncia el final de una partida (`WIN`, `DRAW` o `FORFEIT`)?
    pub fn is_game_over(&self) -> bool {
        matches!(
            self,
            ServerMessage::Win { .. } | ServerMessage::Draw(_) | ServerMessage::Forfeit { .. }
        )
    }
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}
