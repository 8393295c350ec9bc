//! `cliente` del problema 9: órdenes al almacén a través del balanceador, o su estado.

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::ClientArgs;
use problema9::balanceador::{DEFAULT_CONTROL_PORT, DEFAULT_PORT};
use problema9::cliente::{self, format_value, Client};
use problema9::resp::Value;

/// Cliente del almacén clave-valor replicado: SET, GET y DEL a través del balanceador, o su
/// estado (sin orden: sesión interactiva).
#[derive(Parser)]
#[command(name = "problema9", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Cli {
    #[command(flatten)]
    server: ClientArgs,
    /// Puerto de control del balanceador (para `status`)
    #[arg(long, value_name = "PUERTO", default_value_t = DEFAULT_CONTROL_PORT)]
    control_port: u16,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Guarda un valor
    Set {
        /// La clave
        #[arg(value_name = "CLAVE")]
        key: String,
        /// El valor
        #[arg(value_name = "VALOR")]
        value: String,
    },
    /// Lee un valor
    Get {
        /// La clave
        #[arg(value_name = "CLAVE")]
        key: String,
    },
    /// Borra claves
    Del {
        /// Las claves
        #[arg(value_name = "CLAVE", required = true)]
        keys: Vec<String>,
    },
    /// Estado del balanceador y de cada nodo (versiones, retraso)
    Status,
}

pub(crate) fn main() {
    common::init_logging();
    if let Err(e) = run(common::ayuda::parse::<Cli>()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let timeout = cli.server.timeout();
    if let Some(Command::Status) = cli.command {
        let control = common::cli::host_port(&cli.server.host, cli.control_port);
        print!("{}", cliente::status(&control, timeout)?);
        return Ok(());
    }
    let addr = cli.server.addr(DEFAULT_PORT);
    let mut client = Client::connect(&addr, timeout)?;
    let args: Vec<String> = match cli.command {
        None => {
            let stdin = std::io::stdin();
            let prompt = stdin.is_terminal();
            cliente::interactive(&mut client, stdin.lock(), std::io::stdout(), prompt)
                .context("sesión interrumpida")?;
            return Ok(());
        }
        Some(Command::Set { key, value }) => vec!["SET".into(), key, value],
        Some(Command::Get { key }) => vec!["GET".into(), key],
        Some(Command::Del { keys }) => std::iter::once("DEL".to_string()).chain(keys).collect(),
        Some(Command::Status) => return Ok(()),
    };
    match client.command(&args)? {
        Value::Error(e) => anyhow::bail!("el servidor respondió: {e}"),
        Value::Bulk(b) => println!("{}", String::from_utf8_lossy(&b)),
        other => println!("{}", format_value(&other)),
    }
    Ok(())
}
