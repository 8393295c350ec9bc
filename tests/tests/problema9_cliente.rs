//! El `cliente` de problema9 como proceso (issue 18): sus códigos de salida, el prefijo
//! `error:` en una sola línea en español y el silencio cuando quien lee su salida la cierra.
//!
//! | Código | Cuándo |
//! |---|---|
//! | 0 | bien (también si quien lee la salida la cierra antes de tiempo) |
//! | 1 | el servidor respondió con un error: `-ERR`, `-NOQUORUM`, `-LOADING` |
//! | 3 | no se pudo conectar (con el balanceador, o con su puerto de control en `status`) |
//! | 4 | la conexión se cortó o no respondió a tiempo |
//!
//! El cliente es el de verdad (`tests::cliente("problema9")`); el servidor, un nodo del
//! almacén dentro del proceso, o un servidor de mentira cuando hace falta una respuesta que
//! un nodo solo da en una avería (`-NOQUORUM`, un cierre sin responder, un silencio).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Output, Stdio};
use std::thread;
use std::time::Duration;

use problema9::cliente::Client;
use problema9::nodo::{self, NodeConfig};
use problema9::resp::Value;
use tests::{cliente, run_with_timeout, start_on, wait_until, ServerGuard};

/// Plazo de cada proceso cliente: holgado para una máquina cargada.
const DEADLINE: Duration = Duration::from_secs(30);

/// Tamaño máximo de un valor en el nodo de estas pruebas: cabe un valor mayor que el buffer
/// de una tubería (64 KiB) y, en la línea de órdenes, otro mayor que este límite (un solo
/// argumento puede tener hasta 128 KiB en Linux).
const MAX_BULK: usize = 100_000;

/// Un nodo de un clúster de uno, listo para clientes.
fn single_node(dir: &std::path::Path) -> ServerGuard {
    let mut config = NodeConfig::new("solo", dir);
    config.cluster_size = Some(1);
    config.limits.max_bulk = MAX_BULK;
    let peers = TcpListener::bind("127.0.0.1:0").expect("bind pares");
    let clients = TcpListener::bind("127.0.0.1:0").expect("bind clientes");
    let guard = start_on(clients, move |l, s| nodo::run(l, peers, config, s));
    let addr = guard.addr.to_string();
    assert!(
        wait_until(DEADLINE, || {
            Client::connect(&addr, Duration::from_secs(2))
                .and_then(|mut c| c.command(&["PING"]))
                .is_ok_and(|v| v == Value::Simple("PONG".into()))
        }),
        "el nodo no se puso al día"
    );
    guard
}

/// `cliente --port PUERTO ARGS...` con un plazo.
fn run(port: u16, args: &[&str]) -> Output {
    run_with_timeout(
        cliente("problema9")
            .args(["--port", &port.to_string(), "--timeout", "5"])
            .args(args)
            .stdin(Stdio::null()),
        DEADLINE,
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Un fallo: el código esperado y una sola línea `error: ...` en stderr, sin texto del sistema
/// en inglés.
fn assert_failure(out: &Output, code: i32) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "una sola línea: {stderr}");
    for english in [
        "os error",
        "Connection",
        "refused",
        "Broken pipe",
        "unexpected",
    ] {
        assert!(!stderr.contains(english), "texto en inglés: {stderr}");
    }
    stderr
}

/// Un servidor de mentira: a cada conexión le lee una orden y hace `answer` con el socket.
fn fake_server(answer: fn(&mut std::net::TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            answer(&mut stream);
        }
    });
    addr
}

#[test]
fn set_and_get_exit_0_and_an_err_reply_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = single_node(dir.path());
    let port = node.addr.port();

    let out = run(port, &["set", "saludo", "hola"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "OK\n");
    let out = run(port, &["get", "saludo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hola\n");
    let out = run(port, &["get", "no-existe"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "(nil)\n");

    // Un valor mayor que el límite del nodo: `-ERR Protocol error: ...`.
    let big = "x".repeat(MAX_BULK + 10_000);
    let out = run(port, &["set", "grande", &big]);
    let stderr = assert_failure(&out, 1);
    assert!(
        stderr.starts_with("error: el servidor respondió: ERR "),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn noquorum_exits_1_and_says_the_write_may_have_happened() {
    let addr = fake_server(|s| {
        let _ = s.write_all(
            b"-NOQUORUM 1 de 3 nodos respondieron; la operaci\xc3\xb3n no se ha confirmado (una escritura pudo o no surtir efecto)\r\n",
        );
    });
    let out = run(addr.port(), &["set", "a", "1"]);
    let stderr = assert_failure(&out, 1);
    assert!(stderr.contains("NOQUORUM"), "{stderr}");
    assert!(stderr.contains("pudo o no surtir efecto"), "{stderr}");
}

#[test]
fn a_connection_cut_or_silent_mid_conversation_exits_4() {
    let closes = fake_server(|_| {});
    let out = run(closes.port(), &["get", "a"]);
    let stderr = assert_failure(&out, 4);
    assert!(stderr.contains("cerró la conexión"), "{stderr}");

    let silent = fake_server(|_| thread::sleep(Duration::from_secs(20)));
    let out = run_with_timeout(
        cliente("problema9").args([
            "--port",
            &silent.port().to_string(),
            "--timeout",
            "1",
            "get",
            "a",
        ]),
        DEADLINE,
    );
    let stderr = assert_failure(&out, 4);
    assert!(stderr.contains("tiempo"), "{stderr}");
}

/// Issue 18: sin balanceador, `status` repetía su mensaje entero unido por dos puntos.
#[test]
fn status_without_a_balancer_says_it_once_and_exits_3() {
    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("local_addr").port();
    drop(free);
    let out = run_with_timeout(
        cliente("problema9").args(["status", "--control-port", &port.to_string()]),
        DEADLINE,
    );
    let stderr = assert_failure(&out, 3);
    assert_eq!(
        stderr.matches("no se pudo conectar").count(),
        1,
        "el mensaje, una vez: {stderr}"
    );
    assert!(stderr.contains("conexión rechazada"), "{stderr}");
}

/// Un balanceador que corta con RST a mitad de `status`: código 4 y el motivo en español (el
/// `Display` del error de E/S decía «Connection reset by peer (os error 104)»).
#[test]
fn status_cut_by_a_reset_exits_4_in_spanish() {
    let control = fake_server(|s| {
        // SO_LINGER 0: al cerrarse, RST en vez de FIN.
        let _ = socket2::SockRef::from(&*s).set_linger(Some(Duration::ZERO));
    });
    let out = run_with_timeout(
        cliente("problema9").args(["status", "--control-port", &control.port().to_string()]),
        DEADLINE,
    );
    let stderr = assert_failure(&out, 4);
    assert!(stderr.contains("reinició la conexión"), "{stderr}");
}

/// `cliente get clave | head -c 10`, y lo mismo con la sesión interactiva: quien lee cierra
/// pronto y el cliente termina bien y callado (con un valor mayor que el buffer de la tubería,
/// la escritura falla seguro).
#[test]
fn a_closed_stdout_is_a_quiet_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = single_node(dir.path());
    let value = "v".repeat(90_000);
    let mut c = Client::connect(&node.addr.to_string(), Duration::from_secs(5)).expect("conectar");
    assert_eq!(
        c.command(&["SET", "grande", &value]).expect("SET"),
        Value::ok()
    );

    // `get grande` y la sesión interactiva (`GET grande` por la entrada estándar).
    let port = node.addr.port().to_string();
    for (args, input) in [
        (vec!["--port", &port, "get", "grande"], &b""[..]),
        (vec!["--port", &port], &b"GET grande\nGET grande\n"[..]),
    ] {
        let mut child = cliente("problema9")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lanzar el cliente");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("escribir la entrada");
        drop(stdin);
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        // Como `head -c 10`: lee 10 bytes y cierra. (Si el cliente no escribe, el plazo de
        // abajo lo mata y esta lectura termina.)
        let head = thread::spawn(move || {
            let mut first = [0u8; 10];
            let got = stdout.read_exact(&mut first).is_ok();
            drop(stdout);
            got
        });
        let errors = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut status = None;
        if !wait_until(DEADLINE, || {
            status = child.try_wait().expect("try_wait");
            status.is_some()
        }) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?}: el cliente no terminó con la salida cerrada");
        }
        let status = status.expect("terminó");
        assert!(
            head.join().unwrap_or(false),
            "{args:?}: no llegaron ni 10 bytes"
        );
        let stderr = errors.join().unwrap_or_default();
        assert_eq!(status.code(), Some(0), "{args:?}: stderr: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}
