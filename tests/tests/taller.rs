//! Nuestros programas y los del esqueleto del taller hablan entre sí (issue 23).
//!
//! Los programas de Python de `tests/python/taller/` están escritos como pide el esqueleto:
//! un cliente envía su mensaje sin salto de línea ni medio cierre y espera un solo
//! `recv(1024)`; un servidor responde a un solo `recv(1024)` y, en los problemas 1 y 2, cierra
//! esa conexión; el del chat no usa saltos de línea. Cada prueba es una fila de la tabla del
//! issue, en un sentido. Los procesos de Python se lanzan con plazos y se matan por su PID al
//! terminar (también si la prueba falla).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tests::{require_tool, run_with_timeout, start_on, start_server, ServerGuard, IO_TIMEOUT};

/// Plazo de cada programa de Python que termina solo.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python/taller")
        .join(name)
}

/// Un programa de Python en marcha, con sus líneas de stdout en un canal. Al soltarlo se
/// mata por su PID y se espera.
struct Python {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Python {
    fn spawn(script: &str, args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(fixture(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("no se pudo lanzar {script}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Lanza un servidor con `--port 0` (y `extra`) y espera su línea
    /// `escuchando en HOST:PUERTO`.
    fn server_with(script: &str, extra: &[&str]) -> (Self, SocketAddr) {
        let args: Vec<&str> = ["--port", "0"].iter().chain(extra).copied().collect();
        let mut server = Self::spawn(script, &args);
        let ready = server.line_containing("escuchando en ");
        let addr = ready
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("línea de listo inesperada: {ready:?}"));
        (server, addr)
    }

    fn server(script: &str) -> (Self, SocketAddr) {
        Self::server_with(script, &[])
    }

    /// Un cliente de chat del taller conectado a `addr` con `name`.
    fn chat_client(addr: SocketAddr, name: &str) -> Self {
        let port = addr.port().to_string();
        Self::spawn("problema3_cliente.py", &["127.0.0.1", &port, name])
    }

    /// Espera (con plazo) una línea de su salida que contenga `needle`.
    fn line_containing(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no llegó {needle:?}; salida hasta ahora: {:?}", self.seen),
            }
        }
    }

    /// Escribe una línea en su stdin (el «teclado» del programa).
    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin abierta");
        writeln!(stdin, "{line}").expect("escribir en el programa de Python");
        stdin.flush().expect("flush");
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ejecuta un cliente de Python de una sola respuesta y devuelve su stdout.
fn python_client(script: &str, addr: SocketAddr, message: &str) -> String {
    let out = run_with_timeout(
        Command::new("python3")
            .arg(fixture(script))
            .arg("127.0.0.1")
            .arg(addr.port().to_string())
            .arg(message),
        PYTHON_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{script} falló: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_problema2() -> ServerGuard {
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = tcp.local_addr().expect("local_addr");
        if let Ok(udp) = UdpSocket::bind(addr) {
            return start_on(tcp, move |l, s| {
                problema2::run(l, udp, problema2::ServerConfig::default(), s)
            });
        }
    }
    panic!("no se encontró un puerto libre para TCP y UDP a la vez");
}

fn start_problema3() -> ServerGuard {
    start_server(|l, s| problema3::run(l, problema3::ServerConfig::default(), s))
}

// ---- problema1 -------------------------------------------------------------------------

#[test]
fn problema1_workshop_client_gets_its_reply_from_our_server() {
    if !require_tool("python3") {
        return;
    }
    let server = start_server(|l, s| problema1::run(l, problema1::ServerConfig::default(), s));
    // El cliente del taller espera 10 s en su recv: la respuesta tiene que llegar tras la
    // pausa, no tras el plazo de 30 s del servidor.
    let out = python_client("problema1_cliente.py", server.addr, "Mundo!");
    assert_eq!(out.trim_end(), "recibido (6 bytes): Mundo!");
}

#[test]
fn problema1_our_client_gets_the_reply_of_a_workshop_server() {
    if !require_tool("python3") {
        return;
    }
    let (_python, addr) = Python::server("problema1_servidor.py");
    let stream = tests::connect(addr);
    let reply = problema1::cliente::exchange(&stream, "Mundo!").expect("respuesta");
    // El servidor del taller responde a lo que llegó en su recv, salto de línea incluido.
    assert_eq!(reply, "Hola, Mundo!");
}

// ---- problema2 -------------------------------------------------------------------------

#[test]
fn problema2_workshop_client_gets_its_echo_from_our_server() {
    if !require_tool("python3") {
        return;
    }
    let server = start_problema2();
    let out = python_client("problema2_cliente.py", server.addr, "hecho á mano");
    assert_eq!(out, "hecho á mano\n");
}

#[test]
fn problema2_our_terminal_client_reconnects_to_a_workshop_server_for_each_line() {
    if !require_tool("python3") {
        return;
    }
    let (_python, addr) = Python::server("problema2_servidor.py");
    let mut shown = Vec::new();
    problema2::cliente::interactive(
        || Ok(tests::connect(addr)),
        io::Cursor::new("uno\ndos\ntres\n"),
        &mut shown,
    )
    .expect("tres ecos correctos");
    let shown = String::from_utf8(shown).expect("UTF-8");
    for word in ["uno", "dos", "tres"] {
        assert!(shown.contains(&format!("Eco: {word}\n")), "{shown}");
    }
    assert_eq!(
        shown.matches(problema2::cliente::RECONNECT_NOTE).count(),
        1,
        "{shown}"
    );
    assert!(!shown.contains("no coincide"), "{shown}");
}

#[test]
fn problema2_our_pipe_client_says_how_much_a_workshop_server_echoed() {
    if !require_tool("python3") {
        return;
    }
    let (_python, addr) = Python::server("problema2_servidor.py");
    let stream = tests::connect(addr);
    let data: Vec<u8> = (0..4000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut echoed = Vec::new();
    let err = problema2::cliente::stream_tcp(&stream, io::Cursor::new(data.clone()), &mut echoed)
        .expect_err("el servidor del taller devuelve como mucho 1024 bytes");
    assert!(echoed.len() <= 1024 && data.starts_with(&echoed));
    let text = err.to_string();
    // Lo enviado se cuenta tras cada escritura: con la máquina muy cargada, el emisor puede
    // no haber sumado aún su trozo cuando se le deja de esperar.
    let problema2::cliente::ClientError::Incomplete { received, sent, .. } = err else {
        panic!("{text}");
    };
    assert_eq!(received, echoed.len() as u64, "{text}");
    assert!(sent <= 4000, "{text}");
    assert!(
        text.contains(&format!("volvieron {received} de {sent} bytes enviados")),
        "{text}"
    );
    assert!(
        !text.contains("os error") && !text.contains("Connection"),
        "{text}"
    );
}

// ---- problema3 -------------------------------------------------------------------------

#[test]
fn problema3_workshop_clients_chat_through_our_server() {
    if !require_tool("python3") {
        return;
    }
    let server = start_problema3();
    let mut ana = Python::chat_client(server.addr, "ana");
    ana.line_containing("ya estás conectado!");
    let mut eva = Python::chat_client(server.addr, "eva");
    eva.line_containing("ya estás conectado!");
    ana.line_containing("eva se ha unido al Chat.");
    eva.type_line("hola a todos");
    ana.line_containing("eva: hola a todos");
    ana.type_line("hola eva");
    eva.line_containing("ana: hola eva");
    // Nuestro cliente, con líneas, comparte la sala con los del taller.
    let mut luis = OurChatClient::start(server.addr, Some("luis"));
    assert_eq!(luis.screen_line(), "ya estás conectado!");
    eva.line_containing("luis se ha unido al Chat.");
    luis.type_line("hola a los dos");
    ana.line_containing("luis: hola a los dos");
    eva.line_containing("luis: hola a los dos");
    eva.type_line("hola luis");
    assert_eq!(luis.screen_line(), "eva: hola luis");
    luis.type_line("/quit");
    let outcome = luis.handle.join().expect("hilo del cliente");
    assert_eq!(outcome.expect("sesión"), problema3::Outcome::Quit);
    ana.line_containing("luis ha abandonado el Chat.");
}

/// Nuestro cliente, en un hilo, con su teclado y su pantalla en dos `UnixStream`.
struct OurChatClient {
    keyboard: UnixStream,
    screen: BufReader<UnixStream>,
    handle: thread::JoinHandle<Result<problema3::Outcome, problema3::ClientError>>,
}

impl OurChatClient {
    fn start(addr: SocketAddr, name: Option<&str>) -> Self {
        let (keyboard, input) = UnixStream::pair().expect("socketpair");
        let (screen, output) = UnixStream::pair().expect("socketpair");
        screen.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let stream = TcpStream::connect(addr).expect("conectar");
        let name = name.map(str::to_string);
        let handle = thread::spawn(move || {
            problema3::cliente::run(stream, name.as_deref(), BufReader::new(input), output)
        });
        Self {
            keyboard,
            screen: BufReader::new(screen),
            handle,
        }
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.keyboard, "{line}").expect("teclado");
    }

    /// La siguiente línea de su pantalla (falla por tiempo).
    fn screen_line(&mut self) -> String {
        let mut line = String::new();
        self.screen.read_line(&mut line).expect("línea en pantalla");
        line.trim_end_matches('\n').to_string()
    }
}

/// Un servidor de chat del taller con una clienta del taller, eva, ya dentro.
fn workshop_chat_with_eva() -> (Python, SocketAddr, Python) {
    let (server, addr) = Python::server("problema3_servidor.py");
    let mut eva = Python::chat_client(addr, "eva");
    eva.line_containing("ya estás conectado!");
    (server, addr, eva)
}

#[test]
fn problema3_our_client_chats_with_a_workshop_server() {
    if !require_tool("python3") {
        return;
    }
    let (_python, addr, mut eva) = workshop_chat_with_eva();

    let mut ana = OurChatClient::start(addr, Some("ana"));
    assert_eq!(ana.screen_line(), "ya estás conectado!");
    // El nombre llegó sin salto de línea: nada de `ana\n se ha unido`.
    assert_eq!(
        eva.line_containing("se ha unido"),
        "ana se ha unido al Chat."
    );
    ana.type_line("hola eva");
    assert_eq!(eva.line_containing("hola"), "ana: hola eva");
    // Lo que llega sin salto de línea se muestra sin esperar al cierre.
    eva.type_line("hola ana");
    assert_eq!(ana.screen_line(), "eva: hola ana");
    // `/quit` lo resuelve nuestro cliente: cierra y termina bien, sin enviarlo al chat.
    ana.type_line("/quit");
    let outcome = ana.handle.join().expect("hilo del cliente");
    assert_eq!(outcome.expect("sesión"), problema3::Outcome::Quit);
    assert_eq!(
        eva.line_containing("abandonado"),
        "ana ha abandonado el Chat."
    );
    assert!(
        !eva.seen.iter().any(|l| l.contains("/quit")),
        "{:?}",
        eva.seen
    );
}

#[test]
fn problema3_our_client_without_a_name_asks_for_it_when_the_workshop_server_does_not() {
    if !require_tool("python3") {
        return;
    }
    let (_python, addr, mut eva) = workshop_chat_with_eva();
    let mut luis = OurChatClient::start(addr, None);
    assert_eq!(luis.screen_line(), problema3::cliente::crudo::NAME_HINT);
    luis.type_line("luis");
    assert_eq!(luis.screen_line(), "ya estás conectado!");
    assert_eq!(
        eva.line_containing("se ha unido"),
        "luis se ha unido al Chat."
    );
    drop(luis.keyboard);
    let outcome = luis.handle.join().expect("hilo del cliente");
    assert_eq!(outcome.expect("sesión"), problema3::Outcome::Quit);
}

// ---- problema4 -------------------------------------------------------------------------

#[test]
fn problema4_workshop_client_fetches_a_file_from_our_server() {
    if !require_tool("python3") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hola.txt"), "hola desde el taller\n").expect("fichero");
    let config = problema4::ServerConfig::new(dir.path());
    let server = start_server(move |l, s| problema4::run(l, config, s));
    let out = run_with_timeout(
        Command::new("python3")
            .arg(fixture("problema4_cliente.py"))
            .arg("127.0.0.1")
            .arg(server.addr.port().to_string())
            .arg("/hola.txt"),
        PYTHON_TIMEOUT,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhola desde el taller\n"), "{text}");
}

#[test]
fn problema4_our_client_fetches_a_file_from_a_workshop_server() {
    if !require_tool("python3") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hola.txt"), "hola desde el taller\n").expect("fichero");
    let root = dir.path().to_string_lossy().into_owned();
    let (_python, addr) = Python::server_with("problema4_servidor.py", &["--dir", &root]);
    let config = problema4::cliente::ClientConfig {
        urls: vec!["/hola.txt".into()],
        host: "127.0.0.1".into(),
        port: addr.port(),
        head_only: false,
        include_headers: false,
        output: None,
        timeout: IO_TIMEOUT,
        progress: false,
    };
    let mut out = Vec::new();
    let result = problema4::cliente::run(&config, &mut out);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(out, b"hola desde el taller\n");
}
