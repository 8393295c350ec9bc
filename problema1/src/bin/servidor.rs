//! `servidor` del problema 1: escucha, responde a cada mensaje y cierra la conexión.

use clap::Parser;
use problema1::protocolo::{DEFAULT_MAX_MESSAGE, DEFAULT_TIMEOUT};
use problema1::{ServerConfig, DEFAULT_PORT};

/// Servidor TCP básico: recibe una línea y responde que la recibió.
#[derive(Parser)]
#[command(name = "problema1", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    server: common::ServerArgs,
    /// Atender una sola conexión y terminar (como el ejercicio original)
    #[arg(long)]
    once: bool,
    /// Longitud máxima del mensaje, en bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE)]
    max_line: usize,
    /// Segundos que se espera el mensaje del cliente (en total, no por lectura)
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_TIMEOUT.as_secs())]
    timeout: u64,
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
        max_message: args.max_line,
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        pause: args.pause.pause(),
        max_connections: args.server.max_connections,
        once: args.once,
    };
    problema1::run(listener, config, shutdown)?;
    Ok(())
}
