//! El protocolo del problema 1: una línea de ida, una línea de vuelta.
//!
//! El mensaje del cliente es una línea de como mucho [`DEFAULT_MAX_MESSAGE`] bytes; si no es
//! UTF-8 válido se muestra con los bytes inválidos sustituidos por `�` (nunca un pánico).

use std::time::Duration;

/// Longitud máxima por omisión del mensaje: 64 KiB, de sobra para un saludo.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// Tiempo por omisión que el servidor espera a que el cliente envíe su mensaje.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Mensaje que envía el cliente si no se le da otro.
pub const DEFAULT_GREETING: &str = "hola servidor";

/// La respuesta a quien llega con el tope de conexiones lleno (o, con `--once`, a quien llega
/// mientras se atiende a otro).
pub const BUSY: &str = "ERROR servidor ocupado, pruebe más tarde";

/// La respuesta a quien aún no había enviado su mensaje cuando el servidor empezó a apagarse.
pub const SHUTTING_DOWN: &str = "ERROR servidor cerrándose";

/// La respuesta del servidor a un mensaje (sin el `\n` final).
///
/// ```
/// assert_eq!(problema1::protocolo::reply(b"hola"), "recibido (4 bytes): hola");
/// assert_eq!(problema1::protocolo::reply(b"\xffa"), "recibido (2 bytes, no UTF-8): \u{fffd}a");
/// ```
pub fn reply(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let note = if std::str::from_utf8(message).is_ok() {
        ""
    } else {
        ", no UTF-8"
    };
    format!("recibido ({} bytes{note}): {text}", message.len())
}

/// La línea de error para un mensaje que pasa del máximo (sin el `\n` final).
pub fn too_long(max: usize) -> String {
    format!("ERROR mensaje demasiado largo: el máximo es {max} bytes")
}

/// La línea de error para un cliente que no envió nada a tiempo.
pub fn timed_out(timeout: Duration) -> String {
    format!(
        "ERROR tiempo agotado: no llegó ningún mensaje en {} s",
        timeout.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_counts_bytes_not_characters() {
        assert_eq!(reply("año".as_bytes()), "recibido (4 bytes): año");
        assert_eq!(reply(b""), "recibido (0 bytes): ");
    }

    proptest::proptest! {
        #[test]
        fn reply_never_panics_and_is_one_line_when_input_is(msg in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let r = reply(&msg);
            if !msg.contains(&b'\n') {
                proptest::prop_assert!(!r.contains('\n'));
            }
        }
    }
}
