//! Pruebas de extremo a extremo del almacén replicado del problema 9 (parte 2): nodos dentro
//! del proceso, en puertos libres, cada uno con su directorio temporal.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::Parsed;
use problema9::nodo::{self, NodeConfig};
use problema9::resp::{encode_command, parse_value, Limits, Value};
use tests::{connect, require_tool, run_with_timeout, start_on, wait_until, ServerGuard};

const WAIT: Duration = Duration::from_secs(20);

/// Un cliente RESP mínimo para las pruebas.
struct Resp {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Resp {
    fn connect(addr: SocketAddr) -> Self {
        Resp {
            stream: connect(addr),
            buf: Vec::new(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn read_value(&mut self) -> Value {
        loop {
            if let Parsed::Complete { value, consumed } =
                parse_value(&self.buf, &Limits::default()).unwrap()
            {
                self.buf.drain(..consumed);
                return value;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "el servidor cerró sin responder");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Lee exactamente `n` bytes de respuesta, para comparar bytes del protocolo.
    fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 4096];
            let got = self.stream.read(&mut chunk).unwrap();
            assert!(got > 0, "el servidor cerró antes de tiempo");
            self.buf.extend_from_slice(&chunk[..got]);
        }
        self.buf.drain(..n).collect()
    }

    fn cmd(&mut self, args: &[&str]) -> Value {
        self.send_raw(&encode_command(args));
        self.read_value()
    }

    fn expect_closed(&mut self) {
        let mut chunk = [0u8; 64];
        match self.stream.read(&mut chunk) {
            Ok(0) => {}
            Ok(n) => panic!("se esperaba el cierre y llegaron {:?}", &chunk[..n]),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ),
                "{e}"
            ),
        }
    }
}

fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

fn is_error_with(v: &Value, prefix: &str) -> bool {
    matches!(v, Value::Error(e) if e.starts_with(prefix))
}

/// Un nodo de un clúster de prueba: su dirección de pares es fija durante toda la prueba
/// para poder reiniciarlo en el mismo sitio.
struct TestNode {
    id: String,
    dir: PathBuf,
    peer_addr: SocketAddr,
    peers: Vec<String>,
    cluster_size: usize,
    guard: Option<ServerGuard>,
}

impl TestNode {
    fn config(&self) -> NodeConfig {
        let mut c = NodeConfig::new(self.id.clone(), self.dir.clone());
        c.peers = self.peers.clone();
        c.cluster_size = Some(self.cluster_size);
        c.quorum_timeout = Duration::from_millis(1500);
        c.sync_interval = Duration::from_millis(200);
        c
    }

    fn start_with(&mut self, peer_listener: TcpListener) {
        let config = self.config();
        let clients = TcpListener::bind("127.0.0.1:0").unwrap();
        self.guard = Some(start_on(clients, move |l, s| {
            nodo::run(l, peer_listener, config, s)
        }));
    }

    /// Vuelve a arrancar en la misma dirección de pares.
    fn restart(&mut self) {
        assert!(self.guard.is_none(), "el nodo sigue en marcha");
        let mut listener = None;
        assert!(
            wait_until(WAIT, || {
                listener = TcpListener::bind(self.peer_addr).ok();
                listener.is_some()
            }),
            "no se pudo volver a abrir {}",
            self.peer_addr
        );
        self.start_with(listener.unwrap());
    }

    fn stop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.stop().unwrap();
        }
    }

    fn addr(&self) -> SocketAddr {
        self.guard.as_ref().expect("nodo parado").addr
    }

    fn client(&self) -> Resp {
        Resp::connect(self.addr())
    }

    /// Espera a que el nodo se haya puesto al día (`PING` -> `+PONG`).
    fn wait_ready(&self) {
        let mut c = self.client();
        assert!(
            wait_until(WAIT, || c.cmd(&["PING"]) == Value::Simple("PONG".into())),
            "el nodo {} no se puso al día",
            self.id
        );
    }

    fn info_field(&self, field: &str) -> String {
        let Value::Bulk(info) = self.client().cmd(&["INFO"]) else {
            panic!("INFO no devolvió un bulk");
        };
        let text = String::from_utf8(info).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("INFO sin {field}: {text}"))
            .to_string()
    }

    fn dbsize(&self) -> Value {
        self.client().cmd(&["DBSIZE"])
    }
}

/// Un clúster de `n` nodos con pares fijos entre sí.
struct Cluster {
    nodes: Vec<TestNode>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut nodes = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let mut node = TestNode {
                id: format!("n{}", i + 1),
                dir: dirs[i].path().to_path_buf(),
                peer_addr: addrs[i],
                peers: addrs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, a)| a.to_string())
                    .collect(),
                cluster_size: n,
                guard: None,
            };
            node.start_with(listener);
            nodes.push(node);
        }
        for node in &nodes {
            node.wait_ready();
        }
        Cluster { nodes, _dirs: dirs }
    }
}

fn single_node(dir: &Path) -> TestNode {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut node = TestNode {
        id: "solo".into(),
        dir: dir.to_path_buf(),
        peer_addr: listener.local_addr().unwrap(),
        peers: Vec::new(),
        cluster_size: 1,
        guard: None,
    };
    node.start_with(listener);
    node.wait_ready();
    node
}

#[test]
fn a_write_through_one_node_reaches_every_node() {
    let cluster = Cluster::start(3);
    let mut c = cluster.nodes[0].client();
    assert_eq!(c.cmd(&["SET", "saludo", "hola"]), Value::ok());
    for node in &cluster.nodes {
        assert!(
            wait_until(WAIT, || node.dbsize() == Value::Integer(1)),
            "la escritura no llegó a {}",
            node.id
        );
        assert_eq!(node.client().cmd(&["GET", "saludo"]), bulk("hola"));
        assert_eq!(
            node.client().cmd(&["KEYS", "*"]),
            Value::Array(vec![bulk("saludo")])
        );
    }
    // Un DEL también se replica y cuenta lo borrado.
    assert_eq!(
        cluster.nodes[1].client().cmd(&["DEL", "saludo", "nada"]),
        Value::Integer(1)
    );
    for node in &cluster.nodes {
        assert!(wait_until(WAIT, || node.dbsize() == Value::Integer(0)));
        assert_eq!(node.client().cmd(&["GET", "saludo"]), Value::Null);
        assert_eq!(node.client().cmd(&["EXISTS", "saludo"]), Value::Integer(0));
    }
}

#[test]
fn a_majority_acknowledges_writes_while_one_node_is_down_and_reads_see_them() {
    let mut cluster = Cluster::start(3);
    cluster.nodes[2].stop();
    let mut c = cluster.nodes[0].client();
    for i in 0..20 {
        assert_eq!(
            c.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]),
            Value::ok()
        );
    }
    // Otro nodo de la mayoría lee lo confirmado.
    let mut other = cluster.nodes[1].client();
    for i in 0..20 {
        assert_eq!(
            other.cmd(&["GET", &format!("k{i}")]),
            bulk(&format!("v{i}"))
        );
    }
    assert_eq!(cluster.nodes[0].info_field("cluster_size"), "3");
}

#[test]
fn reads_on_one_connection_survive_each_peer_dying_and_coming_back_in_turn() {
    // Las lecturas de un cliente van a cada par por una conexión propia del hilo; cuando ese
    // par muere (o renace con otro proceso), la lectura sigue por el otro sin error.
    let mut cluster = Cluster::start(3);
    let mut c = cluster.nodes[0].client();
    assert_eq!(c.cmd(&["SET", "k", "v1"]), Value::ok());
    for _ in 0..4 {
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v1"));
    }
    cluster.nodes[1].stop();
    for _ in 0..4 {
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v1"));
    }
    assert_eq!(c.cmd(&["SET", "k", "v2"]), Value::ok());
    cluster.nodes[1].restart();
    cluster.nodes[1].wait_ready();
    cluster.nodes[2].stop();
    // Solo queda el par renacido: las conexiones viejas con él están rotas y la lectura debe
    // abrir otra y ver la última escritura confirmada (tras un fallo reciente de conexión el
    // nodo espera un momento antes de reintentar: de ahí la espera de la primera).
    assert!(wait_until(WAIT, || c.cmd(&["GET", "k"]) == bulk("v2")));
    for _ in 0..4 {
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v2"));
    }
}

#[test]
fn without_a_majority_writes_and_reads_are_refused_and_nothing_is_applied() {
    let mut cluster = Cluster::start(3);
    let mut c = cluster.nodes[0].client();
    assert_eq!(c.cmd(&["SET", "antes", "1"]), Value::ok());
    cluster.nodes[1].stop();
    cluster.nodes[2].stop();
    let reply = c.cmd(&["SET", "k", "v"]);
    assert!(is_error_with(&reply, "NOQUORUM"), "{reply:?}");
    let reply = c.cmd(&["GET", "antes"]);
    assert!(is_error_with(&reply, "NOQUORUM"), "{reply:?}");
    let reply = c.cmd(&["DEL", "antes"]);
    assert!(is_error_with(&reply, "NOQUORUM"), "{reply:?}");
    // Nada se aplicó localmente: solo sigue la clave de antes.
    assert_eq!(c.cmd(&["KEYS", "*"]), Value::Array(vec![bulk("antes")]));
    // Con un par de vuelta hay mayoría otra vez.
    cluster.nodes[1].restart();
    cluster.nodes[1].wait_ready();
    assert!(wait_until(WAIT, || c.cmd(&["SET", "k", "v"]) == Value::ok()));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
}

#[test]
fn concurrent_writes_to_one_key_converge_on_every_node() {
    let cluster = Cluster::start(3);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr()).collect();
    let writers: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(w, &addr)| {
            thread::spawn(move || {
                let mut c = Resp::connect(addr);
                for i in 0..40 {
                    let reply = c.cmd(&["SET", "disputada", &format!("w{w}-{i}")]);
                    assert_eq!(reply, Value::ok());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    // Todos los nodos acaban con el mismo contenido (mismo resumen) y el mismo valor local.
    assert!(
        wait_until(WAIT, || {
            let digests: Vec<String> = cluster
                .nodes
                .iter()
                .map(|n| n.info_field("digest"))
                .collect();
            digests.iter().all(|d| *d == digests[0])
        }),
        "los nodos no convergieron"
    );
    let values: Vec<Value> = cluster
        .nodes
        .iter()
        .map(|n| n.client().cmd(&["GET", "disputada"]))
        .collect();
    assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
    let Value::Bulk(v) = &values[0] else {
        panic!("{values:?}")
    };
    // El ganador es la última escritura de alguno de los escritores.
    assert!(v.ends_with(b"-39"), "{}", String::from_utf8_lossy(v));
}

#[test]
fn a_restarted_node_recovers_from_its_log_and_skips_a_torn_final_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = single_node(dir.path());
    let mut c = node.client();
    assert_eq!(c.cmd(&["SET", "a", "1"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "b", "2"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "a", "3"]), Value::ok());
    assert_eq!(c.cmd(&["DEL", "b"]), Value::Integer(1));
    drop(c);
    node.stop();
    // Medio registro al final, como si el proceso hubiera muerto a mitad de una escritura.
    let record = problema9::nodo::wal::encode_record(
        b"c",
        &problema9::nodo::almacen::Entry {
            value: Some(b"basura".to_vec()),
            version: problema9::nodo::almacen::Version {
                counter: 99,
                node: "solo".into(),
            },
        },
    );
    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.path().join(problema9::nodo::wal::WAL_FILE))
        .unwrap();
    f.write_all(&record[..record.len() - 3]).unwrap();
    drop(f);
    node.restart();
    node.wait_ready();
    let mut c = node.client();
    assert_eq!(c.cmd(&["GET", "a"]), bulk("3"));
    assert_eq!(c.cmd(&["GET", "b"]), Value::Null);
    assert_eq!(c.cmd(&["GET", "c"]), Value::Null);
    assert_eq!(c.cmd(&["DBSIZE"]), Value::Integer(1));
    assert_eq!(
        node.info_field("wal_discarded_bytes"),
        (record.len() - 3).to_string()
    );
    assert_eq!(node.info_field("wal_records_recovered"), "4");
    // Lo escrito tras la recuperación se guarda y se relee bien.
    assert_eq!(c.cmd(&["SET", "d", "4"]), Value::ok());
    drop(c);
    node.stop();
    node.restart();
    node.wait_ready();
    assert_eq!(node.client().cmd(&["GET", "d"]), bulk("4"));
    assert_eq!(node.info_field("wal_discarded_bytes"), "0");
}

#[test]
fn a_node_that_missed_writes_catches_up_before_answering_ping() {
    let mut cluster = Cluster::start(3);
    cluster.nodes[2].stop();
    let mut c = cluster.nodes[0].client();
    for i in 0..30 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "x"]), Value::ok());
    }
    assert_eq!(c.cmd(&["DEL", "k0"]), Value::Integer(1));
    cluster.nodes[2].restart();
    // En cuanto responde `+PONG` ya tiene todo lo que se confirmó mientras estaba caído.
    cluster.nodes[2].wait_ready();
    assert_eq!(cluster.nodes[2].dbsize(), Value::Integer(29));
    // Y lo sigue teniendo aunque caiga otro nodo de la mayoría de entonces.
    cluster.nodes[0].stop();
    let mut c = cluster.nodes[2].client();
    assert_eq!(c.cmd(&["GET", "k29"]), bulk("x"));
    assert_eq!(c.cmd(&["GET", "k0"]), Value::Null);
}

#[test]
fn a_node_without_reachable_peers_stays_loading() {
    let dead: Vec<String> = (0..2)
        .map(|_| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut node = TestNode {
        id: "solitario".into(),
        dir: dir.path().to_path_buf(),
        peer_addr: listener.local_addr().unwrap(),
        peers: dead,
        cluster_size: 3,
        guard: None,
    };
    node.start_with(listener);
    let mut c = node.client();
    let reply = c.cmd(&["PING"]);
    assert!(is_error_with(&reply, "LOADING"), "{reply:?}");
    let reply = c.cmd(&["GET", "a"]);
    assert!(is_error_with(&reply, "LOADING"), "{reply:?}");
    // INFO sí responde, y dice que no está al día.
    assert_eq!(node.info_field("caught_up"), "0");
    node.stop();
}

#[test]
fn inline_commands_work_like_telnet_and_replies_are_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_node(dir.path());
    let mut c = node.client();
    c.send_raw(b"SET a \"hola mundo\"\r\n");
    assert_eq!(c.read_bytes(5), b"+OK\r\n");
    c.send_raw(b"GET a\r\n");
    assert_eq!(c.read_bytes(17), b"$10\r\nhola mundo\r\n");
    c.send_raw(b"GET nada\n");
    assert_eq!(c.read_bytes(5), b"$-1\r\n");
    c.send_raw(b"EXISTS a nada\r\n");
    assert_eq!(c.read_bytes(4), b":1\r\n");
    c.send_raw(b"ECHO eco\r\nPING\r\n\r\nDBSIZE\r\n");
    assert_eq!(c.read_bytes(20), b"$3\r\neco\r\n+PONG\r\n:1\r\n");
    c.send_raw(b"FLUSHALL ya\r\n");
    let expected = b"-ERR unknown command 'FLUSHALL', with args beginning with: 'ya'\r\n";
    assert_eq!(c.read_bytes(expected.len()), expected);
    c.send_raw(b"GET\r\n");
    assert_eq!(
        c.read_value(),
        Value::Error("ERR wrong number of arguments for 'get' command".into())
    );
    c.send_raw(b"QUIT\r\n");
    assert_eq!(c.read_bytes(5), b"+OK\r\n");
    c.expect_closed();
}

#[test]
fn protocol_errors_get_an_error_and_close_while_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_node(dir.path());
    let mut bad = node.client();
    bad.send_raw(b"*2\r\n$3\r\nSET\r\n$999999999\r\n");
    assert!(is_error_with(&bad.read_value(), "ERR Protocol error"));
    bad.expect_closed();
    let mut bad = node.client();
    bad.send_raw(b"*1\r\n$x\r\n");
    assert!(is_error_with(&bad.read_value(), "ERR Protocol error"));
    bad.expect_closed();
    let mut long = node.client();
    long.send_raw(&vec![b'a'; 70 * 1024]);
    assert!(is_error_with(&long.read_value(), "ERR Protocol error"));
    long.expect_closed();
    // Bytes que no son UTF-8: una orden desconocida más, y la conexión sigue.
    let mut odd = node.client();
    odd.send_raw(b"*1\r\n$2\r\n\xff\xfe\r\n");
    assert!(is_error_with(&odd.read_value(), "ERR unknown command"));
    assert_eq!(odd.cmd(&["PING"]), Value::Simple("PONG".into()));
    // Un cliente que corta a mitad de orden no afecta a nadie.
    let mut cut = node.client();
    cut.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk");
    drop(cut);
    let mut good = node.client();
    assert_eq!(good.cmd(&["SET", "k", "\r\n\u{0}binario"]), Value::ok());
    assert_eq!(good.cmd(&["GET", "k"]), bulk("\r\n\u{0}binario"));
    // Varias órdenes encadenadas de una vez se responden en orden.
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(encode_command(&["SET", &format!("p{i}"), "v"]));
    }
    good.send_raw(&batch);
    for _ in 0..50 {
        assert_eq!(good.read_value(), Value::ok());
    }
    assert_eq!(good.cmd(&["DBSIZE"]), Value::Integer(51));
}

#[test]
fn redis_cli_talks_to_a_node() {
    if !require_tool("redis-cli") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let node = single_node(dir.path());
    let port = node.addr().port().to_string();
    let cli = |args: &[&str]| {
        let out = run_with_timeout(
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port])
                .args(args),
            Duration::from_secs(20),
        );
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(cli(&["PING"]), "PONG\n");
    assert_eq!(cli(&["SET", "clave", "valor con espacios"]), "OK\n");
    assert_eq!(cli(&["GET", "clave"]), "valor con espacios\n");
    assert_eq!(cli(&["--no-raw", "GET", "nada"]), "(nil)\n");
    assert_eq!(cli(&["EXISTS", "clave"]), "1\n");
    assert_eq!(cli(&["DBSIZE"]), "1\n");
    assert_eq!(cli(&["KEYS", "cl*"]), "clave\n");
    assert!(cli(&["INFO", "replication"]).contains("caught_up:1"));
    assert!(cli(&["FOO"]).contains("unknown command 'FOO'"));
    assert_eq!(cli(&["DEL", "clave"]), "1\n");
    // redis-cli interactivo, por su entrada estándar, como lo usaría una persona.
    let out = run_with_timeout(
        Command::new("sh").arg("-c").arg(format!(
            "printf 'SET x 1\\nGET x\\n' | redis-cli -h 127.0.0.1 -p {port}"
        )),
        Duration::from_secs(20),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n1\n");
    if require_tool("redis-benchmark") {
        let out = run_with_timeout(
            Command::new("redis-benchmark").args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-t",
                "set,get",
                "-n",
                "200",
                "-c",
                "4",
                "-q",
            ]),
            Duration::from_secs(60),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(text.contains("SET") && text.contains("GET"), "{text}");
    }
}

#[test]
fn nodes_behind_the_balancer_learn_their_peers_from_the_registry_and_serve_through_it() {
    use problema9::balanceador::{self, BalancerConfig, CheckKind};
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let control_addr = control.local_addr().unwrap().to_string();
    let cfg = BalancerConfig {
        check: CheckKind::Ping,
        check_interval: Duration::from_millis(100),
        fall: 1,
        rise: 1,
        ..BalancerConfig::default()
    };
    let balancer = tests::start_server(move |l, s| balanceador::run(l, control, cfg, s));
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<ServerGuard> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            // Sin `--peer`: se conocen solo a través del registro del balanceador.
            let mut c = NodeConfig::new(format!("n{}", i + 1), dir.path());
            c.balancer = Some(control_addr.clone());
            c.cluster_size = Some(3);
            c.heartbeat = Duration::from_millis(100);
            c.sync_interval = Duration::from_millis(200);
            let peers = TcpListener::bind("127.0.0.1:0").unwrap();
            tests::start_server(move |l, s| nodo::run(l, peers, c, s))
        })
        .collect();
    for n in &nodes {
        let mut c = Resp::connect(n.addr);
        assert!(
            wait_until(WAIT, || c.cmd(&["PING"]) == Value::Simple("PONG".into())),
            "un nodo no se puso al día"
        );
    }
    // A través del balanceador, con conexiones nuevas (cada una puede ir a otro nodo).
    assert!(wait_until(WAIT, || {
        Resp::connect(balancer.addr).cmd(&["SET", "via", "balanceador"]) == Value::ok()
    }));
    for _ in 0..6 {
        assert_eq!(
            Resp::connect(balancer.addr).cmd(&["GET", "via"]),
            bulk("balanceador")
        );
    }
    for n in &nodes {
        assert!(wait_until(WAIT, || {
            Resp::connect(n.addr).cmd(&["DBSIZE"]) == Value::Integer(1)
        }));
    }
    let status = problema9::registro::status(&control_addr, Duration::from_secs(5)).unwrap();
    assert_eq!(status.len(), 3);
    assert!(status
        .iter()
        .all(|b| b.meta.contains_key(nodo::sincronia::META_PEER_ADDR)));
    // `cliente status`: la tabla del balanceador y, por nodo, si está al día y su retraso.
    let table = problema9::cliente::status(&control_addr, Duration::from_secs(5)).unwrap();
    assert!(
        wait_until(WAIT, || {
            let t = problema9::cliente::status(&control_addr, Duration::from_secs(5)).unwrap();
            t.matches(" sí ").count() == 3
        }),
        "{table}"
    );
    drop(nodes);
    drop(balancer);
}

#[test]
fn the_interactive_client_shows_replies_like_redis_cli() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_node(dir.path());
    let mut client =
        problema9::cliente::Client::connect(&node.addr().to_string(), Duration::from_secs(10))
            .unwrap();
    let input: &[u8] =
        b"SET a \"hola mundo\"\nGET a\n\nGET nada\nEXISTS a\nFOO\nSET 'roto\nquit\nGET a\n";
    let mut out = Vec::new();
    problema9::cliente::interactive(&mut client, input, &mut out, false).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "OK\n\"hola mundo\"\n(nil)\n(integer) 1\n(error) ERR unknown command 'FOO', with args beginning with: \n(error) comillas sin cerrar en la orden\nOK\n"
    );
}

#[test]
fn garbage_on_the_peer_port_is_skipped_and_the_connection_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_node(dir.path());
    let mut peer = tests::LineClient::connect(node.peer_addr);
    peer.send("esto no es json");
    peer.send(r#"{"id":1,"op":"read","key":"€"}"#);
    peer.send(r#"{"id":2,"op":"write","key":"k","value":"v","version":{"counter":5,"node":"x"}}"#);
    assert_eq!(
        peer.line(),
        r#"{"id":2,"reply":"written","had_value":false}"#
    );
    peer.send(r#"{"id":3,"op":"read","key":"k"}"#);
    assert_eq!(
        peer.line(),
        r#"{"id":3,"reply":"entry","value":"v","version":{"counter":5,"node":"x"}}"#
    );
    // Una versión más vieja no gana y se responde con la que hay.
    peer.send(
        r#"{"id":4,"op":"write","key":"k","value":"viejo","version":{"counter":4,"node":"z"}}"#,
    );
    assert_eq!(
        peer.line(),
        r#"{"id":4,"reply":"stale","version":{"counter":5,"node":"x"}}"#
    );
    assert_eq!(node.client().cmd(&["GET", "k"]), bulk("v"));
}

#[test]
fn anti_entropy_spreads_an_entry_that_only_one_node_received() {
    let cluster = Cluster::start(3);
    // Una escritura que solo le llega a n1 (como si las otras copias se hubieran perdido).
    let mut peer = tests::LineClient::connect(cluster.nodes[0].peer_addr);
    peer.send(
        r#"{"id":1,"op":"write","key":"suelta","value":"x","version":{"counter":100,"node":"n9"}}"#,
    );
    assert_eq!(
        peer.line(),
        r#"{"id":1,"reply":"written","had_value":false}"#
    );
    // Sin que nadie la lea, la antientropía la lleva a los demás (solo se mira el estado local).
    for node in &cluster.nodes {
        assert!(
            wait_until(WAIT, || node.client().cmd(&["KEYS", "*"])
                == Value::Array(vec![bulk("suelta")])),
            "no llegó a {}",
            node.id
        );
    }
    let digests: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| n.info_field("digest"))
        .collect();
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
}

#[test]
fn many_clients_at_once_all_get_their_writes_back() {
    let cluster = Cluster::start(3);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr()).collect();
    let clients: Vec<_> = (0..40)
        .map(|c| {
            let addr = addrs[c % addrs.len()];
            let other = addrs[(c + 1) % addrs.len()];
            thread::spawn(move || {
                let mut w = Resp::connect(addr);
                let mut r = Resp::connect(other);
                for i in 0..10 {
                    let key = format!("c{c}:{i}");
                    assert_eq!(w.cmd(&["SET", &key, &format!("{c}-{i}")]), Value::ok());
                    // Leída desde otro nodo justo después de confirmarse.
                    assert_eq!(r.cmd(&["GET", &key]), bulk(&format!("{c}-{i}")));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    for node in &cluster.nodes {
        assert!(wait_until(WAIT, || node.dbsize() == Value::Integer(400)));
    }
}

#[test]
fn an_idle_client_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = NodeConfig::new("ocioso", dir.path());
    config.idle_timeout = Duration::from_millis(200);
    let node = tests::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), move |l, s| {
        nodo::run(l, listener, config, s)
    });
    let mut c = Resp::connect(node.addr);
    assert!(wait_until(WAIT, || c.cmd(&["PING"]) == Value::Simple("PONG".into())));
    // Sin enviar nada: el nodo cierra (la lectura de la prueba tiene su propio plazo de 10 s).
    c.expect_closed();
    // Y sigue atendiendo a otros.
    assert_eq!(
        Resp::connect(node.addr).cmd(&["ECHO", "sigo"]),
        bulk("sigo")
    );
}

#[test]
fn every_fsync_policy_keeps_acknowledged_writes_across_a_restart() {
    use problema9::nodo::wal::FsyncPolicy;
    for policy in [FsyncPolicy::Always, FsyncPolicy::Batch, FsyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let start = || {
            let mut config = NodeConfig::new("solo", dir.path());
            config.fsync = policy;
            let peers = TcpListener::bind("127.0.0.1:0").unwrap();
            tests::start_server(move |l, s| nodo::run(l, peers, config, s))
        };
        let node = start();
        let mut c = Resp::connect(node.addr);
        assert!(wait_until(WAIT, || c.cmd(&["PING"]) == Value::Simple("PONG".into())));
        for i in 0..20 {
            assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), Value::ok());
        }
        let Value::Bulk(info) = c.cmd(&["INFO", "server"]) else {
            panic!("INFO")
        };
        assert!(String::from_utf8_lossy(&info).contains(&format!("fsync:{policy}")));
        drop(c);
        drop(node);
        let node = start();
        let mut c = Resp::connect(node.addr);
        assert!(wait_until(WAIT, || c.cmd(&["PING"]) == Value::Simple("PONG".into())));
        assert_eq!(c.cmd(&["DBSIZE"]), Value::Integer(20), "{policy}");
    }
}

#[test]
fn a_write_that_meets_newer_versions_retries_above_them_and_wins() {
    let cluster = Cluster::start(3);
    let mut c = cluster.nodes[0].client();
    assert_eq!(c.cmd(&["SET", "k", "viejo"]), Value::ok());
    // n2 y n3 tienen una versión mucho mayor que n1 no ha visto (como si la hubiera confirmado
    // otro coordinador con el reloj adelantado).
    for node in &cluster.nodes[1..] {
        let mut peer = tests::LineClient::connect(node.peer_addr);
        peer.send(r#"{"id":1,"op":"write","key":"k","value":"adelantado","version":{"counter":500,"node":"zz"}}"#);
        assert_eq!(
            peer.line(),
            r#"{"id":1,"reply":"written","had_value":true}"#
        );
    }
    // Un SET por n1 choca con `stale` en los dos pares, reintenta por encima de 500 y gana.
    assert_eq!(c.cmd(&["SET", "k", "nuevo"]), Value::ok());
    for node in &cluster.nodes {
        assert_eq!(node.client().cmd(&["GET", "k"]), bulk("nuevo"));
    }
    // Lo mismo con un DEL, que además cuenta la clave como borrada.
    for node in &cluster.nodes[1..] {
        let mut peer = tests::LineClient::connect(node.peer_addr);
        peer.send(r#"{"id":2,"op":"write","key":"k","value":"otra","version":{"counter":900,"node":"zz"}}"#);
        assert_eq!(
            peer.line(),
            r#"{"id":2,"reply":"written","had_value":true}"#
        );
    }
    assert_eq!(c.cmd(&["DEL", "k"]), Value::Integer(1));
    for node in &cluster.nodes {
        assert_eq!(node.client().cmd(&["GET", "k"]), Value::Null);
    }
}

/// Un nodo de un solo miembro con un plazo de inactividad corto, para las pruebas de plazos.
fn node_with_idle(dir: &Path, idle: Duration) -> ServerGuard {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = NodeConfig::new("plazos", dir);
    config.idle_timeout = idle;
    let node = tests::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), move |l, s| {
        nodo::run(l, listener, config, s)
    });
    let mut c = Resp::connect(node.addr);
    assert!(wait_until(WAIT, || c.cmd(&["PING"]) == Value::Simple("PONG".into())));
    node
}

#[test]
fn a_command_trickled_byte_by_byte_is_cut_at_its_total_deadline() {
    // Slowloris (issue 16): un byte cada plazo/3 renovaría un plazo por lectura para siempre.
    // La orden empezada debe llegar entera antes del plazo total: se corta con un error RESP.
    const IDLE: Duration = Duration::from_millis(600);
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_idle(dir.path(), IDLE);
    // Una orden que no termina nunca en la prueba: 60 bytes como mucho (12 s de goteo).
    let head = b"*2\r\n$4\r\nECHO\r\n$1000\r\n";
    let bytes = head.iter().copied().chain(std::iter::repeat(b'a')).take(60);
    let cut = tests::goteo::trickle(node.addr, bytes.collect(), IDLE / 3);
    assert!(
        cut.closed && cut.took < Duration::from_secs(6),
        "el goteo no se cortó (plazo {IDLE:?}): {cut:?}"
    );
    assert!(
        cut.reply.starts_with("-ERR ") && cut.reply.contains("no llegó entera"),
        "se esperaba el error del plazo: {cut:?}"
    );
    // El nodo sigue atendiendo.
    assert_eq!(
        Resp::connect(node.addr).cmd(&["ECHO", "sigo"]),
        bulk("sigo")
    );
}

#[test]
fn a_live_client_is_not_cut_by_the_command_deadline() {
    // El plazo total es por orden, no por conexión: órdenes enteras con pausas más cortas que
    // el plazo siguen durante mucho más que él, y una orden partida en varios envíos rápidos
    // (la cola de una orden que llega junto con la anterior) tiene su propio plazo.
    // Holgado para una máquina cargada: cada pausa deja más de la mitad del plazo libre.
    const IDLE: Duration = Duration::from_millis(1500);
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_idle(dir.path(), IDLE);
    let mut c = Resp::connect(node.addr);
    let started = std::time::Instant::now();
    let whole = encode_command(&["ECHO", "vivo"]);
    let (first, second) = whole.split_at(7);
    for _ in 0..4 {
        // Una orden entera más el principio de la siguiente; el resto, un poco después.
        let mut bytes = encode_command(&["PING"]);
        bytes.extend_from_slice(first);
        c.send_raw(&bytes);
        assert_eq!(c.read_value(), Value::Simple("PONG".into()));
        thread::sleep(IDLE / 4);
        c.send_raw(second);
        assert_eq!(c.read_value(), bulk("vivo"));
        thread::sleep(IDLE / 3);
    }
    assert!(
        started.elapsed() > IDLE * 2,
        "la prueba debe durar más que el plazo"
    );
    // Un valor grande (medio MiB) en trozos seguidos también pasa.
    let value = "v".repeat(512 * 1024);
    assert_eq!(c.cmd(&["ECHO", &value]), bulk(&value));
}
