//! `servidor` del problema 1: escucha, responde a cada mensaje y cierra la conexión.
//!
//! Aquí, a la vista, el primer paso del ciclo de vida del socket: `bind`. El resto (`accept`,
//! `read`, `write`, `close`) está en `problema1::servidor`.

use std::net::TcpListener;

use anyhow::Context;
use clap::Parser;
use common::cli::BindError;
use common::net::describe_io_error;
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
    let port = args.server.port.unwrap_or(DEFAULT_PORT);
    // socket(2) + bind(2) + listen(2): reserva HOST:PUERTO; desde aquí el núcleo completa el
    // saludo TCP de cada cliente que llega y lo deja en una cola hasta que `accept` lo recoja.
    let listener = TcpListener::bind((args.server.host.as_str(), port)).map_err(|e| BindError {
        addr: args.server.addr(DEFAULT_PORT),
        reason: describe_io_error(&e),
    })?;
    // listen(2) otra vez, con una cola de `--backlog` conexiones en lugar de las 128 de `std`.
    common::cli::set_backlog(&listener, args.server.backlog);
    let addr = listener.local_addr().map_err(|e| {
        anyhow::anyhow!(
            "no se pudo leer la dirección de escucha: {}",
            describe_io_error(&e)
        )
    })?;
    // La línea que esperan los scripts y las pruebas (con `--port 0`, el puerto real).
    println!("escuchando en {addr}");
    // Ctrl-C y SIGTERM disparan el apagado ordenado.
    let shutdown = common::Shutdown::new();
    common::shutdown::install_signal_handler(&shutdown)
        .context("no se pudo instalar el manejador de Ctrl-C")?;
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
