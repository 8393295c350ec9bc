//! El protocolo del chat: validación de nombres y el texto exacto de cada mensaje del
//! servidor, como funciones puras (sin sockets, hilos ni registro).
//!
//! Es un protocolo de líneas UTF-8 terminadas en `\n` (o `\r\n`, como envía telnet):
//!
//! 1. Al conectar, el servidor pide el nombre: [`NAME_PROMPT`].
//! 2. El cliente envía su nombre en una línea. Si no es válido ([`validate_name`]) o ya está
//!    en uso, recibe una línea `ERROR ...` y otra vez [`NAME_PROMPT`].
//! 3. Con un nombre aceptado recibe [`CONNECTED`] y los demás [`join_line`].
//! 4. Cada línea que envía llega a todos los demás como [`relay_line`] (`NOMBRE: texto`).
//! 5. Con [`QUIT_COMMAND`] (o cerrando la conexión) sale; los demás reciben [`leave_line`].
//!
//! Los límites por omisión viven aquí, cada uno con su motivo.

use std::borrow::Cow;
use std::time::Duration;

/// Longitud máxima de un nombre, en caracteres (no bytes): cabe en una columna de terminal y
/// deja sitio al texto en la misma línea.
pub const MAX_NAME_CHARS: usize = 32;

/// Longitud máxima por omisión de una línea del cliente, en bytes: 4 KiB es un párrafo largo;
/// más que eso en un chat es un error o un abuso, y acota la memoria de cada conexión.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024;

/// Mensajes por segundo sostenidos por omisión que admite un cliente: una persona escribe
/// mucho menos; un programa que envía más está inundando la sala.
pub const DEFAULT_RATE_PER_SEC: f64 = 5.0;

/// Ráfaga por omisión: cuántos mensajes seguidos se admiten de golpe (pegar unas líneas).
pub const DEFAULT_RATE_BURST: u32 = 20;

/// Mensajes rechazados seguidos (por ritmo) tras los que se desconecta al cliente: quien
/// sigue enviando sin esperar después de tantos avisos no es una persona.
pub const DEFAULT_FLOOD_STRIKES: u32 = 50;

/// Mensajes en cola por omisión para cada cliente antes de considerarlo lento y
/// desconectarlo (véase `common::outbox`).
pub const DEFAULT_QUEUE_MESSAGES: usize = 1024;

/// Tiempo máximo por omisión para elegir nombre: una conexión que no se presenta no ocupa
/// un hilo para siempre. Una vez dentro, estar callado es parte del chat y no hay plazo.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);

/// Intentos de nombre por conexión antes de cerrarla.
pub const MAX_NAME_ATTEMPTS: u32 = 10;

/// Línea con la que el servidor pide el nombre (al conectar y tras cada nombre rechazado).
pub const NAME_PROMPT: &str = "Introduce tu nombre:";

/// Confirmación de que el nombre se aceptó (texto del enunciado original).
pub const CONNECTED: &str = "ya estás conectado!";

/// Orden para salir del chat.
pub const QUIT_COMMAND: &str = "/quit";

/// Despedida a quien sale con [`QUIT_COMMAND`].
pub const GOODBYE: &str = "¡Hasta pronto!";

/// Aviso a todos cuando el servidor se apaga (Ctrl-C o SIGTERM).
pub const SHUTTING_DOWN: &str = "servidor cerrándose";

/// Por qué un nombre no es válido.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// El nombre está vacío (o solo tenía espacios alrededor).
    #[error("el nombre no puede estar vacío")]
    Empty,
    /// El nombre pasa de `max` caracteres.
    #[error("el nombre es demasiado largo: el máximo es {max} caracteres")]
    TooLong {
        /// El límite, en caracteres.
        max: usize,
    },
    /// El nombre contiene un carácter de control (tabulador, escape, ...).
    #[error("el nombre no puede contener caracteres de control")]
    ControlChar,
    /// El nombre contiene espacios en medio.
    #[error("el nombre no puede contener espacios")]
    Whitespace,
    /// El nombre contiene `:`, que separa el nombre del texto en `NOMBRE: texto`.
    #[error("el nombre no puede contener ':'")]
    Colon,
}

/// Valida un nombre de usuario y lo devuelve sin los espacios de alrededor.
///
/// Reglas: no vacío, como mucho [`MAX_NAME_CHARS`] caracteres, sin caracteres de control,
/// sin espacios en medio y sin `:` (para que `NOMBRE: texto` no sea ambiguo).
///
/// # Errores
/// El [`NameError`] de la primera regla que se incumple.
///
/// ```
/// use problema3::protocolo::{validate_name, NameError};
/// assert_eq!(validate_name("  ana \r"), Ok("ana"));
/// assert_eq!(validate_name("ana maría"), Err(NameError::Whitespace));
/// assert_eq!(validate_name(""), Err(NameError::Empty));
/// ```
pub fn validate_name(raw: &str) -> Result<&str, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong {
            max: MAX_NAME_CHARS,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlChar);
    }
    if name.chars().any(char::is_whitespace) {
        return Err(NameError::Whitespace);
    }
    if name.contains(':') {
        return Err(NameError::Colon);
    }
    Ok(name)
}

/// Anuncio a los demás de que `name` ha entrado (texto del enunciado original).
///
/// ```
/// assert_eq!(problema3::protocolo::join_line("ana"), "ana se ha unido al Chat.");
/// ```
pub fn join_line(name: &str) -> String {
    format!("{name} se ha unido al Chat.")
}

/// Anuncio a los demás de que `name` se ha ido (por `/quit`, por cerrar, o expulsado).
///
/// ```
/// assert_eq!(problema3::protocolo::leave_line("ana"), "ana ha abandonado el Chat.");
/// ```
pub fn leave_line(name: &str) -> String {
    format!("{name} ha abandonado el Chat.")
}

/// Un mensaje de `name` tal como lo reciben los demás (texto del enunciado original).
///
/// ```
/// assert_eq!(problema3::protocolo::relay_line("ana", "hola"), "ana: hola");
/// ```
pub fn relay_line(name: &str, text: &str) -> String {
    format!("{name}: {text}")
}

/// Una línea de error para un cliente: `ERROR motivo`.
///
/// ```
/// assert_eq!(problema3::protocolo::error_line("algo"), "ERROR algo");
/// ```
pub fn error_line(reason: &str) -> String {
    format!("ERROR {reason}")
}

/// Error para un nombre que ya usa otra persona.
pub fn name_taken_line(name: &str) -> String {
    error_line(&format!("el nombre {name} ya está en uso, elige otro"))
}

/// Error para un mensaje rechazado por ir demasiado rápido.
pub fn rate_limited_line(rate_per_sec: f64) -> String {
    error_line(&format!(
        "vas demasiado rápido (máximo {rate_per_sec} mensajes por segundo): este mensaje no se envió"
    ))
}

/// Error de despedida a quien sigue inundando tras los avisos.
pub const FLOOD_DISCONNECT: &str = "ERROR demasiados mensajes seguidos: desconectado";

/// Error de despedida a quien agota los intentos de nombre.
pub const TOO_MANY_ATTEMPTS: &str = "ERROR demasiados intentos de nombre: desconectado";

/// Error de despedida a quien, ya en el chat, envía un mensaje tan despacio (byte a byte) que
/// no termina dentro del plazo.
pub const MESSAGE_TIMEOUT: &str = "ERROR tu mensaje tardó demasiado en llegar: desconectado";

/// Error de despedida a quien no elige nombre a tiempo.
pub const HANDSHAKE_TIMEOUT: &str = "ERROR no elegiste nombre a tiempo: desconectado";

/// Lo que hay que hacer con una línea recibida de un cliente ya presentado.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// Salir del chat ([`QUIT_COMMAND`]).
    Quit,
    /// Una línea vacía (o solo espacios): se ignora.
    Empty,
    /// Texto para difundir, ya sin caracteres de control.
    Message(Cow<'a, str>),
}

/// Clasifica una línea de chat (ya sin terminador): salir, ignorar o difundir.
///
/// ```
/// use problema3::protocolo::{classify, Input};
/// assert_eq!(classify("/quit"), Input::Quit);
/// assert_eq!(classify("   "), Input::Empty);
/// assert_eq!(classify("hola").to_owned_message().as_deref(), Some("hola"));
/// ```
pub fn classify(line: &str) -> Input<'_> {
    let trimmed = line.trim();
    if trimmed == QUIT_COMMAND {
        Input::Quit
    } else if trimmed.is_empty() {
        Input::Empty
    } else {
        Input::Message(sanitize_text(line))
    }
}

impl Input<'_> {
    /// El texto si es un mensaje, para comparaciones cómodas.
    pub fn to_owned_message(&self) -> Option<String> {
        match self {
            Input::Message(text) => Some(text.to_string()),
            _ => None,
        }
    }
}

/// Sustituye los caracteres de control (salvo el tabulador) por `�`, para que nadie pueda
/// enviar secuencias de escape que borren o manipulen el terminal de los demás.
///
/// ```
/// use problema3::protocolo::sanitize_text;
/// assert_eq!(sanitize_text("hola"), "hola");
/// assert_eq!(sanitize_text("a\x1b[2Jb"), "a\u{fffd}[2Jb");
/// ```
pub fn sanitize_text(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\t';
    if text.chars().any(bad) {
        Cow::Owned(
            text.chars()
                .map(|c| if bad(c) { '\u{fffd}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_names_are_trimmed() {
        assert_eq!(validate_name("ana"), Ok("ana"));
        assert_eq!(validate_name("\tana\t"), Ok("ana"));
        assert_eq!(validate_name("José_92"), Ok("José_92"));
        assert_eq!(validate_name("ñandú"), Ok("ñandú"));
    }

    #[test]
    fn name_length_is_counted_in_chars_at_and_past_the_limit() {
        let at = "ñ".repeat(MAX_NAME_CHARS);
        assert_eq!(validate_name(&at), Ok(at.as_str()));
        let past = "ñ".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            validate_name(&past),
            Err(NameError::TooLong {
                max: MAX_NAME_CHARS
            })
        );
    }

    #[test]
    fn invalid_names_are_rejected_with_the_right_reason() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name("   "), Err(NameError::Empty));
        assert_eq!(validate_name("a\x1bb"), Err(NameError::ControlChar));
        assert_eq!(validate_name("a\tb"), Err(NameError::ControlChar));
        assert_eq!(validate_name("a\u{7f}"), Err(NameError::ControlChar));
        assert_eq!(validate_name("ana maría"), Err(NameError::Whitespace));
        assert_eq!(validate_name("a\u{a0}b"), Err(NameError::Whitespace));
        assert_eq!(validate_name("ana:"), Err(NameError::Colon));
    }

    #[test]
    fn name_errors_are_spanish_sentences() {
        assert_eq!(
            NameError::TooLong { max: 32 }.to_string(),
            "el nombre es demasiado largo: el máximo es 32 caracteres"
        );
        assert_eq!(
            NameError::Empty.to_string(),
            "el nombre no puede estar vacío"
        );
    }

    #[test]
    fn server_lines_match_the_original_exercise() {
        assert_eq!(CONNECTED, "ya estás conectado!");
        assert_eq!(join_line("Bea"), "Bea se ha unido al Chat.");
        assert_eq!(relay_line("Bea", "hola: qué tal"), "Bea: hola: qué tal");
        assert_eq!(leave_line("Bea"), "Bea ha abandonado el Chat.");
        assert_eq!(
            name_taken_line("Bea"),
            "ERROR el nombre Bea ya está en uso, elige otro"
        );
        assert_eq!(
            rate_limited_line(5.0),
            "ERROR vas demasiado rápido (máximo 5 mensajes por segundo): este mensaje no se envió"
        );
    }

    #[test]
    fn classify_recognises_quit_empty_and_messages() {
        assert_eq!(classify("/quit"), Input::Quit);
        assert_eq!(classify("  /quit "), Input::Quit);
        assert_eq!(classify(""), Input::Empty);
        assert_eq!(
            classify("/quitar"),
            Input::Message(Cow::Borrowed("/quitar"))
        );
        assert_eq!(
            classify("  hola  "),
            Input::Message(Cow::Borrowed("  hola  "))
        );
        assert_eq!(
            classify("a\x07"),
            Input::Message(Cow::Borrowed("a\u{fffd}"))
        );
    }

    proptest! {
        #[test]
        fn validate_name_never_panics_and_accepted_names_follow_the_rules(s in ".*") {
            if let Ok(name) = validate_name(&s) {
                prop_assert!(!name.is_empty());
                prop_assert!(name.chars().count() <= MAX_NAME_CHARS);
                prop_assert!(!name.chars().any(|c| c.is_control() || c.is_whitespace() || c == ':'));
                prop_assert_eq!(validate_name(name), Ok(name));
            }
        }

        #[test]
        fn relayed_text_never_contains_control_chars_but_tab(s in ".*") {
            if let Input::Message(text) = classify(&s) {
                prop_assert!(!text.chars().any(|c| c.is_control() && c != '\t'));
                prop_assert_eq!(text.chars().count(), s.chars().count());
            }
        }
    }
}
