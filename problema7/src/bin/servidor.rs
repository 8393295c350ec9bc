//! `servidor` del problema 7: el proxy HTTP. Toda la lógica (también la traducción de las
//! opciones a la configuración) está en la biblioteca.

use anyhow::Context;
use clap::Parser;
use problema7::protocolo::DEFAULT_PORT;
use problema7::servidor::args::ProxyArgs;

/// Proxy HTTP/1.1: reenvío (forma absoluta), túneles CONNECT, modo inverso (--upstream),
/// reescritura de cabeceras, registro de accesos y estadísticas en GET http://proxy.local/stats.
#[derive(Parser, Debug)]
#[command(name = "problema7", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Cli {
    #[command(flatten)]
    server: common::ServerArgs,
    #[command(flatten)]
    proxy: ProxyArgs,
}

fn main() {
    common::init_logging();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = common::ayuda::parse::<Cli>();
    let config = cli.proxy.to_config(cli.server.max_connections)?;
    let listener = cli.server.listen(DEFAULT_PORT)?;
    let addr = listener
        .local_addr()
        .context("no se pudo leer la dirección local")?;
    let stats_listener = match cli.proxy.stats_port {
        Some(port) => Some(
            std::net::TcpListener::bind((cli.server.host.as_str(), port)).map_err(|e| {
                anyhow::anyhow!(
                    "no se pudo escuchar en el puerto de estadísticas {port}: {}",
                    common::net::describe_io_error(&e)
                )
            })?,
        ),
        None => None,
    };
    println!("escuchando en {addr}");
    if let Some(l) = &stats_listener {
        let a = l
            .local_addr()
            .context("no se pudo leer la dirección local")?;
        println!("estadísticas: escuchando en {a}");
    }
    let shutdown = common::Shutdown::new();
    common::shutdown::install_signal_handler(&shutdown)
        .context("no se pudo instalar el manejador de señales")?;
    problema7::run_with_stats(listener, stats_listener, config, shutdown)?;
    Ok(())
}
