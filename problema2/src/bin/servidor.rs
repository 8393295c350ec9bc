//! `servidor` del problema 2: eco por TCP y UDP en el mismo puerto.

use std::net::UdpSocket;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use problema2::servidor::DEFAULT_IDLE_TIMEOUT;
use problema2::{ServerConfig, DEFAULT_PORT};

/// Servidor de eco (RFC 862): devuelve cada byte que recibe, por TCP y por UDP.
#[derive(Parser)]
#[command(name = "problema2", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    server: common::ServerArgs,
    /// Segundos de inactividad tras los que se cierra una conexión TCP
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs())]
    timeout: u64,
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
    let tcp = args.server.listen(DEFAULT_PORT)?;
    let addr = tcp.local_addr().context("dirección local")?;
    // El UDP usa el mismo puerto que obtuvo el TCP (importa con --port 0).
    let udp =
        UdpSocket::bind(addr).with_context(|| format!("no se pudo escuchar por UDP en {addr}"))?;
    println!("escuchando en {addr} (TCP)");
    println!("escuchando en {addr} (UDP)");
    let shutdown = common::Shutdown::new();
    common::shutdown::install_signal_handler(&shutdown)
        .context("no se pudo instalar el manejador de Ctrl-C")?;
    let config = ServerConfig {
        max_connections: args.server.max_connections,
        idle_timeout: Duration::from_secs(args.timeout.max(1)),
    };
    problema2::run(tcp, udp, config, shutdown)?;
    Ok(())
}
