//! Las reglas del servidor de ficheros que no necesitan sockets: la decodificación segura de
//! la ruta pedida (la apertura sin salir de la raíz, que sí toca el disco, está en
//! `servidor::open`), tipos MIME, rangos de bytes, peticiones condicionales, etiquetas `ETag`
//! y las páginas HTML (listados y errores).
//!
//! El HTTP en sí (cabeceras, cuerpos) está en [`common::http`]; aquí solo lo propio de servir
//! ficheros estáticos.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, CONTROLS};

/// Segundos por omisión que tiene un cliente para enviar cada petición completa (y que puede
/// estar inactiva una conexión persistente): 10 s, como `client_header_timeout` holgado.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes máximos de un cuerpo que se lee y descarta en un `GET`/`HEAD` para seguir usando la
/// conexión: 1 MiB. Uno mayor se contesta y se cierra la conexión en vez de leerlo entero.
pub const DEFAULT_MAX_DISCARD: u64 = 1024 * 1024;

/// Entradas máximas de un listado de directorio: 10 000 (la página sigue siendo manejable).
pub const MAX_LISTING_ENTRIES: usize = 10_000;

/// Los métodos que conocemos pero no servimos: reciben 405 con `Allow`; los demás, 501.
pub const KNOWN_METHODS: &[&str] = &[
    "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// Por qué una ruta pedida no lleva a ningún fichero servible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// La ruta no empieza por `/`, tiene `%` mal formado, NUL, una barra invertida sin
    /// codificar o una barra codificada (`%2F`): 400.
    #[error("ruta mal formada: {0}")]
    Malformed(&'static str),
    /// La ruta intenta salir de la raíz (`..`, `.`) o lleva a algo fuera de ella (un enlace
    /// simbólico): 403.
    #[error("ruta fuera del directorio servido")]
    Outside,
    /// No existe: 404.
    #[error("no existe")]
    NotFound,
    /// Sin permiso de lectura: 403.
    #[error("sin permiso")]
    Forbidden,
}

impl PathError {
    /// El estado HTTP que corresponde.
    pub fn status(&self) -> u16 {
        match self {
            PathError::Malformed(_) => 400,
            PathError::Outside | PathError::Forbidden => 403,
            PathError::NotFound => 404,
        }
    }
}

/// Decodifica la ruta de una petición en segmentos seguros, sin tocar el disco.
///
/// Cada segmento se decodifica una sola vez (`%252e` es un fichero llamado `%2e`, no `.`);
/// se rechazan `.` y `..` (también codificados), barras codificadas, barras invertidas sin
/// codificar y NUL. Las barras repetidas se ignoran.
///
/// Una barra invertida codificada (`%5C`) es parte del nombre: en Unix `\` es un carácter
/// más (`a\b.txt` es un fichero), no un separador, y así se enlaza en los listados.
///
/// ```
/// use problema4::protocolo::{decode_path, PathError};
/// assert_eq!(decode_path("/a/b%20c/").unwrap(), vec!["a".as_bytes().to_vec(), b"b c".to_vec()]);
/// assert_eq!(decode_path("/a/../b").unwrap_err(), PathError::Outside);
/// assert_eq!(decode_path("/%2e%2E/x").unwrap_err(), PathError::Outside);
/// assert!(decode_path("/a%2fb").is_err());
/// assert_eq!(decode_path("/a%5Cb").unwrap(), vec![b"a\\b".to_vec()]);
/// ```
///
/// # Errores
/// [`PathError::Malformed`] o [`PathError::Outside`].
pub fn decode_path(raw: &str) -> Result<Vec<Vec<u8>>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::Malformed("no empieza por /"));
    }
    let mut segments = Vec::new();
    for seg in raw.split('/') {
        if seg.is_empty() {
            continue;
        }
        if seg.contains('\\') {
            return Err(PathError::Malformed("barra invertida sin codificar"));
        }
        if !valid_percent(seg) {
            return Err(PathError::Malformed("secuencia % no válida"));
        }
        let decoded: Vec<u8> = percent_decode(seg.as_bytes()).collect();
        if decoded.contains(&0) {
            return Err(PathError::Malformed("byte NUL"));
        }
        if decoded.contains(&b'/') {
            return Err(PathError::Malformed("barra codificada"));
        }
        if decoded == b"." || decoded == b".." {
            return Err(PathError::Outside);
        }
        segments.push(decoded);
    }
    Ok(segments)
}

/// ¿Pasa la ruta por un fichero o directorio oculto (un segmento que empieza por `.`, como
/// `.git` o `.env`)? Se sirven como si no existieran salvo con `--hidden`, como hacen
/// miniserve y static-web-server: arrancado sin `--dir` dentro de un repositorio, el
/// servidor no debe entregar `.git/config`.
///
/// ```
/// use problema4::protocolo::{decode_path, is_hidden};
/// assert!(is_hidden(&decode_path("/.git/config").unwrap()));
/// assert!(is_hidden(&decode_path("/a/%2Eenv").unwrap()));
/// assert!(!is_hidden(&decode_path("/a/b.txt").unwrap()));
/// ```
pub fn is_hidden(segments: &[Vec<u8>]) -> bool {
    segments.iter().any(|s| s.starts_with(b"."))
}

/// ¿Va cada `%` seguido de dos dígitos hexadecimales?
fn valid_percent(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(x), Some(y)) if x.is_ascii_hexdigit() && y.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// El tipo MIME por la extensión del nombre (sin distinguir mayúsculas).
///
/// ```
/// use problema4::protocolo::mime_type;
/// assert_eq!(mime_type("a/INDEX.HTML".as_ref()), "text/html; charset=utf-8");
/// assert_eq!(mime_type("x.bin".as_ref()), "application/octet-stream");
/// ```
pub fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "text" | "md" | "rs" | "toml" | "log" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        _ => "application/octet-stream",
    }
}

/// La etiqueta `ETag` de un fichero: su fecha de modificación en nanosegundos y su tamaño en
/// hexadecimal, entre comillas (`"17f3a2c-400"`). Cambia si cambia cualquiera de los dos.
pub fn etag(modified: SystemTime, len: u64) -> String {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{nanos:x}-{len:x}\"")
}

/// Lo que deciden las cabeceras condicionales de un `GET`/`HEAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Se sirve la petición (y luego se mira `Range`).
    Proceed,
    /// 304: la copia del cliente sigue valiendo.
    NotModified,
    /// 412: una condición de `If-Match` o `If-Unmodified-Since` no se cumple.
    Failed,
}

/// Evalúa las condiciones de la petición en el orden de RFC 9110 §13.2.2 para un recurso
/// con etiqueta `tag` y fecha `modified` (un listado no tiene ninguna de las dos):
///
/// 1. `If-Match`: si no coincide (comparación fuerte), 412;
/// 2. si no hay `If-Match`, `If-Unmodified-Since`: si el recurso es posterior, 412;
/// 3. `If-None-Match`: si coincide, 304;
/// 4. si no hay `If-None-Match`, `If-Modified-Since`: si no es posterior, 304.
///
/// Una fecha ilegible hace que se ignore su cabecera (§13.1.3, §13.1.4).
///
/// ```
/// use common::http::Headers;
/// use problema4::protocolo::{evaluate_preconditions, Precondition};
/// let mut h = Headers::new();
/// h.push("If-Match", "\"otra\"");
/// h.push("If-None-Match", "\"v1\"");
/// assert_eq!(evaluate_preconditions(&h, Some("\"v1\""), None), Precondition::Failed);
/// ```
pub fn evaluate_preconditions(
    headers: &common::http::Headers,
    tag: Option<&str>,
    modified: Option<SystemTime>,
) -> Precondition {
    if headers.contains("if-match") {
        let strong = |t: &str| !t.starts_with("W/") && tag.is_some_and(|tag| t == tag);
        if !list_items(headers, "if-match").any(|t| t == "*" || strong(t)) {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (
        headers
            .get("if-unmodified-since")
            .and_then(|v| httpdate::parse_http_date(v.trim()).ok()),
        modified,
    ) {
        if truncate_secs(modified) > since {
            return Precondition::Failed;
        }
    }
    if headers.contains("if-none-match") {
        if list_items(headers, "if-none-match")
            .any(|t| t == "*" || tag.is_some_and(|tag| weak_eq(t, tag)))
        {
            return Precondition::NotModified;
        }
    } else if let (Some(ims), Some(modified)) = (headers.get("if-modified-since"), modified) {
        if not_modified_since(ims, modified) {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// Los elementos de una cabecera de lista (`a, b`), de todas sus líneas, sin espacios.
fn list_items<'a>(
    headers: &'a common::http::Headers,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(name)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Comparación débil de etiquetas (RFC 9110 §8.8.3.2): iguales sin el prefijo `W/`.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// ¿Es el fichero (modificado en `modified`) no más reciente que la fecha de
/// `If-Modified-Since`? Una fecha ilegible se ignora (devuelve `false`).
pub fn not_modified_since(header: &str, modified: SystemTime) -> bool {
    match httpdate::parse_http_date(header.trim()) {
        Ok(since) => truncate_secs(modified) <= since,
        Err(_) => false,
    }
}

/// Una fecha en el formato de HTTP (`Thu, 01 Jan 1970 00:00:00 GMT`, RFC 9110 §5.6.7).
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// La fecha sin fracciones de segundo (las fechas HTTP van en segundos).
pub fn truncate_secs(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

/// Rangos máximos que se atienden en una petición: 16. Con más, la cabecera `Range` se
/// ignora y se sirve el fichero entero (RFC 9110 §14.2 lo permite). Es la defensa contra el
/// ataque de amplificación de CVE-2011-3192 ("Apache Killer": `Range: bytes=0-,5-0,5-1,...`
/// con cientos de rangos solapados hacía que Apache compusiera cientos de copias del
/// fichero); Apache 2.2.21 respondió con `MaxRanges` y fusionando los solapados, nginx con
/// `max_ranges` y negándose cuando la suma pasa del tamaño del fichero. Aquí, además del
/// tope, los rangos que se solapan o se tocan se fusionan: lo enviado nunca pasa del tamaño
/// del fichero más las cabeceras de 16 partes.
pub const MAX_RANGES: usize = 16;

/// Un rango de bytes ya acotado al fichero: `start..=end`, con `start <= end < len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Primer byte.
    pub start: u64,
    /// Último byte (incluido).
    pub end: u64,
}

impl ByteRange {
    /// Bytes del rango.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Nunca está vacío (`start <= end`); existe por la convención de `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Lo que pide una cabecera `Range` sobre un fichero de `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Sin rango útil (ausente, de otra unidad, mal formado o con más de [`MAX_RANGES`]):
    /// se sirve entero.
    Full,
    /// Uno o más rangos satisfacibles, sin solapes: 206 (con varios, `multipart/byteranges`).
    Partial(Vec<ByteRange>),
    /// Ningún byte pedido existe: 416 con `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Interpreta `Range: bytes=a-b, c-, -n` (RFC 9110 §14.1.2) para un fichero de `len` bytes.
///
/// La unidad no distingue mayúsculas (`BYTES=` vale). Una sintaxis que no entendemos, otra
/// unidad o más de [`MAX_RANGES`] rangos hacen que se ignore la cabecera (se sirve entero,
/// que la RFC permite). Los rangos que no caben en el fichero se descartan; si no queda
/// ninguno, 416. Si algunos se solapan o se tocan, se fusionan y se devuelven en orden
/// (§14.6 lo permite); si no, en el orden pedido.
///
/// ```
/// use problema4::protocolo::{parse_range, ByteRange, RangeRequest::*};
/// let r = |start, end| ByteRange { start, end };
/// assert_eq!(parse_range("bytes=0-9", 100), Partial(vec![r(0, 9)]));
/// assert_eq!(parse_range("BYTES=90-", 100), Partial(vec![r(90, 99)]));
/// assert_eq!(parse_range("bytes=-10", 100), Partial(vec![r(90, 99)]));
/// assert_eq!(parse_range("bytes=50-500", 100), Partial(vec![r(50, 99)]));
/// assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
/// assert_eq!(parse_range("bytes=0-0,-1", 100), Partial(vec![r(0, 0), r(99, 99)]));
/// assert_eq!(parse_range("bytes=0-50,10-20,51-60", 100), Partial(vec![r(0, 60)]));
/// ```
pub fn parse_range(header: &str, len: u64) -> RangeRequest {
    let Some((unit, set)) = header.trim().split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    let mut ranges = Vec::new();
    let mut count = 0;
    // Los elementos vacíos de una lista (`0-1,,2-3`) se ignoran (RFC 9110 §5.6.1).
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        count += 1;
        if count > MAX_RANGES {
            return RangeRequest::Full;
        }
        match parse_range_spec(spec, len) {
            Some(Some(range)) => ranges.push(range),
            Some(None) => {}
            None => return RangeRequest::Full,
        }
    }
    if count == 0 {
        return RangeRequest::Full;
    }
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(coalesce(ranges))
}

/// Un `range-spec`: `None` si está mal formado, `Some(None)` si no cabe en el fichero.
fn parse_range_spec(spec: &str, len: u64) -> Option<Option<ByteRange>> {
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    if a.is_empty() {
        // Sufijo: los últimos `n` bytes.
        let n = num(b)?;
        return Some((n > 0 && len > 0).then(|| ByteRange {
            start: len.saturating_sub(n),
            end: len - 1,
        }));
    }
    let start = num(a)?;
    let end = match b {
        "" => None,
        b => Some(num(b).filter(|&e| e >= start)?),
    };
    Some((start < len).then(|| ByteRange {
        start,
        end: end.map_or(len - 1, |e| e.min(len - 1)),
    }))
}

/// Si algún par de rangos se solapa o se toca, los fusiona y los devuelve ordenados; si no,
/// los deja en el orden pedido.
fn coalesce(ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| r.start);
    let touching = sorted
        .windows(2)
        .any(|w| matches!(w, [a, b] if b.start <= a.end.saturating_add(1)));
    if !touching {
        return ranges;
    }
    let mut merged: Vec<ByteRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// Escapa `&`, `<`, `>`, `"` y `'` para meter texto en HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Los bytes que se codifican en un segmento de enlace: controles, espacio y los que tienen
/// significado en una URL o en HTML.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'\'')
    .add(b'&')
    .add(b';')
    .add(b'+')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// Codifica un nombre de fichero para usarlo como segmento de un enlace.
///
/// ```
/// use problema4::protocolo::encode_segment;
/// assert_eq!(encode_segment("a b?c#d/ñ"), "a%20b%3Fc%23d%2F%C3%B1");
/// ```
pub fn encode_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// Codifica una ruta ya decodificada (segmentos en bytes) para una cabecera `Location`.
pub fn encode_path_bytes(segments: &[Vec<u8>], trailing_slash: bool) -> String {
    let mut out = String::from("/");
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&percent_encoding::percent_encode(seg, SEGMENT).to_string());
    }
    if trailing_slash && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Una entrada de un listado de directorio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingEntry {
    /// El nombre tal cual está en disco (bytes: en Unix no tiene por qué ser UTF-8).
    pub name: Vec<u8>,
    /// ¿Es un directorio? (Se enlaza con barra final.)
    pub is_dir: bool,
    /// Tamaño en bytes (de un fichero).
    pub size: u64,
    /// Fecha de modificación.
    pub modified: Option<SystemTime>,
}

/// La página HTML de un directorio: título con la ruta, enlace al padre (salvo en la raíz),
/// directorios primero y luego ficheros, por nombre, con tamaño y fecha. Los nombres van
/// escapados para HTML y los enlaces codificados con `%`.
pub fn listing_html(display_path: &str, mut entries: Vec<ListingEntry>, truncated: bool) -> String {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(display_path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"es\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Índice de {title}</title>\n<style>body{{font-family:sans-serif;margin:2em}}\
         td{{padding:0 1em}}td.n{{text-align:right}}</style>\n</head>\n<body>\n\
         <h1>Índice de {title}</h1>\n<table>\n<tr><th>Nombre</th><th>Tamaño</th><th>Modificado</th></tr>\n"
    );
    if display_path != "/" {
        html.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in &entries {
        let name = String::from_utf8_lossy(&e.name);
        let href = percent_encoding::percent_encode(&e.name, SEGMENT).to_string();
        let slash = if e.is_dir { "/" } else { "" };
        let size = if e.is_dir {
            "-".to_string()
        } else {
            common::progress::format_bytes(e.size)
        };
        let date = e.modified.map(httpdate::fmt_http_date).unwrap_or_default();
        html.push_str(&format!(
            "<tr><td><a href=\"./{href}{slash}\">{}{slash}</a></td><td class=\"n\">{size}</td><td>{date}</td></tr>\n",
            html_escape(&name)
        ));
    }
    html.push_str("</table>\n");
    if truncated {
        html.push_str(&format!(
            "<p>Listado recortado a {MAX_LISTING_ENTRIES} entradas.</p>\n"
        ));
    }
    html.push_str("</body>\n</html>\n");
    html
}

/// La pequeña página HTML de un error (`404 Not Found` y una frase en español).
pub fn error_html(status: u16, reason: &str, detail: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"es\">\n<head><meta charset=\"utf-8\"><title>{status} {reason}</title></head>\n\
         <body>\n<h1>{status} {reason}</h1>\n<p>{}</p>\n</body>\n</html>\n",
        html_escape(detail)
    )
}

/// Una frase en español para la página de cada estado de error.
pub fn error_detail(status: u16) -> &'static str {
    match status {
        400 => "La petición está mal formada.",
        403 => "No tiene permiso para ver este recurso.",
        404 => "El recurso pedido no existe.",
        405 => "Este servidor solo admite GET y HEAD.",
        408 => "La petición no llegó completa a tiempo.",
        414 => "La URL es demasiado larga.",
        416 => "El rango pedido no existe en el fichero.",
        431 => "Las cabeceras de la petición son demasiado grandes.",
        500 => "Error interno del servidor.",
        501 => "Método no implementado.",
        503 => "El servidor está lleno; pruebe más tarde.",
        505 => "Versión de HTTP no admitida (solo HTTP/1.0 y HTTP/1.1).",
        _ => "Error.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_variants_are_rejected_without_touching_disk() {
        for raw in [
            "/..",
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/.%2e/x",
            "/./x",
            "/a/./b",
        ] {
            assert_eq!(decode_path(raw).unwrap_err(), PathError::Outside, "{raw}");
        }
        for raw in [
            "/a%2fb",
            "/a%2F..%2Fb",
            "/..%2f",
            "/a\\b",
            "/a%00b",
            "/%zz",
            "/%2",
            "relative",
            "",
        ] {
            assert!(
                matches!(decode_path(raw), Err(PathError::Malformed(_))),
                "{raw}"
            );
        }
        // Doble codificación: se decodifica una sola vez; queda un nombre literal inofensivo.
        assert_eq!(decode_path("/%252e%252e/x").unwrap()[0], b"%2e%2e");
        assert_eq!(decode_path("//etc//passwd").unwrap().len(), 2);
        assert_eq!(decode_path("/").unwrap().len(), 0);
        // Una barra invertida codificada es parte del nombre (issue 17).
        assert_eq!(
            decode_path("/a%5c..%5cb").unwrap(),
            vec![b"a\\..\\b".to_vec()]
        );
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let one = |start, end| Partial(vec![ByteRange { start, end }]);
        assert_eq!(parse_range("bytes=0-0", 1), one(0, 0));
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-50", 10), one(0, 9));
        assert_eq!(parse_range("bytes=5-4", 10), Full);
        assert_eq!(parse_range("items=0-4", 10), Full);
        assert_eq!(parse_range("bytes=a-4", 10), Full);
        assert_eq!(parse_range("bytes=", 10), Full);
        assert_eq!(parse_range("bytes=9-9", 10), one(9, 9));
        assert_eq!(parse_range("bytes=10-10", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-99999999999999999999999", 10), Full);
        // Issue 17: la unidad no distingue mayúsculas.
        assert_eq!(parse_range("Bytes=0-4", 10), one(0, 4));
        assert_eq!(parse_range(" bytes = 0-4", 10), one(0, 4));
        // Varios rangos: los que no caben se descartan; uno mal formado anula la cabecera.
        assert_eq!(parse_range("bytes=20-30,0-1", 10), one(0, 1));
        assert_eq!(parse_range("bytes=20-30,40-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,x", 10), Full);
        assert_eq!(parse_range("bytes=0-1,,", 10), one(0, 1));
        assert_eq!(parse_range("bytes=,", 10), Full);
        assert_eq!(
            parse_range("bytes=-1,0-0", 10),
            Partial(vec![
                ByteRange { start: 9, end: 9 },
                ByteRange { start: 0, end: 0 }
            ])
        );
    }

    #[test]
    fn range_amplification_is_capped() {
        use RangeRequest::*;
        // CVE-2011-3192 ("Apache Killer"): cientos de rangos solapados. Se ignora la cabecera.
        let killer = (0..1300)
            .map(|i| format!("5-{}", i + 5))
            .collect::<Vec<_>>();
        let killer = format!("bytes=0-,{}", killer.join(","));
        assert_eq!(parse_range(&killer, 100_000), Full);
        // Dentro del tope, los solapados se fusionan en uno.
        let sixteen = format!("bytes={}", vec!["0-99"; MAX_RANGES].join(","));
        assert_eq!(
            parse_range(&sixteen, 100),
            Partial(vec![ByteRange { start: 0, end: 99 }])
        );
        // Con uno más que el tope, se ignora la cabecera.
        let seventeen = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_range(&seventeen, 100), Full);
        // Adyacentes: uno solo.
        assert_eq!(
            parse_range("bytes=0-4,5-9", 10),
            Partial(vec![ByteRange { start: 0, end: 9 }])
        );
    }

    #[test]
    fn conditionals() {
        use common::http::Headers;
        use Precondition::*;
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let tag = etag(t, 10);
        let date = |d: SystemTime| httpdate::fmt_http_date(d);
        let eval = |fields: &[(&str, &str)], tag: Option<&str>, m: Option<SystemTime>| {
            let mut h = Headers::new();
            for (n, v) in fields {
                h.push(*n, *v);
            }
            evaluate_preconditions(&h, tag, m)
        };
        let file = |fields: &[(&str, &str)]| eval(fields, Some(&tag), Some(t));
        assert_eq!(file(&[]), Proceed);
        assert_eq!(file(&[("If-None-Match", &tag)]), NotModified);
        assert_eq!(
            file(&[("If-None-Match", &format!("\"x\", W/{tag}"))]),
            NotModified
        );
        assert_eq!(file(&[("If-None-Match", "*")]), NotModified);
        assert_eq!(file(&[("If-None-Match", "\"otro\"")]), Proceed);
        // Issue 17: If-Match e If-Unmodified-Since, en el orden de RFC 9110 §13.2.2.
        assert_eq!(file(&[("If-Match", "\"x\"")]), Failed);
        assert_eq!(file(&[("If-Match", &tag)]), Proceed);
        assert_eq!(file(&[("If-Match", "*")]), Proceed);
        assert_eq!(file(&[("If-Match", "\"x\""), ("If-Match", &tag)]), Proceed);
        assert_eq!(file(&[("If-Match", &format!("W/{tag}"))]), Failed);
        let before = date(t - Duration::from_secs(60));
        let after = date(t + Duration::from_secs(60));
        assert_eq!(file(&[("If-Unmodified-Since", &before)]), Failed);
        assert_eq!(file(&[("If-Unmodified-Since", &after)]), Proceed);
        assert_eq!(file(&[("If-Unmodified-Since", &date(t))]), Proceed);
        assert_eq!(file(&[("If-Unmodified-Since", "ayer")]), Proceed);
        // If-Match manda sobre If-Unmodified-Since, y ambos antes que If-None-Match.
        assert_eq!(
            file(&[("If-Match", &tag), ("If-Unmodified-Since", &before)]),
            Proceed
        );
        assert_eq!(
            file(&[("If-Match", "\"x\""), ("If-None-Match", &tag)]),
            Failed
        );
        assert_eq!(
            file(&[("If-None-Match", "\"x\""), ("If-Modified-Since", &after)]),
            Proceed
        );
        assert_eq!(file(&[("If-Modified-Since", &after)]), NotModified);
        // Un listado no tiene etiqueta ni fecha: solo `*` coincide.
        assert_eq!(eval(&[("If-None-Match", "*")], None, None), NotModified);
        assert_eq!(eval(&[("If-Match", "*")], None, None), Proceed);
        assert_eq!(eval(&[("If-Match", "\"x\"")], None, None), Failed);
        assert_eq!(eval(&[("If-Modified-Since", &after)], None, None), Proceed);
        let date = httpdate::fmt_http_date(t);
        assert!(not_modified_since(&date, t));
        assert!(!not_modified_since(
            &httpdate::fmt_http_date(t - Duration::from_secs(1)),
            t
        ));
        assert!(!not_modified_since("ayer", t));
    }

    #[test]
    fn mime_table() {
        for (name, mime) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("a.JPG", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.wasm", "application/wasm"),
            ("a.mp4", "video/mp4"),
            ("a.pdf", "application/pdf"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("sin-extension", "application/octet-stream"),
        ] {
            assert_eq!(mime_type(Path::new(name)), mime, "{name}");
        }
    }

    #[test]
    fn listing_escapes_names_and_encodes_links() {
        let html = listing_html(
            "/d<i>r/",
            vec![
                ListingEntry {
                    name: b"<script>&x y.txt".to_vec(),
                    is_dir: false,
                    size: 2048,
                    modified: Some(UNIX_EPOCH),
                },
                ListingEntry {
                    name: b"sub".to_vec(),
                    is_dir: true,
                    size: 0,
                    modified: None,
                },
            ],
            false,
        );
        assert!(html.contains("Índice de /d&lt;i&gt;r/"));
        assert!(html.contains("<a href=\"../\">../</a>"));
        assert!(html.contains(
            "<a href=\"./%3Cscript%3E%26x%20y.txt\">&lt;script&gt;&amp;x y.txt</a></td><td class=\"n\">2,0 KiB</td><td>Thu, 01 Jan 1970 00:00:00 GMT</td>"
        ));
        assert!(html.find("sub/").unwrap() < html.find("script").unwrap());
        assert!(!listing_html("/", vec![], false).contains("../"));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn decoded_segments_never_escape(raw in "/([a-z.%/\\\\]|%2[eEfF]|%5[cC]|%00|%25){0,30}") {
                if let Ok(segments) = decode_path(&raw) {
                    for seg in segments {
                        prop_assert!(!seg.is_empty());
                        prop_assert!(seg != b"." && seg != b"..");
                        // `\` sí puede venir codificado (`%5C`): en Unix es parte del nombre.
                        prop_assert!(!seg.contains(&b'/') && !seg.contains(&0));
                    }
                }
            }

            #[test]
            fn many_ranges_never_send_more_than_the_file(
                specs in proptest::collection::vec("[0-9]{0,3}-[0-9]{0,3}", 1..40),
                len in 0u64..2_000,
            ) {
                if let RangeRequest::Partial(ranges) = parse_range(&format!("bytes={}", specs.join(",")), len) {
                    prop_assert!(ranges.len() <= MAX_RANGES);
                    prop_assert!(ranges.iter().map(ByteRange::len).sum::<u64>() <= len);
                }
            }

            #[test]
            fn ranges_stay_inside_the_file(header in "bytes=[0-9]{0,5}-[0-9]{0,5}", len in 0u64..100_000) {
                if let RangeRequest::Partial(ranges) = parse_range(&header, len) {
                    for r in ranges {
                        prop_assert!(r.start <= r.end && r.end < len);
                    }
                }
            }

            #[test]
            fn encoded_segments_decode_back(name in "\\PC{1,20}") {
                let enc = encode_segment(&name);
                let dec: Vec<u8> = percent_decode(enc.as_bytes()).collect();
                prop_assert_eq!(dec, name.as_bytes().to_vec());
                prop_assert!(!enc.contains('/') && !enc.contains('"') && !enc.contains('<'));
            }
        }
    }

    #[test]
    fn listing_sizes_use_the_workshop_number_format() {
        let entry = |size| ListingEntry {
            name: b"a".to_vec(),
            is_dir: false,
            size,
            modified: None,
        };
        let html = listing_html("/", vec![entry(1536)], false);
        assert!(html.contains("<td class=\"n\">1,5 KiB</td>"), "{html}");
        let html = listing_html("/", vec![entry(5 << 30)], false);
        assert!(html.contains("<td class=\"n\">5,0 GiB</td>"), "{html}");
    }
}
