//! Mensajes JSON, uno por línea ("JSON lines"), sobre `serde`.
//!
//! Cada mensaje es un objeto JSON serializado en una sola línea terminada en `\n`. La
//! lectura usa [`crate::line::read_line`], así que un mensaje más largo que el máximo es un
//! error y no una reserva de memoria sin fin. `serde_json` nunca escribe `\n` sin escapar
//! dentro de una cadena, de modo que un mensaje siempre ocupa exactamente una línea.

use std::io::{self, BufRead, Write};

use serde::{de::DeserializeOwned, Serialize};

use crate::line::{read_line, LineError};

/// Lo que puede fallar al leer o escribir un mensaje JSON-lines.
#[derive(Debug, thiserror::Error)]
pub enum JsonLineError {
    /// La línea no se pudo leer (demasiado larga, error del socket...).
    #[error(transparent)]
    Line(#[from] LineError),
    /// La línea no es el JSON que esperábamos.
    #[error("JSON inválido: {0}")]
    Json(#[from] serde_json::Error),
    /// Error al escribir.
    #[error("error de escritura: {}", crate::net::describe_io_error(.0))]
    Io(#[from] io::Error),
}

/// Lee un mensaje. `Ok(None)` si el flujo terminó limpiamente.
///
/// # Errores
/// [`JsonLineError::Line`] si la línea pasa de `max` bytes o falla el socket;
/// [`JsonLineError::Json`] si no es un JSON del tipo `T` (la línea ya se consumió: la
/// conexión puede seguir).
pub fn read_json_line<T: DeserializeOwned>(
    reader: &mut impl BufRead,
    max: usize,
) -> Result<Option<T>, JsonLineError> {
    let mut buf = Vec::new();
    if !read_line(reader, &mut buf, max)? {
        return Ok(None);
    }
    Ok(Some(serde_json::from_slice(&buf)?))
}

/// Codifica un mensaje como una línea JSON terminada en `\n`.
///
/// # Errores
/// Los de `serde_json` (por ejemplo, un mapa con claves que no son cadenas).
pub fn encode_json_line<T: Serialize>(msg: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(msg)?;
    out.push(b'\n');
    Ok(out)
}

/// Escribe un mensaje como una línea y vacía el buffer de escritura.
///
/// # Errores
/// Los de codificación o los del socket.
pub fn write_json_line<T: Serialize>(
    writer: &mut impl Write,
    msg: &T,
) -> Result<(), JsonLineError> {
    let bytes = encode_json_line(msg)?;
    writer.write_all(&bytes)?;
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Msg {
        Register { addr: String },
        Heartbeat { id: u64 },
    }

    #[test]
    fn round_trip_of_several_messages() {
        let mut out = Vec::new();
        write_json_line(
            &mut out,
            &Msg::Register {
                addr: "a\nb".into(),
            },
        )
        .unwrap();
        write_json_line(&mut out, &Msg::Heartbeat { id: 7 }).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2);
        let mut reader = &out[..];
        assert_eq!(
            read_json_line::<Msg>(&mut reader, 100).unwrap(),
            Some(Msg::Register {
                addr: "a\nb".into()
            })
        );
        assert_eq!(
            read_json_line::<Msg>(&mut reader, 100).unwrap(),
            Some(Msg::Heartbeat { id: 7 })
        );
        assert_eq!(read_json_line::<Msg>(&mut reader, 100).unwrap(), None);
    }

    #[test]
    fn oversized_message_is_a_line_error() {
        let mut out = Vec::new();
        write_json_line(
            &mut out,
            &Msg::Register {
                addr: "x".repeat(200),
            },
        )
        .unwrap();
        assert!(matches!(
            read_json_line::<Msg>(&mut &out[..], 100),
            Err(JsonLineError::Line(LineError::TooLong { max: 100 }))
        ));
    }

    #[test]
    fn garbage_is_a_json_error_and_next_message_reads() {
        let mut reader: &[u8] = b"{no es json\n{\"type\":\"heartbeat\",\"id\":1}\n";
        assert!(matches!(
            read_json_line::<Msg>(&mut reader, 100),
            Err(JsonLineError::Json(_))
        ));
        assert_eq!(
            read_json_line::<Msg>(&mut reader, 100).unwrap(),
            Some(Msg::Heartbeat { id: 1 })
        );
    }
}
