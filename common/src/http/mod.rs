//! La capa de mensajes HTTP/1.1 (RFC 9110 y 9112) que comparten el servidor de ficheros
//! (problema4) y el proxy (problema7): un solo analizador, estricto y con límites.
//!
//! Todo lo que hay aquí es puro (bytes de entrada, valores de salida) o trabaja sobre un
//! `BufRead`/`Write` genérico: ningún módulo abre sockets. Cada límite es un argumento
//! ([`Limits`], [`ChunkLimits`]) y cada fallo es una variante de [`HttpError`] que sabe qué
//! estado HTTP corresponde ([`HttpError::status`]).
//!
//! # Guía rápida
//!
//! Leer peticiones de una conexión (servidor o proxy):
//!
//! ```no_run
//! use std::io::{BufReader, Read, Write};
//! use std::net::TcpStream;
//! use common::http::{self, BodyKind, Limits};
//!
//! # fn atender(stream: TcpStream) -> Result<(), http::HttpError> {
//! let limits = Limits::default();
//! let mut reader = BufReader::new(stream.try_clone()?);
//! let mut out = &stream;
//! // `Ok(None)`: el cliente cerró limpiamente entre dos peticiones.
//! while let Some(head) = http::read_request_head(&mut reader, &limits)? {
//!     let kind = http::request_body_kind(&head)?; // 400 si hay contrabando
//!     // Leer (o descartar) el cuerpo deja el flujo justo en la siguiente petición.
//!     let mut body = http::BodyReader::new(&mut reader, kind, http::ChunkLimits::default());
//!     std::io::copy(&mut body, &mut std::io::sink())?;
//!     let mut resp = http::ResponseHead::new(200);
//!     resp.headers.push("Content-Length", "2");
//!     let mut bytes = Vec::new();
//!     resp.encode(&mut bytes);
//!     bytes.extend_from_slice(b"ok");
//!     out.write_all(&bytes)?;
//!     if !head.keep_alive() { break; }
//! }
//! # Ok(()) }
//! ```
//!
//! Un error de [`read_request_head`] se contesta con [`HttpError::status`] (400, 408, 414,
//! 431, 505...) y se cierra la conexión: tras un mensaje mal formado no se sabe dónde empieza
//! el siguiente. [`HttpError::Timeout`] con `received == 0` es un cliente inactivo entre dos
//! peticiones: se cierra sin responder.
//!
//! Leer respuestas (cliente o proxy): [`read_response_head`] y después
//! [`response_body_kind`] (que necesita el método de la petición: una respuesta a `HEAD`
//! no tiene cuerpo aunque diga `Content-Length`) y [`BodyReader`].
//!
//! Comprobaciones que quedan a cargo de quien llama: [`RequestHead::check_host`] (un `Host` y
//! solo uno en HTTP/1.1) y [`RequestHead::keep_alive`] para decidir si seguir.
//!
//! Escribir: [`ResponseHead::encode`] / [`RequestHead::encode`] (o [`write_response_head`] /
//! [`write_request_head`], que escriben de una vez); cuerpos `chunked` con [`ChunkedWriter`]
//! o [`write_chunk`] + [`write_last_chunk`]. Los lectores de cuerpo devuelven `io::Error`:
//! [`HttpError::from_io_error`] recupera el `HttpError` que viaja dentro.
//!
//! Destinos de petición: [`RequestHead::target`] es el texto tal cual llegó; [`Target::parse`]
//! distingue la forma de origen (`/a?b`), la absoluta (`http://h:p/x`, la que recibe un
//! proxy), la de autoridad (`h:443`, solo con `CONNECT`) y el asterisco (`OPTIONS *`).
//!
//! # Reglas que se aplican (y por qué)
//!
//! - Las líneas terminan en CRLF. Un LF suelto, un CR suelto o cualquier carácter de control
//!   en una cabecera es un 400: los analizadores que aceptan variantes distintas son la base
//!   del contrabando de peticiones (*request smuggling*) entre un proxy y un servidor.
//! - Se ignoran líneas vacías antes de la línea de petición (RFC 9112 §2.2), contadas dentro
//!   del límite de la línea de petición.
//! - Versiones: `HTTP/1.0` y `HTTP/1.1`; una `HTTP/1.x` posterior se trata como 1.1 (RFC 9110
//!   §6.2) y otra versión mayor es un 505. Un destino con `#fragmento` es un 400: el fragmento
//!   nunca viaja en una petición. [`RequestHead::check_host`] exige además que `Host` tenga la
//!   forma `host[:puerto]` (RFC 9112 §3.2).
//! - Nombres de cabecera: `token`; sin espacios antes de los dos puntos (RFC 9112 §5.1);
//!   sin plegado de líneas (`obs-fold`, §5.2). Valores: texto visible, espacio y tabulador,
//!   sin los espacios de los extremos; se admite UTF-8 y se rechaza otro byte no ASCII.
//! - Cuerpos (RFC 9112 §6.3, [`request_body_kind`]): `Content-Length` y `Transfer-Encoding`
//!   juntos, varios `Content-Length` distintos, un `Content-Length` no numérico o una
//!   codificación de transferencia que no termine en `chunked` son errores, no se adivinan.
//!
//! # Límites
//!
//! [`Limits`]: longitud de la línea inicial (por encima, 414), bytes de cabeceras y número de
//! cabeceras (431). [`read_request_head`] deja de leer en cuanto el mensaje supera el tope: un
//! cliente no puede hacernos guardar más de `max_start_line + 2 + max_header_bytes` bytes.
//! [`ChunkLimits`]: dígitos del tamaño de trozo (16 hex caben en `u64`; 17 es error),
//! extensiones y trailers. Cada variante de error lleva el límite superado.

mod body;
mod head;
mod io;

pub use body::{
    request_body_kind, response_body_kind, write_chunk, write_last_chunk, BodyKind, BodyReader,
    ChunkLimits, ChunkedReader, ChunkedWriter, LengthReader, DEFAULT_MAX_CHUNK_EXTENSION,
    DEFAULT_MAX_CHUNK_SIZE_DIGITS, DEFAULT_MAX_TRAILER_BYTES,
};
pub use head::{
    parse_request_head, parse_response_head, reason_phrase, Headers, RequestHead, ResponseHead,
    Target, Version,
};
pub use io::{read_request_head, read_response_head, write_request_head, write_response_head};

/// Longitud máxima por omisión de la línea de petición o de estado: 8 KiB, como nginx
/// (`large_client_header_buffers 4 8k`); las URL reales rara vez pasan de 2 KiB.
pub const DEFAULT_MAX_START_LINE: usize = 8 * 1024;

/// Bytes máximos por omisión de todas las cabeceras juntas: 32 KiB, holgado para cookies
/// grandes y pequeño para que mil conexiones no agoten la memoria.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;

/// Número máximo por omisión de cabeceras: 100, como el `MaxHeaderCount` de muchos servidores.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Los límites del analizador de cabeceras. Se pasan siempre como argumento.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes máximos de la línea de petición o de estado, sin el CRLF (414 al pasarlo).
    pub max_start_line: usize,
    /// Bytes máximos de las cabeceras tras la línea inicial, contando sus CRLF y la línea
    /// vacía final (431 al pasarlo).
    pub max_header_bytes: usize,
    /// Número máximo de líneas de cabecera (431 al pasarlo).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_start_line: DEFAULT_MAX_START_LINE,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

impl Limits {
    /// Lo más que puede ocupar una cabecera completa con estos límites (línea inicial con su
    /// CRLF más las cabeceras). Un lector no necesita guardar más de esto.
    pub fn max_head_bytes(&self) -> usize {
        self.max_start_line
            .saturating_add(2)
            .saturating_add(self.max_header_bytes)
    }
}

/// Lo que puede fallar al leer o interpretar un mensaje HTTP.
///
/// Cada variante sabe el estado que le corresponde ([`HttpError::status`]). Dentro de un
/// `Read` (los lectores de cuerpo) viaja envuelta en un `io::Error` de tipo `InvalidData`;
/// [`HttpError::from_io`] la recupera.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// La línea de petición o de estado pasa del límite (414).
    #[error("la línea inicial pasa de {max} bytes")]
    StartLineTooLong {
        /// El límite superado.
        max: usize,
    },
    /// Las cabeceras ocupan más bytes de los permitidos (431).
    #[error("las cabeceras pasan de {max} bytes")]
    HeadersTooLarge {
        /// El límite superado.
        max: usize,
    },
    /// Hay más cabeceras de las permitidas (431).
    #[error("hay más de {max} cabeceras")]
    TooManyHeaders {
        /// El límite superado.
        max: usize,
    },
    /// La línea de petición o de estado no tiene la forma debida (400).
    #[error("línea inicial mal formada: {0}")]
    InvalidStartLine(&'static str),
    /// El método no es un `token` (400).
    #[error("método no válido")]
    InvalidMethod,
    /// El destino de la petición tiene caracteres no permitidos o una forma inválida (400).
    #[error("destino de la petición no válido: {0}")]
    InvalidTarget(&'static str),
    /// La versión no tiene la forma `HTTP/d.d` (400).
    #[error("versión HTTP mal formada")]
    InvalidVersion,
    /// Versión bien formada pero distinta de 1.0 y 1.1 (505).
    #[error("versión HTTP no admitida: {0}")]
    UnsupportedVersion(String),
    /// El código de estado de una respuesta no son tres dígitos (100-999).
    #[error("código de estado no válido")]
    InvalidStatus,
    /// Una línea termina en LF sin CR, o hay un CR suelto (400).
    #[error("fin de línea no válido (se exige CRLF)")]
    InvalidLineEnding,
    /// Un nombre de cabecera vacío o con caracteres fuera de `token` (400).
    #[error("nombre de cabecera no válido")]
    InvalidHeaderName,
    /// Espacio entre el nombre de la cabecera y los dos puntos (400, RFC 9112 §5.1).
    #[error("espacio antes de los dos puntos en una cabecera")]
    WhitespaceBeforeColon,
    /// Una línea de cabecera plegada (empieza por espacio; RFC 9112 §5.2) (400).
    #[error("cabecera plegada en varias líneas (obs-fold)")]
    ObsFold,
    /// Un valor de cabecera con caracteres de control o bytes no UTF-8 (400).
    #[error("valor de cabecera no válido en `{0}`")]
    InvalidHeaderValue(String),
    /// Falta `Host` en una petición HTTP/1.1, o hay más de uno (400).
    #[error("falta la cabecera Host o está repetida")]
    BadHost,
    /// `Content-Length` no es un número decimal válido (400).
    #[error("Content-Length no válido")]
    InvalidContentLength,
    /// Varios `Content-Length` con valores distintos (400).
    #[error("varios Content-Length distintos")]
    ConflictingContentLength,
    /// `Content-Length` y `Transfer-Encoding` a la vez: forma típica del contrabando (400).
    #[error("Content-Length y Transfer-Encoding a la vez")]
    LengthAndTransferEncoding,
    /// `Transfer-Encoding` cuya última codificación no es `chunked` en una petición (400).
    #[error("Transfer-Encoding no termina en chunked")]
    ChunkedNotFinal,
    /// Una codificación de transferencia que no implementamos, como `gzip, chunked` (501).
    #[error("codificación de transferencia no admitida: {0}")]
    UnsupportedTransferCoding(String),
    /// Línea de tamaño de trozo mal formada en un cuerpo `chunked` (400).
    #[error("tamaño de trozo no válido")]
    InvalidChunkSize,
    /// El tamaño de trozo tiene más dígitos de los permitidos (400).
    #[error("el tamaño de trozo pasa de {max} dígitos")]
    ChunkSizeTooLong {
        /// El límite superado.
        max: usize,
    },
    /// Las extensiones de un trozo pasan del límite (400).
    #[error("las extensiones de trozo pasan de {max} bytes")]
    ChunkExtensionTooLong {
        /// El límite superado.
        max: usize,
    },
    /// Los trailers de un cuerpo `chunked` pasan del límite (431).
    #[error("los trailers pasan de {max} bytes")]
    TrailersTooLarge {
        /// El límite superado.
        max: usize,
    },
    /// Falta el CRLF que cierra los datos de un trozo (400).
    #[error("falta el CRLF tras los datos de un trozo")]
    MissingChunkCrlf,
    /// La conexión se cerró a mitad de un mensaje (400).
    #[error("la conexión se cerró a mitad del mensaje")]
    UnexpectedEof,
    /// El cliente no terminó a tiempo; `received` dice cuántos bytes del mensaje llegaron (0:
    /// conexión inactiva entre peticiones, que se cierra sin responder) (408).
    #[error("se agotó el tiempo de espera ({received} bytes recibidos)")]
    Timeout {
        /// Bytes del mensaje recibidos antes de agotarse el tiempo.
        received: usize,
    },
    /// Error de E/S del flujo subyacente.
    #[error("error de E/S: {}", crate::net::describe_io_error(.0))]
    Io(#[from] std::io::Error),
}

impl HttpError {
    /// El código de estado HTTP con el que se contesta a este error.
    ///
    /// Los errores de E/S devuelven 400 por dar un valor, pero normalmente no hay a quién
    /// contestar.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::StartLineTooLong { .. } => 414,
            HttpError::HeadersTooLarge { .. }
            | HttpError::TooManyHeaders { .. }
            | HttpError::TrailersTooLarge { .. } => 431,
            HttpError::UnsupportedVersion(_) => 505,
            HttpError::UnsupportedTransferCoding(_) => 501,
            HttpError::Timeout { .. } => 408,
            _ => 400,
        }
    }

    /// Envuelve el error en un `io::Error` (tipo `InvalidData`, o el original si ya era de
    /// E/S), para devolverlo desde un `Read`.
    pub fn into_io(self) -> std::io::Error {
        match self {
            HttpError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }

    /// Recupera el `HttpError` que viaja dentro de un `io::Error` devuelto por un lector de
    /// cuerpo ([`BodyReader`], [`ChunkedReader`], [`LengthReader`]).
    pub fn from_io(e: &std::io::Error) -> Option<&HttpError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<HttpError>())
    }

    /// Como [`HttpError::from_io`] pero tomando el error: devuelve el `HttpError` que
    /// viajaba dentro, o [`HttpError::Io`] con el original si era un error de E/S corriente.
    ///
    /// ```
    /// use common::http::HttpError;
    /// let e = HttpError::UnexpectedEof.into_io();
    /// assert!(matches!(HttpError::from_io_error(e), HttpError::UnexpectedEof));
    /// let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    /// assert!(matches!(HttpError::from_io_error(e), HttpError::Io(_)));
    /// ```
    pub fn from_io_error(e: std::io::Error) -> HttpError {
        if HttpError::from_io(&e).is_none() {
            return HttpError::Io(e);
        }
        match e.into_inner().map(|inner| inner.downcast::<HttpError>()) {
            Some(Ok(inner)) => *inner,
            // Inalcanzable: `from_io` acaba de ver un `HttpError` dentro.
            _ => HttpError::UnexpectedEof,
        }
    }
}

/// Llama a `f` con la fecha actual en el formato de `Date` (`Sun, 06 Nov 1994 08:49:37 GMT`,
/// RFC 9110 §5.6.7), formateada una vez por segundo y por hilo: cada respuesta lleva `Date`
/// y, a miles de respuestas por segundo, formatearla cada vez se nota.
pub fn with_http_date<R>(f: impl FnOnce(&str) -> R) -> R {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            *cache = (secs, httpdate::fmt_http_date(now));
        }
        f(&cache.1)
    })
}

/// Si `message` es una respuesta HTTP ya compuesta (empieza por `HTTP/`) sin campo `Date`,
/// la devuelve con `Date: <ahora>` tras la línea de estado; si no, tal cual.
///
/// Sirve para las respuestas que se componen una vez al arrancar (el 503 por encima del
/// tope de conexiones): RFC 9110 §6.6.1 pide `Date` en toda respuesta de un servidor con
/// reloj, y una fecha fijada al arrancar sería falsa.
///
/// ```
/// let r = common::http::stamp_date(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n");
/// assert!(r.starts_with(b"HTTP/1.1 503 Service Unavailable\r\nDate: "));
/// assert_eq!(&*common::http::stamp_date(b"LLENO\n"), b"LLENO\n");
/// ```
pub fn stamp_date(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    let Some(line_end) = message.windows(2).position(|w| w == b"\r\n") else {
        return Cow::Borrowed(message);
    };
    let head_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let has_date = message
        .get(..head_end)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .any(|line| {
            line.get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"date:"))
        });
    if !message.starts_with(b"HTTP/") || has_date {
        return Cow::Borrowed(message);
    }
    let (status_line, rest) = message.split_at(line_end + 2);
    let mut out = Vec::with_capacity(message.len() + 40);
    out.extend_from_slice(status_line);
    with_http_date(|date| {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// ¿Es `b` un carácter de `token` (RFC 9110 §5.6.2)?
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// ¿Es `s` un `token` no vacío?
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}
