//! `servidor` del problema 9: el balanceador, un nodo del almacén replicado o la demostración
//! en una sola terminal (balanceador + nodos como procesos hijos).

use std::io::IsTerminal;
use std::net::TcpListener;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::shutdown::install_signal_handler;
use common::Shutdown;
use problema9::balanceador::{self, BalancerArgs, DEFAULT_PORT};
use problema9::demo::{self, DemoArgs};
use problema9::nodo::{self, NodeArgs};

/// Almacén clave-valor replicado (RESP2) tras un balanceador; sin orden, la demostración.
///
/// Sin orden arranca la demostración: el balanceador (clientes en 8009, control en 8019) y tres
/// nodos (procesos hijos), con las mismas opciones que `servidor demo`.
#[derive(Parser)]
#[command(
    name = "problema9",
    version,
    args_conflicts_with_subcommands = true,
    mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)),
    mut_subcommand("balanceador", |c| c.mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT))),
    mut_subcommand("demo", |c| c.mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Subcommand)]
enum Command {
    /// El balanceador TCP (clientes en 8009, control en 8019)
    Balanceador(BalancerArgs),
    /// Un nodo del almacén replicado (RESP para clientes, JSON lines para pares)
    Nodo(NodeArgs),
    /// Balanceador y N nodos en una terminal, con órdenes para matarlos y rearrancarlos
    Demo(DemoArgs),
}

pub(crate) fn main() {
    if let Err(e) = run(common::ayuda::parse::<Cli>()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Abre un puerto del nodo con la misma cola de `listen` que los demás servidores
/// ([`common::cli::DEFAULT_BACKLOG`]).
fn bind(host: &str, port: u16) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind((host, port)).with_context(|| {
        format!(
            "no se pudo escuchar en {}",
            common::cli::host_port(host, port)
        )
    })?;
    common::cli::set_backlog(&listener, common::cli::DEFAULT_BACKLOG);
    Ok(listener)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Demo(cli.demo));
    // La demostración deja la terminal para sus órdenes: el registro del balanceador va a un
    // fichero (el de cada nodo, al suyo: los lanza ella).
    match &command {
        Command::Demo(args) => demo::log_to_file(&args.config().log_dir.join("balanceador.log"))?,
        _ => common::init_logging(),
    }
    let shutdown = Shutdown::new();
    install_signal_handler(&shutdown).context("no se pudo instalar el manejador de señales")?;
    match command {
        Command::Balanceador(args) => {
            let (clients, control) = args.bind()?;
            println!("escuchando en {}", clients.local_addr()?);
            println!("escuchando en {} (control)", control.local_addr()?);
            balanceador::run(clients, control, args.config(), shutdown)?;
        }
        Command::Nodo(args) => {
            // El directorio de datos se comprueba antes de `escuchando en` (issue 16).
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("no se puede usar {}", args.data_dir.display()))?;
            let clients = bind(&args.host, args.port)?;
            let peers = bind(&args.host, args.peer_port)?;
            println!("escuchando en {}", clients.local_addr()?);
            println!("escuchando en {} (pares)", peers.local_addr()?);
            nodo::run(clients, peers, args.config(), shutdown)?;
        }
        Command::Demo(args) => {
            let (clients, control) = args.balancer.bind()?;
            let stdin = std::io::stdin();
            let config = demo::DemoConfig {
                prompt: stdin.is_terminal(),
                ..args.config()
            };
            let input = std::io::BufReader::new(stdin);
            demo::run(clients, control, config, shutdown, input, std::io::stdout())?;
        }
    }
    Ok(())
}
