//! problema4: servidor HTTP de ficheros. `GET` y `HEAD` de ficheros byte a byte con
//! `Content-Type` y `Content-Length`, 404, directorios; en el protocolo completo, además,
//! conexiones persistentes, rangos, condicionales, errores de la RFC y límites.
//!
//! Para comparar bytes, `comprobar` necesita ver el directorio que sirve el servidor
//! (`--dir`, por omisión el actual) y un fichero dentro (`--fichero`, por omisión el primero
//! que encuentre): pide `/RUTA` y compara lo recibido con `DIR/RUTA`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::conexion::contains;
use super::{show, Checker, ComprobarError, Conn, Failure, Step};

/// Plazo del README para recibir una petición entera (`--timeout`).
const README_IDLE: Duration = Duration::from_secs(10);

/// Una respuesta HTTP leída.
struct Response {
    status: u16,
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Resumen legible: línea de estado, cabeceras que importan y tamaño del cuerpo.
    fn brief(&self) -> String {
        let mut s = format!("{:?}", self.status_line);
        for name in [
            "Content-Type",
            "Content-Length",
            "Content-Range",
            "Location",
            "Allow",
        ] {
            if let Some(v) = self.header(name) {
                s.push_str(&format!(", {name}: {v}"));
            }
        }
        s.push_str(&format!(", cuerpo de {} bytes", self.body.len()));
        s
    }

    fn expect_status(self, status: u16) -> Result<Self, Failure> {
        if self.status != status {
            return Err(Failure::new(self.brief()));
        }
        Ok(self)
    }
}

/// Separa la cabecera (hasta la línea vacía, con `\r\n` o, tolerantes, `\n`).
fn parse_head(head: &[u8]) -> Result<Response, Failure> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().unwrap_or_default().to_string();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|c| c.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/"), status) else {
        return Err(Failure::hint(
            format!("una línea de estado no válida: {status_line:?}"),
            "la respuesta empieza por `HTTP/1.0 200 OK` (versión, código y motivo) y `\\r\\n`",
        ));
    };
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        status_line,
        headers,
        body: Vec::new(),
    })
}

/// Envía `raw` por una conexión nueva y lee la respuesta hasta que el servidor cierre (lo que
/// hace un servidor HTTP/1.0 y el nuestro con `Connection: close`).
fn until_close(
    addr: std::net::SocketAddr,
    timeout: Duration,
    raw: &[u8],
) -> Result<Response, Failure> {
    let mut c = Conn::open(addr, timeout)?;
    c.send(raw)?;
    let all = c.until_closed(timeout).map_err(|f| {
        f.with_hint("con `Connection: close` (o en HTTP/1.0) el servidor cierra tras la respuesta")
    })?;
    let (head_end, sep) = match (find(&all, b"\r\n\r\n"), find(&all, b"\n\n")) {
        (Some(i), _) => (i, 4),
        (None, Some(i)) => (i, 2),
        (None, None) => {
            return Err(Failure::hint(
                format!("sin línea en blanco tras las cabeceras: {}", show(&all)),
                "tras las cabeceras va una línea vacía (`\\r\\n\\r\\n`) y luego el cuerpo",
            ))
        }
    };
    let mut r = parse_head(all.get(..head_end).unwrap_or_default())?;
    r.body = all.get(head_end + sep..).unwrap_or_default().to_vec();
    Ok(r)
}

/// Lee una respuesta de una conexión persistente: la cabecera y tantos bytes de cuerpo como
/// diga `Content-Length` (ninguno para `HEAD`, 304 y 1xx).
fn read_one(c: &mut Conn, method: &str) -> Result<Response, Failure> {
    let head = c.through(b"\r\n\r\n")?;
    let mut r = parse_head(&head)?;
    if method != "HEAD" && r.status != 304 && r.status >= 200 {
        let len = r
            .header("Content-Length")
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| Failure::new(format!("sin Content-Length: {}", r.brief())))?;
        r.body = c.exact(len)?;
    }
    Ok(r)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").into_bytes()
}

/// El tipo que un servidor de ficheros debe anunciar para las extensiones más comunes
/// (`None`: cualquiera vale).
fn expected_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "html" | "htm" => "text/html",
        "txt" | "md" => "text/",
        "css" => "text/css",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "json" => "application/json",
        _ => return None,
    })
}

/// El fichero a pedir: el de `--fichero`, o el primer fichero normal de `dir` por orden de
/// nombre (sin ocultos).
fn pick_file(dir: &Path, given: Option<&str>) -> Result<String, ComprobarError> {
    if let Some(f) = given {
        return Ok(f.trim_start_matches('/').to_string());
    }
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| {
            ComprobarError::Missing(format!(
                "no se pudo leer el directorio {}: {e}. problema4 necesita --dir DIR (el directorio que sirve su servidor) y, si quiere, --fichero RUTA (un fichero dentro)",
                dir.display()
            ))
        })?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.') && n.bytes().all(|b| b.is_ascii_graphic()))
        .collect();
    names.sort();
    names.into_iter().next().ok_or_else(|| {
        ComprobarError::Missing(format!(
            "el directorio {} no tiene ningún fichero que pedir: ponga uno o indique --fichero RUTA",
            dir.display()
        ))
    })
}

pub(super) fn run(ch: &mut Checker<'_>) -> Result<(), ComprobarError> {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let dir = ch.opts.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let file = pick_file(&dir, ch.opts.file.as_deref())?;
    let local = fs::read(dir.join(&file)).map_err(|e| {
        ComprobarError::Missing(format!(
            "no se pudo leer {}: {e}. --fichero es una ruta dentro de --dir",
            dir.join(&file).display()
        ))
    })?;
    let url = format!("/{file}");
    ch.note(&format!(
        "(fichero de prueba: {url}, {} bytes, comparado con {})",
        local.len(),
        dir.join(&file).display()
    ));

    ch.check(
        Step {
            name: "GET / (un directorio)",
            sent: "GET / HTTP/1.1",
            expected: "200 con un listado o un index.html",
        },
        || {
            let r = until_close(addr, timeout, &get("/"))?;
            let r = r
                .expect_status(200)
                .map_err(|f| f.with_hint("GET / pide el directorio servido: un listado de sus ficheros (o su index.html)"))?;
            let has_index = dir.join("index.html").is_file();
            if !has_index && !file.contains('/') && !contains(&r.body, file.as_bytes()) {
                return Err(Failure::hint(
                    format!("{} sin {file:?} en el cuerpo", r.brief()),
                    "el listado de un directorio nombra sus ficheros (con un enlace a cada uno)",
                ));
            }
            Ok(r.brief())
        },
    );

    ch.check(
        Step {
            name: "GET de un fichero",
            sent: &format!("GET {url} HTTP/1.1"),
            expected: &format!(
                "200, Content-Type, Content-Length: {} y los mismos bytes",
                local.len()
            ),
        },
        || {
            let r = until_close(addr, timeout, &get(&url))?;
            if r.status == 404 {
                return Err(Failure::hint(
                    r.brief(),
                    format!(
                        "comprobar pidió {url} porque está en {}: ¿sirve su servidor ese directorio? Indíquelo con --dir (y el fichero con --fichero)",
                        dir.display()
                    ),
                ));
            }
            let r = r.expect_status(200)?;
            let Some(ctype) = r.header("Content-Type") else {
                return Err(Failure::hint(
                    r.brief(),
                    "falta la cabecera Content-Type: el navegador necesita saber qué es (mimetypes.guess_type en Python)",
                ));
            };
            if let Some(want) = expected_type(&file) {
                if !ctype.starts_with(want) {
                    return Err(Failure::hint(
                        r.brief(),
                        format!("para {file} el tipo debería empezar por {want}"),
                    ));
                }
            }
            let Some(len) = r.header("Content-Length") else {
                return Err(Failure::hint(
                    r.brief(),
                    "falta la cabecera Content-Length: sin ella el cliente no sabe dónde acaba el cuerpo ni puede mostrar el progreso",
                ));
            };
            if len.parse::<usize>().ok() != Some(local.len()) {
                return Err(Failure::hint(
                    r.brief(),
                    "Content-Length es el tamaño del cuerpo en bytes (len() de los bytes, no de un str)",
                ));
            }
            if r.body != local {
                let at = r.body.iter().zip(&local).position(|(a, b)| a != b);
                return Err(Failure::hint(
                    format!("{} (distinto del fichero local{})", r.brief(), at.map(|i| format!(" desde el byte {i}")).unwrap_or_default()),
                    "abra el fichero en modo binario ('rb') y envíe todos sus bytes con sendall()",
                ));
            }
            Ok(r.brief())
        },
    );

    ch.check(
        Step {
            name: "fichero que no existe",
            sent: "GET /no-existe-comprobar.txt HTTP/1.1",
            expected: "404",
        },
        || {
            let r = until_close(addr, timeout, &get("/no-existe-comprobar.txt"))?;
            Ok(r.expect_status(404)
                .map_err(|f| f.with_hint("si el fichero no existe, `HTTP/1.0 404 Not Found`"))?
                .brief())
        },
    );

    ch.check(
        Step {
            name: "HEAD de un fichero",
            sent: &format!("HEAD {url} HTTP/1.1"),
            expected: &format!("200 con Content-Length: {} y sin cuerpo", local.len()),
        },
        || {
            let raw = format!("HEAD {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let r = until_close(addr, timeout, raw.as_bytes())?.expect_status(200)?;
            let len_ok = r.header("Content-Length").and_then(|v| v.parse::<usize>().ok())
                == Some(local.len());
            if !len_ok || !r.body.is_empty() {
                return Err(Failure::hint(
                    r.brief(),
                    "HEAD da las mismas cabeceras que GET (Content-Length incluido) pero ningún byte de cuerpo",
                ));
            }
            Ok(r.brief())
        },
    );

    if ch.completo() {
        completo(ch, &dir, &url, &local);
    }
    Ok(())
}

fn completo(ch: &mut Checker<'_>, dir: &Path, url: &str, local: &[u8]) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let size = local.len();

    ch.check(
        Step {
            name: "conexión persistente y pipelining",
            sent: &format!("HEAD {url}, GET {url} y GET / con `Connection: close`, seguidas en una conexión"),
            expected: "tres respuestas en orden, Date y Server en cada una, y el cierre",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            c.send(
                format!(
                    "HEAD {url} HTTP/1.1\r\nHost: x\r\n\r\nGET {url} HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )?;
            let head = read_one(&mut c, "HEAD")?.expect_status(200)?;
            let body = read_one(&mut c, "GET")?.expect_status(200)?;
            let root = read_one(&mut c, "GET")?.expect_status(200)?;
            for r in [&head, &body, &root] {
                if r.header("Date").is_none() || r.header("Server").is_none() {
                    return Err(Failure::new(format!("sin Date o Server: {}", r.brief())));
                }
            }
            if body.body != local {
                return Err(Failure::new("el cuerpo del segundo no es el fichero"));
            }
            c.until_closed(timeout)?;
            Ok("200, 200, 200 y el cierre".into())
        },
    );

    // (nombre, petición, estado esperado, cabecera esperada)
    type Case<'a> = (&'a str, String, u16, Option<(&'a str, &'a str)>);
    let statuses: Vec<Case> = vec![
        (
            "POST no se admite",
            format!("POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            405,
            Some(("Allow", "GET, HEAD")),
        ),
        (
            "método desconocido",
            "BREW / HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            501,
            None,
        ),
        (
            "versión no admitida",
            "GET / HTTP/2.0\r\nHost: x\r\n\r\n".into(),
            505,
            None,
        ),
        (
            "espacio antes de ':'",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n".into(),
            400,
            None,
        ),
        (
            "HTTP/1.1 sin Host",
            "GET / HTTP/1.1\r\n\r\n".into(),
            400,
            None,
        ),
        (
            "salir del directorio",
            format!("GET /..{url} HTTP/1.1\r\nHost: x\r\n\r\n"),
            403,
            None,
        ),
        (
            "'..' codificado",
            "GET /%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            403,
            None,
        ),
        (
            "línea de petición enorme",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000)),
            414,
            None,
        ),
        (
            "cabeceras enormes",
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Relleno: {}\r\n\r\n",
                "a".repeat(33_000)
            ),
            431,
            None,
        ),
        (
            "rango fuera del fichero",
            format!(
                "GET {url} HTTP/1.1\r\nHost: x\r\nRange: bytes={}-\r\nConnection: close\r\n\r\n",
                size + 10
            ),
            416,
            Some(("Content-Range", "bytes */SIZE")),
        ),
    ];
    for (name, raw, status, header) in statuses {
        let first_line = raw.lines().next().unwrap_or_default().to_string();
        let first_line = if first_line.len() > 60 {
            format!(
                "{}… ({} bytes)",
                first_line.get(..40).unwrap_or_default(),
                raw.len()
            )
        } else {
            first_line
        };
        let header = header.map(|(n, v)| (n, v.replace("SIZE", &size.to_string())));
        ch.check(
            Step {
                name,
                sent: &first_line,
                expected: &match &header {
                    Some((n, v)) => format!("{status} con {n}: {v}"),
                    None => status.to_string(),
                },
            },
            || {
                let mut c = Conn::open(addr, timeout)?;
                c.send(raw.as_bytes())?;
                let r = read_one(&mut c, "GET")?.expect_status(status)?;
                if let Some((n, v)) = &header {
                    if r.header(n) != Some(v.as_str()) {
                        return Err(Failure::new(r.brief()));
                    }
                }
                Ok(r.brief())
            },
        );
    }

    if size >= 4 {
        ch.check(
            Step {
                name: "rango de bytes",
                sent: &format!("GET {url} con Range: bytes=0-3"),
                expected: &format!("206, Content-Range: bytes 0-3/{size} y los 4 primeros bytes"),
            },
            || {
                let raw = format!("GET {url} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\nConnection: close\r\n\r\n");
                let mut c = Conn::open(addr, timeout)?;
                c.send(raw.as_bytes())?;
                let r = read_one(&mut c, "GET")?.expect_status(206)?;
                if r.header("Content-Range") != Some(&format!("bytes 0-3/{size}"))
                    || Some(r.body.as_slice()) != local.get(..4)
                {
                    return Err(Failure::new(r.brief()));
                }
                Ok(r.brief())
            },
        );
    }

    ch.check(
        Step {
            name: "petición condicional",
            sent: &format!("GET {url} con If-None-Match: la ETag de una respuesta anterior"),
            expected: "304 sin cuerpo",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            c.send(format!("HEAD {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
            let r = read_one(&mut c, "HEAD")?.expect_status(200)?;
            let etag = r
                .header("ETag")
                .ok_or_else(|| Failure::new(format!("sin ETag: {}", r.brief())))?
                .to_string();
            c.send(
                format!("GET {url} HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n")
                    .as_bytes(),
            )?;
            Ok(read_one(&mut c, "GET")?.expect_status(304)?.brief())
        },
    );

    let subdir = fs::read_dir(dir).ok().and_then(|entries| {
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| {
                !n.starts_with('.')
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
            .collect();
        names.sort();
        names.into_iter().next()
    });
    match subdir {
        Some(sub) => {
            ch.check(
                Step {
                    name: "directorio sin barra final",
                    sent: &format!("GET /{sub}"),
                    expected: &format!("301 con Location: /{sub}/"),
                },
                || {
                    let mut c = Conn::open(addr, timeout)?;
                    c.send(format!("GET /{sub} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
                    let r = read_one(&mut c, "GET")?.expect_status(301)?;
                    if r.header("Location") != Some(&format!("/{sub}/")) {
                        return Err(Failure::new(r.brief()));
                    }
                    Ok(r.brief())
                },
            );
        }
        None => ch.skip(
            "directorio sin barra final",
            "el directorio servido no tiene subdirectorios",
        ),
    }

    ch.check(
        Step {
            name: "HTTP/1.0 cierra tras la respuesta",
            sent: &format!("GET {url} HTTP/1.0"),
            expected: "200 y el cierre",
        },
        || {
            let r = until_close(
                addr,
                timeout,
                format!("GET {url} HTTP/1.0\r\n\r\n").as_bytes(),
            )?;
            Ok(r.expect_status(200)?.brief())
        },
    );

    if let Some(wait) = ch.idle_wait(
        "petición que no acaba de llegar",
        README_IDLE,
        "--timeout 2",
    ) {
        ch.check(
            Step {
                name: "petición que no acaba de llegar",
                sent: "\"GET / HTTP/1.1\\r\\n\" y nada más",
                expected: &format!("408 en unos {} s", wait.as_secs()),
            },
            || {
                let start = Instant::now();
                let mut c = Conn::open(addr, wait + timeout)?;
                c.send(b"GET / HTTP/1.1\r\n")?;
                let r = read_one(&mut c, "GET")?.expect_status(408)?;
                Ok(format!(
                    "{} a los {}",
                    r.brief(),
                    common::progress::format_seconds(start.elapsed())
                ))
            },
        );
    }
}
