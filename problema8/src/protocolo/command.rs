//! Las órdenes del cliente (`NAME`, `PLAY`, `MOVE`, ...) y su analizador.

use super::*;

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

/// ¿Vale como token de reconexión? 16 caracteres hexadecimales, como los de `HELLO`.
pub fn is_valid_token(s: &str) -> bool {
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
