//! Carga e historial para la inyección de fallos del problema 9 (`bench/fault.sh`).
//!
//! Varios clientes escriben (claves propias y claves compartidas, cada valor único) y leen a
//! través del balanceador durante `--duration` segundos mientras el script mata y rearranca
//! nodos. Cada operación se apunta con su instante de inicio y de fin. Al terminar, espera a
//! que todos los nodos estén al día y comprueba:
//! - historial: ninguna lectura devolvió un valor más viejo que uno ya confirmado. Un valor
//!   `v` es "más viejo" que una escritura confirmada W si la escritura de `v` terminó
//!   (confirmada) antes de que W empezara, y W terminó antes de que empezara la lectura. Una
//!   escritura que falló o no respondió es indeterminada: pudo aplicarse en cualquier momento
//!   posterior, así que nunca cuenta como vieja. Tampoco vale leer un valor que nadie había
//!   empezado a escribir, ni `nil` tras una escritura confirmada;
//! - estado final: cada clave se lee desde cada nodo con un valor que no sea más viejo que
//!   ninguna escritura confirmada (en particular, la última confirmada si no tuvo
//!   concurrentes), y todos los nodos acaban con el mismo resumen.
//!
//! Sale con código 1 si hay alguna violación.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use problema9::cliente::Client;
use problema9::resp::Value;

/// Carga con historial y comprobación para la inyección de fallos del problema 9.
#[derive(Parser)]
struct Args {
    /// Dirección del balanceador (HOST:PUERTO)
    #[arg(long)]
    balancer: String,
    /// Direcciones RESP de los nodos, para la comprobación final
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// Segundos de carga
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Clientes concurrentes
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Claves compartidas por todos los clientes
    #[arg(long, default_value_t = 8)]
    shared_keys: usize,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Escritura con su valor; `acked` si respondió `+OK`.
    Write { value: String, acked: bool },
    /// Lectura con lo leído (`None` = nil).
    Read { value: Option<String> },
}

#[derive(Clone, Debug)]
struct Op {
    key: String,
    start: Instant,
    end: Instant,
    kind: Kind,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn worker(w: usize, args: Arc<Args>, stop: Arc<AtomicBool>, ops: Arc<Mutex<Vec<Op>>>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut client: Option<Client> = None;
    let mut seq = 0u64;
    let mut own_keys = 0u64;
    let mut local = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let c = match client.as_mut() {
            Some(c) => c,
            None => match Client::connect(&args.balancer, TIMEOUT) {
                Ok(c) => client.insert(c),
                Err(_) => {
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        let shared = rng.below(2) == 0;
        let key = if shared {
            format!("compartida:{}", rng.below(args.shared_keys as u64))
        } else if own_keys == 0 || rng.below(4) == 0 {
            own_keys += 1;
            format!("w{w}:{}", own_keys - 1)
        } else {
            format!("w{w}:{}", rng.below(own_keys))
        };
        let write = rng.below(2) == 0;
        let start = Instant::now();
        let (kind, ok) = if write {
            seq += 1;
            let value = format!("w{w}-{seq}");
            let reply = c.command(&["SET", key.as_str(), value.as_str()]);
            let acked = matches!(reply, Ok(Value::Simple(ref s)) if s == "OK");
            (Kind::Write { value, acked }, reply.is_ok())
        } else {
            match c.command(&["GET", key.as_str()]) {
                Ok(Value::Bulk(b)) => (
                    Kind::Read {
                        value: Some(String::from_utf8_lossy(&b).into_owned()),
                    },
                    true,
                ),
                Ok(Value::Null) => (Kind::Read { value: None }, true),
                // Un error o un corte: la lectura no cuenta.
                Ok(_) => {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Err(_) => {
                    client = None;
                    continue;
                }
            }
        };
        let end = Instant::now();
        if !ok {
            client = None;
        }
        if matches!(kind, Kind::Write { acked: false, .. }) {
            thread::sleep(Duration::from_millis(20));
        }
        local.push(Op {
            key,
            start,
            end,
            kind,
        });
    }
    if let Ok(mut all) = ops.lock() {
        all.extend(local);
    }
}

struct WriteInfo {
    start: Instant,
    /// `None` si no se confirmó (indeterminada: puede aplicarse en cualquier momento).
    acked_end: Option<Instant>,
}

/// ¿Es el valor `v` (escrito por `w`) más viejo que alguna escritura confirmada que terminó
/// antes de `before`? `latest_start` es el mayor inicio de esas escrituras.
fn is_stale(w: &WriteInfo, latest_start: Option<Instant>) -> bool {
    match (w.acked_end, latest_start) {
        (Some(end), Some(ls)) => end < ls,
        _ => false,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..args.workers)
        .map(|w| {
            let (a, s, o) = (Arc::clone(&args), Arc::clone(&stop), Arc::clone(&ops));
            thread::spawn(move || worker(w, a, s, o))
        })
        .collect();
    thread::sleep(Duration::from_secs(args.duration));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let ops = std::mem::take(
        &mut *ops
            .lock()
            .map_err(|_| anyhow::anyhow!("historial envenenado"))?,
    );

    // Índices por clave.
    let mut writes: HashMap<&str, HashMap<&str, WriteInfo>> = HashMap::new();
    let mut acked_by_key: HashMap<&str, Vec<(Instant, Instant)>> = HashMap::new();
    let (mut n_writes, mut n_acked, mut n_reads) = (0u64, 0u64, 0u64);
    for op in &ops {
        match &op.kind {
            Kind::Write { value, acked } => {
                n_writes += 1;
                writes.entry(&op.key).or_default().insert(
                    value,
                    WriteInfo {
                        start: op.start,
                        acked_end: acked.then_some(op.end),
                    },
                );
                if *acked {
                    n_acked += 1;
                    acked_by_key
                        .entry(&op.key)
                        .or_default()
                        .push((op.end, op.start));
                }
            }
            Kind::Read { .. } => n_reads += 1,
        }
    }
    for list in acked_by_key.values_mut() {
        list.sort();
    }
    // El mayor inicio de las confirmadas que terminaron antes de `t`.
    let latest_acked_start = |key: &str, t: Option<Instant>| -> Option<Instant> {
        acked_by_key.get(key).and_then(|list| {
            list.iter()
                .filter(|(end, _)| t.map_or(true, |t| *end < t))
                .map(|(_, start)| *start)
                .max()
        })
    };

    let mut violations = Vec::new();
    for op in &ops {
        let Kind::Read { value } = &op.kind else {
            continue;
        };
        let latest = latest_acked_start(&op.key, Some(op.start));
        match value {
            None if latest.is_some() => violations.push(format!(
                "lectura de {} devolvió nil tras una escritura confirmada",
                op.key
            )),
            None => {}
            Some(v) => match writes.get(op.key.as_str()).and_then(|m| m.get(v.as_str())) {
                None => violations.push(format!(
                    "lectura de {} devolvió {v:?}, que nadie escribió",
                    op.key
                )),
                Some(w) if w.start > op.end => violations.push(format!(
                    "lectura de {} devolvió {v:?} antes de que se escribiera",
                    op.key
                )),
                Some(w) if is_stale(w, latest) => violations.push(format!(
                    "lectura de {} devolvió {v:?}, más viejo que una escritura ya confirmada",
                    op.key
                )),
                Some(_) => {}
            },
        }
    }

    // Estado final: esperar a que todos los nodos estén al día.
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in &args.nodes {
        loop {
            let ok = Client::connect(node, TIMEOUT)
                .and_then(|mut c| c.command(&["PING"]))
                .is_ok_and(|v| v == Value::Simple("PONG".into()));
            if ok {
                break;
            }
            if Instant::now() > deadline {
                bail!("el nodo {node} no volvió a estar al día en 60 s");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    let mut final_checked = 0u64;
    for node in &args.nodes {
        let mut c = Client::connect(node, TIMEOUT).with_context(|| format!("conectar a {node}"))?;
        for (key, values) in &writes {
            let reply = c.command(&["GET", key])?;
            final_checked += 1;
            let latest = latest_acked_start(key, None);
            match reply {
                Value::Null if latest.is_some() => violations.push(format!(
                    "final: {key} es nil en {node} pese a escrituras confirmadas"
                )),
                Value::Null => {}
                Value::Bulk(b) => {
                    let v = String::from_utf8_lossy(&b).into_owned();
                    match values.get(v.as_str()) {
                        None => violations
                            .push(format!("final: {key}={v:?} en {node}: nadie lo escribió")),
                        Some(w) if is_stale(w, latest) => violations.push(format!(
                            "final: {key}={v:?} en {node} es más viejo que una escritura confirmada"
                        )),
                        Some(_) => {}
                    }
                }
                other => violations.push(format!("final: GET {key} en {node} respondió {other:?}")),
            }
        }
    }
    // Convergencia: todos los nodos con el mismo resumen (la antientropía tarda unos segundos).
    let converged = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let digests: Vec<String> = args
                .nodes
                .iter()
                .map(|n| {
                    Client::connect(n, TIMEOUT)
                        .and_then(|mut c| c.command(&["INFO", "replication"]))
                        .ok()
                        .and_then(|v| match v {
                            Value::Bulk(b) => String::from_utf8_lossy(&b)
                                .lines()
                                .find_map(|l| l.strip_prefix("digest:").map(str::to_string)),
                            _ => None,
                        })
                        .unwrap_or_default()
                })
                .collect();
            if !digests[0].is_empty() && digests.iter().all(|d| *d == digests[0]) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            thread::sleep(Duration::from_millis(200));
        }
    };
    if !converged {
        violations.push("final: los nodos no convergieron al mismo resumen en 30 s".into());
    }

    println!("escrituras intentadas:   {n_writes}");
    println!("escrituras confirmadas:  {n_acked}");
    println!("lecturas comprobadas:    {n_reads}");
    println!("claves:                  {}", writes.len());
    println!("lecturas finales:        {final_checked} (cada clave en cada nodo)");
    println!(
        "réplicas convergidas:    {}",
        if converged { "sí" } else { "no" }
    );
    println!("violaciones:             {}", violations.len());
    for v in violations.iter().take(20) {
        println!("  - {v}");
    }
    if !violations.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
