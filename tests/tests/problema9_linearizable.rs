//! El almacén replicado del problema 9 es linealizable (issue 15): historiales grabados con
//! clientes RESP reales y concurrentes contra un clúster de 1 balanceador y 3 nodos
//! (`--cluster-size 3`, `fsync` siempre), comprobados con `tests::linearizability`.
//!
//! - Ejecución 1: sin fallos, 8 clientes sobre 1 clave, con dos procesos quemando CPU al lado
//!   (lanzados con `timeout` y terminados por su PID al acabar). Es donde aparecía el
//!   A -> B -> A del issue.
//! - Ejecución 2: 6 clientes, 5 claves, `SIGKILL` y rearranque de un nodo cada vez. Para poder
//!   matarlos de verdad, los nodos son procesos: este mismo ejecutable de pruebas relanzado
//!   con `P9_NODE` en el entorno ejecuta la prueba ignorada `node_process`, que arranca un
//!   nodo y no vuelve. Cada hijo muere también si muere su padre.
//!
//! Cada ejecución dura `P9_LIN_SECS` segundos (30 por omisión: 60 s entre las dos), imprime
//! `N ops, N acknowledged writes, N kills, N violations` y falla si hay alguna violación.
//! Solo se usan direcciones de 127.0.0.1.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use problema9::balanceador::{self, BalancerConfig, CheckKind};
use problema9::cliente::Client;
use problema9::nodo::{self, NodeConfig};
use problema9::resp::Value;
use tests::linearizability::{check, record, Recording, Workload};
use tests::{start_on, start_server, wait_until, ServerGuard};

const WAIT: Duration = Duration::from_secs(30);
/// Plazo de mayoría de los nodos de prueba.
const QUORUM_TIMEOUT: Duration = Duration::from_millis(1000);

fn run_seconds() -> u64 {
    std::env::var("P9_LIN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

/// El balanceador dentro del proceso, comprobando a los nodos con `PING`.
fn start_balancer() -> (ServerGuard, String) {
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let control_addr = control.local_addr().unwrap().to_string();
    let cfg = BalancerConfig {
        check: CheckKind::Ping,
        check_interval: Duration::from_millis(200),
        check_timeout: Duration::from_millis(500),
        fall: 1,
        rise: 1,
        ..BalancerConfig::default()
    };
    let guard = start_server(move |l, s| balanceador::run(l, control, cfg, s));
    (guard, control_addr)
}

fn node_config(id: &str, dir: PathBuf, peers: Vec<String>, balancer: &str) -> NodeConfig {
    let mut c = NodeConfig::new(id, dir);
    c.peers = peers;
    c.balancer = Some(balancer.to_string());
    c.cluster_size = Some(3);
    c.quorum_timeout = QUORUM_TIMEOUT;
    c.heartbeat = Duration::from_millis(200);
    c.sync_interval = Duration::from_millis(500);
    c
}

fn is_pong(addr: &str) -> bool {
    Client::connect(addr, Duration::from_secs(2))
        .and_then(|mut c| c.command(&["PING"]))
        .is_ok_and(|v| v == Value::Simple("PONG".into()))
}

/// Espera a que el balanceador tenga a los tres nodos arriba (una conexión nueva por él
/// responde `+PONG` varias veces seguidas, cada una quizá a otro nodo).
fn wait_balancer_ready(addr: &str) {
    assert!(
        wait_until(WAIT, || (0..6).all(|_| is_pong(addr))),
        "el balanceador no tiene nodos sanos"
    );
}

/// Dos procesos que queman CPU, acotados por `timeout` y terminados por su PID al soltarlos.
struct Burners(Vec<Child>);

impl Burners {
    fn start(n: usize, limit: Duration) -> Self {
        let children = (0..n)
            .filter_map(|_| {
                Command::new("timeout")
                    .arg(limit.as_secs().max(1).to_string())
                    .args(["sh", "-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()
            })
            .collect::<Vec<_>>();
        assert_eq!(children.len(), n, "no se pudieron lanzar los quemadores");
        Burners(children)
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // SIGTERM a `timeout`, que lo reenvía a su `sh`; un SIGKILL dejaría huérfano al
            // bucle. Con el `kill` interno de `sh`: `/bin/kill` (procps) puede no estar.
            let _ = Command::new("sh")
                .args(["-c", &format!("kill -TERM {}", child.id())])
                .status();
            let _ = child.wait();
        }
    }
}

/// La carga de una ejecución: `clients` clientes por el balanceador sobre `keys` claves.
fn workload(balancer: String, clients: usize, keys: usize, secs: u64) -> Workload {
    Workload {
        addrs: vec![balancer],
        clients,
        keys,
        duration: Duration::from_secs(secs),
        max_ops: 2_000_000,
        del_ratio: 0.05,
        timeout: Duration::from_secs(5),
    }
}

/// Comprueba lo grabado, imprime la línea de resumen y falla si hay violaciones.
fn verify(name: &str, rec: &Recording, kills: usize) {
    let start = Instant::now();
    let violations = check(&rec.history);
    println!(
        "{name}: {} (comprobado en {:.1?})",
        rec.summary(kills, violations.len()),
        start.elapsed()
    );
    for v in violations.iter().take(3) {
        println!("{v}");
    }
    assert!(
        violations.is_empty(),
        "{name}: {} violaciones de linealizabilidad",
        violations.len()
    );
    assert!(
        rec.acknowledged_writes() > 0,
        "{name}: ninguna escritura confirmada"
    );
}

/// Ejecución 1 del issue 15: sin fallos, 8 clientes, 1 clave, con la CPU ocupada.
#[test]
fn one_hot_key_under_cpu_load_is_linearizable() {
    let secs = run_seconds();
    let (balancer, control) = start_balancer();
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let peer_addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<ServerGuard> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, peer_listener)| {
            let peers = peer_addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| a.clone())
                .collect();
            let c = node_config(
                &format!("n{}", i + 1),
                dirs[i].path().to_path_buf(),
                peers,
                &control,
            );
            let clients = TcpListener::bind("127.0.0.1:0").unwrap();
            start_on(clients, move |l, s| nodo::run(l, peer_listener, c, s))
        })
        .collect();
    for n in &nodes {
        let addr = n.addr.to_string();
        assert!(wait_until(WAIT, || is_pong(&addr)), "{addr} no arrancó");
    }
    let bal = balancer.addr.to_string();
    wait_balancer_ready(&bal);
    let _burners = Burners::start(2, Duration::from_secs(secs + 60));
    let workload = workload(bal, 8, 1, secs);
    let rec = record(&workload, Instant::now(), &AtomicBool::new(false));
    verify("ejecución 1 (sin fallos, 1 clave, CPU ocupada)", &rec, 0);
}

/// Un nodo hijo: su proceso, sus puertos y su directorio.
struct ProcessNode {
    id: String,
    dir: PathBuf,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    peers: Vec<String>,
    balancer: String,
    child: Option<Child>,
}

impl ProcessNode {
    fn spawn(&mut self) {
        let spec = [
            self.id.clone(),
            self.dir.display().to_string(),
            self.client_addr.to_string(),
            self.peer_addr.to_string(),
            self.peers.join(","),
            self.balancer.clone(),
        ]
        .join(";");
        let exe = std::env::current_exe().unwrap();
        let child = Command::new(exe)
            .args(["node_process", "--exact", "--ignored", "--nocapture"])
            .env("P9_NODE", spec)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// `SIGKILL`: una caída, no una parada limpia.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn wait_ready(&self) {
        let addr = self.client_addr.to_string();
        assert!(
            wait_until(WAIT, || is_pong(&addr)),
            "el nodo {} no volvió a estar al día",
            self.id
        );
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Lo que ejecuta un nodo hijo (solo con `P9_NODE` en el entorno; si no, no hace nada).
#[test]
#[ignore = "la ejecutan los nodos hijos de la ejecución 2"]
fn node_process() {
    let Ok(spec) = std::env::var("P9_NODE") else {
        return;
    };
    let parts: Vec<&str> = spec.split(';').collect();
    let [id, dir, client, peer, peers, balancer] = parts.as_slice() else {
        panic!("P9_NODE mal formado: {spec}");
    };
    // Si el padre muere, el hijo también (nunca queda un nodo huérfano).
    let parent = std::os::unix::process::parent_id();
    thread::spawn(move || loop {
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(0);
        }
        thread::sleep(Duration::from_millis(200));
    });
    let bind = |addr: &str| {
        let deadline = Instant::now() + WAIT;
        loop {
            match TcpListener::bind(addr) {
                Ok(l) => return l,
                Err(e) if Instant::now() > deadline => panic!("no se pudo escuchar en {addr}: {e}"),
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    };
    let clients = bind(client);
    let peer_listener = bind(peer);
    let peers = peers.split(',').map(str::to_string).collect();
    let config = node_config(id, PathBuf::from(dir), peers, balancer);
    let _ = nodo::run(clients, peer_listener, config, common::Shutdown::new());
}

/// Ejecución 2 del issue 15: 6 clientes, 5 claves, `SIGKILL` y rearranque de un nodo cada vez.
#[test]
fn five_keys_with_nodes_killed_one_at_a_time_are_linearizable() {
    let secs = run_seconds();
    let (balancer, control) = start_balancer();
    let root = tempfile::tempdir().unwrap();
    let addrs: Vec<(SocketAddr, SocketAddr)> = (0..3).map(|_| (free_addr(), free_addr())).collect();
    let mut nodes: Vec<ProcessNode> = (0..3)
        .map(|i| ProcessNode {
            id: format!("n{}", i + 1),
            dir: root.path().join(format!("n{}", i + 1)),
            client_addr: addrs[i].0,
            peer_addr: addrs[i].1,
            peers: addrs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| a.1.to_string())
                .collect(),
            balancer: control.clone(),
            child: None,
        })
        .collect();
    for n in &mut nodes {
        n.spawn();
    }
    for n in &nodes {
        n.wait_ready();
    }
    let bal = balancer.addr.to_string();
    wait_balancer_ready(&bal);
    let workload = workload(bal, 6, 5, secs);
    let stop = AtomicBool::new(false);
    let (rec, kills) = thread::scope(|s| {
        let killer = s.spawn(|| {
            let mut kills = 0usize;
            let end = Instant::now() + Duration::from_secs(secs.saturating_sub(3));
            let mut turn = 0usize;
            while Instant::now() + Duration::from_secs(3) < end && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(2500));
                let node = &mut nodes[turn % 3];
                turn += 1;
                node.kill();
                kills += 1;
                thread::sleep(Duration::from_millis(500));
                node.spawn();
                node.wait_ready();
            }
            kills
        });
        let rec = record(&workload, Instant::now(), &stop);
        stop.store(true, Ordering::Relaxed);
        (rec, killer.join().unwrap())
    });
    verify(
        "ejecución 2 (5 claves, SIGKILL de un nodo cada vez)",
        &rec,
        kills,
    );
    assert!(kills > 0, "no se llegó a matar ningún nodo");
}
