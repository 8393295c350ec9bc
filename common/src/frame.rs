//! Tramas con prefijo de longitud: 4 bytes big-endian con la longitud y luego la carga.
//!
//! El prefijo viene de la red, así que se compara con el máximo **antes** de reservar
//! memoria: una cabecera que anuncia 4 GiB es un error, no una reserva de 4 GiB.

use std::io::{self, Read, Write};

use crate::Parsed;

/// Tamaño máximo por omisión de la carga de una trama: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Bytes que ocupa el prefijo de longitud.
pub const HEADER_LEN: usize = 4;

/// Lo que puede fallar al leer o escribir una trama.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// La trama anuncia (o pretende enviar) más bytes de los permitidos.
    #[error("trama demasiado grande: {len} bytes, el máximo es {max}")]
    TooLarge {
        /// Longitud anunciada o pedida.
        len: u64,
        /// Límite configurado.
        max: usize,
    },
    /// El flujo terminó en mitad de una trama.
    #[error("la conexión se cerró en mitad de una trama")]
    Truncated,
    /// Error del socket.
    #[error("error de E/S: {}", crate::net::describe_io_error(.0))]
    Io(#[from] io::Error),
}

/// Escribe `payload` como una trama.
///
/// # Errores
/// [`FrameError::TooLarge`] si la carga pasa de `max` (no se escribe nada), o el error de E/S.
pub fn write_frame(writer: &mut impl Write, payload: &[u8], max: usize) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l as usize <= max)
        .ok_or(FrameError::TooLarge {
            len: payload.len() as u64,
            max,
        })?;
    writer.write_all(&len.to_be_bytes())?;
    writer.write_all(payload)?;
    Ok(())
}

/// Codifica una trama en memoria (inverso de [`parse_frame`]).
///
/// # Errores
/// [`FrameError::TooLarge`] si la carga pasa de `max`.
pub fn encode_frame(payload: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    write_frame(&mut out, payload, max)?;
    Ok(out)
}

/// Lee una trama completa. `Ok(None)` si el flujo terminó limpiamente antes de empezarla.
///
/// # Errores
/// [`FrameError::TooLarge`] si el prefijo pasa de `max` (no se lee la carga ni se reserva
/// memoria para ella), [`FrameError::Truncated`] si el flujo se corta a mitad, o el error de E/S.
pub fn read_frame(reader: &mut impl Read, max: usize) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let slot = header.get_mut(got..).unwrap_or_default();
        match reader.read(slot) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max,
        });
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })?;
    Ok(Some(payload))
}

/// Versión pura: busca una trama completa al principio de `buf`.
///
/// # Errores
/// [`FrameError::TooLarge`] en cuanto el prefijo anuncia más de `max`, aunque la carga no
/// haya llegado todavía.
///
/// ```
/// use common::{frame::{encode_frame, parse_frame}, Parsed};
/// let bytes = encode_frame(b"hola", 16).unwrap();
/// assert_eq!(parse_frame(&bytes, 16).unwrap(), Parsed::Complete { value: &b"hola"[..], consumed: 8 });
/// assert_eq!(parse_frame(&bytes[..5], 16).unwrap(), Parsed::Incomplete);
/// assert!(parse_frame(&bytes, 3).is_err());
/// ```
pub fn parse_frame(buf: &[u8], max: usize) -> Result<Parsed<&[u8]>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(Parsed::Incomplete);
    };
    let mut len_bytes = [0u8; HEADER_LEN];
    len_bytes.copy_from_slice(header);
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > max {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max,
        });
    }
    match buf.get(HEADER_LEN..HEADER_LEN + len) {
        Some(payload) => Ok(Parsed::Complete {
            value: payload,
            consumed: HEADER_LEN + len,
        }),
        None => Ok(Parsed::Incomplete),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_exactly_at_limit_round_trips() {
        let payload = vec![7u8; 100];
        let bytes = encode_frame(&payload, 100).unwrap();
        let got = read_frame(&mut &bytes[..], 100).unwrap().unwrap();
        assert_eq!(got, payload);
    }

    #[test]
    fn frame_one_past_limit_is_rejected_on_both_sides() {
        let payload = vec![7u8; 101];
        assert!(matches!(
            encode_frame(&payload, 100),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        ));
        let bytes = encode_frame(&payload, 1000).unwrap();
        assert!(matches!(
            read_frame(&mut &bytes[..], 100),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        ));
    }

    #[test]
    fn huge_announced_length_is_rejected_without_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut &bytes[..], DEFAULT_MAX_FRAME),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn clean_eof_and_truncation_are_distinguished() {
        assert!(read_frame(&mut &b""[..], 10).unwrap().is_none());
        assert!(matches!(
            read_frame(&mut &b"\0\0"[..], 10),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut &b"\0\0\0\x05ab"[..], 10),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn every_prefix_of_a_frame_is_incomplete() {
        let bytes = encode_frame(b"abc", 10).unwrap();
        for n in 0..bytes.len() {
            assert_eq!(parse_frame(&bytes[..n], 10).unwrap(), Parsed::Incomplete);
        }
    }

    proptest::proptest! {
        #[test]
        fn encode_then_parse_is_identity(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let bytes = encode_frame(&payload, 300).unwrap();
            let parsed = parse_frame(&bytes, 300).unwrap();
            proptest::prop_assert_eq!(parsed, Parsed::Complete { value: &payload[..], consumed: payload.len() + 4 });
        }

        #[test]
        fn parse_never_panics_nor_exceeds_limit(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(Parsed::Complete { value, .. }) = parse_frame(&buf, 16) {
                proptest::prop_assert!(value.len() <= 16);
            }
        }
    }
}
