//! Lectura de líneas con un límite de longitud.
//!
//! `BufRead::read_line` de la biblioteca estándar acumula hasta encontrar `\n`: un cliente
//! que envía 10 GiB sin salto de línea nos haría reservar 10 GiB. Aquí cada lectura lleva su
//! máximo y, al pasarlo, devuelve [`LineError::TooLong`] sin haber guardado más de ese máximo.
//!
//! Las líneas terminan en `\n` o `\r\n` (telnet envía `\r\n`, nc envía `\n`); el terminador
//! no forma parte de la línea devuelta ni cuenta para el límite.

use std::io::{self, BufRead};

/// Longitud máxima por omisión de una línea de protocolo: 8 KiB, de sobra para cualquier
/// comando escrito a mano y pequeña para que mil clientes no agoten la memoria.
pub const DEFAULT_MAX_LINE: usize = 8 * 1024;

/// Lo que puede fallar al leer una línea.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// La línea supera el máximo permitido (sin contar el terminador).
    #[error("línea demasiado larga: el máximo es {max} bytes")]
    TooLong {
        /// El límite que se superó.
        max: usize,
    },
    /// La línea no es UTF-8 válido (solo en [`read_utf8_line`]).
    #[error("la línea no es texto UTF-8 válido")]
    InvalidUtf8,
    /// Error del socket, incluido el fin del tiempo de espera de lectura.
    #[error("error de lectura: {}", crate::net::describe_io_error(.0))]
    Io(#[from] io::Error),
}

impl LineError {
    /// ¿Se agotó el tiempo de espera de lectura del socket?
    pub fn is_timeout(&self) -> bool {
        matches!(self, LineError::Io(e) if crate::net::is_timeout(e))
    }
}

/// Lee una línea en `buf` (que se vacía antes) sin el terminador `\n` / `\r\n`.
///
/// Devuelve `Ok(false)` si el flujo terminó sin más datos (fin limpio) y `Ok(true)` si dejó
/// una línea en `buf`. Una última línea sin `\n` antes del cierre también cuenta como línea.
///
/// # Errores
/// [`LineError::TooLong`] si la línea pasa de `max` bytes: en ese momento se han consumido
/// como mucho `max + 2` bytes de la línea y el resto, con su `\n`, sigue siempre en el flujo
/// (véase [`discard_line`] para saltarlo y seguir usando la conexión). [`LineError::Io`] si falla
/// la lectura.
///
/// ```
/// use common::line::read_line;
/// let mut input: &[u8] = b"hola\r\nmundo\n";
/// let mut buf = Vec::new();
/// assert!(read_line(&mut input, &mut buf, 10).unwrap());
/// assert_eq!(buf, b"hola");
/// assert!(read_line(&mut input, &mut buf, 10).unwrap());
/// assert_eq!(buf, b"mundo");
/// assert!(!read_line(&mut input, &mut buf, 10).unwrap());
/// ```
pub fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<bool, LineError> {
    buf.clear();
    match fill_line(reader, buf, max)? {
        RawEnd::Newline => {
            strip_cr(buf);
            Ok(true)
        }
        // Fin del flujo: lo acumulado, si hay algo, es la última línea.
        RawEnd::Eof if buf.is_empty() => Ok(false),
        RawEnd::Eof => {
            strip_cr(buf);
            check_len(buf, max).map(|_| true)
        }
        RawEnd::TooLong => Err(LineError::TooLong { max }),
    }
}

/// Cómo terminó [`fill_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawEnd {
    /// Se encontró el `\n` (ya consumido); la línea está en `buf`, con su `\r` final si lo
    /// había.
    Newline,
    /// El flujo terminó antes de un `\n`; lo leído está en `buf`.
    Eof,
    /// La línea pasa de `max` bytes (sin contar un `\r` final). Se han guardado como mucho
    /// `max + 2` bytes y el resto de la línea, con su `\n`, sigue en el flujo.
    TooLong,
}

/// El lector de líneas acotado del que salen todos los demás (el de [`read_line`], tolerante
/// con `\n` solo, y el de HTTP, que exige `\r\n`): añade a `buf` los bytes hasta el próximo
/// `\n`, sin guardar nunca más de `max + 2`.
///
/// # Errores
/// Los de lectura (los `Interrupted` se reintentan).
pub fn fill_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<RawEnd> {
    // Aceptamos hasta `max + 1` bytes antes del `\n` para admitir un `\n` final.
    let start = buf.len();
    let raw_max = max.saturating_add(1);
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(RawEnd::Eof);
        }
        let len = buf.len() - start;
        let room = raw_max - len;
        match available.iter().position(|&b| b == b'\n') {
            Some(pos) if pos <= room => {
                let chunk = available.get(..pos).unwrap_or_default();
                let ends_in_cr = match chunk.last() {
                    Some(&b) => b == b'\r',
                    None => buf.last() == Some(&b'\r') && len > 0,
                };
                let content = len + pos - usize::from(ends_in_cr);
                buf.extend_from_slice(chunk);
                if content > max {
                    // Justo un byte de más: dejamos el `\n` en el flujo, igual que con las
                    // líneas más largas, para que `discard_line` se comporte siempre igual.
                    reader.consume(pos);
                    return Ok(RawEnd::TooLong);
                }
                reader.consume(pos + 1);
                return Ok(RawEnd::Newline);
            }
            _ => {
                let take = available.len().min(room + 1);
                buf.extend_from_slice(available.get(..take).unwrap_or_default());
                reader.consume(take);
                if buf.len() - start > raw_max {
                    return Ok(RawEnd::TooLong);
                }
            }
        }
    }
}

/// Como [`read_line`], pero devuelve la línea como `String`.
///
/// # Errores
/// Los de [`read_line`], y [`LineError::InvalidUtf8`] si la línea no es UTF-8: en ese caso
/// la línea entera ya se consumió y la conexión puede seguir leyendo la siguiente.
pub fn read_utf8_line(reader: &mut impl BufRead, max: usize) -> Result<Option<String>, LineError> {
    let mut buf = Vec::new();
    if !read_line(reader, &mut buf, max)? {
        return Ok(None);
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| LineError::InvalidUtf8)
}

/// Descarta bytes hasta el próximo `\n` (incluido), como mucho `max_discard` bytes.
///
/// Sirve para seguir usando una conexión después de [`LineError::TooLong`]: se responde con
/// un error y se salta el resto de la línea. Devuelve `Ok(true)` si encontró el `\n` y
/// `Ok(false)` si llegó al fin del flujo o al máximo sin encontrarlo (entonces conviene
/// cerrar la conexión).
///
/// # Errores
/// Los de lectura del socket.
pub fn discard_line(reader: &mut impl BufRead, max_discard: u64) -> io::Result<bool> {
    let mut discarded: u64 = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(false);
        }
        if let Some(pos) = available.iter().position(|&b| b == b'\n') {
            reader.consume(pos + 1);
            return Ok(true);
        }
        let n = available.len();
        reader.consume(n);
        discarded = discarded.saturating_add(n as u64);
        if discarded >= max_discard {
            return Ok(false);
        }
    }
}

/// Busca una línea completa al principio de `buf` sin leer de ningún sitio (versión pura).
///
/// Devuelve la línea sin terminador y cuántos bytes ocupaba con él, o
/// [`crate::Parsed::Incomplete`] si aún no hay `\n`.
///
/// # Errores
/// [`LineError::TooLong`] si la línea (o lo que hay de ella) pasa de `max` bytes.
///
/// ```
/// use common::{line::parse_line, Parsed};
/// assert_eq!(
///     parse_line(b"PING\r\nresto", 8).unwrap(),
///     Parsed::Complete { value: &b"PING"[..], consumed: 6 }
/// );
/// assert_eq!(parse_line(b"PIN", 8).unwrap(), Parsed::Incomplete);
/// assert!(parse_line(b"demasiado largo", 8).is_err());
/// ```
pub fn parse_line(buf: &[u8], max: usize) -> Result<crate::Parsed<&[u8]>, LineError> {
    let raw_max = max.saturating_add(1);
    match buf.iter().position(|&b| b == b'\n') {
        Some(pos) => {
            let mut line = buf.get(..pos).unwrap_or_default();
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if line.len() > max {
                return Err(LineError::TooLong { max });
            }
            Ok(crate::Parsed::Complete {
                value: line,
                consumed: pos + 1,
            })
        }
        None if buf.len() > raw_max => Err(LineError::TooLong { max }),
        None => Ok(crate::Parsed::Incomplete),
    }
}

fn strip_cr(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
}

fn check_len(buf: &[u8], max: usize) -> Result<(), LineError> {
    if buf.len() > max {
        Err(LineError::TooLong { max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn lines(input: &[u8], max: usize, cap: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut reader = BufReader::with_capacity(cap, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            match read_line(&mut reader, &mut buf, max) {
                Ok(true) => out.push(Ok(buf.clone())),
                Ok(false) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn line_exactly_at_limit_is_accepted_with_either_terminator() {
        for cap in [1, 2, 3, 64] {
            assert_eq!(lines(b"abcd\n", 4, cap), vec![Ok(b"abcd".to_vec())]);
            assert_eq!(lines(b"abcd\r\n", 4, cap), vec![Ok(b"abcd".to_vec())]);
        }
    }

    #[test]
    fn line_one_past_limit_is_rejected() {
        for cap in [1, 2, 3, 64] {
            let got = lines(b"abcde\n", 4, cap);
            assert!(matches!(got.as_slice(), [Err(_)]), "cap {cap}: {got:?}");
            let got = lines(b"abcde\r\n", 4, cap);
            assert!(matches!(got.as_slice(), [Err(_)]), "cap {cap}: {got:?}");
        }
    }

    #[test]
    fn huge_line_does_not_grow_buffer_past_limit() {
        let input = vec![b'x'; 1 << 20];
        let mut reader = BufReader::new(&input[..]);
        let mut buf = Vec::new();
        let err = read_line(&mut reader, &mut buf, 100).unwrap_err();
        assert!(matches!(err, LineError::TooLong { max: 100 }));
        assert!(buf.len() <= 102, "buffer creció a {}", buf.len());
    }

    #[test]
    fn last_line_without_newline_counts() {
        assert_eq!(
            lines(b"a\nb", 10, 4),
            vec![Ok(b"a".to_vec()), Ok(b"b".to_vec())]
        );
    }

    #[test]
    fn empty_lines_are_lines() {
        assert_eq!(
            lines(b"\n\r\n", 10, 4),
            vec![Ok(Vec::new()), Ok(Vec::new())]
        );
    }

    #[test]
    fn after_too_long_the_newline_is_always_left_for_discard_line() {
        // Un byte de más, varios de más, con `\n` y con `\r\n`: siempre hace falta
        // `discard_line` y nunca se traga la línea siguiente.
        for input in [
            &b"abcde\nok\n"[..],
            b"abcde\r\nok\n",
            b"abcdefghij\nok\n",
            b"abcdefghij\r\nok\r\n",
        ] {
            for cap in [1, 2, 3, 64] {
                let mut reader = BufReader::with_capacity(cap, input);
                let mut buf = Vec::new();
                assert!(matches!(
                    read_line(&mut reader, &mut buf, 4),
                    Err(LineError::TooLong { max: 4 })
                ));
                assert!(discard_line(&mut reader, 1000).unwrap());
                assert!(
                    read_line(&mut reader, &mut buf, 4).unwrap(),
                    "{input:?} cap {cap}"
                );
                assert_eq!(buf, b"ok", "{input:?} cap {cap}");
            }
        }
    }

    #[test]
    fn discard_line_skips_to_next_line() {
        let mut reader = BufReader::with_capacity(4, &b"xxxxxxxxxx\nok\n"[..]);
        let mut buf = Vec::new();
        assert!(read_line(&mut reader, &mut buf, 3).is_err());
        assert!(discard_line(&mut reader, 1000).unwrap());
        assert!(read_line(&mut reader, &mut buf, 3).unwrap());
        assert_eq!(buf, b"ok");
    }

    #[test]
    fn discard_line_stops_at_its_budget() {
        let input = vec![b'x'; 10_000];
        let mut reader = BufReader::with_capacity(16, &input[..]);
        assert!(!discard_line(&mut reader, 100).unwrap());
    }

    #[test]
    fn invalid_utf8_is_an_error_and_next_line_still_reads() {
        let mut reader: &[u8] = b"\xff\xfe\nbien\n";
        assert!(matches!(
            read_utf8_line(&mut reader, 100),
            Err(LineError::InvalidUtf8)
        ));
        assert_eq!(
            read_utf8_line(&mut reader, 100).unwrap().as_deref(),
            Some("bien")
        );
    }

    #[test]
    fn parse_line_every_prefix_is_incomplete() {
        let msg = b"SET a 1\r\n";
        for n in 0..msg.len() {
            assert_eq!(
                parse_line(&msg[..n], 100).unwrap(),
                crate::Parsed::Incomplete
            );
        }
        assert_eq!(
            parse_line(msg, 7).unwrap(),
            crate::Parsed::Complete {
                value: &b"SET a 1"[..],
                consumed: 9
            }
        );
        assert!(parse_line(msg, 6).is_err());
    }

    proptest::proptest! {
        #[test]
        fn read_line_never_returns_more_than_max(input in proptest::collection::vec(proptest::num::u8::ANY, 0..600), max in 0usize..64, cap in 1usize..32) {
            let mut reader = BufReader::with_capacity(cap, &input[..]);
            let mut buf = Vec::new();
            while let Ok(true) = read_line(&mut reader, &mut buf, max) {
                proptest::prop_assert!(buf.len() <= max);
                proptest::prop_assert!(!buf.contains(&b'\n'));
            }
        }

        #[test]
        fn read_line_agrees_with_parse_line(input in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\r', b'\n']), 0..100)) {
            let mut reader: &[u8] = &input;
            let mut buf = Vec::new();
            let mut rest: &[u8] = &input;
            while let Ok(crate::Parsed::Complete { value, consumed }) = parse_line(rest, 16) {
                proptest::prop_assert!(read_line(&mut reader, &mut buf, 16).unwrap());
                proptest::prop_assert_eq!(&buf[..], value);
                rest = &rest[consumed..];
            }
        }
    }
}
