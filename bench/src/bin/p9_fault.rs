//! Carga, historial y comprobación de linealizabilidad para la inyección de fallos del
//! problema 9 (`bench/fault.sh`).
//!
//! Varios clientes RESP reales hacen `SET` (valores únicos), `GET` y `DEL` sobre unas pocas
//! claves a través del balanceador (y, con `--direct`, también directamente a los nodos)
//! durante `--duration` segundos mientras el script mata, pausa o rearranca nodos. El grabador
//! y el comprobador son los de las pruebas (`tests::linearizability`): cada operación se
//! apunta con su invocación y su respuesta, y el historial de cada clave debe ser linealizable
//! (una escritura sin respuesta o con `-NOQUORUM` pudo o no surtir efecto).
//!
//! Al terminar espera a que todos los nodos respondan `+PONG` y comprueba que convergen al
//! mismo resumen. Imprime `N ops, N acknowledged writes, N kills, N violations` (los kills los
//! cuenta el script en `--kills-file`) y sale con código 1 si hay alguna violación, o si con
//! `--expect-no-acks` (dos de tres nodos muertos) alguna escritura se confirmó.

use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use problema9::cliente::Client;
use problema9::resp::Value;
use tests::linearizability::{check, record, Workload};

/// Carga con historial y comprobación de linealizabilidad para el problema 9.
#[derive(Parser)]
struct Args {
    /// Dirección del balanceador (HOST:PUERTO)
    #[arg(long)]
    balancer: String,
    /// Direcciones RESP de los nodos, para la comprobación final (y la carga con --direct)
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// Segundos de carga
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Clientes concurrentes
    #[arg(long, default_value_t = 6)]
    workers: usize,
    /// Claves (k0, k1...)
    #[arg(long, default_value_t = 5)]
    keys: usize,
    /// Tope de operaciones
    #[arg(long, default_value_t = 5_000_000)]
    max_ops: u64,
    /// Los clientes también van directos a los nodos, no solo por el balanceador
    #[arg(long)]
    direct: bool,
    /// Fichero donde el script deja el número de nodos matados
    #[arg(long)]
    kills_file: Option<String>,
    /// Ninguna escritura puede confirmarse (dos de tres nodos muertos toda la carga)
    #[arg(long)]
    expect_no_acks: bool,
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn info_digest(node: &str) -> Option<String> {
    let info = Client::connect(node, TIMEOUT)
        .and_then(|mut c| c.command(&["INFO", "replication"]))
        .ok()?;
    match info {
        Value::Bulk(b) => String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| l.strip_prefix("digest:").map(str::to_string)),
        _ => None,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut addrs = vec![args.balancer.clone()];
    if args.direct {
        addrs.extend(args.nodes.iter().cloned());
    }
    let workload = Workload {
        addrs,
        clients: args.workers,
        keys: args.keys,
        duration: Duration::from_secs(args.duration),
        max_ops: args.max_ops,
        del_ratio: 0.05,
        timeout: TIMEOUT,
    };
    let rec = record(&workload, Instant::now(), &AtomicBool::new(false));
    let started = Instant::now();
    let violations = check(&rec.history);
    let check_time = started.elapsed();
    let mut problems: Vec<String> = violations.iter().map(ToString::to_string).collect();
    if args.expect_no_acks && rec.acknowledged_writes() > 0 {
        problems.push(format!(
            "{} escrituras confirmadas sin mayoría",
            rec.acknowledged_writes()
        ));
    }

    // Estado final: todos los nodos al día y con el mismo resumen.
    let deadline = Instant::now() + Duration::from_secs(90);
    for node in &args.nodes {
        loop {
            let ok = Client::connect(node, TIMEOUT)
                .and_then(|mut c| c.command(&["PING"]))
                .is_ok_and(|v| v == Value::Simple("PONG".into()));
            if ok {
                break;
            }
            if Instant::now() > deadline {
                bail!("el nodo {node} no volvió a estar al día en 90 s");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let converged = loop {
        let digests: Vec<Option<String>> = args.nodes.iter().map(|n| info_digest(n)).collect();
        if digests.iter().all(|d| d.is_some() && *d == digests[0]) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        thread::sleep(Duration::from_millis(200));
    };
    if !converged {
        problems.push("los nodos no convergieron al mismo resumen en 30 s".into());
    }
    let kills = args
        .kills_file
        .as_deref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let failed_writes = rec
        .history
        .iter()
        .filter(|o| {
            o.call != tests::linearizability::Call::Get
                && o.outcome == tests::linearizability::Outcome::Unknown
        })
        .count();
    println!("{}", rec.summary(kills, problems.len()));
    println!(
        "(escrituras sin confirmar: {failed_writes}; comprobado en {check_time:.1?}; réplicas convergidas: {})",
        if converged { "sí" } else { "no" }
    );
    for p in problems.iter().take(5) {
        println!("{p}");
    }
    if !problems.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
