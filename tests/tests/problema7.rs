//! Pruebas de extremo a extremo del proxy (problema7): sockets reales, el proxy dentro del
//! proceso y orígenes de prueba diminutos escritos aquí mismo, que anotan lo que reciben y
//! contestan bytes exactos.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::http::{self, BodyReader, ChunkLimits, Limits};
use problema7::servidor::access::Credentials;
use problema7::ServerConfig;
use tests::{connect, require_tool, run_with_timeout, start_server, ServerGuard, IO_TIMEOUT};

// ---------------------------------------------------------------------------------------
// Orígenes de prueba
// ---------------------------------------------------------------------------------------

/// Una petición tal como la vio el origen.
#[derive(Debug, Clone)]
struct Seen {
    /// Cabecera cruda, con su CRLF final.
    head: String,
    /// Cuerpo ya sin la codificación `chunked`.
    body: Vec<u8>,
}

impl Seen {
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// Valores de la cabecera `name` (sin distinguir mayúsculas).
    fn header(&self, name: &str) -> Vec<String> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// La respuesta que da un origen de prueba: bytes exactos y si cierra después.
struct Reply {
    bytes: Vec<u8>,
    close: bool,
}

fn reply(bytes: &[u8]) -> Reply {
    Reply {
        bytes: bytes.to_vec(),
        close: false,
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// Un servidor HTTP mínimo: lee peticiones (cabecera cruda + cuerpo por `Content-Length` o
/// `chunked`), las anota y contesta lo que diga `handler`.
struct TestOrigin {
    addr: SocketAddr,
    seen: Receiver<Seen>,
    accepted: Arc<AtomicUsize>,
}

impl TestOrigin {
    fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), handler)
    }

    /// Como [`TestOrigin::start`], en un listener que la prueba ya abrió.
    fn start_on(
        listener: TcpListener,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc = Arc::clone(&accepted);
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                acc.fetch_add(1, Ordering::SeqCst);
                let tx = tx.clone();
                let handler = Arc::clone(&handler);
                thread::spawn(move || origin_conn(stream, tx, handler));
            }
        });
        TestOrigin {
            addr,
            seen: rx,
            accepted,
        }
    }

    /// La siguiente petición que recibió el origen (falla si no llega).
    fn next(&self) -> Seen {
        self.seen
            .recv_timeout(IO_TIMEOUT)
            .expect("el origen no recibió la petición")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn origin_conn(stream: TcpStream, tx: Sender<Seen>, handler: Arc<Handler>) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut seen = Seen {
            head,
            body: Vec::new(),
        };
        if let Some(n) = seen.header("content-length").first() {
            let mut body = vec![0; n.parse().unwrap()];
            reader.read_exact(&mut body).unwrap();
            seen.body = body;
        } else if seen
            .header("transfer-encoding")
            .iter()
            .any(|v| v.contains("chunked"))
        {
            let mut body =
                BodyReader::new(&mut reader, http::BodyKind::Chunked, ChunkLimits::default());
            body.read_to_end(&mut seen.body).unwrap();
        }
        let r = handler(&seen);
        let _ = tx.send(seen);
        if out.write_all(&r.bytes).is_err() {
            return;
        }
        if r.close {
            let _ = out.shutdown(NetShutdown::Write);
            return;
        }
    }
}

/// Un origen que contesta siempre `body` con `Content-Length`.
fn ok_origin(body: &'static str) -> TestOrigin {
    TestOrigin::start(move |_| {
        reply(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    })
}

/// Un servidor TCP que lee todo hasta el fin de flujo y contesta cuántos bytes recibió, para
/// probar túneles con medio cierre. También envía un saludo nada más aceptar.
fn tcp_counter_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            thread::spawn(move || {
                stream.write_all(b"hola\n").unwrap();
                let mut all = Vec::new();
                stream.read_to_end(&mut all).unwrap();
                let msg = format!(
                    "recibidos {} bytes: {}\n",
                    all.len(),
                    String::from_utf8_lossy(&all)
                );
                stream.write_all(msg.as_bytes()).unwrap();
            });
        }
    });
    addr
}

/// Una dirección en la que nadie escucha.
fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

// ---------------------------------------------------------------------------------------
// Proxy y cliente de prueba
// ---------------------------------------------------------------------------------------

fn start_proxy(config: ServerConfig) -> ServerGuard {
    start_server(move |listener, shutdown| problema7::run(listener, config, shutdown))
}

fn proxy() -> ServerGuard {
    start_proxy(ServerConfig::default())
}

/// Una conexión de cliente al proxy con lectura de respuestas vía `common::http`.
/// La conexión HTTP del arnés, con la comprobación de cierre propia de estas pruebas.
type Conn = tests::HttpConn;

trait Closed {
    /// ¿Cerró el otro extremo la conexión?
    fn is_closed(&mut self) -> bool;
}

impl Closed for Conn {
    fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => common::net::is_disconnect(&e),
        }
    }
}

fn get(url: &str) -> String {
    format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// Pide las estadísticas al proxy.
fn stats(p: &ServerGuard) -> serde_json::Value {
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request(
        "GET",
        "GET http://proxy.local/stats HTTP/1.1\r\nHost: proxy.local\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.headers.get("content-type"), Some("application/json"));
    serde_json::from_slice(&body).unwrap()
}

// ---------------------------------------------------------------------------------------
// Reenvío y delimitación de cuerpos
// ---------------------------------------------------------------------------------------

#[test]
fn absolute_form_is_forwarded_in_origin_form_with_via_and_forwarded_for() {
    let origin = ok_origin("hola");
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request(
        "GET",
        &format!(
            "GET {} HTTP/1.1\r\nHost: otro\r\nAccept: */*\r\nVia: 1.0 anterior\r\n\r\n",
            origin.url("/a/b?c=1")
        ),
    );
    assert_eq!(head.status, 200);
    assert_eq!(body, b"hola");
    assert_eq!(head.headers.get("via"), Some("1.1 taller-proxy"));
    let seen = origin.next();
    assert_eq!(seen.request_line(), "GET /a/b?c=1 HTTP/1.1");
    // RFC 9112 §3.2.2: el Host es el del destino, no el que mandó el cliente.
    assert_eq!(seen.header("host"), [origin.addr.to_string()]);
    assert_eq!(seen.header("via"), ["1.0 anterior, 1.1 taller-proxy"]);
    assert_eq!(seen.header("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.header("accept"), ["*/*"]);
}

#[test]
fn response_bytes_reach_the_client_exactly() {
    let origin = TestOrigin::start(|_| {
        reply(b"HTTP/1.1 201 Creado\r\nX-Uno: 1\r\nContent-Length: 3\r\n\r\nabc")
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    c.send(
        format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            origin.url("/")
        )
        .as_bytes(),
    );
    let mut raw = Vec::new();
    c.reader.read_to_end(&mut raw).unwrap();
    assert_eq!(
        String::from_utf8(raw).unwrap(),
        "HTTP/1.1 201 Creado\r\nX-Uno: 1\r\nContent-Length: 3\r\nVia: 1.1 taller-proxy\r\nConnection: close\r\n\r\nabc"
    );
}

#[test]
fn chunked_response_is_streamed_as_chunked() {
    let origin = TestOrigin::start(|_| {
        reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhola \r\n6\r\nmundo!\r\n0\r\n\r\n")
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(head.headers.get("transfer-encoding"), Some("chunked"));
    assert_eq!(body, b"hola mundo!");
    // La conexión sigue viva tras un cuerpo chunked.
    let (_, again) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(again, b"hola mundo!");
}

#[test]
fn close_delimited_response_becomes_chunked_for_http11_and_raw_for_http10() {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let body = big.clone();
    let origin = TestOrigin::start(move |_| {
        let mut bytes =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        bytes.extend_from_slice(&body);
        Reply { bytes, close: true }
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, got) = c.request("GET", &get(&origin.url("/grande")));
    assert_eq!(head.headers.get("transfer-encoding"), Some("chunked"));
    assert_eq!(got.len(), big.len());
    assert!(got == big);
    // El cliente HTTP/1.1 conserva su conexión.
    let (_, again) = c.request("GET", &get(&origin.url("/otra")));
    assert!(again == big);

    let mut old = Conn::new(p.addr);
    old.send(format!("GET {} HTTP/1.0\r\n\r\n", origin.url("/")).as_bytes());
    let (head, got) = old.response("GET");
    assert!(head.headers.get("transfer-encoding").is_none());
    assert_eq!(head.headers.get("connection"), Some("close"));
    assert!(got == big);
    assert!(old.is_closed());
}

#[test]
fn head_and_204_responses_have_no_body_and_keep_the_connection() {
    let origin = TestOrigin::start(|seen| {
        if seen.request_line().starts_with("HEAD") {
            reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        } else {
            reply(b"HTTP/1.1 204 No Content\r\n\r\n")
        }
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request(
        "HEAD",
        &format!("HEAD {} HTTP/1.1\r\nHost: x\r\n\r\n", origin.url("/")),
    );
    assert_eq!(head.headers.get("content-length"), Some("1234"));
    assert!(body.is_empty());
    let (head, body) = c.request(
        "DELETE",
        &format!("DELETE {} HTTP/1.1\r\nHost: x\r\n\r\n", origin.url("/")),
    );
    assert_eq!(head.status, 204);
    assert!(body.is_empty());
    let (head, _) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(head.status, 204);
}

#[test]
fn post_bodies_with_length_and_chunked_reach_the_origin() {
    let origin = TestOrigin::start(|seen| {
        let msg = format!("eco {} bytes", seen.body.len());
        reply(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{msg}",
                msg.len()
            )
            .as_bytes(),
        )
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (_, body) = c.request(
        "POST",
        &format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhola=mundo!",
            origin.url("/f")
        ),
    );
    assert_eq!(body, b"eco 11 bytes");
    let seen = origin.next();
    assert_eq!(seen.body, b"hola=mundo!");
    assert_eq!(seen.header("content-length"), ["11"]);

    let (_, body) = c.request(
        "PUT",
        &format!(
            "PUT {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n",
            origin.url("/g")
        ),
    );
    assert_eq!(body, b"eco 7 bytes");
    let seen = origin.next();
    assert_eq!(seen.request_line(), "PUT /g HTTP/1.1");
    assert_eq!(seen.body, b"abcdefg");
    assert_eq!(seen.header("transfer-encoding"), ["chunked"]);
    assert!(seen.header("content-length").is_empty());

    // Un POST vacío conserva su `Content-Length: 0`.
    let (_, body) = c.request(
        "POST",
        &format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            origin.url("/v")
        ),
    );
    assert_eq!(body, b"eco 0 bytes");
    assert_eq!(origin.next().header("content-length"), ["0"]);
}

#[test]
fn expect_continue_gets_100_from_the_proxy() {
    let origin = ok_origin("vale");
    let p = proxy();
    let mut c = Conn::new(p.addr);
    c.send(
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
            origin.url("/")
        )
        .as_bytes(),
    );
    let mut line = String::new();
    c.reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    c.reader.read_line(&mut line).unwrap();
    c.send(b"datos");
    let (head, body) = c.response("POST");
    assert_eq!((head.status, body.as_slice()), (200, &b"vale"[..]));
    let seen = origin.next();
    assert_eq!(seen.body, b"dato");
    assert!(seen.header("expect").is_empty());
}

// ---------------------------------------------------------------------------------------
// Cabeceras de salto y reglas
// ---------------------------------------------------------------------------------------

#[test]
fn hop_by_hop_headers_are_removed_both_ways_including_connection_named_ones() {
    let origin = TestOrigin::start(|_| {
        reply(b"HTTP/1.1 200 OK\r\nConnection: X-Interna\r\nX-Interna: no\r\nKeep-Alive: timeout=5\r\nX-Publica: si\r\nContent-Length: 2\r\n\r\nok")
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request(
        "GET",
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secreta\r\nX-Secreta: 1\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: websocket\r\nProxy-Authorization: Basic eDp5\r\nX-Normal: 2\r\n\r\n",
            origin.url("/")
        ),
    );
    let seen = origin.next();
    for name in [
        "connection",
        "x-secreta",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(
            seen.header(name).is_empty(),
            "{name} llegó al origen: {}",
            seen.head
        );
    }
    assert_eq!(seen.header("x-normal"), ["2"]);
    assert!(head.headers.get("x-interna").is_none());
    assert!(head.headers.get("keep-alive").is_none());
    assert!(head.headers.get("connection").is_none());
    assert_eq!(head.headers.get("x-publica"), Some("si"));
}

#[test]
fn custom_header_rules_are_applied() {
    let origin = ok_origin("ok");
    let config = ServerConfig {
        rules: problema7::servidor::rewrite::HeaderRules {
            remove: vec!["cookie".into()],
            add: vec!["X-Proxy: taller".parse().unwrap()],
        },
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    let mut c = Conn::new(p.addr);
    c.request(
        "GET",
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nCookie: s=1\r\n\r\n",
            origin.url("/")
        ),
    );
    let seen = origin.next();
    assert!(seen.header("cookie").is_empty());
    assert_eq!(seen.header("x-proxy"), ["taller"]);
}

// ---------------------------------------------------------------------------------------
// Conexiones persistentes
// ---------------------------------------------------------------------------------------

#[test]
fn keep_alive_serves_many_requests_over_one_upstream_connection() {
    let origin = ok_origin("x");
    let p = proxy();
    let mut c = Conn::new(p.addr);
    for i in 0..5 {
        let (head, body) = c.request("GET", &get(&origin.url(&format!("/{i}"))));
        assert_eq!((head.status, body.as_slice()), (200, &b"x"[..]));
    }
    // Pipelining: dos peticiones de una vez, dos respuestas en orden.
    c.send(format!("{}{}", get(&origin.url("/p1")), get(&origin.url("/p2"))).as_bytes());
    assert_eq!(c.response("GET").1, b"x");
    assert_eq!(c.response("GET").1, b"x");
    assert_eq!(origin.accepted(), 1);
    // Otro cliente, después, reutiliza la conexión en reposo del almacén.
    drop(c);
    let s = stats(&p);
    assert_eq!(s["upstream_connects"], 1);
    assert_eq!(s["upstream_reused"], 6);
    let mut c2 = Conn::new(p.addr);
    let (_, body) = c2.request("GET", &get(&origin.url("/de-nuevo")));
    assert_eq!(body, b"x");
    assert!(origin.accepted() <= 2);
}

#[test]
fn client_connection_close_is_honoured() {
    let origin = ok_origin("x");
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request(
        "GET",
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            origin.url("/")
        ),
    );
    assert_eq!(head.headers.get("connection"), Some("close"));
    assert!(c.is_closed());
}

#[test]
fn dead_pooled_connection_is_replaced_transparently() {
    // El origen cierra tras cada respuesta sin avisar (sin `Connection: close`).
    let origin = TestOrigin::start(|_| Reply {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        close: true,
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    for _ in 0..3 {
        let (head, body) = c.request("GET", &get(&origin.url("/")));
        assert_eq!((head.status, body.as_slice()), (200, &b"ok"[..]));
    }
}

// ---------------------------------------------------------------------------------------
// Túneles CONNECT
// ---------------------------------------------------------------------------------------

fn tunnel_config(port: u16) -> ServerConfig {
    ServerConfig {
        connect_ports: vec![443, port],
        ..ServerConfig::default()
    }
}

#[test]
fn connect_relays_both_ways_with_half_close() {
    let target = tcp_counter_origin();
    let p = start_proxy(tunnel_config(target.port()));
    let mut c = Conn::new(p.addr);
    c.send(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes());
    let mut established = vec![0u8; 39];
    c.reader.read_exact(&mut established).unwrap();
    assert_eq!(established, b"HTTP/1.1 200 Connection Established\r\n\r\n");
    // Destino → cliente antes de que el cliente envíe nada.
    let mut hello = String::new();
    c.reader.read_line(&mut hello).unwrap();
    assert_eq!(hello, "hola\n");
    // Cliente → destino, y medio cierre: el destino ve fin de flujo y aún contesta.
    c.send(b"uno dos tres");
    c.stream.shutdown(NetShutdown::Write).unwrap();
    let mut rest = String::new();
    c.reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "recibidos 12 bytes: uno dos tres\n");
    let s = stats(&p);
    assert_eq!(s["tunnels_total"], 1);
}

#[test]
fn bytes_sent_right_after_connect_are_not_lost() {
    let target = tcp_counter_origin();
    let p = start_proxy(tunnel_config(target.port()));
    let mut c = Conn::new(p.addr);
    // La petición y los primeros datos en el mismo paquete (como un saludo TLS impaciente).
    c.send(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\nprisa").as_bytes());
    c.stream.shutdown(NetShutdown::Write).unwrap();
    let mut all = String::new();
    c.reader.read_to_string(&mut all).unwrap();
    assert_eq!(
        all,
        "HTTP/1.1 200 Connection Established\r\n\r\nhola\nrecibidos 5 bytes: prisa\n"
    );
}

#[test]
fn connect_to_a_port_not_allowed_is_forbidden() {
    let target = tcp_counter_origin();
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request(
        "CONNECT",
        &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
    );
    assert_eq!(head.status, 403);
    assert!(String::from_utf8_lossy(&body).contains("--connect-ports"));
}

#[test]
fn connect_to_dead_target_is_502() {
    let dead = dead_addr();
    let p = start_proxy(tunnel_config(dead.port()));
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request(
        "CONNECT",
        &format!("CONNECT {dead} HTTP/1.1\r\nHost: {dead}\r\n\r\n"),
    );
    assert_eq!(head.status, 502);
}

// ---------------------------------------------------------------------------------------
// Control de acceso
// ---------------------------------------------------------------------------------------

#[test]
fn blocked_hosts_and_their_subdomains_are_forbidden() {
    let config = ServerConfig {
        block: vec!["bloqueado.test".into()],
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    for req in [
        "GET http://bloqueado.test/ HTTP/1.1\r\nHost: bloqueado.test\r\n\r\n",
        "GET http://WWW.Bloqueado.test:8080/x HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT api.bloqueado.test:443 HTTP/1.1\r\nHost: api.bloqueado.test:443\r\n\r\n",
    ] {
        let mut c = Conn::new(p.addr);
        let method = req.split(' ').next().unwrap();
        let (head, body) = c.request(method, req);
        assert_eq!(head.status, 403, "{req}");
        assert!(String::from_utf8_lossy(&body).contains("bloqueado"));
        assert!(c.is_closed());
    }
}

#[test]
fn proxy_auth_gives_407_without_or_with_wrong_credentials() {
    let origin = ok_origin("dentro");
    let creds: Credentials = "ana:secreta".parse().unwrap();
    let config = ServerConfig {
        auth: Some(creds.clone()),
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(head.status, 407);
    assert_eq!(
        head.headers.get("proxy-authenticate"),
        Some("Basic realm=\"taller-proxy\"")
    );
    let wrong: Credentials = "ana:otra".parse().unwrap();
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request(
        "GET",
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: {}\r\n\r\n",
            origin.url("/"),
            wrong.header_value()
        ),
    );
    assert_eq!(head.status, 407);
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request(
        "GET",
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: {}\r\n\r\n",
            origin.url("/"),
            creds.header_value()
        ),
    );
    assert_eq!((head.status, body.as_slice()), (200, &b"dentro"[..]));
    // Las credenciales son para el proxy: el origen no las ve.
    assert!(origin.next().header("proxy-authorization").is_empty());
    // CONNECT también las exige.
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request(
        "CONNECT",
        "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(head.status, 407);
}

#[test]
fn clients_outside_the_allowed_networks_get_403() {
    let origin = ok_origin("no");
    let config = ServerConfig {
        allow: vec!["10.0.0.0/8".parse().unwrap()],
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(head.status, 403);
    assert!(String::from_utf8_lossy(&body).contains("--allow"));
    assert!(c.is_closed());
    assert_eq!(origin.accepted(), 0);
}

// ---------------------------------------------------------------------------------------
// Errores del origen
// ---------------------------------------------------------------------------------------

#[test]
fn unreachable_origin_is_502() {
    let dead = dead_addr();
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request("GET", &get(&format!("http://{dead}/")));
    assert_eq!(head.status, 502);
    assert!(String::from_utf8_lossy(&body).contains("no se pudo conectar"));
    assert_eq!(stats(&p)["upstream_errors"], 1);
}

#[test]
fn garbage_from_origin_is_502() {
    let origin = TestOrigin::start(|_| Reply {
        bytes: b"esto no es HTTP\r\n\r\n".to_vec(),
        close: true,
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(head.status, 502);
}

#[test]
fn interim_responses_are_skipped_but_not_forever() {
    let origin = TestOrigin::start(|seen| {
        if seen.request_line().contains("/pocas") {
            reply(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        } else {
            Reply {
                bytes: b"HTTP/1.1 100 Continue\r\n\r\n".repeat(100),
                close: false,
            }
        }
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request("GET", &get(&origin.url("/pocas")));
    assert_eq!((head.status, body.as_slice()), (200, &b"ok"[..]));
    let (head, _) = c.request("GET", &get(&origin.url("/infinitas")));
    assert_eq!(head.status, 502);
}

#[test]
fn origin_that_closes_without_answering_is_502() {
    let origin = TestOrigin::start(|_| Reply {
        bytes: Vec::new(),
        close: true,
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(head.status, 502);
}

#[test]
fn silent_origin_is_504() {
    // Acepta y lee, pero nunca contesta.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let config = ServerConfig {
        upstream_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request("GET", &get(&format!("http://{addr}/")));
    assert_eq!(head.status, 504);
}

#[test]
fn request_to_the_proxy_itself_is_not_looped() {
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request("GET", &get(&format!("http://{}/", p.addr)));
    assert_eq!(head.status, 508);
}

// ---------------------------------------------------------------------------------------
// Peticiones hostiles
// ---------------------------------------------------------------------------------------

#[test]
fn smuggling_shapes_are_refused_with_400_and_never_reach_the_origin() {
    let origin = ok_origin("no");
    let p = proxy();
    let url = origin.url("/");
    let cases = [
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhola!!"),
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhola!!"),
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhola!"),
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        format!("POST {url} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhola\r\n0\r\n\r\n"),
        format!("GET {url} HTTP/1.1\nHost: x\n\n"),
        format!("GET {url} HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
        format!("GET {url} HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
        format!("GET {url} HTTP/1.1\r\nAccept: */*\r\n\r\n"),
    ];
    for req in &cases {
        let mut c = Conn::new(p.addr);
        let (head, _) = c.request("POST", req);
        assert_eq!(head.status, 400, "{req:?}");
        assert_eq!(head.headers.get("connection"), Some("close"));
        assert!(c.is_closed(), "{req:?}");
    }
    // Solo el trozo mal formado llega a abrir conexión (la cabecera ya era válida), y el
    // origen nunca recibe un cuerpo completo.
    assert!(origin.seen.try_recv().is_err());
}

#[test]
fn malformed_targets_and_oversized_heads_are_refused() {
    let p = proxy();
    for (req, status) in [
        (
            "GET /sin-upstream HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            400,
        ),
        (
            "GET https://a.test/ HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            400,
        ),
        (
            "GET http://user@a.test/ HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            400,
        ),
        (
            "CONNECT a.test HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            400,
        ),
        (
            "GET http://a.test/ HTTP/2.0\r\nHost: x\r\n\r\n".to_string(),
            505,
        ),
        (
            format!(
                "GET http://a.test/{} HTTP/1.1\r\nHost: x\r\n\r\n",
                "a".repeat(9000)
            ),
            414,
        ),
        (
            format!(
                "GET http://a.test/ HTTP/1.1\r\nHost: x\r\nX-Grande: {}\r\n\r\n",
                "b".repeat(40_000)
            ),
            431,
        ),
    ] {
        let mut c = Conn::new(p.addr);
        let (head, _) = c.request("GET", &req);
        assert_eq!(head.status, status, "{}", &req[..40.min(req.len())]);
    }
}

#[test]
fn idle_clients_are_disconnected() {
    let config = ServerConfig {
        client_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    let mut c = Conn::new(p.addr);
    assert!(c.is_closed());
    // Una petición a medias recibe 408.
    let mut c = Conn::new(p.addr);
    c.send(b"GET http://a.test/ HTTP/1.1\r\nHos");
    let (head, _) = c.response("GET");
    assert_eq!(head.status, 408);
}

#[test]
fn connections_over_the_cap_get_503() {
    let config = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    let mut first = Conn::new(p.addr);
    // La primera ya está dentro cuando responde.
    let (head, _) = first.request(
        "GET",
        "GET http://proxy.local/stats HTTP/1.1\r\nHost: proxy.local\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    let mut second = Conn::new(p.addr);
    let (head, _) = second.response("GET");
    assert_eq!(head.status, 503);
}

// ---------------------------------------------------------------------------------------
// Modo inverso, estadísticas, registro de accesos
// ---------------------------------------------------------------------------------------

#[test]
fn reverse_mode_sends_origin_form_requests_to_the_upstream() {
    let origin = ok_origin("backend");
    let config = ServerConfig {
        upstream: Some(problema7::protocolo::Origin::new(
            "127.0.0.1",
            origin.addr.port(),
        )),
        ..ServerConfig::default()
    };
    let p = start_proxy(config);
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request("GET", "GET /x?y=1 HTTP/1.1\r\nHost: sitio.test\r\n\r\n");
    assert_eq!((head.status, body.as_slice()), (200, &b"backend"[..]));
    let seen = origin.next();
    assert_eq!(seen.request_line(), "GET /x?y=1 HTTP/1.1");
    // En modo inverso el Host del cliente se conserva (el backend puede servir varios sitios).
    assert_eq!(seen.header("host"), ["sitio.test"]);
    assert_eq!(seen.header("x-forwarded-for"), ["127.0.0.1"]);
}

#[test]
fn stats_counters_move_as_traffic_passes() {
    let origin = ok_origin("abc");
    let target = tcp_counter_origin();
    let p = start_proxy(tunnel_config(target.port()));
    let before = stats(&p);
    assert_eq!(before["requests"], 1);
    assert_eq!(before["active_connections"], 1);
    let mut c = Conn::new(p.addr);
    c.request("GET", &get(&origin.url("/")));
    let dead = dead_addr();
    c.request("GET", &get(&format!("http://{dead}/")));
    let mut t = Conn::new(p.addr);
    t.send(format!("CONNECT {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    let mut hello = vec![0u8; 39 + 5];
    t.reader.read_exact(&mut hello).unwrap();
    assert!(tests::wait_until(IO_TIMEOUT, || stats(&p)
        ["active_tunnels"]
        == 1));
    drop(t);
    assert!(tests::wait_until(IO_TIMEOUT, || stats(&p)
        ["active_tunnels"]
        == 0));
    let after = stats(&p);
    assert!(after["requests"].as_u64().unwrap() >= 5, "{after}");
    // Las estadísticas anteriores, el GET y el túnel (y las consultas de la espera).
    assert!(after["status"]["2xx"].as_u64().unwrap() >= 3, "{after}");
    assert_eq!(after["status"]["5xx"], 1);
    assert_eq!(after["upstream_errors"], 1);
    assert_eq!(after["tunnels_total"], 1);
    assert!(
        after["bytes_to_clients"].as_u64().unwrap() > before["bytes_to_clients"].as_u64().unwrap()
    );
    assert!(after["bytes_from_clients"].as_u64().unwrap() > 100);
}

#[test]
fn stats_port_serves_json() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stats_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stats_addr = stats_listener.local_addr().unwrap();
    let _p = tests::start_on(listener, move |l, s| {
        problema7::run_with_stats(l, Some(stats_listener), ServerConfig::default(), s)
    });
    let mut stream = connect(stats_addr);
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    let json: serde_json::Value =
        serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(json["uptime_secs"].is_u64());
}

#[test]
fn access_log_has_one_line_per_request_and_per_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acceso.log");
    let origin = ok_origin("0123456789");
    let target = tcp_counter_origin();
    let config = ServerConfig {
        access_log: Some(path.clone()),
        ..tunnel_config(target.port())
    };
    let p = start_proxy(config);
    let mut c = Conn::new(p.addr);
    c.request("GET", &get(&origin.url("/log")));
    let mut t = Conn::new(p.addr);
    t.send(format!("CONNECT {target} HTTP/1.1\r\nHost: a\r\n\r\nabc").as_bytes());
    t.stream.shutdown(NetShutdown::Write).unwrap();
    let mut all = Vec::new();
    t.reader.read_to_end(&mut all).unwrap();
    let mut bad = Conn::new(p.addr);
    assert_eq!(bad.request("GET", "BASURA\r\n\r\n").0.status, 400);
    drop(bad);
    let read = || std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        tests::wait_until(IO_TIMEOUT, || read().lines().count() >= 3),
        "{}",
        read()
    );
    let log = read();
    let lines: Vec<&str> = log.lines().collect();
    let get_line = lines.iter().find(|l| l.contains(" GET ")).unwrap();
    assert!(get_line.starts_with("127.0.0.1:"), "{get_line}");
    assert!(
        get_line.contains(&format!("GET \"{}\" 200 in=", origin.url("/log"))),
        "{get_line}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" - \"-\" 400 in=10 ")),
        "{log}"
    );
    let tunnel_line = lines.iter().find(|l| l.contains(" CONNECT ")).unwrap();
    assert!(
        tunnel_line.contains(&format!("CONNECT \"{target}\" 200 in=")),
        "{tunnel_line}"
    );
    // Bytes del túnel: la petición CONNECT + "abc" de entrada; 200 + hola + respuesta de salida.
    let out_bytes = all.len();
    assert!(
        tunnel_line.contains(&format!(" out={out_bytes} ")),
        "{tunnel_line} vs {out_bytes}"
    );
}

// ---------------------------------------------------------------------------------------
// El cliente del problema y clientes reales
// ---------------------------------------------------------------------------------------

#[test]
fn library_client_fetches_and_tunnels() {
    let origin = TestOrigin::start(|seen| {
        let msg = format!(
            "{} {}",
            seen.request_line(),
            String::from_utf8_lossy(&seen.body)
        );
        reply(
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{msg}\r\n0\r\n\r\n",
                msg.len()
            )
            .as_bytes(),
        )
    });
    let target = tcp_counter_origin();
    let p = start_proxy(tunnel_config(target.port()));
    let proxy_addr = p.addr.to_string();
    let req = problema7::cliente::Request {
        url: origin.url("/cli"),
        method: "PUT".into(),
        body: Some(b"cuerpo".to_vec()),
        auth: None,
    };
    let mut out = Vec::new();
    let status = problema7::cliente::fetch(&proxy_addr, &req, IO_TIMEOUT, &mut out)
        .unwrap()
        .status;
    assert_eq!(status, 200);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nPUT /cli HTTP/1.1 cuerpo"), "{text}");

    let mut out = Vec::new();
    let counts = problema7::cliente::tunnel(
        &proxy_addr,
        &target.to_string(),
        None,
        IO_TIMEOUT,
        &b"por el tunel"[..],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "hola\nrecibidos 12 bytes: por el tunel\n"
    );
    assert_eq!(counts.sent, 12);

    let refused = problema7::cliente::tunnel(
        &proxy_addr,
        "127.0.0.1:25",
        None,
        IO_TIMEOUT,
        &b""[..],
        Vec::new(),
    );
    assert!(matches!(
        refused,
        Err(problema7::cliente::ClientError::TunnelRefused { status: 403, .. })
    ));
}

// ---------------------------------------------------------------------------------------
// El cliente como proceso: códigos de salida, `error:` y la salida cerrada (issue 18)
// ---------------------------------------------------------------------------------------

/// Plazo para que el cliente termine: holgado para una máquina cargada.
const CLIENT_DEADLINE: Duration = Duration::from_secs(30);

/// El `cliente` del problema 7 con `args`, como lo lanzaría un usuario.
fn client_run(args: &[&str]) -> std::process::Output {
    run_with_timeout(tests::cliente("problema7").args(args), CLIENT_DEADLINE)
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Un origen que contesta siempre `status` con un cuerpo corto.
fn status_origin(status: &'static str) -> TestOrigin {
    TestOrigin::start(move |_| {
        reply(format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n\r\nnada\n").as_bytes())
    })
}

#[test]
fn client_prints_the_answer_and_exits_0_with_host_and_port_or_with_proxy() {
    let origin = ok_origin("desde el origen\n");
    let p = proxy();
    let port = p.addr.port().to_string();
    let url = origin.url("/");
    let proxy_addr = p.addr.to_string();
    let by_port = client_run(&["--host", "127.0.0.1", "--port", &port, &url]);
    // `--proxy HOST:PUERTO` sigue valiendo (issue 18: alias de --host y --port).
    let by_proxy = client_run(&["--proxy", &proxy_addr, "--timeout", "5", &url]);
    for out in [by_port, by_proxy] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\ndesde el origen\n"), "{text}");
        assert!(out.stderr.is_empty(), "{}", stderr_of(&out));
    }
}

#[test]
fn client_exits_1_on_4xx_and_5xx_and_says_which() {
    let p = proxy();
    let port = p.addr.port().to_string();
    for status in ["404 Not Found", "503 Service Unavailable"] {
        let origin = status_origin(status);
        let out = client_run(&["--port", &port, &origin.url("/x")]);
        assert_eq!(out.status.code(), Some(1), "{status}: {}", stderr_of(&out));
        // La respuesta se muestra entera; el motivo, en una línea en stderr.
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nnada\n"), "{text}");
        assert_eq!(
            stderr_of(&out),
            format!("error: la respuesta fue {status}\n")
        );
    }
    // Un túnel que el proxy no abre también es un «no» del servidor.
    let out = client_run(&["--port", &port, "--connect", "127.0.0.1:25"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(
        stderr_of(&out),
        "error: el proxy no abrió el túnel a 127.0.0.1:25: 403 Forbidden\n"
    );
}

#[test]
fn client_exits_3_when_the_proxy_is_not_there() {
    let dead = dead_addr().to_string();
    let out = client_run(&["--proxy", &dead, "http://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.starts_with(&format!(
            "error: no se pudo conectar a {dead}: conexión rechazada"
        )),
        "{err}"
    );
    assert!(
        err.contains("cargo run -p problema7 --bin servidor"),
        "{err}"
    );
}

#[test]
fn client_exits_4_when_the_answer_is_cut() {
    // El origen promete 100 bytes, envía 10 y cierra: el proxy pasa lo que hubo y corta.
    let origin = TestOrigin::start(|_| Reply {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsolo diez.".to_vec(),
        close: true,
    });
    let p = proxy();
    let out = client_run(&["--port", &p.addr.port().to_string(), &origin.url("/")]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert_eq!(
        stderr_of(&out),
        "error: leyendo la respuesta: la conexión se cerró a mitad del mensaje\n"
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("solo diez."));
}

#[test]
fn client_with_a_bad_url_is_a_usage_error() {
    let out = client_run(&["--port", "9", "ftp://127.0.0.1/x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).starts_with("error: URL no válida `ftp://127.0.0.1/x`"));
}

/// Issue 18: `cliente URL | head -c 100` con una respuesta de más de lo que cabe en la
/// tubería (64 KiB) decía `Broken pipe (os error 32): Broken pipe (os error 32)` y salía
/// con 1. Quien cerró la tubería ya tiene lo que quería: código 0 y nada en stderr.
#[test]
fn client_piped_into_head_exits_0_quietly() {
    static BIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body: &'static str = BIG.get_or_init(|| "0123456789abcdef".repeat(64 * 1024));
    let origin = ok_origin(body);
    let p = proxy();
    let proxy_addr = p.addr.to_string();
    let url = origin.url("/grande");
    let out = tests::run_with_closed_stdout(
        tests::cliente("problema7").args(["--proxy", &proxy_addr, &url]),
        100,
        || {},
        CLIENT_DEADLINE,
    );
    assert_eq!(out.stdout.len(), 100);
    assert!(out.stdout.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
}

/// Lo mismo por un túnel: `cliente --connect destino | head -c 100` con un destino que envía
/// 1 MiB termina con 0 y en silencio aunque su entrada estándar siga abierta.
#[test]
fn tunnel_client_piped_into_head_exits_0_quietly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(&vec![b'x'; 1 << 20]);
        }
    });
    let p = start_proxy(tunnel_config(target.port()));
    let out = tests::run_with_closed_stdout(
        tests::cliente("problema7")
            .args(["--port", &p.addr.port().to_string()])
            .args(["--connect", &target.to_string()])
            .stdin(std::process::Stdio::piped()),
        100,
        || {},
        CLIENT_DEADLINE,
    );
    assert_eq!(out.stdout, vec![b'x'; 100]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
}

#[test]
fn curl_works_through_the_proxy_and_through_a_tunnel() {
    if !require_tool("curl") {
        return;
    }
    let origin = ok_origin("desde el origen\n");
    let p = start_proxy(tunnel_config(origin.addr.port()));
    let proxy_url = format!("http://{}", p.addr);
    let out = run_with_timeout(
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "-x", &proxy_url])
            .arg(origin.url("/curl")),
        Duration::from_secs(15),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"desde el origen\n");
    // -p: curl pide CONNECT y habla HTTP dentro del túnel.
    let out = run_with_timeout(
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "-p", "-x", &proxy_url])
            .arg(origin.url("/tunel")),
        Duration::from_secs(15),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"desde el origen\n");
    let s = stats(&p);
    assert_eq!(s["tunnels_total"], 1);
    // Y curl con credenciales contra un proxy que las exige.
    let creds: Credentials = "ana:secreta".parse().unwrap();
    let p = start_proxy(ServerConfig {
        auth: Some(creds),
        ..ServerConfig::default()
    });
    let proxy_url = format!("http://{}", p.addr);
    let url = origin.url("/auth");
    let code = |extra: &[&str]| {
        let out = run_with_timeout(
            std::process::Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "10",
                    "-x",
                    &proxy_url,
                ])
                .args(extra)
                .arg(&url),
            Duration::from_secs(15),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(code(&[]), "407");
    assert_eq!(code(&["-U", "ana:secreta"]), "200");
}

/// Un puerto libre en loopback (para herramientas externas que necesitan uno).
fn free_port() -> u16 {
    dead_addr().port()
}

#[test]
fn curl_https_through_connect_verifies_the_certificate_end_to_end() {
    if !require_tool("curl") || !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let out = run_with_timeout(
        std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = tests::wait_until(IO_TIMEOUT, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let p = start_proxy(tunnel_config(port));
    let curl = |extra: &[&str]| {
        run_with_timeout(
            std::process::Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "10",
                    "-x",
                    &format!("http://{}", p.addr),
                ])
                .args(extra)
                .arg(format!("https://127.0.0.1:{port}/")),
            Duration::from_secs(15),
        )
    };
    let trusted = curl(&["--cacert", cert.to_str().unwrap()]);
    let untrusted = curl(&[]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(up, "openssl s_server no arrancó");
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(String::from_utf8_lossy(&trusted.stdout).contains("<HTML>"));
    // Sin la CA, curl rechaza el certificado: el proxy no puede hacerse pasar por el origen.
    assert!(!untrusted.status.success());
}

#[test]
fn shutdown_finishes_with_an_open_tunnel_and_idle_clients() {
    let target = tcp_counter_origin();
    let origin = ok_origin("x");
    let mut p = start_proxy(tunnel_config(target.port()));
    let mut idle = Conn::new(p.addr);
    idle.request("GET", &get(&origin.url("/")));
    let mut t = Conn::new(p.addr);
    t.send(format!("CONNECT {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    let mut hello = vec![0u8; 39 + 5];
    t.reader.read_exact(&mut hello).unwrap();
    // El guardián falla la prueba si el proxy no se detiene a tiempo.
    p.stop().unwrap();
    assert!(idle.is_closed());
    assert!(t.is_closed());
}

#[test]
fn client_that_vanishes_mid_body_does_not_disturb_others() {
    let origin = ok_origin("ok");
    let p = proxy();
    let mut quitter = Conn::new(p.addr);
    quitter.send(
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsolo unos bytes",
            origin.url("/")
        )
        .as_bytes(),
    );
    quitter.stream.shutdown(NetShutdown::Write).unwrap();
    assert!(quitter.is_closed());
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request("GET", &get(&origin.url("/")));
    assert_eq!((head.status, body.as_slice()), (200, &b"ok"[..]));
}

#[test]
fn truncated_response_from_origin_closes_the_client_connection() {
    let origin = TestOrigin::start(|_| Reply {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsolo diez.".to_vec(),
        close: true,
    });
    let p = proxy();
    let mut c = Conn::new(p.addr);
    c.send(get(&origin.url("/")).as_bytes());
    let head = http::read_response_head(&mut c.reader, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(head.headers.get("content-length"), Some("100"));
    // El cliente recibe lo que hubo y después el cierre: nunca una respuesta "completa" falsa.
    let mut rest = Vec::new();
    let _ = c.reader.read_to_end(&mut rest);
    assert_eq!(rest, b"solo diez.");
    assert_eq!(stats(&p)["upstream_errors"], 1);
}

// ---------------------------------------------------------------------------------------
// Clientes lentos (issue 16): la cabecera entera tiene un plazo total
// ---------------------------------------------------------------------------------------

/// Lo que le pasó a un atacante que envía un byte de cabecera cada `every`.
#[derive(Debug, PartialEq, Eq)]
enum Slowloris {
    /// El proxy contestó (con estos primeros bytes) y/o cerró: el atacante fue cortado.
    Cut(String),
    /// Pasado `give_up`, la conexión seguía abierta.
    StillOpen,
}

/// Un cliente *slowloris*: una cabecera que nunca termina, un byte cada `every`.
fn slowloris(addr: SocketAddr, every: Duration, give_up: Duration) -> Slowloris {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(every)).unwrap();
    let started = std::time::Instant::now();
    let header = b"GET http://127.0.0.1:9/ HTTP/1.1\r\nX-Lento: ";
    let mut sent = 0usize;
    let mut got = Vec::new();
    while started.elapsed() < give_up {
        let byte = header.get(sent).copied().unwrap_or(b'a');
        if s.write_all(&[byte]).is_err() {
            return Slowloris::Cut(String::from_utf8_lossy(&got).into_owned());
        }
        sent += 1;
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => return Slowloris::Cut(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if is_wait(&e) => {}
            Err(_) => return Slowloris::Cut(String::from_utf8_lossy(&got).into_owned()),
        }
    }
    Slowloris::StillOpen
}

fn is_wait(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

#[test]
fn slowloris_one_header_byte_at_a_time_is_cut_and_others_are_served() {
    // Issue 16: `--client-timeout` se reiniciaba con cada byte, así que un byte cada
    // `timeout / 3` ocupaba una plaza para siempre y, con todas ocupadas, el resto recibía 503.
    let origin = ok_origin("servido");
    const ATTACKERS: usize = 4;
    let timeout = Duration::from_millis(1500);
    let p = start_proxy(ServerConfig {
        client_timeout: timeout,
        max_connections: ATTACKERS,
        ..ServerConfig::default()
    });
    let addr = p.addr;
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| thread::spawn(move || slowloris(addr, timeout / 3, timeout * 8)))
        .collect();
    for a in attackers {
        match a.join().unwrap() {
            Slowloris::Cut(reply) => assert!(
                reply.is_empty() || reply.starts_with("HTTP/1.1 408 "),
                "{reply}"
            ),
            Slowloris::StillOpen => panic!("un atacante lento siguió conectado"),
        }
    }
    // Con los atacantes fuera, las plazas vuelven a estar libres.
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request("GET", &get(&origin.url("/")));
    assert_eq!(head.status, 200);
    assert_eq!(body, b"servido");
}

// ---------------------------------------------------------------------------------------
// Conformidad y destinos (issue 17)
// ---------------------------------------------------------------------------------------

fn net(s: &str) -> problema7::servidor::access::Network {
    s.parse().unwrap()
}

#[test]
fn denied_destinations_get_403_without_any_connection_attempt() {
    // Issue 17: la política de destinos se comprueba tras resolver el nombre, en cada
    // dirección, para peticiones normales y para CONNECT, antes de conectar.
    let origin = ok_origin("no");
    let tunnel_target = TestOrigin::start(|_| reply(b""));
    let mut config = tunnel_config(tunnel_target.addr.port());
    config.deny_dest = vec![net("127.0.0.1/32")];
    let p = start_proxy(config);
    for req in [
        get(&origin.url("/")),
        get(&format!("http://localhost:{}/", origin.addr.port())),
        format!(
            "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n",
            tunnel_target.addr
        ),
    ] {
        let mut c = Conn::new(p.addr);
        let (head, body) = c.request("GET", &req);
        assert_eq!(head.status, 403, "{req}");
        assert!(String::from_utf8_lossy(&body).contains("destino"), "{req}");
    }
    let s = stats(&p);
    assert_eq!(s["upstream_connects"], 0);
    assert_eq!(origin.accepted(), 0);
    assert_eq!(tunnel_target.accepted(), 0);
}

#[test]
fn by_default_only_loopback_destinations_are_reachable() {
    // Issue 17: ninguna prueba puede llegar a otra red, diga lo que diga la petición. 192.0.2.1
    // es TEST-NET-1 (RFC 5737): nunca se enruta, y aquí ni siquiera se intenta.
    let p = proxy();
    for target in ["http://192.0.2.1/", "http://[2001:db8::1]:8080/"] {
        let mut c = Conn::new(p.addr);
        let (head, _) = c.request("GET", &get(target));
        assert_eq!(head.status, 403, "{target}");
    }
    assert_eq!(stats(&p)["upstream_connects"], 0);
    let origin = ok_origin("sí");
    let mut c = Conn::new(p.addr);
    assert_eq!(c.request("GET", &get(&origin.url("/"))).0.status, 200);
}

#[test]
fn max_forwards_zero_is_answered_by_the_proxy_and_others_are_decremented() {
    // Issue 17, RFC 9110 §7.6.2: con `Max-Forwards: 0` en TRACE u OPTIONS el proxy contesta
    // él mismo; con otro valor lo reenvía restando uno.
    let origin = ok_origin("origen");
    let p = proxy();
    let mut c = Conn::new(p.addr);
    let (head, body) = c.request(
        "TRACE",
        &format!(
            "TRACE {} HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nCookie: secreto\r\nX-Eco: 1\r\n\r\n",
            origin.url("/t")
        ),
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.headers.get("content-type"), Some("message/http"));
    let echo = String::from_utf8(body).unwrap();
    assert!(
        echo.starts_with(&format!("TRACE {} HTTP/1.1\r\n", origin.url("/t"))),
        "{echo}"
    );
    assert!(
        echo.contains("X-Eco: 1\r\n") && !echo.contains("secreto"),
        "{echo}"
    );
    let (head, _) = c.request(
        "OPTIONS",
        &format!(
            "OPTIONS {} HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n",
            origin.url("")
        ),
    );
    assert_eq!(head.status, 200);
    assert!(head.headers.get("allow").is_some());
    assert_eq!(origin.accepted(), 0);
    let (head, body) = c.request(
        "OPTIONS",
        &format!(
            "OPTIONS {} HTTP/1.1\r\nHost: x\r\nMax-Forwards: 5\r\n\r\n",
            origin.url("/")
        ),
    );
    assert_eq!((head.status, body.as_slice()), (200, &b"origen"[..]));
    assert_eq!(origin.next().header("max-forwards"), ["4"]);
}

#[test]
fn loops_through_unspecified_mapped_addresses_and_own_via_are_508() {
    // Issue 17: 0.0.0.0 y ::ffff:127.0.0.1 son el propio proxy por otro nombre, y una
    // petición que ya lleva nuestro `Via` ha dado la vuelta.
    let origin = ok_origin("no");
    let p = proxy();
    let port = p.addr.port();
    for target in [
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        let mut c = Conn::new(p.addr);
        let (head, _) = c.request("GET", &get(&target));
        assert_eq!(head.status, 508, "{target}");
    }
    let mut c = Conn::new(p.addr);
    let (head, _) = c.request(
        "GET",
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nVia: 1.1 otro, 1.1 taller-proxy\r\n\r\n",
            origin.url("/")
        ),
    );
    assert_eq!(head.status, 508);
    assert_eq!(origin.accepted(), 0);
}

#[test]
fn upstream_pointing_at_the_proxy_through_0_0_0_0_is_508_not_a_storm() {
    // Issue 17: `--upstream 0.0.0.0:PROPIO` se llamaba a sí mismo hasta llenar las plazas.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = ServerConfig {
        upstream: Some(problema7::protocolo::Origin::new("0.0.0.0", port)),
        max_connections: 8,
        ..ServerConfig::default()
    };
    let p = tests::start_on(listener, move |l, s| problema7::run(l, config, s));
    let mut c = Conn::new(p.addr);
    let (head, _) = c.get("/");
    assert_eq!(head.status, 508);
    assert_eq!(stats(&p)["upstream_connects"], 0);
}

#[test]
fn pooled_connection_with_bytes_past_content_length_is_discarded() {
    // Issue 17: los bytes de más tras la respuesta no pueden ser el principio de la siguiente.
    let origin =
        TestOrigin::start(|_| reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSOBRA"));
    let p = proxy();
    let mut c = Conn::new(p.addr);
    for _ in 0..2 {
        let (head, body) = c.request("GET", &get(&origin.url("/")));
        assert_eq!((head.status, body.as_slice()), (200, &b"ok"[..]));
    }
    assert_eq!(origin.accepted(), 2);
}

#[test]
fn the_proxys_own_responses_carry_date() {
    // Issue 17, RFC 9110 §6.6.1: también las respuestas que genera el propio proxy.
    let p = start_proxy(ServerConfig {
        auth: Some("ana:x".parse::<Credentials>().unwrap()),
        ..ServerConfig::default()
    });
    let dead = dead_addr();
    for (req, status) in [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_string(), 400),
        (get(&format!("http://{dead}/")), 407),
        (
            format!("GET http://{dead}/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic YW5hOng=\r\n\r\n"),
            502,
        ),
        (
            format!(
                "GET http://{}/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic YW5hOng=\r\n\r\n",
                p.addr
            ),
            508,
        ),
    ] {
        let mut c = Conn::new(p.addr);
        let (head, _) = c.request("GET", &req);
        assert_eq!(head.status, status, "{req}");
        let date = head.headers.get("date").unwrap_or_else(|| panic!("{status} sin Date"));
        assert!(date.ends_with(" GMT"), "{date}");
    }
}

// ---------------------------------------------------------------------------------------
// Proxy transparente (issue 22)
// ---------------------------------------------------------------------------------------

fn transparent_proxy() -> ServerGuard {
    start_proxy(ServerConfig {
        transparent: true,
        ..ServerConfig::default()
    })
}

/// `GET path` en forma de origen, como la envía un cliente que cree hablar con `host`.
fn origin_form(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

#[test]
fn transparent_mode_forwards_origin_form_by_host_with_via() {
    let origin = ok_origin("transparente");
    let host = origin.addr.to_string();
    // Sin --transparent, la forma de origen sigue siendo un 400.
    let explicit = proxy();
    let mut c = Conn::new(explicit.addr);
    assert_eq!(
        c.request("GET", &origin_form("/a.txt", &host)).0.status,
        400
    );

    let p = transparent_proxy();
    let mut c = Conn::new(p.addr);
    for _ in 0..2 {
        let (head, body) = c.request("GET", &origin_form("/a.txt", &host));
        assert_eq!((head.status, body.as_slice()), (200, &b"transparente"[..]));
        assert_eq!(head.headers.get("via"), Some("1.1 taller-proxy"));
        let seen = origin.next();
        assert_eq!(seen.request_line(), "GET /a.txt HTTP/1.1");
        assert_eq!(seen.header("host"), std::slice::from_ref(&host));
        assert_eq!(seen.header("via"), ["1.1 taller-proxy"]);
        assert_eq!(seen.header("x-forwarded-for"), ["127.0.0.1"]);
    }
    // La conexión al origen se reutiliza, y el modo explícito sigue funcionando a la vez.
    assert_eq!(origin.accepted(), 1);
    assert_eq!(c.request("GET", &get(&origin.url("/b"))).0.status, 200);
    let s = stats(&p);
    assert_eq!(s["modes"]["transparent"], 2, "{s}");
    assert_eq!(s["modes"]["forward"], 1, "{s}");
    assert_eq!(s["transparent_host_mismatch"], 0, "{s}");
}

#[test]
fn transparent_host_naming_the_proxy_itself_is_508() {
    let p = transparent_proxy();
    for host in [p.addr.to_string(), format!("0.0.0.0:{}", p.addr.port())] {
        let mut c = Conn::new(p.addr);
        let (head, _) = c.request("GET", &origin_form("/", &host));
        assert_eq!(head.status, 508, "{host}");
    }
    assert_eq!(stats(&p)["upstream_connects"], 0);
}

#[test]
fn transparent_requests_obey_destination_policy_block_and_need_a_host() {
    let origin = ok_origin("no");
    let p = start_proxy(ServerConfig {
        transparent: true,
        deny_dest: vec![net("127.0.0.1/32")],
        block: vec!["localhost".into()],
        ..ServerConfig::default()
    });
    for (req, status) in [
        (origin_form("/", &origin.addr.to_string()), 403),
        (
            origin_form("/", &format!("localhost:{}", origin.addr.port())),
            403,
        ),
        (origin_form("/", "a b"), 400),
        ("GET / HTTP/1.0\r\n\r\n".to_string(), 400),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: {}\r\nMax-Forwards: x\r\n\r\n",
                "192.0.2.1"
            ),
            403,
        ),
    ] {
        let mut c = Conn::new(p.addr);
        let (head, _) = c.request("GET", &req);
        assert_eq!(head.status, status, "{req}");
    }
    assert_eq!(origin.accepted(), 0);
    assert_eq!(stats(&p)["upstream_connects"], 0);
}

#[test]
fn transparent_with_auth_or_upstream_is_refused_at_start() {
    let config = ServerConfig {
        transparent: true,
        auth: Some("ana:x".parse::<Credentials>().unwrap()),
        ..ServerConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = problema7::run(listener, config, common::Shutdown::new()).unwrap_err();
    assert!(err.to_string().contains("--auth"), "{err}");
}

/// Variable de entorno con la que la prueba de interceptación se relanza a sí misma dentro
/// de un espacio de red privado.
const INSIDE_NETNS: &str = "TALLER_P7_DENTRO_DE_NETNS";

/// Por qué no se puede probar la interceptación real en esta máquina, si no se puede.
fn interception_unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("hace falta ser root (unshare --net e iptables)".into());
    }
    for tool in ["unshare", "iptables", "ip", "setpriv", "curl"] {
        if !require_tool(tool) {
            return Some(format!("falta `{tool}`"));
        }
    }
    let probe = Command::new("unshare")
        .args(["--net", "--", "iptables", "-t", "nat", "-S", "OUTPUT"])
        .output();
    match probe {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "iptables no funciona en un espacio de red privado: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("unshare --net no funciona: {e}")),
    }
}

#[test]
fn kernel_redirected_connection_reaches_its_original_destination_despite_a_forged_host() {
    // Issue 22: la interceptación de verdad. Dentro de un espacio de red privado (solo
    // loopback), una regla REDIRECT de la cadena OUTPUT de `nat` manda las conexiones del
    // usuario 65534 hacia 127.0.0.2:80 al proxy; las del propio proxy (root) no se redirigen.
    // Este proceso se relanza a sí mismo con `unshare --net` y ahí corre
    // `inside_netns_kernel_redirect_to_transparent_proxy`.
    if std::env::var_os(INSIDE_NETNS).is_some() {
        return;
    }
    if let Some(why) = interception_unavailable() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no se puede probar la interceptación y CI=true: {why}");
        }
        eprintln!("SALTADA: no se puede probar la interceptación real: {why}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = run_with_timeout(
        Command::new("unshare")
            .arg("--net")
            .arg("--")
            .arg(exe)
            .args([
                "inside_netns_kernel_redirect_to_transparent_proxy",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INSIDE_NETNS, "1"),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    assert!(stderr.contains("INTERCEPTADA"), "{stdout}\n{stderr}");
}

#[test]
#[ignore = "la lanza kernel_redirected_connection_reaches_its_original_destination_despite_a_forged_host dentro de unshare --net"]
fn inside_netns_kernel_redirect_to_transparent_proxy() {
    if std::env::var_os(INSIDE_NETNS).is_none() {
        eprintln!("solo tiene sentido dentro del espacio de red privado que crea la otra prueba");
        return;
    }
    let sh = |cmd: &mut Command| {
        let out = run_with_timeout(cmd, Duration::from_secs(20));
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    sh(Command::new("ip").args(["link", "set", "lo", "up"]));
    let origin = TestOrigin::start_on(TcpListener::bind("127.0.0.2:80").unwrap(), |_| {
        reply(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\norigen 127.0.0.2")
    });
    let p = transparent_proxy();
    let port = p.addr.port().to_string();
    sh(Command::new("iptables").args([
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "-d",
        "127.0.0.2",
        "--dport",
        "80",
        "-m",
        "owner",
        "--uid-owner",
        "65534",
        "-j",
        "REDIRECT",
        "--to-ports",
        &port,
    ]));
    // El cliente no sabe nada del proxy, y además miente en Host.
    let body = sh(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-H",
        "Host: 127.0.0.3:9",
        "http://127.0.0.2/a.txt",
    ]));
    assert_eq!(body, "origen 127.0.0.2");
    let seen = origin.next();
    assert_eq!(seen.request_line(), "GET /a.txt HTTP/1.1");
    assert_eq!(seen.header("host"), ["127.0.0.3:9"]);
    assert_eq!(seen.header("via"), ["1.1 taller-proxy"]);
    let s = stats(&p);
    assert_eq!(s["modes"]["transparent"], 1, "{s}");
    assert_eq!(s["transparent_host_mismatch"], 1, "{s}");
    eprintln!("INTERCEPTADA: curl -> REDIRECT -> proxy -> 127.0.0.2:80");
}

#[test]
fn a_slow_but_live_request_body_is_not_cut_by_the_header_deadline() {
    // El plazo total es para la cabecera; el cuerpo tiene un plazo por lectura, para que una
    // subida lenta pero viva llegue entera (y uno que se calla del todo recibe 408).
    let origin = ok_origin("recibido");
    let timeout = Duration::from_secs(2);
    let p = start_proxy(ServerConfig {
        client_timeout: timeout,
        ..ServerConfig::default()
    });
    let mut c = Conn::new(p.addr);
    c.send(
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
            origin.url("/subida")
        )
        .as_bytes(),
    );
    for byte in b"hola!" {
        thread::sleep(timeout * 3 / 10);
        c.send(&[*byte]);
    }
    let (head, body) = c.response("POST");
    assert_eq!((head.status, body.as_slice()), (200, &b"recibido"[..]));
    assert_eq!(origin.next().body, b"hola!");
    // Un cuerpo que deja de llegar: 408.
    c.send(
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nho",
            origin.url("/subida")
        )
        .as_bytes(),
    );
    let (head, _) = c.response("POST");
    assert_eq!(head.status, 408);
}
