//! Lectura de cabeceras desde un `BufRead` con límites, y escritura de cabeceras.

use std::io::{self, BufRead, Write};

use super::head::{parse_request_head, parse_response_head, RequestHead, ResponseHead};
use super::{HttpError, Limits};
use crate::net::is_timeout;
use crate::Parsed;

/// Lee la cabecera de la siguiente petición de `reader`, consumiendo exactamente sus bytes
/// (lo que sigue, un cuerpo o la siguiente petición en *pipelining*, queda en el buffer).
///
/// Devuelve `Ok(None)` si el flujo terminó antes del primer byte (el cliente cerró entre dos
/// peticiones). Nunca guarda más de [`Limits::max_head_bytes`] bytes: llegar a ese tope sin
/// completar la cabecera es el error del límite correspondiente (414 o 431).
///
/// ```
/// use common::http::{read_request_head, Limits};
/// let mut input: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n";
/// let head = read_request_head(&mut input, &Limits::default()).unwrap().unwrap();
/// assert_eq!(head.target, "/");
/// assert_eq!(input, b"GET /b HTTP/1.1\r\n");
/// ```
///
/// # Errores
/// Los de [`parse_request_head`]; [`HttpError::Timeout`] si vence el tiempo de lectura del
/// socket (con los bytes recibidos: 0 es un cliente inactivo); [`HttpError::UnexpectedEof`]
/// si el flujo se corta a mitad; [`HttpError::Io`] para otros fallos.
pub fn read_request_head(
    reader: &mut impl BufRead,
    limits: &Limits,
) -> Result<Option<RequestHead>, HttpError> {
    read_head(reader, limits, parse_request_head)
}

/// Como [`read_request_head`], para la cabecera de una respuesta.
///
/// # Errores
/// Los de [`parse_response_head`] y los de lectura de [`read_request_head`].
pub fn read_response_head(
    reader: &mut impl BufRead,
    limits: &Limits,
) -> Result<Option<ResponseHead>, HttpError> {
    read_head(reader, limits, parse_response_head)
}

fn read_head<T>(
    reader: &mut impl BufRead,
    limits: &Limits,
    parse: fn(&[u8], &Limits) -> Result<Parsed<T>, HttpError>,
) -> Result<Option<T>, HttpError> {
    let cap = limits.max_head_bytes().saturating_add(1);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                return Err(HttpError::Timeout {
                    received: buf.len(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        if available.is_empty() {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(HttpError::UnexpectedEof)
            };
        }
        // Camino rápido: la cabecera entera llegó de una vez; se analiza sin copiarla.
        if buf.is_empty() {
            match parse(available, limits) {
                Ok(Parsed::Complete { value, consumed }) => {
                    reader.consume(consumed);
                    return Ok(Some(value));
                }
                Ok(Parsed::Incomplete) => {}
                Err(e) => {
                    let n = available.len();
                    reader.consume(n);
                    return Err(e);
                }
            }
        }
        let old = buf.len();
        let take = available.len().min(cap - old);
        buf.extend_from_slice(&available[..take]);
        match parse(&buf, limits)? {
            Parsed::Complete { value, consumed } => {
                // Solo se consume del lector lo que pertenece a esta cabecera.
                reader.consume(consumed.saturating_sub(old));
                return Ok(Some(value));
            }
            Parsed::Incomplete => {
                reader.consume(take);
                if buf.len() >= cap {
                    // No debería ocurrir: el analizador ya habría dado el error del límite.
                    return Err(HttpError::HeadersTooLarge {
                        max: limits.max_header_bytes,
                    });
                }
            }
        }
    }
}

/// Escribe la cabecera de una respuesta en una sola llamada a `write_all`.
///
/// # Errores
/// Los de escritura.
pub fn write_response_head(w: &mut impl Write, head: &ResponseHead) -> io::Result<()> {
    let mut out = Vec::with_capacity(256);
    head.encode(&mut out);
    w.write_all(&out)
}

/// Escribe la cabecera de una petición en una sola llamada a `write_all`.
///
/// # Errores
/// Los de escritura.
pub fn write_request_head(w: &mut impl Write, head: &RequestHead) -> io::Result<()> {
    let mut out = Vec::with_capacity(256);
    head.encode(&mut out);
    w.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    /// Un lector que entrega los bytes de uno en uno y luego un tiempo agotado.
    struct Trickle<'a> {
        data: &'a [u8],
        then_timeout: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match self.data.split_first() {
                Some((b, rest)) if !out.is_empty() => {
                    out[0] = *b;
                    self.data = rest;
                    Ok(1)
                }
                _ if self.then_timeout => Err(io::ErrorKind::WouldBlock.into()),
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn byte_by_byte_reading_leaves_the_next_request_intact() {
        let data = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut r = BufReader::new(Trickle {
            data,
            then_timeout: false,
        });
        let l = Limits::default();
        assert_eq!(read_request_head(&mut r, &l).unwrap().unwrap().target, "/a");
        assert_eq!(read_request_head(&mut r, &l).unwrap().unwrap().target, "/b");
        assert!(read_request_head(&mut r, &l).unwrap().is_none());
    }

    #[test]
    fn small_buffer_reading_keeps_body_bytes() {
        let data = b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET";
        for cap in 1..data.len() + 2 {
            let mut r = BufReader::with_capacity(cap, &data[..]);
            let h = read_request_head(&mut r, &Limits::default())
                .unwrap()
                .unwrap();
            assert_eq!(h.method, "POST");
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, b"bodyGET", "capacidad {cap}");
        }
    }

    #[test]
    fn timeout_reports_received_bytes() {
        let mut idle = BufReader::new(Trickle {
            data: b"",
            then_timeout: true,
        });
        let e = read_request_head(&mut idle, &Limits::default()).unwrap_err();
        assert!(matches!(e, HttpError::Timeout { received: 0 }));
        let mut slow = BufReader::new(Trickle {
            data: b"GET / HT",
            then_timeout: true,
        });
        let e = read_request_head(&mut slow, &Limits::default()).unwrap_err();
        assert!(matches!(e, HttpError::Timeout { received: 8 }));
        assert_eq!(e.status(), 408);
    }

    #[test]
    fn truncated_head_is_unexpected_eof() {
        let mut r: &[u8] = b"GET / HTTP/1.1\r\nHost";
        assert!(matches!(
            read_request_head(&mut r, &Limits::default()),
            Err(HttpError::UnexpectedEof)
        ));
    }

    #[test]
    fn endless_header_stops_at_the_cap() {
        // Un flujo infinito de cabeceras: debe parar con 431 sin leerlo entero.
        let limits = Limits {
            max_start_line: 100,
            max_header_bytes: 1000,
            max_headers: 1000,
        };
        let mut endless = io::BufReader::new(b"GET / HTTP/1.1\r\n".chain(io::repeat(b'a')));
        let e = read_request_head(&mut endless, &limits).unwrap_err();
        assert!(matches!(e, HttpError::HeadersTooLarge { max: 1000 }));
        let mut endless_line = io::BufReader::new(io::repeat(b'a'));
        let e = read_request_head(&mut endless_line, &limits).unwrap_err();
        assert!(matches!(e, HttpError::StartLineTooLong { max: 100 }));
        // Exactamente en el tope: cabe.
        let mut exact = b"GET / HTTP/1.1\r\n".to_vec();
        let pad = 1000 - 2 - 2 - 3; // "X: " + valor + CRLF + CRLF final
        exact.extend_from_slice(b"X: ");
        exact.extend(std::iter::repeat(b'v').take(pad));
        exact.extend_from_slice(b"\r\n\r\n");
        let mut r = BufReader::with_capacity(64, &exact[..]);
        assert!(read_request_head(&mut r, &limits).unwrap().is_some());
        exact.insert(20, b'v');
        let mut r = BufReader::with_capacity(64, &exact[..]);
        assert!(matches!(
            read_request_head(&mut r, &limits),
            Err(HttpError::HeadersTooLarge { .. })
        ));
    }

    #[test]
    fn writers_emit_encoded_heads() {
        let mut out = Vec::new();
        write_response_head(&mut out, &ResponseHead::new(200)).unwrap();
        assert_eq!(out, b"HTTP/1.1 200 OK\r\n\r\n");
        out.clear();
        write_request_head(
            &mut out,
            &RequestHead::new("HEAD", "/", super::super::Version::Http11),
        )
        .unwrap();
        assert_eq!(out, b"HEAD / HTTP/1.1\r\n\r\n");
    }
}
