//! Los `cliente` de los problemas 1, 2 y 3 como procesos de verdad (issue 18): el código de
//! salida, el prefijo `error:` y el silencio cuando quien lee su salida la cierra (`| head`).
//!
//! Cada prueba lanza el cliente real con [`tests::cliente`] (el `main` de su
//! `src/bin/cliente.rs`, sin cambios) contra un servidor arrancado dentro de la prueba, y lo
//! espera contra un plazo: un cliente colgado hace fallar la prueba, no la cuelga.

use std::io::{Read, Seek, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tests::{run_with_timeout, start_on, start_server, ServerGuard};

/// Plazo de cada cliente (holgado para una máquina cargada).
const CLIENT_DEADLINE: Duration = Duration::from_secs(30);

/// Un cliente en marcha: su stdin (si es una tubería, abierta y callada hasta que se suelte),
/// su stdout leída en un hilo y su stderr recogida en otro.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    screen: mpsc::Receiver<Vec<u8>>,
    shown: String,
    stderr: Option<thread::JoinHandle<String>>,
    deadline: Instant,
}

impl Running {
    /// Lanza `cmd` con `stdin`. Con `keep`, la stdout se cierra tras leer esos bytes, como en
    /// `cliente ... | head -c keep`.
    fn spawn(cmd: &mut Command, stdin: Stdio, keep: Option<usize>) -> Self {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lanzar el cliente");
        let mut err = child.stderr.take().expect("stderr");
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut out = child.stdout.take().expect("stdout");
        let (tx, screen) = mpsc::channel();
        thread::spawn(move || {
            let mut left = keep.unwrap_or(usize::MAX);
            let mut buf = [0u8; 4096];
            while left > 0 {
                let want = left.min(buf.len());
                match out.read(&mut buf[..want]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        left -= n;
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
            // Al soltar `out` se cierra la tubería: el cliente verá EPIPE al escribir.
        });
        Self {
            stdin: child.stdin.take(),
            child,
            screen,
            shown: String::new(),
            stderr: Some(stderr),
            deadline: Instant::now() + CLIENT_DEADLINE,
        }
    }

    /// Escribe en la stdin del cliente.
    fn type_in(&mut self, bytes: &[u8]) {
        self.stdin
            .as_mut()
            .expect("stdin por tubería")
            .write_all(bytes)
            .expect("escribir al cliente");
    }

    /// Espera a que el cliente haya mostrado `text`; si no llega a tiempo, lo mata y falla.
    fn wait_for_output(&mut self, text: &str) {
        while !self.shown.contains(text) {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.screen.recv_timeout(left) {
                Ok(bytes) => self.shown.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("el cliente no mostró {text:?}; mostró {:?}", self.shown);
                }
            }
        }
    }

    /// Espera a que termine en `within` (si no, lo mata y falla); el estado y la stderr.
    fn finish(mut self, within: Duration) -> (ExitStatus, String) {
        let status = tests::wait_or_kill(&mut self.child, Instant::now() + within, || {
            format!("el cliente no terminó en {within:?}")
        });
        drop(self.stdin.take());
        let err = self.stderr.take().map(|h| h.join().unwrap_or_default());
        (status, err.unwrap_or_default())
    }
}

/// `cliente ... | head -c keep`: el estado y la stderr del cliente.
fn run_with_stdout_closed_after(
    cmd: &mut Command,
    stdin: Stdio,
    keep: usize,
) -> (ExitStatus, String) {
    let client = Running::spawn(cmd, stdin, Some(keep));
    let mut got = 0;
    while got < keep {
        let left = client.deadline.saturating_duration_since(Instant::now());
        match client.screen.recv_timeout(left) {
            Ok(bytes) => got += bytes.len(),
            Err(_) => break,
        }
    }
    client.finish(CLIENT_DEADLINE)
}

/// Ejecuta el cliente de `problem` con `args` hasta que termine; (código, stdout, stderr).
fn run_client(problem: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = run_with_timeout(
        tests::cliente(problem).args(args).stdin(Stdio::null()),
        CLIENT_DEADLINE,
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Un servidor falso que acepta cada conexión y la cierra sin decir nada.
fn mute_server() -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let handle = thread::spawn(move || {
        if let Ok((s, _)) = listener.accept() {
            drop(s);
        }
    });
    (port, handle)
}

// ---- problema1 -----------------------------------------------------------------------------

fn problema1(config: problema1::ServerConfig) -> ServerGuard {
    start_server(move |l, s| problema1::run(l, config, s))
}

#[test]
fn problema1_client_prints_the_reply_and_exits_0() {
    let server = problema1(problema1::ServerConfig::default());
    let port = server.addr.port().to_string();
    let (code, out, err) = run_client("problema1", &["--port", &port, "hola"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "recibido (4 bytes): hola\n");
    assert_eq!(err, "");
}

/// Una respuesta `ERROR ...` es un «no» del servidor: código 1, con la línea en stderr.
#[test]
fn problema1_client_exits_1_when_the_server_answers_an_error() {
    let server = problema1(problema1::ServerConfig {
        max_message: 5,
        ..problema1::ServerConfig::default()
    });
    let port = server.addr.port().to_string();
    let (code, out, err) = run_client("problema1", &["--port", &port, "demasiado largo"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: el servidor respondió con un error: ERROR mensaje demasiado largo: el máximo es 5 bytes\n"
    );
}

#[test]
fn problema1_client_exits_2_for_a_message_of_several_lines() {
    let server = problema1(problema1::ServerConfig::default());
    let port = server.addr.port().to_string();
    let (code, _, err) = run_client("problema1", &["--port", &port, "dos\nlíneas"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err, "error: el mensaje no puede contener saltos de línea\n");
}

#[test]
fn problema1_client_exits_4_when_the_server_closes_without_answering() {
    let (port, server) = mute_server();
    let (code, _, err) = run_client("problema1", &["--port", &port.to_string(), "hola"]);
    server.join().unwrap();
    assert_eq!(code, Some(4), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

/// La respuesta a un mensaje de 64 KiB ocupa más que el buffer de una tubería: quien lee la
/// salida y la cierra tras 10 bytes no provoca un pánico ni un error, y el cliente sale con 0.
#[test]
fn problema1_client_is_quiet_when_its_stdout_is_closed() {
    let server = problema1(problema1::ServerConfig::default());
    let port = server.addr.port().to_string();
    let message = "x".repeat(problema1::protocolo::DEFAULT_MAX_MESSAGE);
    let (status, err) = run_with_stdout_closed_after(
        tests::cliente("problema1").args(["--port", &port, &message]),
        Stdio::null(),
        10,
    );
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

// ---- problema2 -----------------------------------------------------------------------------

fn problema2() -> ServerGuard {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
    // El UDP en otro puerto: estas pruebas solo usan el TCP.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    start_on(tcp, move |l, s| {
        problema2::run(l, udp, problema2::ServerConfig::default(), s)
    })
}

/// Issue 18: con la entrada abierta y callada (`tail -f registro | cliente`), el cliente ve el
/// apagado del servidor en el acto, lo dice en español y sale con 4: la copia quedó sin
/// terminar, aunque todo lo enviado había vuelto.
#[test]
fn problema2_pipe_client_notices_a_server_shutdown_while_its_input_is_idle() {
    let mut server = problema2();
    let port = server.addr.port().to_string();
    let mut client = Running::spawn(
        tests::cliente("problema2").args(["--port", &port]),
        Stdio::piped(),
        None,
    );
    client.type_in(b"hola\n");
    client.wait_for_output("hola\n");
    server.stop().unwrap();
    let stopped = Instant::now();
    let (status, err) = client.finish(CLIENT_DEADLINE);
    let took = stopped.elapsed();
    assert_eq!(status.code(), Some(4), "{err}");
    assert_eq!(
        err,
        "error: el servidor cerró la conexión antes de que terminara la entrada (había devuelto los 5 bytes enviados)\n"
    );
    assert!(took < Duration::from_secs(5), "tardó {took:?}");
}

/// Un fichero temporal con `content`, para usarlo como stdin del cliente.
fn stdin_file(content: &[u8]) -> Stdio {
    let mut file = tempfile::tempfile().expect("fichero temporal");
    file.write_all(content).expect("escribir");
    file.seek(std::io::SeekFrom::Start(0)).expect("rebobinar");
    Stdio::from(file)
}

/// Un eco UDP distinto de lo enviado es una respuesta equivocada del servidor: código 1.
#[test]
fn problema2_udp_client_exits_1_when_the_echo_differs() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket
        .set_read_timeout(Some(CLIENT_DEADLINE))
        .expect("plazo");
    let port = socket.local_addr().expect("local_addr").port().to_string();
    let server = thread::spawn(move || {
        let mut buf = [0u8; 64];
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n].to_ascii_uppercase(), from);
        }
    });
    let out = run_with_timeout(
        tests::cliente("problema2")
            .args(["--udp", "--port", &port])
            .stdin(stdin_file(b"hola\n")),
        CLIENT_DEADLINE,
    );
    server.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err, "error: la respuesta UDP no coincide con lo enviado\n");
}

/// `cliente < 1MiB | head -c 10`: el eco no cabe en la tubería; al cerrarla, el cliente sale
/// con 0 y sin decir nada.
#[test]
fn problema2_pipe_client_is_quiet_when_its_stdout_is_closed() {
    let server = problema2();
    let port = server.addr.port().to_string();
    let (status, err) = run_with_stdout_closed_after(
        tests::cliente("problema2").args(["--port", &port]),
        stdin_file(&vec![b'x'; 1 << 20]),
        10,
    );
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

// ---- problema3 -----------------------------------------------------------------------------

fn problema3(config: problema3::ServerConfig) -> ServerGuard {
    start_server(move |l, s| problema3::run(l, config, s))
}

/// Un cliente del chat dentro de la sala, con la entrada abierta y callada.
fn chat_client(port: &str, name: &str, keep: Option<usize>) -> Running {
    let mut client = Running::spawn(
        tests::cliente("problema3").args(["--port", port, "--name", name]),
        Stdio::piped(),
        keep,
    );
    if keep.is_none() {
        client.wait_for_output(problema3::protocolo::CONNECTED);
    }
    client
}

/// Con el servidor lleno, la línea `ERROR servidor lleno...` y el cierre son un «no» del
/// servidor: código 1 (antes, 1 con «el servidor cerró la conexión», como cualquier corte).
#[test]
fn problema3_client_exits_1_when_the_server_refuses_it() {
    let server = problema3(problema3::ServerConfig {
        max_connections: 1,
        ..problema3::ServerConfig::default()
    });
    let _inside = tests::LineClient::connect(server.addr);
    let port = server.addr.port().to_string();
    let client = Running::spawn(
        tests::cliente("problema3").args(["--port", &port, "--name", "eva"]),
        Stdio::piped(),
        None,
    );
    let (status, err) = client.finish(CLIENT_DEADLINE);
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: el servidor cerró la conexión tras responder: ERROR servidor lleno, pruebe más tarde\n"
    );
}

/// Ctrl-C en el servidor: avisa (`servidor cerrándose`) y el cliente sale con 0 diciéndolo.
#[test]
fn problema3_client_exits_0_when_the_server_announces_its_shutdown() {
    let mut server = problema3(problema3::ServerConfig::default());
    let port = server.addr.port().to_string();
    let client = chat_client(&port, "eva", None);
    server.stop().unwrap();
    let (status, err) = client.finish(CLIENT_DEADLINE);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "el servidor se ha apagado; hasta pronto\n");
}

/// Un cierre sin aviso es un corte: código 4.
#[test]
fn problema3_client_exits_4_when_the_connection_is_lost_without_notice() {
    let (port, server) = mute_server();
    let client = Running::spawn(
        tests::cliente("problema3").args(["--port", &port.to_string(), "--name", "eva"]),
        Stdio::piped(),
        None,
    );
    let (status, err) = client.finish(CLIENT_DEADLINE);
    server.join().unwrap();
    assert_eq!(status.code(), Some(4), "{err}");
    assert_eq!(err, "error: el servidor cerró la conexión\n");
}

/// `cliente --name eva | head -c 10` con la sala muy habladora (más de 64 KiB): al cerrarse su
/// salida el cliente se va, con 0 y sin decir nada (antes: `error: el servidor cerró la
/// conexión`, código 1).
#[test]
fn problema3_client_is_quiet_when_its_stdout_is_closed() {
    let server = problema3(problema3::ServerConfig {
        rate_per_sec: 1e9,
        rate_burst: u32::MAX,
        ..problema3::ServerConfig::default()
    });
    let port = server.addr.port().to_string();
    let mut ana = tests::LineClient::connect(server.addr);
    assert_eq!(ana.line(), problema3::protocolo::NAME_PROMPT);
    ana.send("ana");
    assert_eq!(ana.line(), problema3::protocolo::CONNECTED);
    let eva = chat_client(&port, "eva", Some(10));
    // Los 10 primeros bytes (de `ya estás conectado!`) ya se leyeron y la tubería se cerró.
    let mut got = 0;
    while got < 10 {
        let left = eva.deadline.saturating_duration_since(Instant::now());
        got += eva
            .screen
            .recv_timeout(left)
            .expect("el cliente no escribió")
            .len();
    }
    assert_eq!(ana.line(), "eva se ha unido al Chat.");
    let long = "x".repeat(3000);
    for _ in 0..40 {
        if ana
            .stream
            .write_all(format!("{long}\n").as_bytes())
            .is_err()
        {
            break;
        }
    }
    let (status, err) = eva.finish(CLIENT_DEADLINE);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}
