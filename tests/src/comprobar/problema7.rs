//! problema7: proxy HTTP. `comprobar` arranca un origen diminuto en 127.0.0.1 (que contesta a
//! cada petición con la cabecera que le llegó, para ver qué reenvió el proxy) y pide a través
//! del proxy: reenvío en forma absoluta y túnel `CONNECT`; en el protocolo completo, además,
//! cabeceras reescritas, cuerpos, conexión persistente y los errores del README.
//!
//! Nada sale de la máquina: el único destino que se pide es ese origen (o un puerto cerrado
//! de 127.0.0.1, o el propio proxy). Para `CONNECT` el proxy debe admitir el puerto del
//! origen: arránquelo con `--connect-ports P` y pase `--puerto-origen P` a comprobar.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::{show, Checker, Conn, Failure, Step};

/// Plazo del README para el cliente (`--client-timeout`).
const README_IDLE: Duration = Duration::from_secs(30);
/// Plazo de lectura del origen.
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// El origen de prueba: responde a cada petición HTTP con `200` y un cuerpo que repite la
/// cabecera recibida y cuántos bytes de cuerpo llegaron. Una conexión que empieza por `ECO\n`
/// es un eco de bytes hasta el fin de flujo (para el túnel). Al soltarlo se detiene.
struct Origin {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept_loop: Option<thread::JoinHandle<()>>,
}

impl Origin {
    fn start(port: u16) -> Result<Self, Failure> {
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            Failure::new(format!(
                "no se pudo abrir el origen en 127.0.0.1:{port}: {e}"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::new(format!("origen sin dirección: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let accept_loop = thread::Builder::new()
            .name("comprobar-origen".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(s) = stream {
                        let _ = thread::Builder::new()
                            .name("comprobar-origen-con".into())
                            .spawn(move || serve_origin(s));
                    }
                }
            })
            .map_err(|e| Failure::new(format!("no se pudo crear el hilo del origen: {e}")))?;
        Ok(Self {
            addr,
            stop,
            accept_loop: Some(accept_loop),
        })
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Despierta al accept bloqueado y espera a que suelte el puerto (otra ejecución puede
        // querer el mismo enseguida).
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
            if let Some(h) = self.accept_loop.take() {
                let _ = h.join();
            }
        }
    }
}

/// Una conexión con el origen: las peticiones se leen con `common::http` (el analizador del
/// proyecto; aquí solo hace de servidor de prueba, no se comprueba a sí mismo).
fn serve_origin(stream: TcpStream) {
    use common::http::{self, BodyReader, ChunkLimits, Limits};
    let _ = stream.set_read_timeout(Some(ORIGIN_TIMEOUT));
    let _ = stream.set_write_timeout(Some(ORIGIN_TIMEOUT));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        if reader
            .fill_buf()
            .map(|b| b.starts_with(b"ECO\n"))
            .unwrap_or(false)
        {
            // Túnel: eco de bytes hasta el fin de flujo, y luego cierre.
            let _ = std::io::copy(&mut reader, &mut out);
            let _ = out.shutdown(NetShutdown::Write);
            return;
        }
        let Ok(Some(head)) = http::read_request_head(&mut reader, &Limits::default()) else {
            return;
        };
        let Ok(kind) = http::request_body_kind(&head) else {
            return;
        };
        let mut body = Vec::new();
        if BodyReader::new(&mut reader, kind, ChunkLimits::default())
            .take(16 << 20)
            .read_to_end(&mut body)
            .is_err()
        {
            return;
        }
        let mut seen = Vec::new();
        let _ = http::write_request_head(&mut seen, &head);
        let reply = format!(
            "{}--cuerpo: {} bytes: {}\n",
            String::from_utf8_lossy(&seen),
            body.len(),
            String::from_utf8_lossy(&body)
        );
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nX-Origen: comprobar\r\n\r\n{reply}",
            reply.len()
        );
        if out.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Una respuesta leída: estado, cabecera entera (en minúsculas para buscar) y cuerpo.
struct Reply {
    status_line: String,
    head_lower: String,
    body: String,
}

impl Reply {
    fn status(&self) -> Option<u16> {
        self.status_line.split(' ').nth(1)?.parse().ok()
    }

    fn brief(&self) -> String {
        format!(
            "{:?} y {} bytes de cuerpo",
            self.status_line,
            self.body.len()
        )
    }
}

/// Lee una respuesta (cabecera y cuerpo por `Content-Length` o `chunked`).
fn read_reply(c: &mut Conn, method: &str) -> Result<Reply, Failure> {
    let head = String::from_utf8_lossy(&c.through(b"\r\n\r\n")?).into_owned();
    let status_line = head.lines().next().unwrap_or_default().to_string();
    let head_lower = head.to_ascii_lowercase();
    let mut reply = Reply {
        status_line,
        head_lower,
        body: String::new(),
    };
    let no_body =
        method == "HEAD" || method == "CONNECT" || matches!(reply.status(), Some(204 | 304));
    if no_body {
        return Ok(reply);
    }
    if let Some(len) = reply
        .head_lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        reply.body = String::from_utf8_lossy(&c.exact(len)?).into_owned();
    } else if reply.head_lower.contains("transfer-encoding: chunked") {
        let mut body = Vec::new();
        loop {
            let size = c.line()?;
            let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| Failure::new(format!("tamaño de trozo no válido {size:?}")))?;
            if n == 0 {
                while !c.line()?.is_empty() {}
                break;
            }
            body.extend_from_slice(&c.exact(n)?);
            c.line()?;
        }
        reply.body = String::from_utf8_lossy(&body).into_owned();
    } else {
        reply.body =
            String::from_utf8_lossy(&c.until_closed(Duration::from_secs(10))?).into_owned();
    }
    Ok(reply)
}

fn request(
    proxy: SocketAddr,
    timeout: Duration,
    raw: &str,
    method: &str,
) -> Result<Reply, Failure> {
    let mut c = Conn::open(proxy, timeout)?;
    c.send(raw.as_bytes())?;
    read_reply(&mut c, method)
}

fn expect_status(r: Reply, status: u16) -> Result<Reply, Failure> {
    if r.status() != Some(status) {
        return Err(Failure::new(r.brief()));
    }
    Ok(r)
}

pub(super) fn run(ch: &mut Checker<'_>) {
    let (proxy, timeout) = (ch.opts.addr, ch.opts.timeout);
    let origin = match Origin::start(ch.opts.origin_port) {
        Ok(o) => o,
        Err(f) => {
            ch.check(
                Step {
                    name: "origen de prueba",
                    sent: "nada",
                    expected: "poder abrir el origen en 127.0.0.1",
                },
                || Err(f),
            );
            return;
        }
    };
    let o = origin.addr;
    ch.note(&format!("(origen de prueba de comprobar en {o})"));

    ch.check(
        Step {
            name: "GET en forma absoluta",
            sent: &format!("GET http://{o}/hola HTTP/1.1"),
            expected: "la respuesta del origen (200), que recibió `GET /hola HTTP/1.1` con `Host`",
        },
        || {
            let raw = format!("GET http://{o}/hola HTTP/1.1\r\nHost: {o}\r\nConnection: close\r\n\r\n");
            let r = expect_status(request(proxy, timeout, &raw, "GET")?, 200)?;
            if !r.body.starts_with("GET /hola HTTP/1.1\r\n") || !r.body.contains(&format!("Host: {o}")) {
                return Err(Failure::hint(
                    format!("{}; el origen recibió {}", r.brief(), show(r.body.as_bytes())),
                    "hacia el origen la línea va en forma de origen (`GET /hola HTTP/1.1`) con la cabecera Host",
                ));
            }
            Ok(r.brief())
        },
    );

    ch.check(
        Step {
            name: "túnel CONNECT",
            sent: &format!("CONNECT {o} HTTP/1.1 y luego bytes por el túnel, con medio cierre"),
            expected: "`HTTP/1.1 200 ...`, los mismos bytes de vuelta y el cierre",
        },
        || {
            let mut c = Conn::open(proxy, timeout)?;
            c.send(format!("CONNECT {o} HTTP/1.1\r\nHost: {o}\r\n\r\n").as_bytes())?;
            let r = read_reply(&mut c, "CONNECT")?;
            if r.status() != Some(200) {
                let hint = if r.status() == Some(403) {
                    format!("¿admite el proxy el puerto {}? Arránquelo con `--connect-ports {}` y pase `--puerto-origen {}` a comprobar", o.port(), o.port(), o.port())
                } else {
                    "a CONNECT el proxy responde `HTTP/1.1 200 Connection Established` y copia bytes en los dos sentidos".into()
                };
                return Err(Failure::hint(r.brief(), hint));
            }
            c.send(b"ECO\nbytes por el tunel \x00\xff\n")?;
            c.shutdown_write();
            let got = c.until_closed(timeout)?;
            if got != b"ECO\nbytes por el tunel \x00\xff\n" {
                return Err(Failure::hint(
                    show(&got),
                    "el túnel copia los bytes tal cual y, si un lado cierra su escritura, se lo pasa al otro",
                ));
            }
            Ok(format!("{} y el eco exacto con el cierre", r.brief()))
        },
    );

    if ch.completo() {
        completo(ch, o);
    }
    drop(origin);
}

fn completo(ch: &mut Checker<'_>, o: SocketAddr) {
    let (proxy, timeout) = (ch.opts.addr, ch.opts.timeout);
    ch.check(
        Step {
            name: "cabeceras reescritas",
            sent: "GET con `Proxy-Connection`, `Connection: X-Quitar` y `X-Quitar`",
            expected: "que el origen reciba `Via` y `X-Forwarded-For` sin las de salto, y la respuesta traiga `Via`",
        },
        || {
            let raw = format!(
                "GET http://{o}/c HTTP/1.1\r\nHost: {o}\r\nProxy-Connection: keep-alive\r\nConnection: X-Quitar, close\r\nX-Quitar: 1\r\nX-Quedar: 1\r\n\r\n"
            );
            let r = expect_status(request(proxy, timeout, &raw, "GET")?, 200)?;
            let seen = r.body.to_ascii_lowercase();
            let bad = ["proxy-connection:", "x-quitar:"].iter().find(|h| seen.contains(**h)).copied();
            let missing = ["via:", "x-forwarded-for:", "x-quedar:"].iter().find(|h| !seen.contains(**h)).copied();
            if bad.is_some() || missing.is_some() || !r.head_lower.contains("\r\nvia:") {
                return Err(Failure::new(format!(
                    "el origen recibió {} (sobra {bad:?}, falta {missing:?}); respuesta con Via: {}",
                    show(r.body.as_bytes()),
                    r.head_lower.contains("\r\nvia:")
                )));
            }
            Ok("Via y X-Forwarded-For añadidas, las de salto quitadas".into())
        },
    );

    ch.check(
        Step {
            name: "cuerpos y conexión persistente",
            sent: "POST con Content-Length, POST chunked y GET por la misma conexión",
            expected: "tres respuestas en orden, con los cuerpos íntegros en el origen",
        },
        || {
            let mut c = Conn::open(proxy, timeout)?;
            c.send(format!("POST http://{o}/a HTTP/1.1\r\nHost: {o}\r\nContent-Length: 5\r\n\r\nhola\n").as_bytes())?;
            let r1 = expect_status(read_reply(&mut c, "POST")?, 200)?;
            c.send(format!("POST http://{o}/b HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_bytes())?;
            let r2 = expect_status(read_reply(&mut c, "POST")?, 200)?;
            c.send(format!("GET http://{o}/c HTTP/1.1\r\nHost: {o}\r\n\r\n").as_bytes())?;
            let r3 = expect_status(read_reply(&mut c, "GET")?, 200)?;
            if !r1.body.contains("--cuerpo: 5 bytes: hola") || !r2.body.contains("--cuerpo: 5 bytes: abcde") || !r3.body.starts_with("GET /c ") {
                return Err(Failure::new(format!(
                    "el origen vio {:?}, {:?} y {:?}",
                    r1.body, r2.body, r3.body
                )));
            }
            Ok("200, 200 y 200 con los cuerpos íntegros".into())
        },
    );

    let closed_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    // (nombre, petición, estado esperado)
    let cases: Vec<(&str, String, u16)> = vec![
        ("origen que no escucha", format!("GET http://127.0.0.1:{closed_port}/ HTTP/1.1\r\nHost: 127.0.0.1:{closed_port}\r\n\r\n"), 502),
        ("petición al propio proxy (bucle)", format!("GET http://{proxy}/ HTTP/1.1\r\nHost: {proxy}\r\n\r\n"), 508),
        ("Content-Length y Transfer-Encoding juntos", format!("POST http://{o}/ HTTP/1.1\r\nHost: {o}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400),
        ("https en forma absoluta", format!("GET https://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\n"), 400),
        ("espacio antes de ':'", format!("GET http://{o}/ HTTP/1.1\r\nHost : {o}\r\n\r\n"), 400),
        ("CONNECT a un puerto no admitido", format!("CONNECT 127.0.0.1:{closed_port} HTTP/1.1\r\nHost: 127.0.0.1:{closed_port}\r\n\r\n"), 403),
        ("línea de petición enorme", format!("GET http://{o}/{} HTTP/1.1\r\nHost: {o}\r\n\r\n", "a".repeat(9000)), 414),
        ("cabeceras enormes", format!("GET http://{o}/ HTTP/1.1\r\nHost: {o}\r\nX-Relleno: {}\r\n\r\n", "a".repeat(33_000)), 431),
    ];
    for (name, raw, status) in cases {
        let first = raw.lines().next().unwrap_or_default();
        let shown = if first.len() > 70 {
            format!(
                "{}… ({} bytes)",
                first.get(..40).unwrap_or_default(),
                raw.len()
            )
        } else {
            first.to_string()
        };
        ch.check(
            Step {
                name,
                sent: &shown,
                expected: &status.to_string(),
            },
            || {
                let method = if raw.starts_with("CONNECT") {
                    "CONNECT"
                } else {
                    "GET"
                };
                Ok(expect_status(request(proxy, timeout, &raw, method)?, status)?.brief())
            },
        );
    }

    if let Some(wait) = ch.idle_wait(
        "petición que no acaba de llegar",
        README_IDLE,
        "--client-timeout 2",
    ) {
        ch.check(
            Step {
                name: "petición que no acaba de llegar",
                sent: "la línea de petición y nada más",
                expected: &format!("408 en unos {} s", wait.as_secs()),
            },
            || {
                let mut c = Conn::open(proxy, wait + timeout)?;
                c.send(format!("GET http://{o}/ HTTP/1.1\r\n").as_bytes())?;
                Ok(expect_status(read_reply(&mut c, "GET")?, 408)?.brief())
            },
        );
    }
}
