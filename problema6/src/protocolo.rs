//! El protocolo del chat con salas: órdenes del cliente y líneas del servidor, sin sockets.
//!
//! Todo es texto UTF-8 por líneas (`\n` o `\r\n`). Una línea que empieza por `/` es una
//! orden (`/join sala`); cualquier otra es un mensaje para la sala en la que uno está.
//! `//texto` envía `/texto` como mensaje normal. Aquí están el análisis de las órdenes
//! ([`parse_command`]), las reglas de los nombres de sala y de los temas, y el texto exacto
//! de cada línea que envía el servidor, para que cada regla se pruebe sin red.
//!
//! Límites: el nombre de una sala tiene como mucho [`MAX_ROOM_NAME_CHARS`] caracteres y el
//! tema [`MAX_TOPIC_CHARS`]; la longitud de la línea entera la impone quien lee
//! (`common::conn`), antes de llegar aquí.

use std::fmt::Write as _;

// Lo que es igual que en el chat de una sala (problema 3) se reutiliza tal cual: nombres,
// límites por omisión y las líneas del saludo, la difusión, los avisos y los errores.
pub use problema3::protocolo::{
    error_line, join_line, leave_line, name_taken_line, rate_limited_line, relay_line,
    sanitize_text, validate_name, NameError, CONNECTED, DEFAULT_FLOOD_STRIKES,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_LINE_BYTES, DEFAULT_QUEUE_MESSAGES, DEFAULT_RATE_BURST,
    DEFAULT_RATE_PER_SEC, FLOOD_DISCONNECT, GOODBYE, HANDSHAKE_TIMEOUT, MAX_NAME_ATTEMPTS,
    MAX_NAME_CHARS, MESSAGE_TIMEOUT, NAME_PROMPT, QUIT_COMMAND, SHUTTING_DOWN, TOO_MANY_ATTEMPTS,
};

/// La sala en la que empieza todo el mundo; existe siempre y no se puede borrar.
pub const GENERAL: &str = "general";

/// Quién figura como creador de `general` (la crea el propio servidor).
pub const SERVER_CREATOR: &str = "servidor";

/// Mensajes de historial que ve quien entra en una sala (lo pide el enunciado).
pub const DEFAULT_HISTORY: usize = 20;

/// Máximo de caracteres del nombre de una sala: cabe en una línea de `/rooms`.
pub const MAX_ROOM_NAME_CHARS: usize = 32;

/// Máximo de caracteres del tema de una sala: una frase, no un documento.
pub const MAX_TOPIC_CHARS: usize = 200;

/// Máximo de salas por omisión: el fichero y la respuesta de `/rooms` quedan acotados.
pub const DEFAULT_MAX_ROOMS: usize = 256;

/// Fichero de salas por omisión (en el directorio de trabajo).
pub const DEFAULT_ROOMS_FILE: &str = "salas.json";

/// Una línea del cliente, ya analizada.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// Un mensaje para la sala actual.
    Say(&'a str),
    /// `/create SALA` (`/crear`): crea la sala y entra en ella.
    Create(&'a str),
    /// `/join SALA` (`/unirse`): sale de la sala actual y entra en otra que ya existe.
    Join(&'a str),
    /// `/leave` (`/salir`): vuelve a `general`.
    Leave,
    /// `/rooms` (`/salas`): lista las salas con cuántos usuarios tiene cada una.
    Rooms,
    /// `/users` (`/usuarios`): lista los usuarios de la sala actual.
    Users,
    /// `/msg USUARIO texto` (`/privado`): mensaje privado, solo para `to`.
    Msg {
        /// Destinatario.
        to: &'a str,
        /// Texto del mensaje.
        text: &'a str,
    },
    /// `/nick NOMBRE` (`/nombre`): cambia el nombre propio.
    Nick(&'a str),
    /// `/topic [texto]` (`/tema`): sin texto muestra el tema de la sala; con texto lo cambia.
    Topic(Option<&'a str>),
    /// `/help` (`/ayuda`): la lista de órdenes.
    Help,
    /// `/quit` (`/adios`): despedirse y cerrar.
    Quit,
}

/// Una orden mal escrita.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// La palabra tras `/` no es ninguna orden conocida.
    #[error("orden desconocida: /{0}. Escribe /help para ver las órdenes")]
    Unknown(String),
    /// La orden existe pero sus argumentos no encajan.
    #[error("uso: {usage}")]
    Usage {
        /// Cómo se usa la orden.
        usage: &'static str,
    },
}

/// Analiza una línea del cliente (ya sin terminador). Devuelve `Ok(None)` para una línea
/// en blanco, que se ignora.
///
/// Las órdenes no distinguen mayúsculas (`/JOIN` = `/join`) y tienen alias en español.
///
/// # Errores
/// [`CommandError::Unknown`] para una orden desconocida y [`CommandError::Usage`] si faltan
/// o sobran argumentos.
///
/// ```
/// use problema6::protocolo::{parse_command, Command};
/// assert_eq!(parse_command("hola a todos").unwrap(), Some(Command::Say("hola a todos")));
/// assert_eq!(parse_command("/unirse juegos").unwrap(), Some(Command::Join("juegos")));
/// assert_eq!(
///     parse_command("/msg ana ¿comemos?").unwrap(),
///     Some(Command::Msg { to: "ana", text: "¿comemos?" })
/// );
/// assert_eq!(parse_command("//no es orden").unwrap(), Some(Command::Say("/no es orden")));
/// assert_eq!(parse_command("   ").unwrap(), None);
/// assert!(parse_command("/join").is_err());
/// ```
pub fn parse_command(line: &str) -> Result<Option<Command<'_>>, CommandError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let Some(body) = line.strip_prefix('/') else {
        return Ok(Some(Command::Say(line)));
    };
    if body.starts_with('/') {
        return Ok(Some(Command::Say(body)));
    }
    let (word, rest) = match body.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (body, ""),
    };
    let command = match word.to_lowercase().as_str() {
        "create" | "crear" => Command::Create(one_word(rest, "/create SALA")?),
        "join" | "unirse" => Command::Join(one_word(rest, "/join SALA")?),
        "leave" | "salir" => no_args(rest, "/leave", Command::Leave)?,
        "rooms" | "salas" => no_args(rest, "/rooms", Command::Rooms)?,
        "users" | "usuarios" => no_args(rest, "/users", Command::Users)?,
        "msg" | "privado" => {
            const USAGE: &str = "/msg USUARIO texto";
            let (to, text) = rest
                .split_once(char::is_whitespace)
                .ok_or(CommandError::Usage { usage: USAGE })?;
            let text = text.trim_start();
            if text.is_empty() {
                return Err(CommandError::Usage { usage: USAGE });
            }
            Command::Msg { to, text }
        }
        "nick" | "nombre" => Command::Nick(one_word(rest, "/nick NOMBRE")?),
        "topic" | "tema" => Command::Topic(if rest.is_empty() { None } else { Some(rest) }),
        "help" | "ayuda" => no_args(rest, "/help", Command::Help)?,
        "quit" | "adios" | "adiós" => no_args(rest, "/quit", Command::Quit)?,
        _ => return Err(CommandError::Unknown(shorten(word, 32))),
    };
    Ok(Some(command))
}

fn one_word<'a>(rest: &'a str, usage: &'static str) -> Result<&'a str, CommandError> {
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(CommandError::Usage { usage });
    }
    Ok(rest)
}

fn no_args<'a>(
    rest: &str,
    usage: &'static str,
    command: Command<'a>,
) -> Result<Command<'a>, CommandError> {
    if rest.is_empty() {
        Ok(command)
    } else {
        Err(CommandError::Usage { usage })
    }
}

/// Recorta `s` a `max` caracteres (con `…`) para repetirlo en un mensaje de error sin
/// devolverle al cliente sus 2 KiB.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_string(),
    }
}

/// Por qué un nombre de sala no vale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    /// El nombre está vacío.
    #[error("el nombre de la sala está vacío")]
    Empty,
    /// El nombre pasa del máximo de caracteres.
    #[error("el nombre de la sala tiene más de {max} caracteres")]
    TooLong {
        /// El máximo permitido.
        max: usize,
    },
    /// El nombre contiene un carácter no permitido.
    #[error("el nombre de la sala solo admite letras, dígitos, `-` y `_` (contiene {0:?})")]
    InvalidChar(char),
}

/// Comprueba un nombre de sala: de 1 a [`MAX_ROOM_NAME_CHARS`] letras, dígitos, `-` o `_`
/// (sin espacios, para que `/join sala` no sea ambiguo). Distingue mayúsculas.
///
/// # Errores
/// El [`RoomNameError`] que explica qué falla.
///
/// ```
/// use problema6::protocolo::validate_room_name;
/// assert!(validate_room_name("música-en_vivo2").is_ok());
/// assert!(validate_room_name("con espacio").is_err());
/// ```
pub fn validate_room_name(name: &str) -> Result<(), RoomNameError> {
    if name.is_empty() {
        return Err(RoomNameError::Empty);
    }
    if name.chars().count() > MAX_ROOM_NAME_CHARS {
        return Err(RoomNameError::TooLong {
            max: MAX_ROOM_NAME_CHARS,
        });
    }
    match name
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == '-' || c == '_'))
    {
        Some(c) => Err(RoomNameError::InvalidChar(c)),
        None => Ok(()),
    }
}

/// Por qué un tema de sala no vale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// El tema pasa del máximo de caracteres.
    #[error("el tema tiene más de {max} caracteres")]
    TooLong {
        /// El máximo permitido.
        max: usize,
    },
}

/// Comprueba la longitud de un tema de sala ([`MAX_TOPIC_CHARS`] como máximo). Los
/// caracteres de control se sustituyen aparte, con [`sanitize_text`], como en los mensajes.
///
/// # Errores
/// [`TopicError::TooLong`].
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    if topic.chars().count() > MAX_TOPIC_CHARS {
        return Err(TopicError::TooLong {
            max: MAX_TOPIC_CHARS,
        });
    }
    Ok(())
}

/// Las líneas de la ayuda de `/help`.
pub const HELP: &[&str] = &[
    "Órdenes (entre paréntesis, el alias en español):",
    "  /create SALA        (/crear)     crea una sala y entra en ella",
    "  /join SALA          (/unirse)    entra en una sala que ya existe",
    "  /leave              (/salir)     vuelve a la sala general",
    "  /rooms              (/salas)     lista las salas y cuántos usuarios tiene cada una",
    "  /users              (/usuarios)  lista los usuarios de tu sala",
    "  /msg USUARIO texto  (/privado)   mensaje privado a USUARIO",
    "  /nick NOMBRE        (/nombre)    cambia tu nombre",
    "  /topic [texto]      (/tema)      muestra o cambia el tema de tu sala",
    "  /help               (/ayuda)     esta ayuda",
    "  /quit               (/adios)     salir del chat",
    "Cualquier otra línea se envía a tu sala (//texto envía /texto).",
];

// ---------------------------------------------------------------------------------------
// Las líneas del servidor. Todas sin `\n`: quien envía lo añade.
// ---------------------------------------------------------------------------------------

// Los mensajes propios de las salas; el resto (saludo, `NOMBRE: texto`, entradas y salidas
// del chat, errores de nombre y de ritmo, apagado) son los del problema 3, reexportados arriba.

/// Lo que recibe el destinatario de un privado.
pub fn private_received(from: &str, text: &str) -> String {
    format!("[privado] {from}: {text}")
}

/// La confirmación que recibe quien envía un privado.
pub fn private_sent(to: &str, text: &str) -> String {
    format!("[privado a {to}] {text}")
}

/// Aviso a una sala: alguien entró desde otra sala.
pub fn joined_announcement(name: &str) -> String {
    format!("{name} se ha unido a la sala.")
}

/// Aviso a una sala: alguien se fue a otra sala.
pub fn left_announcement(name: &str) -> String {
    format!("{name} ha salido de la sala.")
}

/// Aviso a una sala: alguien cambió de nombre.
pub fn nick_announcement(old: &str, new: &str) -> String {
    format!("{old} ahora se llama {new}.")
}

/// Aviso a una sala (también a quien lo cambió): nuevo tema.
pub fn topic_announcement(name: &str, topic: &str) -> String {
    format!("{name} ha cambiado el tema de la sala: {topic}")
}

/// Confirmación de `/create`.
pub fn room_created(room: &str) -> String {
    format!("Sala {room} creada.")
}

/// Motivo del `ERROR` que recibe, en lugar de [`room_created`], quien crea una sala que no se
/// pudo guardar en disco.
pub fn room_not_saved(room: &str, reason: &str) -> String {
    format!(
        "la sala {room} se creó pero NO se pudo guardar en disco ({reason}): se perderá si el servidor se reinicia"
    )
}

/// Motivo del `ERROR` que recibe, tras el anuncio, quien cambia un tema que no se pudo
/// guardar en disco.
pub fn topic_not_saved(reason: &str) -> String {
    format!(
        "el tema cambió pero NO se pudo guardar en disco ({reason}): se perderá si el servidor se reinicia"
    )
}

/// Confirmación de entrada en una sala (al conectar, `/create`, `/join`, `/leave`).
pub fn now_in_room(room: &str, members: usize) -> String {
    format!("Ahora estás en la sala {room} ({}).", count_users(members))
}

/// El tema de la sala (al entrar en ella y con `/topic` sin argumentos).
pub fn topic_line(room: &str, topic: Option<&str>) -> String {
    match topic {
        Some(t) => format!("Tema de {room}: {t}"),
        None => format!("La sala {room} no tiene tema."),
    }
}

/// Cabecera del historial que ve quien entra en una sala con mensajes previos; siguen
/// `count` líneas `NOMBRE: texto` y [`HISTORY_END`].
pub fn history_header(room: &str, count: usize) -> String {
    if count == 1 {
        format!("--- último mensaje de {room} ---")
    } else {
        format!("--- últimos {count} mensajes de {room} ---")
    }
}

/// Fin del bloque de historial.
pub const HISTORY_END: &str = "--- fin del historial ---";

/// Cabecera de `/rooms`; siguen `count` líneas [`room_entry`].
pub fn rooms_header(count: usize) -> String {
    format!("Salas ({count}):")
}

/// Una línea de `/rooms`: `- sala (N usuarios)`, con el tema si lo hay.
pub fn room_entry(room: &str, members: usize, topic: Option<&str>) -> String {
    let mut line = format!("- {room} ({})", count_users(members));
    if let Some(t) = topic {
        let _ = write!(line, ": {t}");
    }
    line
}

/// Respuesta de `/users`: `Usuarios en SALA (N): a, b, c`.
pub fn users_line(room: &str, names: &[&str]) -> String {
    format!("Usuarios en {room} ({}): {}", names.len(), names.join(", "))
}

/// Confirmación de `/nick`.
pub fn renamed(new: &str) -> String {
    format!("Ahora te llamas {new}.")
}

fn count_users(n: usize) -> String {
    common::ayuda::plural(n, "usuario", "usuarios")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_command_and_alias_parses() {
        let cases: &[(&str, Command<'_>)] = &[
            ("/create juegos", Command::Create("juegos")),
            ("/crear juegos", Command::Create("juegos")),
            ("/join juegos", Command::Join("juegos")),
            ("/unirse juegos", Command::Join("juegos")),
            ("/leave", Command::Leave),
            ("/salir", Command::Leave),
            ("/rooms", Command::Rooms),
            ("/salas", Command::Rooms),
            ("/users", Command::Users),
            ("/usuarios", Command::Users),
            (
                "/msg ana hola  qué tal",
                Command::Msg {
                    to: "ana",
                    text: "hola  qué tal",
                },
            ),
            (
                "/privado ana hola",
                Command::Msg {
                    to: "ana",
                    text: "hola",
                },
            ),
            ("/nick beto", Command::Nick("beto")),
            ("/nombre beto", Command::Nick("beto")),
            ("/topic", Command::Topic(None)),
            (
                "/tema  de todo un poco ",
                Command::Topic(Some("de todo un poco")),
            ),
            ("/help", Command::Help),
            ("/ayuda", Command::Help),
            ("/quit", Command::Quit),
            ("/adios", Command::Quit),
            ("/JOIN Juegos", Command::Join("Juegos")),
            ("/join\tjuegos", Command::Join("juegos")),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_command(line), Ok(Some(*expected)), "{line}");
        }
    }

    #[test]
    fn plain_lines_are_messages_and_blank_lines_are_ignored() {
        assert_eq!(parse_command("hola"), Ok(Some(Command::Say("hola"))));
        assert_eq!(
            parse_command(" /join x"),
            Ok(Some(Command::Say(" /join x")))
        );
        assert_eq!(parse_command("//join x"), Ok(Some(Command::Say("/join x"))));
        assert_eq!(parse_command(""), Ok(None));
        assert_eq!(parse_command(" \t "), Ok(None));
    }

    #[test]
    fn wrong_arguments_give_the_usage() {
        for (line, usage) in [
            ("/join", "/join SALA"),
            ("/join a b", "/join SALA"),
            ("/create", "/create SALA"),
            ("/msg", "/msg USUARIO texto"),
            ("/msg ana", "/msg USUARIO texto"),
            ("/msg ana   ", "/msg USUARIO texto"),
            ("/nick", "/nick NOMBRE"),
            ("/nick a b", "/nick NOMBRE"),
            ("/leave ya", "/leave"),
            ("/rooms x", "/rooms"),
            ("/quit adiós", "/quit"),
        ] {
            assert_eq!(
                parse_command(line),
                Err(CommandError::Usage { usage }),
                "{line}"
            );
        }
    }

    #[test]
    fn unknown_command_is_named_and_shortened() {
        assert_eq!(
            parse_command("/bailar ya"),
            Err(CommandError::Unknown("bailar".into()))
        );
        let long = format!("/{}", "x".repeat(100));
        let Err(CommandError::Unknown(word)) = parse_command(&long) else {
            panic!("debía ser desconocida");
        };
        assert_eq!(word, format!("{}…", "x".repeat(32)));
        assert_eq!(
            parse_command("/"),
            Err(CommandError::Unknown(String::new()))
        );
    }

    #[test]
    fn room_names_at_and_past_the_limit() {
        assert!(validate_room_name(&"a".repeat(MAX_ROOM_NAME_CHARS)).is_ok());
        assert!(validate_room_name(&"ñ".repeat(MAX_ROOM_NAME_CHARS)).is_ok());
        assert_eq!(
            validate_room_name(&"a".repeat(MAX_ROOM_NAME_CHARS + 1)),
            Err(RoomNameError::TooLong {
                max: MAX_ROOM_NAME_CHARS
            })
        );
        assert_eq!(validate_room_name(""), Err(RoomNameError::Empty));
        assert_eq!(
            validate_room_name("a/b"),
            Err(RoomNameError::InvalidChar('/'))
        );
        assert_eq!(
            validate_room_name("a\u{1b}"),
            Err(RoomNameError::InvalidChar('\u{1b}'))
        );
    }

    #[test]
    fn topics_at_and_past_the_limit() {
        assert!(validate_topic(&"t".repeat(MAX_TOPIC_CHARS)).is_ok());
        assert_eq!(
            validate_topic(&"t".repeat(MAX_TOPIC_CHARS + 1)),
            Err(TopicError::TooLong {
                max: MAX_TOPIC_CHARS
            })
        );
    }

    #[test]
    fn server_lines_are_exact() {
        assert_eq!(private_received("ana", "hola"), "[privado] ana: hola");
        assert_eq!(private_sent("beto", "hola"), "[privado a beto] hola");
        assert_eq!(
            now_in_room("juegos", 1),
            "Ahora estás en la sala juegos (1 usuario)."
        );
        assert_eq!(room_entry("general", 3, None), "- general (3 usuarios)");
        assert_eq!(room_entry("x", 0, Some("t")), "- x (0 usuarios): t");
        assert_eq!(
            users_line("general", &["ana", "beto"]),
            "Usuarios en general (2): ana, beto"
        );
        assert_eq!(
            error_line(
                &CommandError::Usage {
                    usage: "/join SALA"
                }
                .to_string()
            ),
            "ERROR uso: /join SALA"
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics_and_messages_are_the_line(line in "\\PC{0,80}") {
            if let Ok(Some(Command::Say(text))) = parse_command(&line) {
                prop_assert!(line.ends_with(text));
                prop_assert!(!text.is_empty());
            }
        }

        #[test]
        fn parsed_room_names_never_contain_whitespace(name in "[a-z ]{0,10}") {
            let line = format!("/join {name}");
            if let Ok(Some(Command::Join(room))) = parse_command(&line) {
                prop_assert!(!room.contains(' '));
                prop_assert_eq!(room, name.trim());
            }
        }
    }
}
