//! Un nodo del almacén replicado: guarda todas las claves, replica cada escritura a sus pares
//! y atiende a los clientes en RESP (el protocolo de Redis).
//!
//! Cada módulo tiene un trabajo:
//! - [`almacen`]: las claves en memoria con su versión (reloj de Lamport + id del nodo).
//! - [`wal`]: el registro en disco, con CRC por registro y detección de un final cortado.
//! - [`pares`]: el protocolo JSON-lines entre nodos y las conexiones salientes.
//! - [`replicacion`]: escrituras y lecturas por mayoría; lo que se responde a un par.
//! - [`sincronia`]: ponerse al día al arrancar y la antientropía periódica; la lista de pares
//!   que se aprende del balanceador.
//! - [`comandos`]: el servidor RESP para los clientes (`redis-cli`, `telnet`, `cliente`).
//!
//! Un nodo escucha en dos puertos: el de clientes (`--port`, RESP) y el de pares
//! (`--peer-port`, JSON lines). Mientras se pone al día responde `-LOADING` a los clientes
//! (también a `PING`), así el balanceador no le manda tráfico hasta que está al día.

pub mod almacen;
pub mod comandos;
pub mod pares;
pub mod replicacion;
pub mod sincronia;
pub mod wal;

use std::io::{BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::ayuda::plural;
use common::jsonl::{encode_json_line, read_json_line, JsonLineError};
use common::net::connectable;
use common::{serve, ServeConfig, Shutdown};

use crate::resp::Limits;
use almacen::Store;
use pares::{PeerRequest, PeerResponse, Peers, Reply};
use wal::{FsyncPolicy, Recovery, Wal, WalError};

/// Puerto por omisión del puerto de pares: el 8029 (clientes en 8009 a través del
/// balanceador, control del balanceador en 8019).
pub const DEFAULT_PEER_PORT: u16 = 8029;
/// Puerto RESP por omisión de un nodo suelto (sin balanceador delante).
pub const DEFAULT_NODE_PORT: u16 = 6390;
/// Plazo por omisión para reunir una mayoría: 2 s bastan en una red local y acotan lo que
/// un cliente espera cuando un nodo acaba de morir.
pub const DEFAULT_QUORUM_TIMEOUT: Duration = Duration::from_secs(2);
/// Cada cuánto se comparan resúmenes con los pares (antientropía) y se relee el registro
/// del balanceador.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// Cada cuánto late el registro en el balanceador.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// Tiempo máximo que un cliente RESP puede estar callado antes de que cerremos (Redis no
/// tiene límite por omisión; cinco minutos dejan trabajar a mano con telnet).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Plazo total por omisión para que una orden empezada llegue entera (issue 16): 4 MiB, la
/// orden más grande por omisión, caben de sobra a 1 Mbit/s.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Peticiones de un par que se atienden como mucho en una tanda (un solo `fsync`) antes de
/// responder.
pub const MAX_PEER_BATCH: usize = 256;
/// Longitud máxima de un id de nodo (viaja en cada versión y en cada registro del WAL).
pub const MAX_NODE_ID: usize = 64;

/// La configuración de un nodo.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Id único del nodo (desempata versiones).
    pub id: String,
    /// Directorio del registro.
    pub data_dir: PathBuf,
    /// Pares fijos (`HOST:PUERTO_DE_PARES`).
    pub peers: Vec<String>,
    /// Puerto de control del balanceador para registrarse y conocer a los pares.
    pub balancer: Option<String>,
    /// Política de `fsync`.
    pub fsync: FsyncPolicy,
    /// Tamaño del clúster, si se fija (si no, 1 + pares conocidos).
    pub cluster_size: Option<usize>,
    /// Límites del protocolo RESP.
    pub limits: Limits,
    /// Conexiones de clientes simultáneas.
    pub max_connections: usize,
    /// Plazo para reunir una mayoría.
    pub quorum_timeout: Duration,
    /// Periodo de la antientropía.
    pub sync_interval: Duration,
    /// Periodo de los latidos al balanceador.
    pub heartbeat: Duration,
    /// Silencio máximo de un cliente entre órdenes.
    pub idle_timeout: Duration,
    /// Plazo total de una orden desde su primer byte (nunca más que `idle_timeout`: véase
    /// [`NodeConfig::command_deadline`]).
    pub command_timeout: Duration,
}

impl NodeConfig {
    /// Configuración con los valores por omisión.
    pub fn new(id: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            id: id.into(),
            data_dir: data_dir.into(),
            peers: Vec::new(),
            balancer: None,
            fsync: FsyncPolicy::Always,
            cluster_size: None,
            limits: Limits::default(),
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            quorum_timeout: DEFAULT_QUORUM_TIMEOUT,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            heartbeat: DEFAULT_HEARTBEAT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// El plazo total de una orden desde su primer byte: `command_timeout`, o `idle_timeout`
    /// si es menor (una orden a medias no puede retener la conexión más que el silencio).
    pub fn command_deadline(&self) -> Duration {
        self.command_timeout.min(self.idle_timeout)
    }

    /// Longitud máxima de una línea entre pares: cabe una clave y un valor máximos escapados
    /// en JSON (hasta 6 bytes por byte) y una página de sincronización.
    pub fn max_peer_line(&self) -> usize {
        self.limits
            .max_bulk
            .saturating_mul(16)
            .saturating_add(1024 * 1024)
    }
}

/// Los argumentos de `servidor nodo`.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// Id único del nodo en el clúster (por ejemplo n1)
    #[arg(long, value_name = "NOMBRE")]
    pub id: String,
    /// Directorio donde guardar el registro (`wal.log`)
    #[arg(long, value_name = "DIRECTORIO")]
    pub data_dir: PathBuf,
    /// Dirección en la que escuchar (clientes y pares)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Puerto RESP para clientes (0 = cualquiera libre)
    #[arg(long, value_name = "PUERTO", default_value_t = DEFAULT_NODE_PORT)]
    pub port: u16,
    /// Puerto para los demás nodos (0 = cualquiera libre)
    #[arg(long, value_name = "PUERTO", default_value_t = DEFAULT_PEER_PORT)]
    pub peer_port: u16,
    /// Un par fijo, HOST:PUERTO_DE_PARES (repetible)
    #[arg(long = "peer", value_name = "HOST:PUERTO")]
    pub peers: Vec<String>,
    /// Puerto de control del balanceador (HOST:PUERTO) para registrarse y conocer a los pares
    #[arg(long, value_name = "HOST:PUERTO")]
    pub balancer: Option<String>,
    /// Cuándo hacer fsync del registro
    #[arg(long, value_name = "POLÍTICA", value_enum, default_value_t = FsyncPolicy::Always)]
    pub fsync: FsyncPolicy,
    /// Tamaño del clúster (por omisión, 1 + los pares conocidos)
    #[arg(long, value_name = "N")]
    pub cluster_size: Option<usize>,
    /// Máximo de conexiones de clientes simultáneas
    #[arg(long, value_name = "N", default_value_t = common::cli::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Bytes máximos de una clave o un valor
    #[arg(long, value_name = "BYTES", default_value_t = crate::resp::DEFAULT_MAX_BULK)]
    pub max_bulk: usize,
    /// Argumentos máximos de una orden
    #[arg(long, value_name = "N", default_value_t = crate::resp::DEFAULT_MAX_ARRAY)]
    pub max_args: usize,
    /// Bytes máximos de una orden en línea
    #[arg(long, value_name = "BYTES", default_value_t = crate::resp::DEFAULT_MAX_LINE)]
    pub max_line: usize,
    /// Milisegundos de espera para reunir una mayoría
    #[arg(long, value_name = "MILISEGUNDOS", default_value_t = DEFAULT_QUORUM_TIMEOUT.as_millis() as u64)]
    pub quorum_timeout_ms: u64,
    /// Segundos de silencio tras los que se cierra un cliente
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub idle_timeout: u64,
    /// Segundos para que una orden empezada llegue entera (como mucho --idle-timeout)
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_COMMAND_TIMEOUT.as_secs())]
    pub command_timeout: u64,
}

impl NodeArgs {
    /// La configuración que describen los argumentos.
    pub fn config(&self) -> NodeConfig {
        let mut c = NodeConfig::new(self.id.clone(), self.data_dir.clone());
        c.peers = self.peers.clone();
        c.balancer = self.balancer.clone();
        c.fsync = self.fsync;
        c.cluster_size = self.cluster_size;
        c.max_connections = self.max_connections;
        c.limits.max_bulk = self.max_bulk;
        c.limits.max_array = self.max_args;
        c.limits.max_line = self.max_line;
        c.limits.max_command = c.limits.max_command.max(self.max_bulk.saturating_mul(2));
        c.quorum_timeout = Duration::from_millis(self.quorum_timeout_ms.max(1));
        c.idle_timeout = Duration::from_secs(self.idle_timeout.max(1));
        c.command_timeout = Duration::from_secs(self.command_timeout.max(1));
        c
    }
}

/// Lo que puede impedir que un nodo arranque.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// El registro no se pudo abrir.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// Id vacío o demasiado largo.
    #[error("id de nodo no válido {0:?}: de 1 a 64 caracteres")]
    BadId(String),
    /// Fallo de un socket de escucha.
    #[error("socket de escucha: {0}")]
    Io(#[from] std::io::Error),
}

/// Contadores para `INFO`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Escrituras confirmadas coordinadas por este nodo.
    pub writes: AtomicU64,
    /// Lecturas por mayoría servidas.
    pub reads: AtomicU64,
    /// Operaciones rechazadas por falta de mayoría o contención.
    pub refused: AtomicU64,
    /// Reparaciones enviadas tras una lectura.
    pub repairs: AtomicU64,
    /// Entradas traídas de pares por antientropía.
    pub pulled: AtomicU64,
}

/// El estado compartido de un nodo.
pub struct Node {
    /// Su id.
    pub id: String,
    /// La configuración.
    pub config: NodeConfig,
    store: Mutex<Store>,
    wal: Wal,
    /// Los pares conocidos.
    pub peers: Peers,
    caught_up: AtomicBool,
    /// Turno para repartir las lecturas entre los pares.
    read_turn: AtomicUsize,
    /// Contadores.
    pub stats: Stats,
    recovery: Recovery,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
}

impl Node {
    /// ¿Está ya al día (y por tanto atiende a clientes)?
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::SeqCst)
    }

    /// Lo que se recuperó del registro al arrancar.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// La dirección RESP (la que se registra en el balanceador).
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// La dirección entre pares.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }
}

/// Arranca un nodo con sus dos listeners ya abiertos y lo atiende hasta que se dispare
/// `shutdown`: recupera el registro, se pone al día con los pares (respondiendo `-LOADING`
/// mientras tanto), se registra en el balanceador si se pidió y sirve.
///
/// # Errores
/// [`NodeError`] si el id no es válido o no se puede abrir el registro.
pub fn run(
    clients: TcpListener,
    peers_listener: TcpListener,
    config: NodeConfig,
    shutdown: Shutdown,
) -> Result<(), NodeError> {
    if config.id.is_empty() || config.id.len() > MAX_NODE_ID {
        return Err(NodeError::BadId(config.id));
    }
    let client_addr = connectable(clients.local_addr()?);
    let peer_addr = connectable(peers_listener.local_addr()?);
    let (wal, store, recovery) = Wal::open(&config.data_dir, config.fsync)?;
    log::info!(
        "nodo {}: {} de {} ({})",
        config.id,
        plural(
            recovery.records,
            "registro recuperado",
            "registros recuperados"
        ),
        config.data_dir.display(),
        plural(store.len(), "clave", "claves")
    );
    let node = Arc::new(Node {
        id: config.id.clone(),
        peers: Peers::new(
            config.max_peer_line(),
            config.quorum_timeout.max(Duration::from_secs(1)),
        ),
        store: Mutex::new(store),
        wal,
        caught_up: AtomicBool::new(false),
        read_turn: AtomicUsize::new(0),
        stats: Stats::default(),
        recovery,
        client_addr,
        peer_addr,
        config,
    });
    for p in &node.config.peers {
        node.peers.upsert(p, p);
    }
    {
        let node = Arc::clone(&node);
        shutdown.on_trigger(move || node.peers.close_all());
    }

    let peer_server = {
        let node = Arc::clone(&node);
        let s = shutdown.clone();
        let mut cfg = ServeConfig::new(format!("pares-{}", node.id));
        cfg.refusal = Vec::new();
        thread::Builder::new()
            .name(format!("pares-{}", node.id))
            .spawn(move || {
                let n = Arc::clone(&node);
                if let Err(e) = serve(peers_listener, cfg, s, move |stream, peer| {
                    serve_peer(&n, stream, peer)
                }) {
                    log::error!("servidor de pares: {e}");
                }
            })?
    };
    let syncer = {
        let node = Arc::clone(&node);
        let s = shutdown.clone();
        thread::Builder::new()
            .name(format!("sincronia-{}", node.id))
            .spawn(move || sincronia::run(&node, &s))?
    };
    let batch = if node.config.fsync == FsyncPolicy::Batch {
        let node = Arc::clone(&node);
        let s = shutdown.clone();
        Some(
            thread::Builder::new()
                .name(format!("fsync-{}", node.id))
                .spawn(move || {
                    while !s.wait_timeout(wal::BATCH_INTERVAL) {
                        if let Err(e) = node.wal.sync_all() {
                            log::error!("fsync periódico: {e}");
                        }
                    }
                })?,
        )
    } else {
        None
    };

    let mut cfg = ServeConfig::new(format!("nodo-{}", node.id));
    cfg.max_connections = node.config.max_connections;
    cfg.refusal = b"-ERR max number of clients reached\r\n".to_vec();
    let n = Arc::clone(&node);
    let served = serve(clients, cfg, shutdown.clone(), move |stream, peer| {
        comandos::serve_client(&n, stream, peer)
    });
    shutdown.trigger();
    let _ = peer_server.join();
    let _ = syncer.join();
    if let Some(b) = batch {
        let _ = b.join();
    }
    node.peers.close_all();
    if let Err(e) = node.wal.sync_all() {
        log::error!("fsync final: {e}");
    }
    log::info!("nodo {}: apagado", node.id);
    served?;
    Ok(())
}

/// Atiende una conexión de un par: lee peticiones, las aplica y, una vez por tanda (todas
/// las que ya están en el buffer), hace un solo `fsync` antes de responder a todas.
fn serve_peer(node: &Node, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(node.config.quorum_timeout.max(Duration::from_secs(1))));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let mut writer = BufWriter::with_capacity(64 * 1024, stream);
    let max_line = node.config.max_peer_line();
    let mut batch: Vec<(u64, Reply, Option<u64>)> = Vec::new();
    loop {
        match read_json_line::<PeerRequest>(&mut reader, max_line) {
            Ok(Some(req)) => {
                let (reply, seq) = node.handle_peer_op(req.op);
                batch.push((req.id, reply, seq));
            }
            Ok(None) => break,
            Err(JsonLineError::Json(e)) => {
                log::warn!("par {peer}: petición no válida: {e}");
            }
            Err(e) => {
                log::debug!("par {peer}: {e}");
                break;
            }
        }
        // ¿Hay más peticiones completas ya en el buffer? Entonces forman la misma tanda (con un
        // tope, para que un flujo continuo de peticiones no retrase las respuestas sin fin).
        if batch.len() < MAX_PEER_BATCH && reader.buffer().contains(&b'\n') {
            continue;
        }
        if !flush_batch(node, &mut writer, &mut batch) {
            break;
        }
    }
    let _ = flush_batch(node, &mut writer, &mut batch);
}

fn flush_batch(
    node: &Node,
    writer: &mut BufWriter<TcpStream>,
    batch: &mut Vec<(u64, Reply, Option<u64>)>,
) -> bool {
    if batch.is_empty() {
        return true;
    }
    let max_seq = batch.iter().filter_map(|(_, _, s)| *s).max();
    let synced = match max_seq {
        Some(seq) => node.wal.sync_to(seq).map_err(|e| e.to_string()),
        None => Ok(()),
    };
    for (id, reply, seq) in batch.drain(..) {
        let reply = match (&synced, seq) {
            (Err(e), Some(_)) => Reply::Error { message: e.clone() },
            _ => reply,
        };
        let Ok(line) = encode_json_line(&PeerResponse { id, reply }) else {
            continue;
        };
        if writer.write_all(&line).is_err() {
            return false;
        }
    }
    writer.flush().is_ok()
}
