//! `servidor` del problema 3: el chat de una sala. Toda la lógica está en la biblioteca.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use problema3::protocolo;

/// Chat de una sala para muchos clientes: cada línea que uno escribe la reciben todos.
#[derive(Parser, Debug)]
#[command(name = "problema3", version, mut_arg("port", |a| common::ayuda::default_port(a, problema3::DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    server: common::ServerArgs,
    /// Longitud máxima de una línea del cliente, en bytes
    #[arg(long, value_name = "BYTES", default_value_t = protocolo::DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
    /// Mensajes en la cola de salida de cada cliente; si se llena, se le desconecta
    #[arg(long, value_name = "N", default_value_t = protocolo::DEFAULT_QUEUE_MESSAGES)]
    queue_messages: usize,
    /// Mensajes por segundo sostenidos que se admiten de cada cliente
    #[arg(long, value_name = "N", default_value_t = protocolo::DEFAULT_RATE_PER_SEC)]
    rate_limit: f64,
    /// Mensajes seguidos que se admiten de golpe (ráfaga)
    #[arg(long, value_name = "N", default_value_t = protocolo::DEFAULT_RATE_BURST)]
    rate_burst: u32,
    /// Mensajes rechazados seguidos por ritmo tras los que se desconecta al cliente
    #[arg(long, value_name = "N", default_value_t = protocolo::DEFAULT_FLOOD_STRIKES)]
    flood_strikes: u32,
    /// Segundos para elegir un nombre válido
    #[arg(long, value_name = "SEGUNDOS", default_value_t = protocolo::DEFAULT_HANDSHAKE_TIMEOUT.as_secs())]
    handshake_timeout: u64,
    #[command(flatten)]
    pause: common::cli::PauseArgs,
}

fn main() {
    common::init_logging();
    if let Err(e) = run(common::ayuda::parse::<Args>()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let (listener, shutdown) = args.server.start(problema3::DEFAULT_PORT)?;
    let config = problema3::ServerConfig {
        max_connections: args.server.max_connections,
        max_line_bytes: args.max_line_bytes,
        queue_messages: args.queue_messages,
        rate_per_sec: args.rate_limit,
        rate_burst: args.rate_burst,
        flood_strikes: args.flood_strikes,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        pause: args.pause.pause(),
        ..problema3::ServerConfig::default()
    };
    problema3::run(listener, config, shutdown).context("el servidor falló")?;
    Ok(())
}
