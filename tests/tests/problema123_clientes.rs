//! Los `cliente` de los problemas 1, 2 y 3 como procesos de verdad (issue 18): el código de
//! salida, el prefijo `error:` y el silencio cuando quien lee su salida la cierra (`| head`).
//!
//! Cada prueba lanza el cliente real con [`tests::cliente`] (el `main` de su
//! `src/bin/cliente.rs`, sin cambios) contra un servidor arrancado dentro de la prueba, y lo
//! espera contra un plazo: un cliente colgado hace fallar la prueba, no la cuelga.

use std::io::{Read, Seek, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tests::{run_with_timeout, start_on, start_server, ServerGuard};

/// Plazo de cada cliente (holgado para una máquina cargada).
const CLIENT_DEADLINE: Duration = Duration::from_secs(30);

/// Espera a que `child` termine antes de `deadline`; si no, lo mata y falla la prueba.
fn wait_for(child: &mut Child, deadline: Instant, what: &str) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: el cliente no terminó a tiempo");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Lee toda la stderr de `child` en un hilo (para no bloquearlo si escribe mucho).
fn collect_stderr(child: &mut Child) -> thread::JoinHandle<String> {
    let mut err = child.stderr.take().expect("stderr");
    thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    })
}

/// Lanza `cmd` con su stdout en una tubería de la que se leen `keep` bytes y que después se
/// cierra (lo que hace `cliente ... | head -c keep`). Devuelve el estado y la stderr.
fn run_with_stdout_closed_after(cmd: &mut Command, keep: usize) -> (ExitStatus, String) {
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lanzar el cliente");
    let stderr = collect_stderr(&mut child);
    let mut out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut head = vec![0u8; keep];
        let got = out.read_exact(&mut head).map(|()| head);
        // Al soltar `out` se cierra la tubería: el cliente verá EPIPE al escribir.
        drop(out);
        let _ = tx.send(got);
    });
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(Ok(head)) => assert_eq!(head.len(), keep),
        Ok(Err(e)) => panic!("el cliente no escribió {keep} bytes: {e}"),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("el cliente no escribió {keep} bytes a tiempo");
        }
    }
    let status = wait_for(&mut child, deadline, "stdout cerrada");
    (status, stderr.join().unwrap_or_default())
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

/// Antes, cualquier respuesta (también `ERROR ...`) salía con 0.
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
        tests::cliente("problema1")
            .args(["--port", &port, &message])
            .stdin(Stdio::null()),
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
    let mut child = tests::cliente("problema2")
        .args(["--port", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lanzar el cliente");
    let stderr = collect_stderr(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"hola\n").expect("escribir al cliente");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut echo = [0u8; 5];
        let _ = tx.send(stdout.read_exact(&mut echo).map(|()| echo));
    });
    match rx.recv_timeout(CLIENT_DEADLINE) {
        Ok(Ok(echo)) => assert_eq!(&echo, b"hola\n"),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no llegó el eco: {other:?}");
        }
    }
    server.stop().unwrap();
    let stopped = Instant::now();
    let status = wait_for(&mut child, stopped + CLIENT_DEADLINE, "apagado");
    let took = stopped.elapsed();
    drop(stdin);
    let err = stderr.join().unwrap_or_default();
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
        tests::cliente("problema2")
            .args(["--port", &port])
            .stdin(stdin_file(&vec![b'x'; 1 << 20])),
        10,
    );
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}
