//! `servidor` del problema 8: tres en raya con emparejamiento, espectadores y juego limpio.

use anyhow::Context;
use clap::Parser;
use problema8::protocolo::{
    parse_duration, DEFAULT_MAX_LINE, DEFAULT_OUTBOX, DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT,
};
use problema8::{ServerConfig, DEFAULT_PORT};
use std::time::Duration;

/// Servidor de tres en raya: PLAY, MOVE 1-9, LIST, WATCH, REMATCH, SCORES (véase HELP).
#[derive(Parser)]
#[command(name = "problema8", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    server: common::ServerArgs,
    // Los valores por omisión en texto son los de `protocolo::DEFAULT_GRACE` y
    // `protocolo::DEFAULT_IDLE_TIMEOUT`.
    /// Plazo para volver tras una desconexión antes de perder por abandono (10s, 500ms, 2m)
    #[arg(long, value_name = "DURACIÓN", value_parser = parse_duration, default_value = "10s")]
    grace: Duration,
    /// Tiempo máximo por turno; quien se pase pierde (sin límite si no se da)
    #[arg(long, value_name = "DURACIÓN", value_parser = parse_duration)]
    turn_timeout: Option<Duration>,
    /// Tiempo sin recibir una orden completa tras el que se cierra una conexión (un goteo de bytes no lo renueva)
    #[arg(long, value_name = "DURACIÓN", value_parser = parse_duration, default_value = "3600s")]
    idle_timeout: Duration,
    /// Longitud máxima de una línea del cliente, en bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE)]
    max_line: usize,
    /// Mensajes pendientes por cliente antes de desconectarlo por lento
    #[arg(long, value_name = "N", default_value_t = DEFAULT_OUTBOX)]
    outbox: usize,
    /// Órdenes por segundo admitidas por conexión; las que pasen reciben `ERROR RATE_LIMITED`
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_LIMIT)]
    rate_limit: f64,
    /// Ráfaga de órdenes admitida por encima de `--rate-limit`
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_BURST)]
    rate_burst: u32,
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
        max_connections: args.server.max_connections,
        max_line_bytes: args.max_line,
        grace: args.grace,
        turn_timeout: args.turn_timeout,
        idle_timeout: args.idle_timeout,
        outbox_capacity: args.outbox,
        rate_limit: args.rate_limit,
        rate_burst: args.rate_burst,
        ..ServerConfig::default()
    };
    problema8::run(listener, config, shutdown).context("el servidor falló")?;
    Ok(())
}
