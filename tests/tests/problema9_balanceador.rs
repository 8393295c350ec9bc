//! Pruebas de extremo a extremo del balanceador del problema 9 (parte 1): reparto, registro,
//! caducidad, comprobaciones de salud, caídas de servidores, rechazo sin servidores, el
//! puerto de control y el reenvío byte a byte.
//!
//! Los servidores de fondo son diminutos y viven en el propio proceso: cada uno saluda con su
//! identificador (`soy b1`) y devuelve el eco de lo que recibe, así cada cliente ve a qué
//! servidor lo mandó el balanceador.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::{serve, ServeConfig, Shutdown};
use problema9::balanceador::{
    self, BalancerConfig, CheckKind, Strategy, FULL_REPLY, NO_BACKEND_REPLY,
};
use problema9::registro::{self, BackendState, BackendStatus, Origin, Registrar};
use tests::{start_server, wait_until, LineClient, ServerGuard, IO_TIMEOUT};

// ---------------------------------------------------------------------------------------
// Servidores de fondo de prueba

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Saluda con `soy ID`, responde `+PONG` a `PING` y devuelve el eco de cada línea.
    Greeter,
    /// Eco puro de bytes, sin saludo: cierra su escritura al recibir el fin de flujo.
    Echo,
    /// Como un nodo RESP: sin saludo, responde `+PONG` a `PING` y eco al resto.
    Resp,
    /// Responde `+PONG\r\n` a cada lectura (basta para un `redis-cli PING`).
    Pong,
}

struct Backend {
    addr: SocketAddr,
    shutdown: Shutdown,
    handle: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(id: &str, mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::start_with(id, mode, listener)
    }

    /// Vuelve a arrancar en la misma dirección (como un servidor reiniciado).
    fn restart(id: &str, addr: SocketAddr) -> Self {
        let mut listener = None;
        assert!(wait_until(IO_TIMEOUT, || {
            listener = TcpListener::bind(addr).ok();
            listener.is_some()
        }));
        Self::start_with(id, Mode::Greeter, listener.unwrap())
    }

    fn start_with(id: &str, mode: Mode, listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let mut config = ServeConfig::new(format!("fondo-{id}"));
        config.drain_timeout = Duration::from_millis(500);
        let name = id.to_string();
        let s = shutdown.clone();
        let handle = thread::spawn(move || {
            serve(listener, config, s, move |stream, _peer| match mode {
                Mode::Greeter => greeter(stream, &name, true),
                Mode::Resp => greeter(stream, &name, false),
                Mode::Echo => echo(stream),
                Mode::Pong => pong(stream),
            })
            .unwrap();
        });
        Self {
            addr,
            shutdown,
            handle: Some(handle),
        }
    }

    /// Mata el servidor: deja de escuchar y cierra a todos sus clientes.
    fn kill(&mut self) {
        self.shutdown.trigger();
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

fn greeter(stream: TcpStream, id: &str, greet: bool) {
    let mut writer = stream.try_clone().unwrap();
    if greet && writer.write_all(format!("soy {id}\n").as_bytes()).is_err() {
        return;
    }
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        let reply = if line.trim_end() == "PING" {
            "+PONG\r\n".to_string()
        } else {
            format!("{id}: {line}")
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
        line.clear();
    }
}

fn echo(mut stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if writer.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
    let _ = writer.shutdown(NetShutdown::Write);
}

fn pong(mut stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || writer.write_all(b"+PONG\r\n").is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// El balanceador y sus clientes

struct Balancer {
    guard: ServerGuard,
    control: String,
}

/// Comprobaciones rápidas para que las pruebas no esperen: cada 30 ms, dos fallos para
/// caer y dos aciertos para volver.
fn fast(backends: &[&Backend]) -> BalancerConfig {
    BalancerConfig {
        backends: backends.iter().map(|b| b.addr()).collect(),
        check_interval: Duration::from_millis(30),
        check_timeout: Duration::from_millis(500),
        fall: 2,
        rise: 2,
        connect_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(2),
        ..BalancerConfig::default()
    }
}

fn start_balancer(config: BalancerConfig) -> Balancer {
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let control_addr = control.local_addr().unwrap().to_string();
    let guard =
        start_server(move |clients, shutdown| balanceador::run(clients, control, config, shutdown));
    Balancer {
        guard,
        control: control_addr,
    }
}

impl Balancer {
    /// Conecta un cliente y devuelve a qué servidor lo mandaron (su saludo) y el cliente.
    fn client(&self) -> (String, LineClient) {
        let mut c = LineClient::connect(self.guard.addr);
        let greeting = c.line();
        let id = greeting
            .strip_prefix("soy ")
            .unwrap_or_else(|| panic!("saludo inesperado: {greeting:?}"))
            .to_string();
        (id, c)
    }

    fn status(&self) -> Vec<BackendStatus> {
        registro::status(&self.control, IO_TIMEOUT).unwrap()
    }

    fn row(&self, id: &str) -> Option<BackendStatus> {
        self.status().into_iter().find(|b| b.id == id)
    }

    fn wait_state(&self, addr: &str, state: BackendState) {
        assert!(
            wait_until(IO_TIMEOUT, || self
                .row(addr)
                .is_some_and(|b| b.state == state)),
            "{addr} no llegó a {state:?}: {:?}",
            self.status()
        );
    }

    fn wait_active(&self, addr: &str, active: u64) {
        assert!(
            wait_until(IO_TIMEOUT, || self
                .row(addr)
                .is_some_and(|b| b.active == active)),
            "{addr} no llegó a {active} activas: {:?}",
            self.status()
        );
    }

    fn control_client(&self) -> LineClient {
        LineClient::connect(self.control.parse().unwrap())
    }
}

/// Lee todo lo que llegue hasta el cierre.
fn read_all(addr: SocketAddr) -> Vec<u8> {
    let mut s = tests::connect(addr);
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    got
}

// ---------------------------------------------------------------------------------------
// Reparto

#[test]
fn round_robin_sends_each_new_client_to_the_next_backend_in_turn() {
    let b1 = Backend::start("b1", Mode::Greeter);
    let b2 = Backend::start("b2", Mode::Greeter);
    let b3 = Backend::start("b3", Mode::Greeter);
    let lb = start_balancer(fast(&[&b1, &b2, &b3]));
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (id, mut c) = lb.client();
        // El eco demuestra que el túnel funciona en ambos sentidos.
        c.send("hola");
        assert_eq!(c.line(), format!("{id}: hola"));
        seen.push(id);
    }
    assert_eq!(seen, ["b1", "b2", "b3", "b1", "b2", "b3"]);
    for b in [&b1, &b2, &b3] {
        lb.wait_active(&b.addr(), 0);
        let row = lb.row(&b.addr()).unwrap();
        assert_eq!((row.total, row.origin), (2, Origin::Static), "{row:?}");
    }
}

#[test]
fn least_connections_sends_new_clients_to_the_least_busy_backend() {
    let b1 = Backend::start("b1", Mode::Greeter);
    let b2 = Backend::start("b2", Mode::Greeter);
    let mut config = fast(&[&b1, &b2]);
    config.strategy = Strategy::LeastConnections;
    let lb = start_balancer(config);
    // A igualdad de carga se reparte por turnos.
    let clients: Vec<(String, LineClient)> = (0..4).map(|_| lb.client()).collect();
    let ids: Vec<&str> = clients.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["b1", "b2", "b1", "b2"]);
    // Se van los dos clientes de b2: b1 tiene 2 activas y b2 ninguna.
    let (on_b1, on_b2): (Vec<_>, Vec<_>) = clients.into_iter().partition(|(id, _)| id == "b1");
    drop(on_b2);
    lb.wait_active(&b2.addr(), 0);
    lb.wait_active(&b1.addr(), 2);
    // Los dos siguientes van ambos a b2 (por turnos, uno habría ido a b1).
    let (x, _cx) = lb.client();
    let (y, _cy) = lb.client();
    assert_eq!((x.as_str(), y.as_str()), ("b2", "b2"));
    // Con 2 y 2, vuelve a haber empate.
    let (z, _cz) = lb.client();
    assert!(z == "b1" || z == "b2");
    drop(on_b1);
}

// ---------------------------------------------------------------------------------------
// Registro por el puerto de control

#[test]
fn registered_backend_gets_clients_and_leaves_when_the_registrar_stops() {
    let lb = start_balancer(fast(&[]));
    let node = Backend::start("n1", Mode::Greeter);
    let mut meta = BTreeMap::new();
    meta.insert("papel".to_string(), "prueba".to_string());
    let registrar = Registrar::start(
        lb.control.clone(),
        "n1".to_string(),
        node.addr(),
        meta.clone(),
        Duration::from_millis(50),
        Shutdown::new(),
    );
    assert!(wait_until(IO_TIMEOUT, || registrar.is_registered()));
    let members = registro::members(&lb.control, IO_TIMEOUT).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        (
            members[0].id.as_str(),
            members[0].addr.clone(),
            &members[0].meta,
            members[0].up
        ),
        ("n1", node.addr(), &meta, true)
    );
    let row = lb.row("n1").unwrap();
    assert_eq!(row.origin, Origin::Registered);
    let (id, mut c) = lb.client();
    assert_eq!(id, "n1");
    c.send("dato");
    assert_eq!(c.line(), "n1: dato");
    drop(c);
    // Al parar, se da de baja: los clientes nuevos reciben el rechazo.
    registrar.stop();
    assert!(lb.status().is_empty(), "{:?}", lb.status());
    assert_eq!(read_all(lb.guard.addr), NO_BACKEND_REPLY);
}

#[test]
fn registrar_deregisters_when_its_shutdown_triggers() {
    let lb = start_balancer(fast(&[]));
    let node = Backend::start("n1", Mode::Greeter);
    let shutdown = Shutdown::new();
    let registrar = Registrar::start(
        lb.control.clone(),
        "n1".into(),
        node.addr(),
        BTreeMap::new(),
        Duration::from_millis(50),
        shutdown.clone(),
    );
    assert!(wait_until(IO_TIMEOUT, || registrar.is_registered()));
    shutdown.trigger();
    assert!(wait_until(IO_TIMEOUT, || lb.status().is_empty()));
    assert!(wait_until(IO_TIMEOUT, || !registrar.is_registered()));
}

#[test]
fn registered_backend_without_heartbeats_expires_after_ttl() {
    let mut config = fast(&[]);
    config.ttl = Duration::from_millis(300);
    let lb = start_balancer(config);
    let node = Backend::start("n1", Mode::Greeter);
    let mut ctl = lb.control_client();
    ctl.send(&format!(
        r#"{{"type":"register","id":"n1","addr":"{}"}}"#,
        node.addr()
    ));
    assert_eq!(
        ctl.line(),
        r#"{"type":"registered","id":"n1","ttl_ms":300}"#
    );
    ctl.send(r#"{"type":"heartbeat","id":"n1"}"#);
    assert_eq!(ctl.line(), r#"{"type":"ok"}"#);
    let (id, _c) = lb.client();
    assert_eq!(id, "n1");
    // Sin más latidos, caduca.
    assert!(wait_until(IO_TIMEOUT, || lb.row("n1").is_none()));
    ctl.send(r#"{"type":"heartbeat","id":"n1"}"#);
    assert_eq!(ctl.line(), r#"{"type":"unknown","id":"n1"}"#);
    assert_eq!(read_all(lb.guard.addr), NO_BACKEND_REPLY);
}

#[test]
fn registrar_registers_again_when_the_balancer_forgets_it() {
    let lb = start_balancer(fast(&[]));
    let node = Backend::start("n1", Mode::Greeter);
    let registrar = Registrar::start(
        lb.control.clone(),
        "n1".into(),
        node.addr(),
        BTreeMap::new(),
        Duration::from_millis(30),
        Shutdown::new(),
    );
    assert!(wait_until(IO_TIMEOUT, || lb.row("n1").is_some()));
    // Alguien lo da de baja por detrás: el siguiente latido recibe `unknown` y se registra.
    let mut ctl = lb.control_client();
    ctl.send(r#"{"type":"deregister","id":"n1"}"#);
    assert_eq!(ctl.line(), r#"{"type":"ok"}"#);
    ctl.send(r#"{"type":"deregister","id":"n1"}"#);
    let again = ctl.line();
    assert!(
        again == r#"{"type":"unknown","id":"n1"}"# || again == r#"{"type":"ok"}"#,
        "{again}"
    );
    assert!(wait_until(IO_TIMEOUT, || lb.row("n1").is_some()));
    drop(registrar);
    assert!(lb.row("n1").is_none());
}

#[test]
fn registrar_survives_a_balancer_restart_on_the_same_port() {
    let node = Backend::start("n1", Mode::Greeter);
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let control_addr = control.local_addr().unwrap();
    let registrar = Registrar::start(
        control_addr.to_string(),
        "n1".into(),
        node.addr(),
        BTreeMap::new(),
        Duration::from_millis(30),
        Shutdown::new(),
    );
    let first = {
        let config = fast(&[]);
        start_server(move |l, s| balanceador::run(l, control, config, s))
    };
    let status = || registro::status(&control_addr.to_string(), IO_TIMEOUT);
    assert!(wait_until(IO_TIMEOUT, || status().is_ok_and(|s| s.len() == 1)));
    drop(first);
    // Un balanceador nuevo en el mismo puerto de control no sabe nada: el nodo vuelve solo.
    let mut control = None;
    assert!(wait_until(IO_TIMEOUT, || {
        control = TcpListener::bind(control_addr).ok();
        control.is_some()
    }));
    let control = control.unwrap();
    let config = fast(&[]);
    let second = start_server(move |l, s| balanceador::run(l, control, config, s));
    assert!(wait_until(IO_TIMEOUT, || status().is_ok_and(|s| s.len() == 1)));
    let mut c = LineClient::connect(second.addr);
    assert_eq!(c.line(), "soy n1");
    drop(registrar);
}

#[test]
fn static_and_registered_backends_share_the_rotation() {
    let s1 = Backend::start("s1", Mode::Greeter);
    let lb = start_balancer(fast(&[&s1]));
    let n1 = Backend::start("n1", Mode::Greeter);
    let _registrar = Registrar::start(
        lb.control.clone(),
        "n1".into(),
        n1.addr(),
        BTreeMap::new(),
        Duration::from_millis(50),
        Shutdown::new(),
    );
    assert!(wait_until(IO_TIMEOUT, || lb.row("n1").is_some()));
    let mut ids: Vec<String> = (0..4).map(|_| lb.client().0).collect();
    ids.sort();
    assert_eq!(ids, ["n1", "n1", "s1", "s1"]);
    let origins: Vec<Origin> = lb.status().iter().map(|b| b.origin).collect();
    assert_eq!(origins, [Origin::Static, Origin::Registered]);
}

// ---------------------------------------------------------------------------------------
// Salud y caídas

#[test]
fn killed_backend_is_marked_down_gets_no_clients_and_comes_back_after_restart() {
    let mut b1 = Backend::start("b1", Mode::Greeter);
    let b2 = Backend::start("b2", Mode::Greeter);
    let lb = start_balancer(fast(&[&b1, &b2]));
    let addr1 = b1.addr();
    lb.wait_state(&addr1, BackendState::Up);
    b1.kill();
    lb.wait_state(&addr1, BackendState::Down);
    let row = lb.row(&addr1).unwrap();
    assert!(row.last_check.contains("fallo"), "{row:?}");
    for _ in 0..4 {
        assert_eq!(lb.client().0, "b2");
    }
    let _b1 = Backend::restart("b1", b1.addr);
    lb.wait_state(&addr1, BackendState::Up);
    let mut ids: Vec<String> = (0..2).map(|_| lb.client().0).collect();
    ids.sort();
    assert_eq!(ids, ["b1", "b2"]);
}

#[test]
fn clients_of_a_backend_that_dies_are_closed_and_not_moved_elsewhere() {
    let mut b1 = Backend::start("b1", Mode::Greeter);
    let b2 = Backend::start("b2", Mode::Greeter);
    let lb = start_balancer(fast(&[&b1, &b2]));
    let (id, mut c) = lb.client();
    assert_eq!(id, "b1");
    c.send("antes");
    assert_eq!(c.line(), "b1: antes");
    b1.kill();
    // El cliente ve el cierre, nunca un saludo de b2.
    c.expect_closed();
    assert_eq!(lb.client().0, "b2");
    drop(b2);
}

#[test]
fn failed_connect_counts_as_a_failure_and_the_client_is_retried_elsewhere() {
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let live = Backend::start("vivo", Mode::Greeter);
    let mut config = fast(&[]);
    config.backends = vec![dead.clone(), live.addr()];
    // Sin comprobaciones activas en la prueba: solo cuentan las conexiones de clientes.
    config.check_interval = Duration::from_secs(3600);
    let lb = start_balancer(config);
    assert_eq!(lb.row(&dead).unwrap().state, BackendState::Up);
    for _ in 0..3 {
        assert_eq!(lb.client().0, "vivo");
    }
    let row = lb.row(&dead).unwrap();
    assert_eq!(row.state, BackendState::Down, "{row:?}");
    assert!(row.last_check.contains("conectar"), "{row:?}");
    assert_eq!(row.total, 0);
}

#[test]
fn ping_check_marks_down_a_backend_that_does_not_answer_pong() {
    // `Echo` acepta TCP pero a `PING` responde con su eco, no con `+PONG`.
    let mute = Backend::start("mudo", Mode::Echo);
    let pong = Backend::start("pong", Mode::Resp);
    let mut config = fast(&[&mute, &pong]);
    config.check = CheckKind::Ping;
    config.check_timeout = Duration::from_millis(300);
    let lb = start_balancer(config);
    lb.wait_state(&mute.addr(), BackendState::Down);
    let row = lb.row(&mute.addr()).unwrap();
    assert!(row.last_check.contains("PING"), "{row:?}");
    assert!(wait_until(IO_TIMEOUT, || lb.row(&pong.addr()).is_some_and(
        |b| b.state == BackendState::Up && b.last_check.starts_with("ok")
    )));
    // `mudo` devolvería el eco `PING`; solo `pong` recibe clientes.
    for _ in 0..3 {
        let mut c = LineClient::connect(lb.guard.addr);
        c.send("PING");
        assert_eq!(c.line(), "+PONG");
    }
}

#[test]
fn without_backends_up_clients_get_a_clear_refusal() {
    let lb = start_balancer(fast(&[]));
    assert_eq!(read_all(lb.guard.addr), NO_BACKEND_REPLY);
    assert_eq!(
        NO_BACKEND_REPLY,
        b"-ERR no hay servidores disponibles\r\n".as_slice()
    );

    // Y cuando todos han caído, igual.
    let mut b1 = Backend::start("b1", Mode::Greeter);
    let lb = start_balancer(fast(&[&b1]));
    assert_eq!(lb.client().0, "b1");
    b1.kill();
    lb.wait_state(&b1.addr(), BackendState::Down);
    // El cliente que ya envió algo también recibe el rechazo entero, no un reset.
    let mut c = tests::connect(lb.guard.addr);
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, NO_BACKEND_REPLY);
}

#[test]
fn over_the_connection_cap_clients_get_the_full_reply() {
    let b1 = Backend::start("b1", Mode::Greeter);
    let mut config = fast(&[&b1]);
    config.max_connections = 1;
    let lb = start_balancer(config);
    let (_, _first) = lb.client();
    assert_eq!(read_all(lb.guard.addr), FULL_REPLY);
}

#[test]
fn redis_cli_gets_replies_through_the_balancer_and_understands_the_refusal() {
    if !tests::require_tool("redis-cli") {
        return;
    }
    let redis_cli = |addr: SocketAddr| {
        let port = addr.port().to_string();
        let out = tests::run_with_timeout(
            std::process::Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port, "PING"]),
            IO_TIMEOUT,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let empty = start_balancer(fast(&[]));
    let out = redis_cli(empty.guard.addr);
    assert!(out.contains("ERR no hay servidores disponibles"), "{out:?}");

    let node = Backend::start("pong", Mode::Pong);
    let mut config = fast(&[&node]);
    config.check = CheckKind::Ping;
    let lb = start_balancer(config);
    assert!(wait_until(IO_TIMEOUT, || lb
        .row(&node.addr())
        .is_some_and(|b| b.last_check.starts_with("ok"))));
    assert_eq!(redis_cli(lb.guard.addr).trim(), "PONG");
}

// ---------------------------------------------------------------------------------------
// Reenvío

/// Bytes pseudoaleatorios reproducibles (xorshift), para que un byte cambiado se note.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn relay_is_byte_exact_for_64_mib_both_ways_with_half_close() {
    const SIZE: usize = 64 * 1024 * 1024;
    let echo_backend = Backend::start("eco", Mode::Echo);
    let lb = start_balancer(fast(&[&echo_backend]));
    let data = pattern(9, SIZE);
    let mut stream = tests::connect(lb.guard.addr);
    let mut writer = stream.try_clone().unwrap();
    let to_send = data.clone();
    let sender = thread::spawn(move || {
        for chunk in to_send.chunks(256 * 1024) {
            writer.write_all(chunk).unwrap();
        }
        // Medio cierre: el eco debe seguir llegando después.
        writer.shutdown(NetShutdown::Write).unwrap();
    });
    let mut got = Vec::with_capacity(SIZE);
    stream.read_to_end(&mut got).unwrap();
    sender.join().unwrap();
    assert_eq!(got.len(), SIZE);
    assert!(got == data, "los bytes no coinciden");
    lb.wait_active(&echo_backend.addr(), 0);
}

#[test]
fn many_simultaneous_clients_are_all_relayed_and_released() {
    let b1 = Backend::start("b1", Mode::Greeter);
    let b2 = Backend::start("b2", Mode::Greeter);
    let lb = start_balancer(fast(&[&b1, &b2]));
    // Todos conectados a la vez antes de que ninguno hable.
    let mut clients: Vec<(String, LineClient)> = (0..100).map(|_| lb.client()).collect();
    for (i, (id, c)) in clients.iter_mut().enumerate() {
        c.send(&format!("mensaje {i}"));
        assert_eq!(c.line(), format!("{id}: mensaje {i}"));
    }
    let on_b1 = clients.iter().filter(|(id, _)| id == "b1").count();
    assert_eq!(on_b1, 50);
    drop(clients);
    lb.wait_active(&b1.addr(), 0);
    lb.wait_active(&b2.addr(), 0);
}

#[test]
fn server_half_close_reaches_the_client_and_the_client_can_still_send() {
    // Un servidor que responde y cierra su escritura, pero sigue leyendo lo que llega.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"adios parcial").unwrap();
        s.shutdown(NetShutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        rest
    });
    let mut config = fast(&[]);
    config.backends = vec![addr.to_string()];
    config.check_interval = Duration::from_secs(3600);
    let lb = start_balancer(config);
    let mut c = tests::connect(lb.guard.addr);
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"adios parcial");
    c.write_all(b"todavia escribo").unwrap();
    c.shutdown(NetShutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), b"todavia escribo");
}

// ---------------------------------------------------------------------------------------
// Puerto de control

#[test]
fn plain_status_line_gets_the_human_table() {
    let b1 = Backend::start("b1", Mode::Greeter);
    let lb = start_balancer(fast(&[&b1]));
    assert!(wait_until(IO_TIMEOUT, || lb
        .row(&b1.addr())
        .is_some_and(|b| b.last_check.starts_with("ok"))));
    let (_, _c) = lb.client();
    lb.wait_active(&b1.addr(), 1);
    let mut ctl = lb.control_client();
    ctl.send_raw(b"status\r\n");
    let header = ctl.line();
    assert!(header.starts_with("ID "), "{header}");
    for col in [
        "DIRECCIÓN",
        "ESTADO",
        "ORIGEN",
        "ACTIVAS",
        "TOTAL",
        "ÚLTIMA COMPROBACIÓN",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = ctl.line();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..6],
        [b1.addr().as_str(), &b1.addr(), "up", "static", "1", "1"]
    );
    assert!(cells[6].starts_with("ok"), "{row}");
    // La misma tabla que da format_status_table.
    assert_eq!(
        registro::format_status_table(&lb.status()).lines().count(),
        2
    );
}

#[test]
fn control_port_answers_bad_input_with_errors_and_keeps_the_connection() {
    let b1 = Backend::start("b1", Mode::Greeter);
    let lb = start_balancer(fast(&[&b1]));
    let mut ctl = lb.control_client();
    let is_error = |l: &str| l.starts_with(r#"{"type":"error","message":""#);

    ctl.send("{esto no es json");
    let l = ctl.line();
    assert!(is_error(&l) && l.contains("JSON"), "{l}");

    ctl.send_raw(b"\xff\xfe\n");
    assert!(is_error(&ctl.line()));

    ctl.send("HOLA");
    let l = ctl.line();
    assert!(is_error(&l) && l.contains("STATUS"), "{l}");

    let long = "x".repeat(registro::MAX_CONTROL_LINE + 10);
    ctl.send(&long);
    let l = ctl.line();
    assert!(is_error(&l) && l.contains("demasiado larga"), "{l}");

    ctl.send(r#"{"type":"register","id":"n1","addr":"sin-puerto"}"#);
    let l = ctl.line();
    assert!(is_error(&l) && l.contains("HOST:PUERTO"), "{l}");

    ctl.send(&format!(
        r#"{{"type":"register","id":"{}","addr":"127.0.0.1:1"}}"#,
        b1.addr()
    ));
    let l = ctl.line();
    assert!(is_error(&l) && l.contains("estático"), "{l}");

    ctl.send(r#"{"type":"register","id":"","addr":"127.0.0.1:1"}"#);
    assert!(is_error(&ctl.line()));

    // Tras todo eso, la conexión sigue sirviendo.
    ctl.send(r#"{"type":"members"}"#);
    let l = ctl.line();
    assert!(
        l.starts_with(r#"{"type":"members","members":[{"id":""#),
        "{l}"
    );
    let status = lb.status();
    assert_eq!(status.len(), 1);
}

#[test]
fn registration_beyond_max_backends_is_refused() {
    let mut config = fast(&[]);
    config.max_backends = 2;
    let lb = start_balancer(config);
    let mut ctl = lb.control_client();
    for id in ["a", "b"] {
        ctl.send(&format!(
            r#"{{"type":"register","id":"{id}","addr":"127.0.0.1:9"}}"#
        ));
        assert!(ctl.line().starts_with(r#"{"type":"registered""#));
    }
    ctl.send(r#"{"type":"register","id":"c","addr":"127.0.0.1:9"}"#);
    let l = ctl.line();
    assert!(l.contains("máximo"), "{l}");
    // Renovar uno existente sí se puede.
    ctl.send(r#"{"type":"register","id":"a","addr":"127.0.0.1:9"}"#);
    assert!(ctl.line().starts_with(r#"{"type":"registered""#));
}

#[test]
fn status_with_many_backends_and_large_meta_is_read_whole() {
    let lb = start_balancer(fast(&[]));
    let mut ctl = lb.control_client();
    let big = "m".repeat(10 * 1024);
    for i in 0..20 {
        ctl.send(&format!(
            r#"{{"type":"register","id":"n{i}","addr":"127.0.0.1:9","meta":{{"datos":"{big}"}}}}"#
        ));
        assert!(ctl.line().starts_with(r#"{"type":"registered""#));
    }
    // La respuesta pasa de 200 KiB, más que el límite de una petición.
    let status = lb.status();
    assert_eq!(status.len(), 20);
    assert!(status.iter().all(|b| b.meta["datos"] == big));
}

// ---------------------------------------------------------------------------------------
// Apagado

#[test]
fn shutdown_closes_clients_and_returns() {
    let b1 = Backend::start("b1", Mode::Greeter);
    let mut lb = start_balancer(fast(&[&b1]));
    let (_, mut c) = lb.client();
    let mut ctl = lb.control_client();
    lb.guard.stop().unwrap();
    c.expect_closed();
    ctl.expect_closed();
}

#[test]
fn a_control_line_trickled_byte_by_byte_is_cut_at_its_total_deadline() {
    // Slowloris en el puerto de control (issue 16): sus plazas son pocas y un byte cada
    // plazo/3 renovaría un plazo por lectura para siempre. La línea entera debe llegar antes
    // del plazo: se responde con un error JSON y se cierra; el registro sigue atendiendo.
    const IDLE: Duration = Duration::from_secs(1);
    let mut config = fast(&[]);
    config.control_idle_timeout = IDLE;
    let lb = start_balancer(config);
    // Una línea sin `\n`, 60 bytes como mucho (20 s de goteo).
    let bytes = br#"{"type":"status"}"#.iter().copied().cycle().take(60);
    let cut = tests::goteo::trickle(lb.control.parse().unwrap(), bytes.collect(), IDLE / 3);
    assert!(
        cut.closed && cut.took < Duration::from_secs(6),
        "el goteo no se cortó (plazo {IDLE:?}): {cut:?}"
    );
    assert!(
        cut.reply.contains(r#""type":"error""#) && cut.reply.contains("no llegó entera"),
        "se esperaba el error del plazo: {cut:?}"
    );
    // Una petición entera sigue funcionando, también con pausas más cortas que el plazo.
    let mut ctl = lb.control_client();
    for _ in 0..4 {
        ctl.send(r#"{"type":"members"}"#);
        assert!(ctl.line().contains("members"));
        thread::sleep(IDLE / 3);
    }
}

#[test]
fn ping_check_cuts_a_backend_that_trickles_its_reply_at_check_timeout() {
    // La comprobación entera está acotada por `check_timeout` (issue 16): un servidor que
    // responde un byte cada plazo/3 no la alarga (con un plazo por lectura tardaría minutos, y
    // cada ronda espera a todas las comprobaciones, también las de los demás servidores).
    const CHECK: Duration = Duration::from_millis(300);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_server = std::sync::Arc::clone(&stop);
    let server = thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut conns = Vec::new();
        while !stop_server.load(std::sync::atomic::Ordering::Relaxed)
            && std::time::Instant::now() < deadline
        {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let stop_conn = std::sync::Arc::clone(&stop_server);
                    conns.push(thread::spawn(move || {
                        // `+` y luego `x` sin fin de línea: 40 bytes como mucho (4 s).
                        for &b in b"+".iter().chain(std::iter::repeat(&b'x')).take(40) {
                            if stop_conn.load(std::sync::atomic::Ordering::Relaxed)
                                || s.write_all(&[b]).is_err()
                            {
                                return;
                            }
                            thread::sleep(CHECK / 3);
                        }
                    }));
                }
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
        for c in conns {
            let _ = c.join();
        }
    });
    let config = BalancerConfig {
        backends: vec![addr.clone()],
        check: CheckKind::Ping,
        check_interval: Duration::from_millis(30),
        check_timeout: CHECK,
        fall: 2,
        rise: 2,
        ..BalancerConfig::default()
    };
    let lb = start_balancer(config);
    // Dos fallos de 300 ms (más la espera entre rondas) bastan; con margen para una máquina
    // cargada, pero muy por debajo de lo que tardaría el goteo (40 bytes, 4 s por intento).
    let down = wait_until(Duration::from_secs(3), || {
        lb.row(&addr).is_some_and(|b| b.state == BackendState::Down)
    });
    let row = lb.row(&addr);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    assert!(
        down,
        "el goteo no se cortó al plazo de la comprobación: {row:?}"
    );
    let row = row.unwrap();
    assert!(row.last_check.contains("a tiempo"), "{row:?}");
}
