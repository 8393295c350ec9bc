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
    /// La ruta no empieza por `/`, tiene `%` mal formado, NUL, barra invertida o una barra
    /// codificada (`%2F`): 400.
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
/// se rechazan `.` y `..` (también codificados), barras codificadas, barras invertidas y NUL.
/// Las barras repetidas se ignoran.
///
/// ```
/// use problema4::protocolo::{decode_path, PathError};
/// assert_eq!(decode_path("/a/b%20c/").unwrap(), vec!["a".as_bytes().to_vec(), b"b c".to_vec()]);
/// assert_eq!(decode_path("/a/../b").unwrap_err(), PathError::Outside);
/// assert_eq!(decode_path("/%2e%2E/x").unwrap_err(), PathError::Outside);
/// assert!(decode_path("/a%2fb").is_err());
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
        if !valid_percent(seg) {
            return Err(PathError::Malformed("secuencia % no válida"));
        }
        let decoded: Vec<u8> = percent_decode(seg.as_bytes()).collect();
        if decoded.contains(&0) {
            return Err(PathError::Malformed("byte NUL"));
        }
        if decoded.contains(&b'/') || decoded.contains(&b'\\') {
            return Err(PathError::Malformed("barra codificada o invertida"));
        }
        if decoded == b"." || decoded == b".." {
            return Err(PathError::Outside);
        }
        segments.push(decoded);
    }
    Ok(segments)
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

/// ¿Coincide alguna etiqueta de `If-None-Match` con `tag`? Comparación débil (RFC 9110
/// §13.1.2): se ignora el prefijo `W/`; `*` coincide siempre.
pub fn none_match(header: &str, tag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let tag = strip(tag);
    header
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == tag)
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

/// Lo que pide una cabecera `Range` sobre un fichero de `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Sin rango útil (ausente, de otra unidad, mal formado o varios rangos): se sirve entero.
    Full,
    /// Los bytes `start..=end`: 206.
    Partial {
        /// Primer byte.
        start: u64,
        /// Último byte (incluido).
        end: u64,
    },
    /// Ningún byte del rango existe: 416 con `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Interpreta `Range: bytes=a-b` (un solo rango, RFC 9110 §14.1.2) para un fichero de `len`
/// bytes. Varios rangos o una sintaxis que no entendemos se ignoran (se sirve entero, que la
/// RFC permite).
///
/// ```
/// use problema4::protocolo::{parse_range, RangeRequest::*};
/// assert_eq!(parse_range("bytes=0-9", 100), Partial { start: 0, end: 9 });
/// assert_eq!(parse_range("bytes=90-", 100), Partial { start: 90, end: 99 });
/// assert_eq!(parse_range("bytes=-10", 100), Partial { start: 90, end: 99 });
/// assert_eq!(parse_range("bytes=50-500", 100), Partial { start: 50, end: 99 });
/// assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
/// assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
/// ```
pub fn parse_range(header: &str, len: u64) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
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
        return match num(b) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        };
    }
    let Some(start) = num(a) else {
        return RangeRequest::Full;
    };
    let end = if b.is_empty() {
        None
    } else {
        match num(b) {
            Some(e) if e >= start => Some(e),
            _ => return RangeRequest::Full,
        }
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    let last = len - 1;
    RangeRequest::Partial {
        start,
        end: end.map_or(last, |e| e.min(last)),
    }
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
            human_size(e.size)
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

/// Tamaño legible: bytes exactos por debajo de 1 KiB, si no KiB/MiB/GiB con un decimal.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
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
            "/a%5c..%5cb",
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
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-0", 1), Partial { start: 0, end: 0 });
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-50", 10), Partial { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=5-4", 10), Full);
        assert_eq!(parse_range("items=0-4", 10), Full);
        assert_eq!(parse_range("bytes=a-4", 10), Full);
        assert_eq!(parse_range("bytes=", 10), Full);
        assert_eq!(parse_range("bytes=9-9", 10), Partial { start: 9, end: 9 });
        assert_eq!(parse_range("bytes=10-10", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-99999999999999999999999", 10), Full);
    }

    #[test]
    fn conditionals() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let tag = etag(t, 10);
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("\"x\", W/{tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"otro\"", &tag));
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
            "<a href=\"./%3Cscript%3E%26x%20y.txt\">&lt;script&gt;&amp;x y.txt</a></td><td class=\"n\">2.0 KiB</td><td>Thu, 01 Jan 1970 00:00:00 GMT</td>"
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
                        prop_assert!(!seg.contains(&b'/') && !seg.contains(&b'\\') && !seg.contains(&0));
                    }
                }
            }

            #[test]
            fn ranges_stay_inside_the_file(header in "bytes=[0-9]{0,5}-[0-9]{0,5}", len in 0u64..100_000) {
                if let RangeRequest::Partial { start, end } = parse_range(&header, len) {
                    prop_assert!(start <= end && end < len);
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
    fn sizes_are_human() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
