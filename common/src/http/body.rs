//! Cuerpos de mensaje: cómo se delimitan (RFC 9112 §6) y los lectores y escritores que
//! respetan esa delimitación sin guardar el cuerpo en memoria.

use std::io::{self, BufRead, Read, Write};

use super::head::{parse_field_line, Headers, RequestHead};
use super::HttpError;
use crate::line::RawEnd;

/// Cómo termina el cuerpo de un mensaje.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Sin cuerpo (también `Content-Length: 0`).
    None,
    /// Exactamente estos bytes (`Content-Length`, mayor que cero).
    Length(u64),
    /// Codificación `chunked`: trozos con su tamaño y un trozo vacío final.
    Chunked,
    /// Hasta que el servidor cierre la conexión (solo en respuestas).
    CloseDelimited,
}

/// Límites del lector `chunked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Dígitos hexadecimales máximos del tamaño de trozo: 16 caben en un `u64`.
    pub max_size_digits: usize,
    /// Bytes máximos de las extensiones de un trozo (`;nombre=valor`).
    pub max_extension_bytes: usize,
    /// Bytes máximos de todos los trailers, con sus CRLF y la línea vacía final.
    pub max_trailer_bytes: usize,
}

/// Dígitos del tamaño de trozo por omisión: 16, el máximo que cabe en `u64` (httparse igual).
pub const DEFAULT_MAX_CHUNK_SIZE_DIGITS: usize = 16;
/// Bytes de extensiones de trozo por omisión: 1 KiB (nadie las usa; solo hay que saltarlas).
pub const DEFAULT_MAX_CHUNK_EXTENSION: usize = 1024;
/// Bytes de trailers por omisión: 8 KiB.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 8 * 1024;

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_size_digits: DEFAULT_MAX_CHUNK_SIZE_DIGITS,
            max_extension_bytes: DEFAULT_MAX_CHUNK_EXTENSION,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
        }
    }
}

/// Las codificaciones de `Transfer-Encoding`, en minúsculas y en orden; `None` si no hay
/// cabecera.
fn transfer_codings(headers: &Headers) -> Option<Vec<String>> {
    if !headers.contains("transfer-encoding") {
        return None;
    }
    Some(
        headers
            .get_all("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect(),
    )
}

/// El valor de `Content-Length`, con las reglas de RFC 9112 §6.3: varios valores iguales
/// (en una lista o en varias líneas) valen como uno; distintos o no numéricos son error.
fn content_length(headers: &Headers) -> Result<Option<u64>, HttpError> {
    let mut found: Option<u64> = None;
    for raw in headers.get_all("content-length") {
        for item in raw.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::InvalidContentLength);
            }
            let n: u64 = item.parse().map_err(|_| HttpError::InvalidContentLength)?;
            match found {
                Some(prev) if prev != n => return Err(HttpError::ConflictingContentLength),
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// Cómo se delimita el cuerpo de una petición (RFC 9112 §6.3).
///
/// ```
/// use common::http::{request_body_kind, BodyKind, RequestHead, Version};
/// let mut h = RequestHead::new("POST", "/", Version::Http11);
/// h.headers.push("Content-Length", "5");
/// assert_eq!(request_body_kind(&h).unwrap(), BodyKind::Length(5));
/// h.headers.push("Transfer-Encoding", "chunked");
/// assert!(request_body_kind(&h).is_err()); // contrabando: las dos a la vez
/// ```
///
/// # Errores
/// [`HttpError::LengthAndTransferEncoding`], [`HttpError::InvalidContentLength`],
/// [`HttpError::ConflictingContentLength`], [`HttpError::ChunkedNotFinal`] (400) y
/// [`HttpError::UnsupportedTransferCoding`] (501, como `gzip, chunked`).
pub fn request_body_kind(head: &RequestHead) -> Result<BodyKind, HttpError> {
    let headers = &head.headers;
    if let Some(codings) = transfer_codings(headers) {
        if headers.contains("content-length") {
            return Err(HttpError::LengthAndTransferEncoding);
        }
        let chunked = codings.iter().filter(|c| *c == "chunked").count();
        if codings.last().map(String::as_str) != Some("chunked") || chunked != 1 {
            return Err(HttpError::ChunkedNotFinal);
        }
        if codings.len() > 1 {
            return Err(HttpError::UnsupportedTransferCoding(codings.join(", ")));
        }
        return Ok(BodyKind::Chunked);
    }
    Ok(match content_length(headers)? {
        None | Some(0) => BodyKind::None,
        Some(n) => BodyKind::Length(n),
    })
}

/// Cómo se delimita el cuerpo de una respuesta a una petición con `request_method`
/// (RFC 9112 §6.3): las respuestas a `HEAD`, los 1xx, 204 y 304 y un 2xx a `CONNECT` no
/// tienen cuerpo; `chunked` final manda; si no, `Content-Length`; si no, hasta el cierre.
///
/// ```
/// use common::http::{response_body_kind, BodyKind, Headers};
/// let mut h = Headers::new();
/// h.push("Content-Length", "10");
/// assert_eq!(response_body_kind("GET", 200, &h).unwrap(), BodyKind::Length(10));
/// assert_eq!(response_body_kind("HEAD", 200, &h).unwrap(), BodyKind::None);
/// assert_eq!(response_body_kind("GET", 200, &Headers::new()).unwrap(), BodyKind::CloseDelimited);
/// ```
///
/// # Errores
/// `Content-Length` con `Transfer-Encoding`, o un `Content-Length` inválido o contradictorio.
pub fn response_body_kind(
    request_method: &str,
    status: u16,
    headers: &Headers,
) -> Result<BodyKind, HttpError> {
    if request_method == "HEAD"
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (request_method == "CONNECT" && (200..300).contains(&status))
    {
        return Ok(BodyKind::None);
    }
    if let Some(codings) = transfer_codings(headers) {
        if headers.contains("content-length") {
            return Err(HttpError::LengthAndTransferEncoding);
        }
        return Ok(if codings.last().map(String::as_str) == Some("chunked") {
            BodyKind::Chunked
        } else {
            BodyKind::CloseDelimited
        });
    }
    Ok(match content_length(headers)? {
        Some(0) => BodyKind::None,
        Some(n) => BodyKind::Length(n),
        None => BodyKind::CloseDelimited,
    })
}

/// Lee exactamente `remaining` bytes de `inner` y luego da fin de flujo. Si `inner` se acaba
/// antes, devuelve un error ([`HttpError::UnexpectedEof`] dentro de un `io::Error`): un
/// cuerpo truncado no debe pasar por completo.
#[derive(Debug)]
pub struct LengthReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> LengthReader<R> {
    /// Lector de `length` bytes.
    pub fn new(inner: R, length: u64) -> Self {
        Self {
            inner,
            remaining: length,
        }
    }

    /// Bytes que faltan por leer.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl<R: Read> Read for LengthReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(out.len());
        let got = self.inner.read(&mut out[..want])?;
        if got == 0 {
            return Err(HttpError::UnexpectedEof.into_io());
        }
        self.remaining -= got as u64;
        Ok(got)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Done,
}

/// Decodifica un cuerpo `chunked` de un `BufRead` a medida que se lee, con memoria fija.
///
/// Da fin de flujo tras el trozo vacío y los trailers (que quedan en [`ChunkedReader::trailers`]),
/// dejando el flujo justo al principio del siguiente mensaje.
///
/// ```
/// use std::io::Read;
/// use common::http::{ChunkedReader, ChunkLimits};
/// let mut input: &[u8] = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nsiguiente";
/// let mut body = String::new();
/// let mut r = ChunkedReader::new(&mut input, ChunkLimits::default());
/// r.read_to_string(&mut body).unwrap();
/// assert_eq!(body, "Wikipedia");
/// assert_eq!(r.trailers().get("x-t"), Some("1"));
/// assert_eq!(input, b"siguiente");
/// ```
///
/// # Errores
/// Dentro de `io::Error` de tipo `InvalidData` (véase [`HttpError::from_io`]):
/// [`HttpError::InvalidChunkSize`], [`HttpError::ChunkSizeTooLong`],
/// [`HttpError::ChunkExtensionTooLong`], [`HttpError::TrailersTooLarge`],
/// [`HttpError::MissingChunkCrlf`], [`HttpError::InvalidLineEnding`] y
/// [`HttpError::UnexpectedEof`].
#[derive(Debug)]
pub struct ChunkedReader<R> {
    inner: R,
    limits: ChunkLimits,
    state: ChunkState,
    trailers: Headers,
    line: Vec<u8>,
}

impl<R: BufRead> ChunkedReader<R> {
    /// Lector sobre `inner` con los límites dados.
    pub fn new(inner: R, limits: ChunkLimits) -> Self {
        Self {
            inner,
            limits,
            state: ChunkState::Size,
            trailers: Headers::new(),
            line: Vec::new(),
        }
    }

    /// Los trailers recibidos (vacío hasta llegar al final del cuerpo).
    pub fn trailers(&self) -> &Headers {
        &self.trailers
    }

    /// ¿Se leyó ya el trozo final y los trailers?
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    fn read_size(&mut self) -> Result<u64, HttpError> {
        let digits_max = self.limits.max_size_digits;
        let max = digits_max.saturating_add(self.limits.max_extension_bytes);
        read_crlf_line(&mut self.inner, &mut self.line, max, |partial| {
            let digits = partial.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            if digits > digits_max {
                HttpError::ChunkSizeTooLong { max: digits_max }
            } else {
                HttpError::ChunkExtensionTooLong {
                    max: self.limits.max_extension_bytes,
                }
            }
        })?;
        let line = &self.line;
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(HttpError::InvalidChunkSize);
        }
        if digits > digits_max || digits > 16 {
            return Err(HttpError::ChunkSizeTooLong { max: digits_max });
        }
        let rest = &line[digits..];
        if rest.len() > self.limits.max_extension_bytes {
            return Err(HttpError::ChunkExtensionTooLong {
                max: self.limits.max_extension_bytes,
            });
        }
        let ext = rest
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .map_or(&b""[..], |i| &rest[i..]);
        let ext_ok = ext.is_empty()
            || (ext.first() == Some(&b';')
                && ext
                    .iter()
                    .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80));
        if !ext_ok || (ext.is_empty() && !rest.is_empty()) {
            return Err(HttpError::InvalidChunkSize);
        }
        let mut size: u64 = 0;
        for &d in &line[..digits] {
            // Como mucho 16 dígitos: no desborda.
            let v = (d as char).to_digit(16).unwrap_or(0);
            size = (size << 4) | u64::from(v);
        }
        Ok(size)
    }

    fn read_trailers(&mut self) -> Result<(), HttpError> {
        let max = self.limits.max_trailer_bytes;
        let mut used = 0usize;
        loop {
            let budget = max.saturating_sub(used).saturating_sub(2);
            read_crlf_line(&mut self.inner, &mut self.line, budget, |_| {
                HttpError::TrailersTooLarge { max }
            })?;
            used += self.line.len() + 2;
            if used > max {
                return Err(HttpError::TrailersTooLarge { max });
            }
            if self.line.is_empty() {
                return Ok(());
            }
            let (name, value) = parse_field_line(&self.line)?;
            self.trailers.push(name, value);
        }
    }

    fn step(&mut self, out: &mut [u8]) -> Result<usize, HttpError> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(0),
                ChunkState::Size => {
                    let size = self.read_size()?;
                    if size == 0 {
                        self.read_trailers()?;
                        self.state = ChunkState::Done;
                    } else {
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::DataEnd => {
                    read_crlf_line(&mut self.inner, &mut self.line, 0, |_| {
                        HttpError::MissingChunkCrlf
                    })?;
                    self.state = ChunkState::Size;
                }
                ChunkState::Data(remaining) => {
                    let want = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(out.len());
                    let got = loop {
                        match self.inner.read(&mut out[..want]) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            other => break other?,
                        }
                    };
                    if got == 0 {
                        return Err(HttpError::UnexpectedEof);
                    }
                    let left = remaining - got as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(got);
                }
            }
        }
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        self.step(out).map_err(HttpError::into_io)
    }
}

/// Lee una línea terminada en CRLF estricto en `buf` (sin el terminador), de como mucho
/// `max` bytes. `too_long` construye el error a partir de lo leído si se pasa.
fn read_crlf_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
    too_long: impl FnOnce(&[u8]) -> HttpError,
) -> Result<(), HttpError> {
    buf.clear();
    match crate::line::fill_line(reader, buf, max)? {
        RawEnd::Eof => Err(HttpError::UnexpectedEof),
        RawEnd::TooLong => Err(too_long(buf)),
        RawEnd::Newline => {
            if buf.pop() != Some(b'\r') || buf.contains(&b'\r') {
                return Err(HttpError::InvalidLineEnding);
            }
            Ok(())
        }
    }
}

/// El lector de cuerpo que corresponde a un [`BodyKind`]: da fin de flujo al terminar el
/// cuerpo y deja la conexión lista para el siguiente mensaje.
#[derive(Debug)]
pub enum BodyReader<R> {
    /// Sin cuerpo: fin de flujo inmediato.
    Empty,
    /// `Content-Length`.
    Length(LengthReader<R>),
    /// `chunked`.
    Chunked(ChunkedReader<R>),
    /// Hasta el cierre de la conexión.
    Close(R),
}

impl<R: BufRead> BodyReader<R> {
    /// Elige el lector según `kind`.
    pub fn new(inner: R, kind: BodyKind, limits: ChunkLimits) -> Self {
        match kind {
            BodyKind::None => BodyReader::Empty,
            BodyKind::Length(n) => BodyReader::Length(LengthReader::new(inner, n)),
            BodyKind::Chunked => BodyReader::Chunked(ChunkedReader::new(inner, limits)),
            BodyKind::CloseDelimited => BodyReader::Close(inner),
        }
    }
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            BodyReader::Empty => Ok(0),
            BodyReader::Length(r) => r.read(out),
            BodyReader::Chunked(r) => r.read(out),
            BodyReader::Close(r) => r.read(out),
        }
    }
}

/// Escribe un trozo `chunked` (`TAMAÑO\r\ndatos\r\n`). Un `data` vacío no escribe nada: el
/// trozo vacío marcaría el final (para eso está [`write_last_chunk`]).
///
/// # Errores
/// Los de escritura de `w`.
pub fn write_chunk(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut head = format!("{:X}\r\n", data.len()).into_bytes();
    // Para trozos pequeños, una sola escritura (evita tres paquetes sin buffer).
    if data.len() <= 4096 {
        head.extend_from_slice(data);
        head.extend_from_slice(b"\r\n");
        return w.write_all(&head);
    }
    w.write_all(&head)?;
    w.write_all(data)?;
    w.write_all(b"\r\n")
}

/// Escribe el trozo final (`0\r\n`), los trailers y la línea vacía.
///
/// # Errores
/// Los de escritura de `w`.
pub fn write_last_chunk(w: &mut impl Write, trailers: &Headers) -> io::Result<()> {
    let mut out = b"0\r\n".to_vec();
    trailers.encode(&mut out);
    out.extend_from_slice(b"\r\n");
    w.write_all(&out)
}

/// Un `Write` que codifica en `chunked` todo lo que recibe; [`ChunkedWriter::finish`] escribe
/// el trozo final. Cada `write` es un trozo: conviene ponerle delante un buffer grande.
#[derive(Debug)]
pub struct ChunkedWriter<W: Write> {
    inner: W,
}

impl<W: Write> ChunkedWriter<W> {
    /// Escritor sobre `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// Escribe el trozo final sin trailers y devuelve el escritor de debajo.
    ///
    /// # Errores
    /// Los de escritura.
    pub fn finish(mut self) -> io::Result<W> {
        write_last_chunk(&mut self.inner, &Headers::new())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_chunk(&mut self.inner, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;

    fn head(lines: &[(&str, &str)]) -> RequestHead {
        let mut h = RequestHead::new("POST", "/", Version::Http11);
        for (n, v) in lines {
            h.headers.push(*n, *v);
        }
        h
    }

    fn kind(lines: &[(&str, &str)]) -> Result<BodyKind, HttpError> {
        request_body_kind(&head(lines))
    }

    #[test]
    fn request_framing_rules() {
        assert_eq!(kind(&[]).unwrap(), BodyKind::None);
        assert_eq!(kind(&[("Content-Length", "0")]).unwrap(), BodyKind::None);
        assert_eq!(
            kind(&[("content-length", "12")]).unwrap(),
            BodyKind::Length(12)
        );
        assert_eq!(
            kind(&[("Content-Length", "7, 7"), ("Content-Length", "7")]).unwrap(),
            BodyKind::Length(7)
        );
        assert_eq!(
            kind(&[("Transfer-Encoding", "Chunked")]).unwrap(),
            BodyKind::Chunked
        );
        assert_eq!(
            kind(&[("Content-Length", "18446744073709551615")]).unwrap(),
            BodyKind::Length(u64::MAX)
        );
    }

    #[test]
    fn request_smuggling_shapes_are_errors() {
        let cases: &[(&[(&str, &str)], u16)] = &[
            (
                &[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                400,
            ),
            (&[("Content-Length", "5"), ("Content-Length", "6")], 400),
            (&[("Content-Length", "5, 6")], 400),
            (&[("Content-Length", "-5")], 400),
            (&[("Content-Length", "+5")], 400),
            (&[("Content-Length", "0x5")], 400),
            (&[("Content-Length", "")], 400),
            (&[("Content-Length", "5 5")], 400),
            (&[("Content-Length", "18446744073709551616")], 400),
            (&[("Transfer-Encoding", "chunked, identity")], 400),
            (&[("Transfer-Encoding", "identity")], 400),
            (
                &[
                    ("Transfer-Encoding", "chunked"),
                    ("Transfer-Encoding", "chunked"),
                ],
                400,
            ),
            (&[("Transfer-Encoding", "")], 400),
            (&[("Transfer-Encoding", "gzip, chunked")], 501),
        ];
        for (lines, status) in cases {
            let e = kind(lines).expect_err(&format!("{lines:?}"));
            assert_eq!(e.status(), *status, "{lines:?}");
        }
    }

    #[test]
    fn response_framing_rules() {
        let mut h = Headers::new();
        assert_eq!(response_body_kind("GET", 204, &h).unwrap(), BodyKind::None);
        assert_eq!(response_body_kind("GET", 304, &h).unwrap(), BodyKind::None);
        assert_eq!(response_body_kind("GET", 101, &h).unwrap(), BodyKind::None);
        assert_eq!(
            response_body_kind("CONNECT", 200, &h).unwrap(),
            BodyKind::None
        );
        assert_eq!(
            response_body_kind("CONNECT", 407, &h).unwrap(),
            BodyKind::CloseDelimited
        );
        h.push("Transfer-Encoding", "gzip, chunked");
        assert_eq!(
            response_body_kind("GET", 200, &h).unwrap(),
            BodyKind::Chunked
        );
        h.set("Transfer-Encoding", "gzip");
        assert_eq!(
            response_body_kind("GET", 200, &h).unwrap(),
            BodyKind::CloseDelimited
        );
        h.push("Content-Length", "3");
        assert!(response_body_kind("GET", 200, &h).is_err());
        let mut h = Headers::new();
        h.push("Content-Length", "abc");
        assert!(response_body_kind("GET", 200, &h).is_err());
        assert_eq!(response_body_kind("HEAD", 200, &h).unwrap(), BodyKind::None);
    }

    #[test]
    fn length_reader_stops_at_length_and_detects_truncation() {
        let mut input: &[u8] = b"holamundo";
        let mut r = LengthReader::new(&mut input, 4);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hola");
        assert_eq!(input, b"mundo");
        let mut short: &[u8] = b"abc";
        let e = LengthReader::new(&mut short, 5)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(matches!(
            HttpError::from_io(&e),
            Some(HttpError::UnexpectedEof)
        ));
    }

    fn decode(input: &[u8], limits: ChunkLimits) -> Result<Vec<u8>, HttpError> {
        let mut reader = input;
        let mut out = Vec::new();
        ChunkedReader::new(&mut reader, limits)
            .read_to_end(&mut out)
            .map_err(HttpError::from_io_error)?;
        Ok(out)
    }

    #[test]
    fn chunked_size_digits_at_and_past_the_edge() {
        let l = ChunkLimits::default();
        // 16 dígitos: se acepta el tamaño (y luego faltan los datos).
        let e = decode(b"0000000000000001\r\nx\r\n0\r\n\r\n", l).unwrap();
        assert_eq!(e, b"x");
        let e = decode(b"00000000000000001\r\nx\r\n0\r\n\r\n", l).unwrap_err();
        assert!(
            matches!(e, HttpError::ChunkSizeTooLong { max: 16 }),
            "{e:?}"
        );
        let small = ChunkLimits {
            max_size_digits: 2,
            ..l
        };
        assert_eq!(decode(b"01\r\nx\r\n0\r\n\r\n", small).unwrap(), b"x");
        assert!(matches!(
            decode(b"001\r\nx\r\n0\r\n\r\n", small),
            Err(HttpError::ChunkSizeTooLong { max: 2 })
        ));
        assert!(matches!(
            decode(b"FFFFFFFFFFFFFFFFF\r\n", l),
            Err(HttpError::ChunkSizeTooLong { .. })
        ));
    }

    #[test]
    fn chunk_extension_limit_at_and_past_the_edge() {
        let l = ChunkLimits {
            max_extension_bytes: 4,
            ..ChunkLimits::default()
        };
        assert_eq!(decode(b"1;a=b\r\nx\r\n0\r\n\r\n", l).unwrap(), b"x");
        assert!(matches!(
            decode(b"1;a=bc\r\nx\r\n0\r\n\r\n", l),
            Err(HttpError::ChunkExtensionTooLong { max: 4 })
        ));
        assert!(matches!(
            decode(b"1;a=bcdefghijklmnopqrstuvwxyz", l),
            Err(HttpError::ChunkExtensionTooLong { max: 4 })
        ));
    }

    #[test]
    fn trailer_limit_at_and_past_the_edge() {
        // "A: b\r\n\r\n" = 8 bytes.
        let at = ChunkLimits {
            max_trailer_bytes: 8,
            ..ChunkLimits::default()
        };
        assert_eq!(decode(b"0\r\nA: b\r\n\r\n", at).unwrap(), b"");
        let past = ChunkLimits {
            max_trailer_bytes: 7,
            ..ChunkLimits::default()
        };
        assert!(matches!(
            decode(b"0\r\nA: b\r\n\r\n", past),
            Err(HttpError::TrailersTooLarge { max: 7 })
        ));
        assert!(matches!(
            decode(b"0\r\nAAAAAAAAAAAAAAAAAAAAAA", past),
            Err(HttpError::TrailersTooLarge { .. })
        ));
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        let l = ChunkLimits::default();
        for (bad, why) in [
            (&b"x\r\n"[..], "sin dígitos"),
            (b"5\r\nabc", "truncado"),
            (b"3\r\nabcXY0\r\n\r\n", "sin CRLF tras datos"),
            (b"3\nabc\r\n0\r\n\r\n", "LF solo"),
            (b"3 \r\nabc\r\n0\r\n\r\n", "espacio sin extensión"),
            (b"-3\r\nabc\r\n0\r\n\r\n", "signo"),
            (b"0\r\n", "sin línea vacía final"),
            (b"0\r\nbad header\r\n\r\n", "trailer mal formado"),
            (b"", "vacío"),
        ] {
            assert!(decode(bad, l).is_err(), "{why}");
        }
    }

    #[test]
    fn every_partial_prefix_of_a_chunked_body_is_an_eof_error() {
        let full = b"4\r\nWiki\r\n5;x\r\npedia\r\n0\r\nT: v\r\n\r\n";
        assert_eq!(decode(full, ChunkLimits::default()).unwrap(), b"Wikipedia");
        for n in 0..full.len() {
            let e = decode(&full[..n], ChunkLimits::default()).unwrap_err();
            assert!(matches!(e, HttpError::UnexpectedEof), "prefijo {n}: {e:?}");
        }
    }

    #[test]
    fn chunked_writer_output() {
        let mut w = ChunkedWriter::new(Vec::new());
        w.write_all(b"hola").unwrap();
        w.write_all(b"").unwrap();
        w.write_all(&[b'x'; 26]).unwrap();
        let out = w.finish().unwrap();
        let mut expected = b"4\r\nhola\r\n1A\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn chunked_round_trip(chunks in proptest::collection::vec(
                    proptest::collection::vec(any::<u8>(), 0..5000), 0..8),
                    tail in proptest::collection::vec(any::<u8>(), 0..10)) {
                let mut encoded = Vec::new();
                let mut expected = Vec::new();
                for c in &chunks {
                    write_chunk(&mut encoded, c).unwrap();
                    expected.extend_from_slice(c);
                }
                let mut trailers = Headers::new();
                trailers.push("X-Suma", "123");
                write_last_chunk(&mut encoded, &trailers).unwrap();
                encoded.extend_from_slice(&tail);
                // Un BufReader pequeño fuerza los cortes en cualquier sitio.
                let mut reader = io::BufReader::with_capacity(7, &encoded[..]);
                let mut out = Vec::new();
                let mut r = ChunkedReader::new(&mut reader, ChunkLimits::default());
                r.read_to_end(&mut out).unwrap();
                prop_assert_eq!(r.trailers(), &trailers);
                prop_assert_eq!(out, expected);
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest).unwrap();
                prop_assert_eq!(rest, tail);
            }

            #[test]
            fn chunked_decoder_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..400),
                                            d in 1usize..20, e in 0usize..20, t in 0usize..40) {
                let limits = ChunkLimits { max_size_digits: d, max_extension_bytes: e,
                                           max_trailer_bytes: t };
                let mut input = &buf[..];
                let mut out = Vec::new();
                let _ = ChunkedReader::new(&mut input, limits).read_to_end(&mut out);
                prop_assert!(out.len() <= buf.len());
            }

            #[test]
            fn chunked_like_garbage_never_panics(s in "([0-9a-fA-F]{1,18}|;|=|\r\n|\n|\r| |x){0,40}") {
                let mut input = s.as_bytes();
                let _ = ChunkedReader::new(&mut input, ChunkLimits::default())
                    .read_to_end(&mut Vec::new());
            }
        }
    }
}
