//! El protocolo del tres en raya, sin sockets: órdenes, mensajes del servidor, tablero,
//! detección de victoria y tablas, y el rival perfecto (minimax).
//!
//! Todo aquí es puro: cada regla se prueba sin red, sin hilos y sin registro. Una línea del
//! cliente es una orden (`PLAY`, `MOVE 5`, ...) y una línea del servidor es un mensaje cuya
//! primera palabra es su clave (`MOVED`, `WIN`, ...). [`parse_command`] y
//! [`ServerMessage::parse`] son los analizadores; [`Command::encode`] y
//! [`ServerMessage::encode`] sus inversos (`parse(encode(x)) == x` es una prueba de
//! propiedades).
//!
//! El tablero viaja como 9 caracteres (`X`, `O` o `.`) leídos por filas: la casilla 1 es la
//! esquina superior izquierda y la 9 la inferior derecha, como en el teclado de un teléfono.

use std::fmt;
use std::time::Duration;

/// Puerto por omisión del problema 8.
pub const DEFAULT_PORT: u16 = 8008;

/// Longitud máxima de una línea del cliente: la orden más larga (`NAME` con nombre y token)
/// cabe de sobra en 256 bytes, y un tope pequeño impide que miles de clientes agoten memoria.
pub const DEFAULT_MAX_LINE: usize = 256;

/// Longitud máxima de un nombre de jugador o de un código de partida privada.
pub const MAX_NAME_LEN: usize = 16;

/// Longitud del token de reconexión (caracteres hexadecimales).
pub const TOKEN_LEN: usize = 16;

/// Plazo por omisión para volver tras una desconexión antes de perder por abandono: corto
/// para que el rival no espere mucho y suficiente para reconectar tras un corte breve.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Tiempo sin recibir nada tras el que se cierra una conexión: esperar rival o mirar una
/// partida es parte del protocolo, así que el tope es largo (una hora).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Mensajes pendientes por cliente antes de considerarlo demasiado lento: una partida entera
/// son unos 20 mensajes, así que 256 solo se llenan si el cliente no lee.
pub const DEFAULT_OUTBOX: usize = 256;

/// Órdenes por segundo que admite una conexión de forma sostenida: una persona no llega a 5
/// y un bot que juega sin pausa contra la máquina ronda las 100; por encima es una inundación.
pub const DEFAULT_RATE_LIMIT: f64 = 200.0;

/// Ráfaga de órdenes admitida por encima del ritmo sostenido.
pub const DEFAULT_RATE_BURST: u32 = 400;

/// Nombre reservado del rival máquina.
pub const CPU_NAME: &str = "CPU";

/// Las ocho líneas ganadoras (filas, columnas y diagonales), en casillas 1..=9.
pub const LINES: [[u8; 3]; 8] = [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
    [1, 4, 7],
    [2, 5, 8],
    [3, 6, 9],
    [1, 5, 9],
    [3, 5, 7],
];

/// La ficha de un jugador. `X` empieza siempre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// Quien abre la partida.
    X,
    /// Quien juega segundo.
    O,
}

impl Mark {
    /// La ficha del rival.
    pub fn other(self) -> Mark {
        match self {
            Mark::X => Mark::O,
            Mark::O => Mark::X,
        }
    }

    /// Posición en un par `[X, O]`.
    pub fn index(self) -> usize {
        match self {
            Mark::X => 0,
            Mark::O => 1,
        }
    }

    /// El carácter con que viaja (`X` u `O`).
    pub fn as_char(self) -> char {
        match self {
            Mark::X => 'X',
            Mark::O => 'O',
        }
    }

    fn parse(s: &str) -> Result<Mark, ProtocolError> {
        match s {
            "X" => Ok(Mark::X),
            "O" => Ok(Mark::O),
            _ => Err(ProtocolError::BadMessage(format!("ficha no válida: {s}"))),
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

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

/// Por qué se rechaza una jugada que sí se entendió.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// La casilla no está entre 1 y 9.
    #[error("la casilla {0} no existe: elija un número del 1 al 9")]
    OutOfRange(u8),
    /// La casilla ya tiene ficha.
    #[error("la casilla {0} ya está ocupada")]
    Occupied(u8),
}

/// El resultado de una partida terminada en el tablero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `mark` completó la línea `line`.
    Win {
        /// La ficha ganadora.
        mark: Mark,
        /// Las tres casillas de la línea.
        line: [u8; 3],
    },
    /// Tablero lleno sin línea.
    Draw,
}

/// El tablero: nueve casillas, vacías o con ficha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Board {
    cells: [Option<Mark>; 9],
}

impl Board {
    /// Tablero vacío.
    pub fn new() -> Self {
        Self::default()
    }

    /// La ficha de la casilla `cell` (1..=9); `None` si está vacía o no existe.
    pub fn get(&self, cell: u8) -> Option<Mark> {
        let i = usize::from(cell).checked_sub(1)?;
        self.cells.get(i).copied().flatten()
    }

    /// Pone `mark` en `cell`.
    ///
    /// # Errores
    /// [`MoveError::OutOfRange`] fuera de 1..=9; [`MoveError::Occupied`] si ya hay ficha.
    /// El turno lo vigila quien llama (la partida), no el tablero.
    pub fn place(&mut self, cell: u8, mark: Mark) -> Result<(), MoveError> {
        let slot = usize::from(cell)
            .checked_sub(1)
            .and_then(|i| self.cells.get_mut(i))
            .ok_or(MoveError::OutOfRange(cell))?;
        if slot.is_some() {
            return Err(MoveError::Occupied(cell));
        }
        *slot = Some(mark);
        Ok(())
    }

    /// Casillas libres, en orden.
    pub fn free_cells(&self) -> Vec<u8> {
        (1..=9u8).filter(|&c| self.get(c).is_none()).collect()
    }

    /// Fichas puestas hasta ahora.
    pub fn count(&self) -> usize {
        self.cells.iter().filter(|c| c.is_some()).count()
    }

    /// A quién le toca según las fichas puestas (`X` empieza).
    pub fn next_mark(&self) -> Mark {
        if self.count() % 2 == 0 {
            Mark::X
        } else {
            Mark::O
        }
    }

    /// `Some` si la partida terminó en el tablero (línea completa o tablero lleno).
    ///
    /// ```
    /// use problema8::protocolo::{Board, Mark, Outcome};
    /// let b = Board::parse("XXXOO....").unwrap();
    /// assert_eq!(b.outcome(), Some(Outcome::Win { mark: Mark::X, line: [1, 2, 3] }));
    /// assert_eq!(Board::parse("XOXXOOOXX").unwrap().outcome(), Some(Outcome::Draw));
    /// assert_eq!(Board::new().outcome(), None);
    /// ```
    pub fn outcome(&self) -> Option<Outcome> {
        for line in LINES {
            let [a, b, c] = line;
            if let Some(mark) = self.get(a) {
                if self.get(b) == Some(mark) && self.get(c) == Some(mark) {
                    return Some(Outcome::Win { mark, line });
                }
            }
        }
        if self.count() == 9 {
            Some(Outcome::Draw)
        } else {
            None
        }
    }

    /// Lee el tablero de 9 caracteres (`X`, `O`, `.`).
    ///
    /// # Errores
    /// [`ProtocolError::BadMessage`] si no son 9 caracteres válidos.
    pub fn parse(s: &str) -> Result<Board, ProtocolError> {
        let bytes = s.as_bytes();
        if bytes.len() != 9 {
            return Err(ProtocolError::BadMessage(format!(
                "el tablero debe tener 9 casillas: {s}"
            )));
        }
        let mut board = Board::new();
        for (slot, &b) in board.cells.iter_mut().zip(bytes) {
            *slot = match b {
                b'X' => Some(Mark::X),
                b'O' => Some(Mark::O),
                b'.' => None,
                _ => {
                    return Err(ProtocolError::BadMessage(format!(
                        "casilla no válida en el tablero: {s}"
                    )))
                }
            };
        }
        Ok(board)
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cells {
            write!(f, "{}", c.map_or('.', Mark::as_char))?;
        }
        Ok(())
    }
}

/// La mejor jugada para `me` (minimax con poda alfa-beta): gana lo antes posible, pierde lo
/// más tarde posible, y entre jugadas iguales elige la de número más bajo, así que es
/// determinista. `None` si la partida ya terminó.
///
/// ```
/// use problema8::protocolo::{best_move, Board, Mark};
/// // X tiene 1 y 2: O debe tapar la 3.
/// assert_eq!(best_move(&Board::parse("XX..O....").unwrap(), Mark::O), Some(3));
/// ```
pub fn best_move(board: &Board, me: Mark) -> Option<u8> {
    if board.outcome().is_some() {
        return None;
    }
    let mut best: Option<(i32, u8)> = None;
    let mut alpha = i32::MIN + 1;
    for cell in board.free_cells() {
        let mut next = *board;
        if next.place(cell, me).is_err() {
            continue;
        }
        let score = -negamax(&next, me.other(), 1, -i32::MAX, -alpha);
        if best.map_or(true, |(s, _)| score > s) {
            best = Some((score, cell));
        }
        alpha = alpha.max(score);
    }
    best.map(|(_, cell)| cell)
}

/// Valor de la posición para `to_move`: positivo si gana, cuanto antes mejor.
fn negamax(board: &Board, to_move: Mark, depth: i32, mut alpha: i32, beta: i32) -> i32 {
    match board.outcome() {
        // Quien acaba de mover ganó: para `to_move` es una derrota.
        Some(Outcome::Win { .. }) => return depth - 10,
        Some(Outcome::Draw) => return 0,
        None => {}
    }
    let mut best = -i32::MAX;
    for cell in board.free_cells() {
        let mut next = *board;
        if next.place(cell, to_move).is_err() {
            continue;
        }
        let score = -negamax(&next, to_move.other(), depth + 1, -beta, -alpha);
        best = best.max(score);
        alpha = alpha.max(score);
        if alpha >= beta {
            break;
        }
    }
    best
}

/// Con quién quiere jugar quien envía `PLAY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayTarget {
    /// Cola de emparejamiento: el primero que espera.
    Queue,
    /// La máquina (minimax perfecto).
    Cpu,
    /// Partida privada: se empareja con quien escriba el mismo código.
    Code(String),
}

/// Una orden del cliente.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `NAME <nombre> [token]` (o `HELLO`): elegir nombre, o volver a una partida con el token.
    Name {
        /// El nombre pedido.
        name: String,
        /// El token recibido en `HELLO`, para reconectar.
        token: Option<String>,
    },
    /// `PLAY`, `PLAY CPU` o `PLAY <código>`.
    Play(PlayTarget),
    /// `MOVE <1-9>`.
    Move(u8),
    /// `LIST`: partidas en curso.
    List,
    /// `WATCH <id>`: mirar una partida.
    Watch(u64),
    /// `LEAVE`: salir de la cola, de la partida (abandono) o de la mesa de espectador.
    Leave,
    /// `REMATCH`: pedir la revancha tras una partida terminada.
    Rematch,
    /// `SCORES`: la clasificación.
    Scores,
    /// `QUIT`: despedirse y cerrar.
    Quit,
    /// `HELP`: la lista de órdenes.
    Help,
}

/// Por qué no se entendió una línea (del cliente o del servidor).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Línea vacía.
    #[error("línea vacía")]
    Empty,
    /// La primera palabra no es ninguna orden conocida.
    #[error("orden desconocida `{0}`: envíe HELP para ver las órdenes")]
    UnknownCommand(String),
    /// Falta un argumento obligatorio.
    #[error("falta un argumento: uso `{0}`")]
    MissingArgument(&'static str),
    /// Sobran argumentos.
    #[error("sobran argumentos: uso `{0}`")]
    TooManyArguments(&'static str),
    /// El argumento de `MOVE` no es un número.
    #[error("`{0}` no es un número de casilla: elija del 1 al 9")]
    BadCell(String),
    /// La casilla no existe.
    #[error("la casilla {0} no existe: elija un número del 1 al 9")]
    OutOfRange(u64),
    /// El argumento de `WATCH` no es un número de partida.
    #[error("`{0}` no es un número de partida: véalos con LIST")]
    BadGameId(String),
    /// Nombre no válido (vacío, largo, caracteres raros o reservado).
    #[error("nombre no válido `{0}`: de 1 a 16 letras ASCII, cifras, `_` o `-`, y no `CPU`")]
    BadName(String),
    /// Código de partida privada no válido.
    #[error("código no válido `{0}`: de 1 a 16 letras ASCII, cifras, `_` o `-`")]
    BadCode(String),
    /// Token mal formado.
    #[error("token no válido: son 16 caracteres hexadecimales")]
    BadToken,
    /// Línea del servidor que no se entiende (solo en el cliente).
    #[error("mensaje del servidor no válido: {0}")]
    BadMessage(String),
}

impl ProtocolError {
    /// El código de error con que el servidor lo comunica.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::Empty | ProtocolError::UnknownCommand(_) => ErrorCode::UnknownCommand,
            ProtocolError::OutOfRange(_) => ErrorCode::OutOfRange,
            ProtocolError::BadName(_) => ErrorCode::BadName,
            _ => ErrorCode::BadArgument,
        }
    }
}

/// ¿Vale como nombre o código? De 1 a [`MAX_NAME_LEN`] caracteres ASCII alfanuméricos,
/// `_` o `-`: así cabe en una palabra del protocolo y no confunde a nadie al leerlo.
pub fn is_valid_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// ¿Vale como nombre de jugador? Como [`is_valid_word`] y distinto de `CPU`.
pub fn is_valid_name(s: &str) -> bool {
    is_valid_word(s) && !s.eq_ignore_ascii_case(CPU_NAME)
}

fn is_valid_token(s: &str) -> bool {
    s.len() == TOKEN_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Analiza una línea del cliente (sin el salto de línea). Las palabras clave no distinguen
/// mayúsculas (`move 5` vale, cómodo en telnet); los argumentos se separan por espacios.
///
/// # Errores
/// Un [`ProtocolError`] que dice qué falta o sobra; su [`ProtocolError::code`] es el código
/// del `ERROR` que recibe el cliente.
///
/// ```
/// use problema8::protocolo::{parse_command, Command, PlayTarget};
/// assert_eq!(parse_command("MOVE 5").unwrap(), Command::Move(5));
/// assert_eq!(parse_command("play cpu").unwrap(), Command::Play(PlayTarget::Cpu));
/// assert!(parse_command("MOVE 10").is_err());
/// ```
pub fn parse_command(line: &str) -> Result<Command, ProtocolError> {
    let mut words = line.split_whitespace();
    let keyword = words.next().ok_or(ProtocolError::Empty)?;
    let args: Vec<&str> = words.collect();
    let upper = keyword.to_ascii_uppercase();
    let no_args = |cmd: Command, usage: &'static str| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(ProtocolError::TooManyArguments(usage))
        }
    };
    match upper.as_str() {
        "NAME" | "HELLO" => {
            const USAGE: &str = "NAME <nombre> [token]";
            let (name, token) = match args.as_slice() {
                [] => return Err(ProtocolError::MissingArgument(USAGE)),
                [name] => (*name, None),
                [name, token] => (*name, Some(*token)),
                _ => return Err(ProtocolError::TooManyArguments(USAGE)),
            };
            if !is_valid_name(name) {
                return Err(ProtocolError::BadName(name.to_string()));
            }
            if let Some(t) = token {
                if !is_valid_token(t) {
                    return Err(ProtocolError::BadToken);
                }
            }
            Ok(Command::Name {
                name: name.to_string(),
                token: token.map(|t| t.to_ascii_lowercase()),
            })
        }
        "PLAY" => match args.as_slice() {
            [] => Ok(Command::Play(PlayTarget::Queue)),
            [arg] if arg.eq_ignore_ascii_case(CPU_NAME) => Ok(Command::Play(PlayTarget::Cpu)),
            [code] if is_valid_word(code) => Ok(Command::Play(PlayTarget::Code(code.to_string()))),
            [code] => Err(ProtocolError::BadCode(code.to_string())),
            _ => Err(ProtocolError::TooManyArguments("PLAY [CPU|código]")),
        },
        "MOVE" => match args.as_slice() {
            [] => Err(ProtocolError::MissingArgument("MOVE <1-9>")),
            [n] => {
                let value: u64 = n
                    .parse()
                    .map_err(|_| ProtocolError::BadCell(n.to_string()))?;
                match u8::try_from(value) {
                    Ok(cell @ 1..=9) => Ok(Command::Move(cell)),
                    _ => Err(ProtocolError::OutOfRange(value)),
                }
            }
            _ => Err(ProtocolError::TooManyArguments("MOVE <1-9>")),
        },
        "WATCH" => match args.as_slice() {
            [] => Err(ProtocolError::MissingArgument("WATCH <id>")),
            [id] => id
                .parse()
                .map(Command::Watch)
                .map_err(|_| ProtocolError::BadGameId(id.to_string())),
            _ => Err(ProtocolError::TooManyArguments("WATCH <id>")),
        },
        "LIST" => no_args(Command::List, "LIST"),
        "LEAVE" => no_args(Command::Leave, "LEAVE"),
        "REMATCH" => no_args(Command::Rematch, "REMATCH"),
        "SCORES" => no_args(Command::Scores, "SCORES"),
        "QUIT" => no_args(Command::Quit, "QUIT"),
        "HELP" => no_args(Command::Help, "HELP"),
        _ => Err(ProtocolError::UnknownCommand(keyword.to_string())),
    }
}

impl Command {
    /// La línea (sin `\n`) que envía el cliente.
    pub fn encode(&self) -> String {
        match self {
            Command::Name { name, token: None } => format!("NAME {name}"),
            Command::Name {
                name,
                token: Some(t),
            } => format!("NAME {name} {t}"),
            Command::Play(PlayTarget::Queue) => "PLAY".to_string(),
            Command::Play(PlayTarget::Cpu) => "PLAY CPU".to_string(),
            Command::Play(PlayTarget::Code(c)) => format!("PLAY {c}"),
            Command::Move(n) => format!("MOVE {n}"),
            Command::List => "LIST".to_string(),
            Command::Watch(id) => format!("WATCH {id}"),
            Command::Leave => "LEAVE".to_string(),
            Command::Rematch => "REMATCH".to_string(),
            Command::Scores => "SCORES".to_string(),
            Command::Quit => "QUIT".to_string(),
            Command::Help => "HELP".to_string(),
        }
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
    /// Demasiado tiempo sin recibir nada.
    Idle,
    /// Demasiadas órdenes por segundo: se ignoró esta.
    RateLimited,
}

const ERROR_CODES: [(ErrorCode, &str); 20] = [
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

pub use common::conn::parse_duration;

/// Las líneas de `HELP`, en el orden en que se envían (cada una como `INFO`).
pub const HELP_LINES: [&str; 11] = [
    "NAME <nombre> [token]  elegir nombre (con el token de HELLO, volver a una partida)",
    "PLAY                   entrar en la cola de emparejamiento",
    "PLAY CPU               jugar contra la máquina (juega perfecto)",
    "PLAY <código>          partida privada con quien escriba el mismo código",
    "MOVE <1-9>             poner ficha: 1 2 3 arriba, 4 5 6 en medio, 7 8 9 abajo",
    "LIST                   partidas en curso",
    "WATCH <id>             mirar una partida",
    "LEAVE                  salir de la cola, de la partida (pierde si sigue) o de mirar",
    "REMATCH                pedir la revancha al terminar",
    "SCORES                 clasificación (ganadas, tablas, perdidas)",
    "QUIT                   despedirse y cerrar",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn board(s: &str) -> Board {
        Board::parse(s).unwrap()
    }

    #[test]
    fn every_line_is_detected_for_both_marks() {
        for line in LINES {
            for mark in [Mark::X, Mark::O] {
                let mut b = Board::new();
                for c in line {
                    b.place(c, mark).unwrap();
                }
                assert_eq!(b.outcome(), Some(Outcome::Win { mark, line }));
            }
        }
    }

    #[test]
    fn full_board_without_line_is_a_draw_and_partial_is_ongoing() {
        assert_eq!(board("XOXXOOOXX").outcome(), Some(Outcome::Draw));
        assert_eq!(board("XOXXOOOX.").outcome(), None);
        // Un tablero lleno con línea es victoria, no tablas.
        assert_eq!(
            board("XXXOOXOXO").outcome(),
            Some(Outcome::Win {
                mark: Mark::X,
                line: [1, 2, 3]
            })
        );
    }

    #[test]
    fn place_refuses_out_of_range_and_occupied() {
        let mut b = Board::new();
        assert_eq!(b.place(0, Mark::X), Err(MoveError::OutOfRange(0)));
        assert_eq!(b.place(10, Mark::X), Err(MoveError::OutOfRange(10)));
        b.place(5, Mark::X).unwrap();
        assert_eq!(b.place(5, Mark::O), Err(MoveError::Occupied(5)));
        assert_eq!(b.to_string(), "....X....");
        assert_eq!(b.next_mark(), Mark::O);
        assert_eq!(b.free_cells(), vec![1, 2, 3, 4, 6, 7, 8, 9]);
    }

    #[test]
    fn board_parse_rejects_bad_lengths_and_chars() {
        assert!(Board::parse("........").is_err());
        assert!(Board::parse("..........").is_err());
        assert!(Board::parse("....x....").is_err());
        assert!(Board::parse("....Ñ...").is_err());
    }

    #[test]
    fn minimax_wins_when_it_can_and_blocks_otherwise() {
        // X gana en 3 aunque también podría tapar.
        assert_eq!(best_move(&board("XX.OO...."), Mark::X), Some(3));
        // O no puede ganar: tapa la 7.
        assert_eq!(best_move(&board("X..X.O..."), Mark::O), Some(7));
        assert_eq!(best_move(&board("XXXOO...."), Mark::O), None);
    }

    /// Todas las respuestas posibles del rival, recursivamente: la máquina nunca pierde.
    fn cpu_never_loses(b: Board, cpu: Mark) {
        match b.outcome() {
            Some(Outcome::Win { mark, .. }) => assert_eq!(mark, cpu, "la máquina perdió: {b}"),
            Some(Outcome::Draw) => {}
            None if b.next_mark() == cpu => {
                let mut next = b;
                next.place(best_move(&b, cpu).unwrap(), cpu).unwrap();
                cpu_never_loses(next, cpu);
            }
            None => {
                for c in b.free_cells() {
                    let mut next = b;
                    next.place(c, cpu.other()).unwrap();
                    cpu_never_loses(next, cpu);
                }
            }
        }
    }

    #[test]
    fn minimax_never_loses_against_any_sequence_of_moves() {
        cpu_never_loses(Board::new(), Mark::X);
        cpu_never_loses(Board::new(), Mark::O);
    }

    #[test]
    fn commands_parse_with_any_case_and_reject_bad_arguments() {
        assert_eq!(
            parse_command("name ana").unwrap(),
            Command::Name {
                name: "ana".into(),
                token: None
            }
        );
        assert_eq!(
            parse_command("HELLO ana 0123456789ABCDEF").unwrap(),
            Command::Name {
                name: "ana".into(),
                token: Some("0123456789abcdef".into())
            }
        );
        assert_eq!(parse_command("  MOVE   9  ").unwrap(), Command::Move(9));
        assert_eq!(parse_command("MOVE 0"), Err(ProtocolError::OutOfRange(0)));
        assert_eq!(parse_command("MOVE 10"), Err(ProtocolError::OutOfRange(10)));
        assert_eq!(
            parse_command("MOVE 99999999999999999999"),
            Err(ProtocolError::BadCell("99999999999999999999".into()))
        );
        assert_eq!(
            parse_command("MOVE -1"),
            Err(ProtocolError::BadCell("-1".into()))
        );
        assert_eq!(
            parse_command("MOVE"),
            Err(ProtocolError::MissingArgument("MOVE <1-9>"))
        );
        assert_eq!(
            parse_command("MOVE 1 2"),
            Err(ProtocolError::TooManyArguments("MOVE <1-9>"))
        );
        assert_eq!(
            parse_command("PLAY amigos").unwrap(),
            Command::Play(PlayTarget::Code("amigos".into()))
        );
        assert!(parse_command("PLAY a/b").is_err());
        assert_eq!(parse_command("WATCH 12").unwrap(), Command::Watch(12));
        assert!(parse_command("WATCH x").is_err());
        assert!(parse_command("LIST all").is_err());
        assert_eq!(parse_command(""), Err(ProtocolError::Empty));
        assert_eq!(
            parse_command("BAILAR").unwrap_err().code(),
            ErrorCode::UnknownCommand
        );
        assert_eq!(
            parse_command("NAME cpu").unwrap_err().code(),
            ErrorCode::BadName
        );
        assert!(parse_command("NAME ana token").is_err());
        assert!(parse_command("NAME abcdefghijklmnopq").is_err());
        assert!(parse_command("NAME abcdefghijklmnop").is_ok());
    }

    #[test]
    fn server_messages_encode_as_documented() {
        let b = board("X...O....");
        let cases = [
            (
                ServerMessage::Moved {
                    game: 3,
                    mark: Mark::O,
                    cell: 5,
                    board: b,
                    next: Some(Mark::X),
                },
                "MOVED 3 O 5 X...O.... X",
            ),
            (
                ServerMessage::Win {
                    game: 3,
                    mark: Mark::X,
                    name: "ana".into(),
                    line: [1, 5, 9],
                },
                "WIN 3 X ana 1,5,9",
            ),
            (
                ServerMessage::Forfeit {
                    game: 1,
                    mark: Mark::O,
                    name: "bea".into(),
                    reason: ForfeitReason::Disconnected,
                },
                "FORFEIT 1 O bea DISCONNECTED",
            ),
            (
                ServerMessage::error(ErrorCode::Occupied, "la casilla 5 ya está ocupada"),
                "ERROR OCCUPIED la casilla 5 ya está ocupada",
            ),
            (
                ServerMessage::Board {
                    game: 2,
                    board: b,
                    turn: None,
                },
                "BOARD 2 X...O.... -",
            ),
        ];
        for (msg, line) in cases {
            assert_eq!(msg.encode(), line);
            assert_eq!(ServerMessage::parse(line).unwrap(), msg);
        }
    }

    #[test]
    fn bad_server_lines_are_errors_not_panics() {
        for line in [
            "",
            "MOVED",
            "MOVED 1 X 10 ......... O",
            "WIN 1 X ana 1,2",
            "BOARD 1 ........ X",
            "ERROR NOPE texto",
            "GAMES -1",
            "HELLO ana corto",
        ] {
            assert!(ServerMessage::parse(line).is_err(), "{line}");
        }
    }

    fn arb_mark() -> impl Strategy<Value = Mark> + Clone {
        prop_oneof![Just(Mark::X), Just(Mark::O)]
    }

    fn arb_board() -> impl Strategy<Value = Board> {
        proptest::collection::vec(prop_oneof![Just('.'), Just('X'), Just('O')], 9)
            .prop_map(|v| board(&v.into_iter().collect::<String>()))
    }

    fn arb_message() -> impl Strategy<Value = ServerMessage> {
        let name = "[A-Za-z0-9_-]{1,16}";
        let text = "[^\r\n]{0,40}";
        let turn = proptest::option::of(arb_mark());
        prop_oneof![
            text.prop_map(ServerMessage::Welcome),
            (name, "[0-9a-f]{16}").prop_map(|(name, token)| ServerMessage::Hello { name, token }),
            (any::<u64>(), arb_mark(), 1u8..=9, arb_board(), turn.clone()).prop_map(
                |(game, mark, cell, board, next)| ServerMessage::Moved {
                    game,
                    mark,
                    cell,
                    board,
                    next
                }
            ),
            (any::<u64>(), arb_mark(), name, 0usize..8).prop_map(|(game, mark, name, i)| {
                ServerMessage::Win {
                    game,
                    mark,
                    name,
                    line: LINES[i],
                }
            }),
            (any::<u64>(), name, name, 0usize..10, arb_board(), turn).prop_map(
                |(id, x, o, moves, board, turn)| ServerMessage::Game(GameSummary {
                    id,
                    x,
                    o,
                    moves,
                    board,
                    turn
                })
            ),
            (0usize..20, text).prop_map(|(i, text)| ServerMessage::Error {
                code: ERROR_CODES[i].0,
                text
            }),
            (name, any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
                |(name, wins, draws, losses)| ServerMessage::Score {
                    name,
                    wins,
                    draws,
                    losses
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn server_messages_round_trip(msg in arb_message()) {
            prop_assert_eq!(ServerMessage::parse(&msg.encode()).unwrap(), msg);
        }

        #[test]
        fn moves_round_trip(cell in 1u8..=9) {
            let cmd = Command::Move(cell);
            prop_assert_eq!(parse_command(&cmd.encode()).unwrap(), cmd);
        }

        #[test]
        fn board_round_trips(b in arb_board()) {
            prop_assert_eq!(Board::parse(&b.to_string()).unwrap(), b);
        }

        #[test]
        fn parsers_never_panic_on_arbitrary_text(s in "\\PC{0,60}") {
            let _ = parse_command(&s);
            let _ = ServerMessage::parse(&s);
        }

        #[test]
        fn best_move_is_always_a_free_cell(b in arb_board(), me in arb_mark()) {
            if let Some(c) = best_move(&b, me) {
                prop_assert!(b.get(c).is_none());
            } else {
                prop_assert!(b.outcome().is_some());
            }
        }
    }
}
