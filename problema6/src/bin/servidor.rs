//! `servidor` del problema 6: chat con salas, mensajes privados y salas persistentes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use problema6::protocolo::{
    DEFAULT_FLOOD_STRIKES, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_HISTORY, DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_ROOMS, DEFAULT_QUEUE_MESSAGES, DEFAULT_RATE_BURST, DEFAULT_RATE_PER_SEC,
    DEFAULT_ROOMS_FILE,
};
use problema6::{ServerConfig, DEFAULT_PORT};

/// Servidor de chat con salas: /create, /join, /leave, /rooms, /users, /msg, /nick, /topic.
#[derive(Parser)]
#[command(name = "problema6", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    server: common::ServerArgs,
    /// Fichero JSON donde se guarda la lista de salas (se escribe de forma atómica)
    #[arg(long, value_name = "FICHERO", default_value = DEFAULT_ROOMS_FILE)]
    rooms_file: PathBuf,
    /// Longitud máxima de una línea del cliente, en bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
    /// Mensajes de historial por sala que ve quien entra
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HISTORY)]
    history: usize,
    /// Máximo de salas (incluida general)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ROOMS)]
    max_rooms: usize,
    /// Mensajes por segundo sostenidos por cliente
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_PER_SEC)]
    rate_limit: f64,
    /// Ráfaga de mensajes admitida por cliente
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_BURST)]
    rate_burst: u32,
    /// Mensajes rechazados seguidos por ritmo antes de desconectar al cliente
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FLOOD_STRIKES)]
    flood_strikes: u32,
    /// Mensajes en la cola de salida de cada cliente antes de desconectarlo por lento
    #[arg(long, value_name = "N", default_value_t = DEFAULT_QUEUE_MESSAGES)]
    queue_messages: usize,
    /// Segundos para elegir nombre al conectar
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_HANDSHAKE_TIMEOUT.as_secs())]
    handshake_timeout: u64,
    #[command(flatten)]
    pause: common::cli::PauseArgs,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = common::ayuda::parse::<Args>();
    common::init_logging();
    let (listener, shutdown) = args.server.start(DEFAULT_PORT)?;
    let config = ServerConfig {
        max_line_bytes: args.max_line_bytes.max(1),
        max_connections: args.server.max_connections,
        queue_messages: args.queue_messages.max(1),
        handshake_timeout: Duration::from_secs(args.handshake_timeout.max(1)),
        pause: args.pause.pause(),
        rate_per_sec: args.rate_limit,
        rate_burst: args.rate_burst,
        flood_strikes: args.flood_strikes.max(1),
        history: args.history,
        max_rooms: args.max_rooms.max(1),
        rooms_file: args.rooms_file,
        ..ServerConfig::default()
    };
    problema6::run(listener, config, shutdown)?;
    Ok(())
}
