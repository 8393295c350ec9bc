//! `servidor demo --nodes 3`: el balanceador y tres nodos del almacén en un solo proceso.
//!
//! El balanceador escucha en 8009 (clientes) y 8019 (control), con comprobación `ping`; los
//! nodos escuchan en puertos libres, se conocen entre sí (pares fijos) y se registran en el
//! balanceador. La demostración lee órdenes de su entrada estándar para ver la tolerancia a
//! fallos sin abrir más terminales: `stop n2` para un nodo (como si muriera), `start n2` lo
//! vuelve a arrancar en los mismos puertos y con sus datos (se pone al día antes de volver a
//! recibir clientes) y `status` muestra la tabla del balanceador.

use std::io::{BufRead, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::net::connectable;
use common::Shutdown;

use crate::balanceador::{self, BalancerArgs, BalancerConfig, CheckKind};
use crate::nodo::wal::FsyncPolicy;
use crate::nodo::{self, NodeConfig};

/// Nodos por omisión de la demostración.
pub const DEFAULT_DEMO_NODES: usize = 3;
/// Máximo de nodos de la demostración (cada uno son varios hilos).
pub const MAX_DEMO_NODES: usize = 9;

/// Los argumentos de `servidor demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Los del balanceador (puertos 8009 y 8019 por omisión)
    #[command(flatten)]
    pub balancer: BalancerArgs,
    /// Cuántos nodos arrancar (1 a 9)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DEMO_NODES)]
    pub nodes: usize,
    /// Directorio de datos (uno por nodo dentro); por omisión uno temporal que se borra al salir
    #[arg(long, value_name = "DIRECTORIO")]
    pub data_dir: Option<PathBuf>,
    /// Política de fsync de los nodos
    #[arg(long, value_name = "POLÍTICA", value_enum, default_value_t = FsyncPolicy::Always)]
    pub fsync: FsyncPolicy,
}

/// La configuración de la demostración.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Nodos.
    pub nodes: usize,
    /// Directorio base de datos; `None` = temporal.
    pub data_dir: Option<PathBuf>,
    /// Política de fsync.
    pub fsync: FsyncPolicy,
    /// Configuración del balanceador.
    pub balancer: BalancerConfig,
    /// Host donde escuchan los nodos.
    pub host: String,
}

impl DemoArgs {
    /// La configuración que describen los argumentos (la comprobación de salud es siempre
    /// `ping`: un nodo que se está poniendo al día no recibe clientes).
    pub fn config(&self) -> DemoConfig {
        let mut balancer = self.balancer.config();
        balancer.check = CheckKind::Ping;
        balancer.check_interval = balancer.check_interval.min(Duration::from_millis(500));
        DemoConfig {
            nodes: self.nodes.clamp(1, MAX_DEMO_NODES),
            data_dir: self.data_dir.clone(),
            fsync: self.fsync,
            balancer,
            host: self.balancer.server.host.clone(),
        }
    }
}

/// Lo que puede impedir la demostración.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Fallo al abrir puertos, crear directorios o hilos.
    #[error("demostración: {0}")]
    Io(#[from] std::io::Error),
}

struct DemoNode {
    config: NodeConfig,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    running: Option<(Shutdown, JoinHandle<()>)>,
}

impl DemoNode {
    fn start(&mut self, clients: TcpListener, peers: TcpListener) -> std::io::Result<()> {
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let config = self.config.clone();
        let handle = thread::Builder::new()
            .name(format!("demo-{}", config.id))
            .spawn(move || {
                let id = config.id.clone();
                if let Err(e) = nodo::run(clients, peers, config, s) {
                    log::error!("nodo {id}: {e}");
                }
            })?;
        self.running = Some((shutdown, handle));
        Ok(())
    }

    fn stop(&mut self) -> bool {
        match self.running.take() {
            Some((s, h)) => {
                s.trigger();
                let _ = h.join();
                true
            }
            None => false,
        }
    }

    fn restart(&mut self) -> std::io::Result<()> {
        let clients = TcpListener::bind(self.client_addr)?;
        let peers = TcpListener::bind(self.peer_addr)?;
        self.start(clients, peers)
    }
}

/// Arranca el balanceador (con los listeners dados) y `config.nodes` nodos, escribe en `out`
/// dónde escucha cada cosa y atiende las órdenes de `input` (`stop nK`, `start nK`, `status`)
/// hasta que se dispare `shutdown`.
///
/// # Errores
/// [`DemoError`] si no se pueden abrir los puertos de los nodos o sus directorios.
pub fn run(
    clients: TcpListener,
    control: TcpListener,
    config: DemoConfig,
    shutdown: Shutdown,
    input: impl BufRead + Send + 'static,
    mut out: impl Write,
) -> Result<(), DemoError> {
    let client_addr = connectable(clients.local_addr()?);
    let control_addr = connectable(control.local_addr()?);
    writeln!(out, "balanceador: escuchando en {client_addr}")?;
    writeln!(out, "control: escuchando en {control_addr}")?;
    let balancer = {
        let s = shutdown.clone();
        let cfg = config.balancer.clone();
        thread::Builder::new()
            .name("demo-balanceador".into())
            .spawn(move || {
                if let Err(e) = balanceador::run(clients, control, cfg, s) {
                    log::error!("balanceador: {e}");
                }
            })?
    };
    let (base, temporary) = match &config.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("problema9-demo-{}", std::process::id())),
            true,
        ),
    };
    let mut listeners = Vec::new();
    for _ in 0..config.nodes {
        let c = TcpListener::bind((config.host.as_str(), 0))?;
        let p = TcpListener::bind((config.host.as_str(), 0))?;
        listeners.push((c, p));
    }
    let peer_addrs: Vec<SocketAddr> = listeners
        .iter()
        .map(|(_, p)| p.local_addr().map(connectable))
        .collect::<Result<_, _>>()?;
    let mut nodes = Vec::new();
    for (i, (c, p)) in listeners.into_iter().enumerate() {
        let id = format!("n{}", i + 1);
        let mut nc = NodeConfig::new(id.clone(), base.join(&id));
        nc.peers = peer_addrs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| a.to_string())
            .collect();
        nc.balancer = Some(control_addr.to_string());
        nc.cluster_size = Some(config.nodes);
        nc.fsync = config.fsync;
        let mut node = DemoNode {
            client_addr: connectable(c.local_addr()?),
            peer_addr: connectable(p.local_addr()?),
            config: nc,
            running: None,
        };
        writeln!(
            out,
            "nodo {id}: escuchando en {} (pares en {}, datos en {})",
            node.client_addr,
            node.peer_addr,
            node.config.data_dir.display()
        )?;
        node.start(c, p)?;
        nodes.push(node);
    }
    writeln!(
        out,
        "órdenes: `stop nK` para un nodo, `start nK` lo rearranca, `status` muestra el balanceador; Ctrl-C termina"
    )?;
    out.flush()?;

    let (tx, rx) = mpsc::channel::<String>();
    // El hilo lector no se une: puede quedarse bloqueado leyendo la entrada estándar.
    let _ = thread::Builder::new()
        .name("demo-entrada".into())
        .spawn(move || {
            for line in input.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    while !shutdown.is_triggered() {
        let line = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                shutdown.wait_timeout(Duration::from_secs(3600));
                continue;
            }
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let find = |id: &str| nodes.iter().position(|n| n.config.id == id);
        let reply = match words.as_slice() {
            [] => continue,
            ["stop", id] => match find(id) {
                Some(i) if nodes.get_mut(i).is_some_and(DemoNode::stop) => {
                    format!("nodo {id} parado")
                }
                Some(_) => format!("el nodo {id} ya estaba parado"),
                None => format!("no hay nodo {id}"),
            },
            ["start", id] => match find(id).and_then(|i| nodes.get_mut(i)) {
                Some(n) if n.running.is_some() => format!("el nodo {id} ya está en marcha"),
                Some(n) => match n.restart() {
                    Ok(()) => format!("nodo {id} arrancado en {}", n.client_addr),
                    Err(e) => format!("no se pudo arrancar {id}: {e}"),
                },
                None => format!("no hay nodo {id}"),
            },
            ["status"] => {
                match crate::cliente::status(&control_addr.to_string(), Duration::from_secs(2)) {
                    Ok(t) => t,
                    Err(e) => e.to_string(),
                }
            }
            _ => "órdenes: stop nK | start nK | status".to_string(),
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    for n in nodes.iter_mut() {
        n.stop();
    }
    let _ = balancer.join();
    if temporary {
        let _ = std::fs::remove_dir_all(&base);
    }
    Ok(())
}
