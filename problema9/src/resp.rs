//! RESP2 (el protocolo de Redis) y las órdenes en línea, sin sockets.
//!
//! Un cliente envía cada orden como un array de cadenas bulk (`*2\r\n$3\r\nGET\r\n$1\r\na\r\n`)
//! o, a mano desde telnet, como una línea de palabras separadas por espacios (`GET a`), con
//! comillas al estilo de `redis-cli` (`SET a "hola mundo"`). El servidor responde con
//! [`Value`]: `+OK`, `-ERR ...`, `:1`, `$5\r\nvalor\r\n`, `$-1` (nulo) o arrays.
//!
//! Todo lo que llega por la red se comprueba contra [`Limits`] antes de reservar memoria o
//! entrar en un bucle: longitud de línea, longitud de cada bulk, número de elementos de un
//! array, profundidad de anidamiento y tamaño total de una orden. Un mensaje a medias no es un
//! error: el analizador devuelve [`Parsed::Incomplete`] y quien lee pide más bytes.

use common::line::{parse_line, LineError};
use common::Parsed;

/// Longitud máxima por omisión de un bulk (un valor o una clave): 1 MiB. Redis admite 512 MiB,
/// pero aquí cada valor viaja además como JSON a cada réplica; 1 MiB sobra para el taller.
pub const DEFAULT_MAX_BULK: usize = 1024 * 1024;
/// Elementos máximos por omisión de un array: 1024 argumentos (un `DEL` de mil claves cabe).
pub const DEFAULT_MAX_ARRAY: usize = 1024;
/// Profundidad máxima por omisión de arrays anidados en una respuesta (las órdenes son planas).
pub const DEFAULT_MAX_DEPTH: usize = 8;
/// Longitud máxima por omisión de una línea (orden en línea o cabecera): 64 KiB, como el
/// `PROTO_INLINE_MAX_SIZE` de Redis.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
/// Tamaño máximo por omisión de una orden completa: 4 MiB (acota el buffer de cada cliente).
pub const DEFAULT_MAX_COMMAND: usize = 4 * 1024 * 1024;

/// Los límites que el analizador impone a lo que llega de la red.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes máximos de un bulk.
    pub max_bulk: usize,
    /// Elementos máximos de un array.
    pub max_array: usize,
    /// Profundidad máxima de anidamiento.
    pub max_depth: usize,
    /// Bytes máximos de una línea (sin el terminador).
    pub max_line: usize,
    /// Bytes máximos de una orden completa (suma de sus bulks).
    pub max_command: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bulk: DEFAULT_MAX_BULK,
            max_array: DEFAULT_MAX_ARRAY,
            max_depth: DEFAULT_MAX_DEPTH,
            max_line: DEFAULT_MAX_LINE,
            max_command: DEFAULT_MAX_COMMAND,
        }
    }
}

/// Lo que puede estar mal en un mensaje RESP. Tras uno de estos errores el flujo queda
/// desincronizado: el servidor responde `-ERR Protocol error: ...` y cierra, como Redis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespError {
    /// Una línea pasa del máximo.
    #[error("línea demasiado larga (máximo {max} bytes)")]
    LineTooLong {
        /// El máximo.
        max: usize,
    },
    /// Un bulk declara más bytes de los permitidos.
    #[error("bulk demasiado largo: {len} bytes (máximo {max})")]
    BulkTooLong {
        /// La longitud declarada.
        len: usize,
        /// El máximo.
        max: usize,
    },
    /// Un array declara más elementos de los permitidos.
    #[error("array demasiado largo: {len} elementos (máximo {max})")]
    ArrayTooLong {
        /// Los elementos declarados.
        len: usize,
        /// El máximo.
        max: usize,
    },
    /// La orden entera pasa del máximo.
    #[error("orden demasiado grande (máximo {max} bytes)")]
    CommandTooLarge {
        /// El máximo.
        max: usize,
    },
    /// Arrays anidados más allá del máximo.
    #[error("anidamiento demasiado profundo (máximo {max})")]
    TooDeep {
        /// El máximo.
        max: usize,
    },
    /// Una longitud o un entero que no es un número válido.
    #[error("número no válido: {0:?}")]
    InvalidNumber(String),
    /// Un byte de tipo desconocido, o un bulk donde se esperaba otra cosa.
    #[error("se esperaba {expected}, llegó el byte {found:?}")]
    Unexpected {
        /// Qué se esperaba.
        expected: &'static str,
        /// El byte recibido (como carácter, para el mensaje).
        found: char,
    },
    /// Falta el `\r\n` tras un bulk o una cabecera.
    #[error("falta el \\r\\n")]
    MissingCrlf,
    /// Comillas sin cerrar en una orden en línea.
    #[error("comillas sin cerrar en la orden")]
    UnbalancedQuotes,
}

impl From<LineError> for RespError {
    fn from(e: LineError) -> Self {
        match e {
            LineError::TooLong { max } => RespError::LineTooLong { max },
            // `parse_line` solo devuelve `TooLong`; cualquier otro caso lo tratamos igual.
            _ => RespError::LineTooLong { max: 0 },
        }
    }
}

/// Un valor RESP2 (lo que el servidor responde y lo que `cliente` lee).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+texto\r\n`
    Simple(String),
    /// `-texto\r\n`
    Error(String),
    /// `:n\r\n`
    Integer(i64),
    /// `$n\r\n...\r\n`
    Bulk(Vec<u8>),
    /// `$-1\r\n` (la respuesta de `GET` a una clave que no existe)
    Null,
    /// `*n\r\n` seguido de n valores
    Array(Vec<Value>),
    /// `*-1\r\n`
    NullArray,
}

impl Value {
    /// Un `+OK`.
    pub fn ok() -> Self {
        Value::Simple("OK".into())
    }

    /// Un error con el texto dado (que debería empezar por un código: `ERR`, `NOQUORUM`...).
    pub fn error(text: impl Into<String>) -> Self {
        Value::Error(text.into())
    }

    /// Un bulk con estos bytes.
    pub fn bulk(bytes: impl Into<Vec<u8>>) -> Self {
        Value::Bulk(bytes.into())
    }
}

/// Codifica un valor al final de `out`. Es el inverso de [`parse_value`].
///
/// Los textos de `Simple` y `Error` no pueden llevar `\r` ni `\n`: se sustituyen por espacios
/// para que la respuesta siga siendo una sola línea.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Simple(s) => {
            out.push(b'+');
            push_line_text(s, out);
        }
        Value::Error(s) => {
            out.push(b'-');
            push_line_text(s, out);
        }
        Value::Integer(n) => {
            out.push(b':');
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Value::Bulk(b) => {
            out.push(b'$');
            out.extend_from_slice(b.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Value::Null => out.extend_from_slice(b"$-1\r\n"),
        Value::NullArray => out.extend_from_slice(b"*-1\r\n"),
        Value::Array(items) => {
            out.push(b'*');
            out.extend_from_slice(items.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            for item in items {
                encode(item, out);
            }
        }
    }
}

fn push_line_text(s: &str, out: &mut Vec<u8>) {
    out.extend(
        s.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Codifica una orden como array de bulks (lo que envían `redis-cli` y `cliente`).
///
/// ```
/// use problema9::resp::encode_command;
/// assert_eq!(encode_command(&["GET", "a"]), b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
/// ```
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let value = Value::Array(args.iter().map(|a| Value::bulk(a.as_ref())).collect());
    let mut out = Vec::new();
    encode(&value, &mut out);
    out
}

/// Analiza una orden del cliente: un array de bulks si empieza por `*`, o una orden en línea
/// en otro caso. Devuelve los argumentos (el primero es el nombre de la orden).
///
/// Una línea vacía en modo en línea devuelve una orden sin argumentos, que el servidor
/// ignora (como Redis).
///
/// ```
/// use common::Parsed;
/// use problema9::resp::{parse_command, Limits};
/// let limits = Limits::default();
/// let parsed = parse_command(b"*1\r\n$4\r\nPING\r\n", &limits).unwrap();
/// assert_eq!(parsed, Parsed::Complete { value: vec![b"PING".to_vec()], consumed: 14 });
/// let parsed = parse_command(b"SET a \"hola mundo\"\r\n", &limits).unwrap();
/// assert_eq!(parsed, Parsed::Complete {
///     value: vec![b"SET".to_vec(), b"a".to_vec(), b"hola mundo".to_vec()],
///     consumed: 20,
/// });
/// assert_eq!(parse_command(b"*1\r\n$4\r\nPI", &limits).unwrap(), Parsed::Incomplete);
/// ```
///
/// # Errores
/// [`RespError`] si el mensaje está mal formado o pasa algún límite.
pub fn parse_command(buf: &[u8], limits: &Limits) -> Result<Parsed<Vec<Vec<u8>>>, RespError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'*') => parse_multibulk(buf, limits),
        Some(_) => {
            let (line, consumed) = match parse_line(buf, limits.max_line)? {
                Parsed::Complete { value, consumed } => (value, consumed),
                Parsed::Incomplete => return Ok(Parsed::Incomplete),
            };
            let args = split_inline(line)?;
            if args.len() > limits.max_array {
                return Err(RespError::ArrayTooLong {
                    len: args.len(),
                    max: limits.max_array,
                });
            }
            Ok(Parsed::Complete {
                value: args,
                consumed,
            })
        }
    }
}

/// Lee una cabecera `<tipo><número>\r\n` a partir de `pos`. Devuelve el número y la posición
/// siguiente, o `None` si faltan bytes.
fn parse_header(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<Option<(i64, usize)>, RespError> {
    let rest = buf.get(pos + 1..).unwrap_or_default();
    let (line, consumed) = match parse_crlf_line(rest, limits.max_line)? {
        Some(pair) => pair,
        None => return Ok(None),
    };
    Ok(Some((parse_int(line)?, pos + 1 + consumed)))
}

/// Una línea que debe terminar en `\r\n` (en RESP, a diferencia del modo en línea, el `\r` es
/// obligatorio).
fn parse_crlf_line(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, RespError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(pos) => {
            let line = buf.get(..pos).unwrap_or_default();
            let line = line.strip_suffix(b"\r").ok_or(RespError::MissingCrlf)?;
            if line.len() > max {
                return Err(RespError::LineTooLong { max });
            }
            Ok(Some((line, pos + 1)))
        }
        None if buf.len() > max.saturating_add(1) => Err(RespError::LineTooLong { max }),
        None => Ok(None),
    }
}

fn parse_int(line: &[u8]) -> Result<i64, RespError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| RespError::InvalidNumber(String::from_utf8_lossy(line).into_owned()))?;
    // `i64::from_str` admite un `+` inicial; RESP no.
    if text.is_empty() || text.starts_with('+') {
        return Err(RespError::InvalidNumber(text.to_string()));
    }
    text.parse::<i64>()
        .map_err(|_| RespError::InvalidNumber(text.to_string()))
}

fn parse_multibulk(buf: &[u8], limits: &Limits) -> Result<Parsed<Vec<Vec<u8>>>, RespError> {
    let Some((count, mut pos)) = parse_header(buf, 0, limits)? else {
        return Ok(Parsed::Incomplete);
    };
    if count <= 0 {
        // `*0` y `*-1` son órdenes vacías: se ignoran.
        return Ok(Parsed::Complete {
            value: Vec::new(),
            consumed: pos,
        });
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > limits.max_array {
        return Err(RespError::ArrayTooLong {
            len: count,
            max: limits.max_array,
        });
    }
    let mut args = Vec::with_capacity(count);
    let mut total: usize = 0;
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(Parsed::Incomplete),
            Some(b'$') => {}
            Some(&other) => {
                return Err(RespError::Unexpected {
                    expected: "'$'",
                    found: char::from(other),
                })
            }
        }
        let Some((bulk, next)) = parse_bulk_body(buf, pos, limits)? else {
            return Ok(Parsed::Incomplete);
        };
        let Some(bulk) = bulk else {
            return Err(RespError::InvalidNumber("-1".into()));
        };
        total = total.saturating_add(bulk.len());
        if total > limits.max_command {
            return Err(RespError::CommandTooLarge {
                max: limits.max_command,
            });
        }
        args.push(bulk);
        pos = next;
    }
    Ok(Parsed::Complete {
        value: args,
        consumed: pos,
    })
}

/// Lee `$n\r\n<n bytes>\r\n` empezando en `pos` (que apunta al `$`). `Some((None, _))` es
/// el bulk nulo `$-1`.
#[allow(clippy::type_complexity)]
fn parse_bulk_body(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<Option<(Option<Vec<u8>>, usize)>, RespError> {
    let Some((len, start)) = parse_header(buf, pos, limits)? else {
        return Ok(None);
    };
    if len == -1 {
        return Ok(Some((None, start)));
    }
    let len = usize::try_from(len).map_err(|_| RespError::InvalidNumber(len.to_string()))?;
    if len > limits.max_bulk {
        return Err(RespError::BulkTooLong {
            len,
            max: limits.max_bulk,
        });
    }
    let end = start.saturating_add(len);
    let Some(tail) = buf.get(end..end.saturating_add(2)) else {
        return Ok(None);
    };
    if tail != b"\r\n" {
        return Err(RespError::MissingCrlf);
    }
    let body = buf.get(start..end).unwrap_or_default().to_vec();
    Ok(Some((Some(body), end.saturating_add(2))))
}

/// Analiza un valor RESP2 cualquiera (lo que lee un cliente). El inverso de [`encode`].
///
/// ```
/// use common::Parsed;
/// use problema9::resp::{parse_value, Limits, Value};
/// let parsed = parse_value(b"$-1\r\n", &Limits::default()).unwrap();
/// assert_eq!(parsed, Parsed::Complete { value: Value::Null, consumed: 5 });
/// ```
///
/// # Errores
/// [`RespError`] si el mensaje está mal formado o pasa algún límite.
pub fn parse_value(buf: &[u8], limits: &Limits) -> Result<Parsed<Value>, RespError> {
    Ok(match parse_value_at(buf, 0, limits, 0)? {
        Some((value, consumed)) => Parsed::Complete { value, consumed },
        None => Parsed::Incomplete,
    })
}

fn parse_value_at(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
    depth: usize,
) -> Result<Option<(Value, usize)>, RespError> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    match kind {
        b'+' | b'-' => {
            let rest = buf.get(pos + 1..).unwrap_or_default();
            let Some((line, consumed)) = parse_crlf_line(rest, limits.max_line)? else {
                return Ok(None);
            };
            // Una cadena simple o un error no pueden llevar `\r` ni `\n` (RESP2): un `\r`
            // suelto es un mensaje mal formado, no parte del texto (regresión de fuzzing: el
            // codificador lo cambiaba por un espacio y la ida y vuelta no coincidía).
            if line.contains(&b'\r') {
                return Err(RespError::MissingCrlf);
            }
            let text = String::from_utf8_lossy(line).into_owned();
            let value = if kind == b'+' {
                Value::Simple(text)
            } else {
                Value::Error(text)
            };
            Ok(Some((value, pos + 1 + consumed)))
        }
        b':' => Ok(parse_header(buf, pos, limits)?.map(|(n, next)| (Value::Integer(n), next))),
        b'$' => Ok(parse_bulk_body(buf, pos, limits)?
            .map(|(bulk, next)| (bulk.map(Value::Bulk).unwrap_or(Value::Null), next))),
        b'*' => {
            if depth >= limits.max_depth {
                return Err(RespError::TooDeep {
                    max: limits.max_depth,
                });
            }
            let Some((count, mut next)) = parse_header(buf, pos, limits)? else {
                return Ok(None);
            };
            if count == -1 {
                return Ok(Some((Value::NullArray, next)));
            }
            let count =
                usize::try_from(count).map_err(|_| RespError::InvalidNumber(count.to_string()))?;
            if count > limits.max_array {
                return Err(RespError::ArrayTooLong {
                    len: count,
                    max: limits.max_array,
                });
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                let Some((item, after)) = parse_value_at(buf, next, limits, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                next = after;
            }
            Ok(Some((Value::Array(items), next)))
        }
        other => Err(RespError::Unexpected {
            expected: "un tipo RESP (+ - : $ *)",
            found: char::from(other),
        }),
    }
}

/// Separa una orden en línea en argumentos, como `sdssplitargs` de Redis: espacios como
/// separadores, comillas dobles con escapes (`\n`, `\r`, `\t`, `\\`, `\"`, `\xHH`) y comillas
/// simples (solo `\'`). Tras una comilla de cierre debe venir un espacio o el final.
///
/// ```
/// use problema9::resp::split_inline;
/// assert_eq!(split_inline(b"SET k 'a b'").unwrap(), vec![b"SET".to_vec(), b"k".to_vec(), b"a b".to_vec()]);
/// assert!(split_inline(b"SET k \"sin cerrar").is_err());
/// ```
///
/// # Errores
/// [`RespError::UnbalancedQuotes`] si unas comillas no se cierran o les sigue otra cosa.
pub fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, RespError> {
    let mut args = Vec::new();
    let mut i = 0;
    let at = |i: usize| line.get(i).copied();
    loop {
        while at(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        let Some(first) = at(i) else {
            return Ok(args);
        };
        let mut current = Vec::new();
        match first {
            b'"' => {
                i += 1;
                loop {
                    match at(i) {
                        None => return Err(RespError::UnbalancedQuotes),
                        Some(b'\\') => {
                            let (byte, used) = match (at(i + 1), at(i + 2), at(i + 3)) {
                                (Some(b'x'), Some(h), Some(l))
                                    if hex(h).is_some() && hex(l).is_some() =>
                                {
                                    (hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0), 4)
                                }
                                (Some(b'n'), _, _) => (b'\n', 2),
                                (Some(b'r'), _, _) => (b'\r', 2),
                                (Some(b't'), _, _) => (b'\t', 2),
                                (Some(b'b'), _, _) => (8, 2),
                                (Some(b'a'), _, _) => (7, 2),
                                (Some(c), _, _) => (c, 2),
                                (None, _, _) => return Err(RespError::UnbalancedQuotes),
                            };
                            current.push(byte);
                            i += used;
                        }
                        Some(b'"') => {
                            i += 1;
                            if at(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                                return Err(RespError::UnbalancedQuotes);
                            }
                            break;
                        }
                        Some(b) => {
                            current.push(b);
                            i += 1;
                        }
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    match at(i) {
                        None => return Err(RespError::UnbalancedQuotes),
                        Some(b'\\') if at(i + 1) == Some(b'\'') => {
                            current.push(b'\'');
                            i += 2;
                        }
                        Some(b'\'') => {
                            i += 1;
                            if at(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                                return Err(RespError::UnbalancedQuotes);
                            }
                            break;
                        }
                        Some(b) => {
                            current.push(b);
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                while let Some(b) = at(i) {
                    if b.is_ascii_whitespace() {
                        break;
                    }
                    current.push(b);
                    i += 1;
                }
            }
        }
        args.push(current);
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small() -> Limits {
        Limits {
            max_bulk: 5,
            max_array: 3,
            max_depth: 2,
            max_line: 16,
            max_command: 12,
        }
    }

    fn complete(buf: &[u8]) -> (Vec<Vec<u8>>, usize) {
        match parse_command(buf, &Limits::default()).unwrap() {
            Parsed::Complete { value, consumed } => (value, consumed),
            Parsed::Incomplete => panic!("incompleto: {buf:?}"),
        }
    }

    #[test]
    fn every_prefix_of_a_command_is_incomplete() {
        let msg = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$4\r\nhola\r\n";
        for n in 0..msg.len() {
            assert_eq!(
                parse_command(&msg[..n], &Limits::default()).unwrap(),
                Parsed::Incomplete,
                "prefijo de {n} bytes"
            );
        }
        let (args, consumed) = complete(msg);
        assert_eq!(args, vec![b"SET".to_vec(), b"a".to_vec(), b"hola".to_vec()]);
        assert_eq!(consumed, msg.len());
    }

    #[test]
    fn pipelined_commands_consume_only_the_first() {
        let (args, consumed) = complete(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(args, vec![b"PING".to_vec()]);
        assert_eq!(consumed, 14);
    }

    #[test]
    fn binary_bulk_with_crlf_inside_is_kept() {
        let (args, _) = complete(b"*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n");
        assert_eq!(args[1], b"a\r\nb");
    }

    #[test]
    fn bulk_at_limit_is_accepted_and_one_past_is_refused() {
        let l = small();
        assert!(matches!(
            parse_command(b"*1\r\n$5\r\nabcde\r\n", &l).unwrap(),
            Parsed::Complete { .. }
        ));
        assert_eq!(
            parse_command(b"*1\r\n$6\r\n", &l),
            Err(RespError::BulkTooLong { len: 6, max: 5 })
        );
    }

    #[test]
    fn array_at_limit_is_accepted_and_one_past_is_refused() {
        let l = small();
        assert!(matches!(
            parse_command(b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", &l).unwrap(),
            Parsed::Complete { .. }
        ));
        assert_eq!(
            parse_command(b"*4\r\n", &l),
            Err(RespError::ArrayTooLong { len: 4, max: 3 })
        );
        assert_eq!(
            parse_command(b"a b c d\r\n", &l),
            Err(RespError::ArrayTooLong { len: 4, max: 3 })
        );
    }

    #[test]
    fn command_total_size_is_bounded() {
        let l = small();
        assert_eq!(
            parse_command(b"*3\r\n$5\r\naaaaa\r\n$5\r\nbbbbb\r\n$5\r\nccccc\r\n", &l),
            Err(RespError::CommandTooLarge { max: 12 })
        );
    }

    #[test]
    fn inline_line_at_limit_is_accepted_and_one_past_is_refused() {
        let l = small();
        let ok = format!("{}\r\n", "a".repeat(16));
        assert!(matches!(
            parse_command(ok.as_bytes(), &l).unwrap(),
            Parsed::Complete { .. }
        ));
        let long = "a".repeat(18);
        assert_eq!(
            parse_command(long.as_bytes(), &l),
            Err(RespError::LineTooLong { max: 16 })
        );
    }

    #[test]
    fn bad_lengths_and_types_are_errors() {
        let d = Limits::default();
        assert!(matches!(
            parse_command(b"*x\r\n", &d),
            Err(RespError::InvalidNumber(_))
        ));
        assert!(matches!(
            parse_command(b"*+1\r\n", &d),
            Err(RespError::InvalidNumber(_))
        ));
        assert!(matches!(
            parse_command(b"*1\r\n$-5\r\n", &d),
            Err(RespError::InvalidNumber(_))
        ));
        assert!(matches!(
            parse_command(b"*1\r\n:3\r\n", &d),
            Err(RespError::Unexpected { .. })
        ));
        assert_eq!(
            parse_command(b"*1\r\n$1\r\nab\r\n", &d),
            Err(RespError::MissingCrlf)
        );
        assert_eq!(parse_command(b"*1\n", &d), Err(RespError::MissingCrlf));
        assert!(matches!(
            parse_command(b"*99999999999999999999\r\n", &d),
            Err(RespError::InvalidNumber(_))
        ));
    }

    #[test]
    fn empty_arrays_and_blank_lines_are_empty_commands() {
        assert_eq!(complete(b"*0\r\n"), (vec![], 4));
        assert_eq!(complete(b"\r\n"), (vec![], 2));
        assert_eq!(complete(b"   \n"), (vec![], 4));
    }

    #[test]
    fn inline_commands_accept_lf_and_quotes() {
        assert_eq!(complete(b"PING\n").0, vec![b"PING".to_vec()]);
        assert_eq!(
            complete(b"SET k \"a\\x41\\n\"\r\n").0,
            vec![b"SET".to_vec(), b"k".to_vec(), b"aA\n".to_vec()]
        );
        assert_eq!(split_inline(b"'it\\'s'").unwrap(), vec![b"it's".to_vec()]);
        assert_eq!(split_inline(b"\"a\"b"), Err(RespError::UnbalancedQuotes));
        assert_eq!(split_inline(b"\"a\\"), Err(RespError::UnbalancedQuotes));
        assert_eq!(split_inline(b"'a"), Err(RespError::UnbalancedQuotes));
    }

    #[test]
    fn nesting_deeper_than_limit_is_refused() {
        let l = small();
        assert!(matches!(
            parse_value(b"*1\r\n*1\r\n:1\r\n", &l).unwrap(),
            Parsed::Complete { .. }
        ));
        assert_eq!(
            parse_value(b"*1\r\n*1\r\n*1\r\n:1\r\n", &l),
            Err(RespError::TooDeep { max: 2 })
        );
    }

    #[test]
    fn encoder_writes_exact_bytes() {
        let mut out = Vec::new();
        encode(
            &Value::Array(vec![
                Value::ok(),
                Value::error("ERR mal\r\nhecho"),
                Value::Integer(-3),
                Value::bulk("x"),
                Value::Null,
                Value::NullArray,
            ]),
            &mut out,
        );
        assert_eq!(
            out,
            b"*6\r\n+OK\r\n-ERR mal  hecho\r\n:-3\r\n$1\r\nx\r\n$-1\r\n*-1\r\n"
        );
    }

    fn value_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            "[a-zA-Z0-9 ]{0,10}".prop_map(Value::Simple),
            "[a-zA-Z0-9 ]{0,10}".prop_map(Value::Error),
            any::<i64>().prop_map(Value::Integer),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Bulk),
            Just(Value::Null),
            Just(Value::NullArray),
        ];
        leaf.prop_recursive(3, 20, 5, |inner| {
            proptest::collection::vec(inner, 0..5).prop_map(Value::Array)
        })
    }

    proptest! {
        #[test]
        fn parse_of_encode_is_identity(value in value_strategy()) {
            let mut out = Vec::new();
            encode(&value, &mut out);
            let parsed = parse_value(&out, &Limits::default()).unwrap();
            prop_assert_eq!(parsed, Parsed::Complete { value, consumed: out.len() });
        }

        #[test]
        fn command_round_trip(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 1..6)) {
            let bytes = encode_command(&args);
            let parsed = parse_command(&bytes, &Limits::default()).unwrap();
            prop_assert_eq!(parsed, Parsed::Complete { value: args, consumed: bytes.len() });
        }

        #[test]
        fn arbitrary_bytes_never_panic_nor_exceed_limits(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let l = small();
            if let Ok(Parsed::Complete { value, consumed }) = parse_command(&bytes, &l) {
                prop_assert!(consumed <= bytes.len());
                prop_assert!(value.len() <= l.max_array);
                prop_assert!(value.iter().all(|a| a.len() <= l.max_bulk.max(l.max_line)));
            }
            let _ = parse_value(&bytes, &l);
        }
    }
}
