//! `cliente` del problema 9: órdenes al almacén a través del balanceador, o su estado.

use std::io::{IsTerminal, Write};

use clap::{Parser, Subcommand};
use common::exit::Failure;
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
    #[arg(long, global = true, value_name = "PUERTO", default_value_t = DEFAULT_CONTROL_PORT)]
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
    common::exit::finish(run(common::ayuda::parse::<Cli>()));
}

/// Ejecuta la orden. Los códigos de salida (README, «Códigos de salida»): 0 bien; 1 el
/// servidor respondió con un error (`-ERR`, `-NOQUORUM`...); 3 no se pudo conectar; 4 la
/// conexión se cortó o no respondió a tiempo.
fn run(cli: Cli) -> Result<(), Failure> {
    let timeout = cli.server.timeout();
    let mut out = std::io::stdout().lock();
    if let Some(Command::Status) = cli.command {
        let control = common::cli::host_port(&cli.server.host, cli.control_port);
        let table = cliente::status(&control, timeout)?;
        return out
            .write_all(table.as_bytes())
            .map_err(|e| Failure::stdout(&e));
    }
    let addr = cli.server.addr(DEFAULT_PORT);
    let mut client = Client::connect(&addr, timeout)?;
    let args: Vec<String> = match cli.command {
        None => {
            let stdin = std::io::stdin();
            let prompt = stdin.is_terminal();
            cliente::interactive(&mut client, stdin.lock(), out, prompt)?;
            return Ok(());
        }
        Some(Command::Set { key, value }) => vec!["SET".into(), key, value],
        Some(Command::Get { key }) => vec!["GET".into(), key],
        Some(Command::Del { keys }) => std::iter::once("DEL".to_string()).chain(keys).collect(),
        Some(Command::Status) => return Ok(()),
    };
    let written = match client.command(&args)? {
        // `-NOQUORUM` también es 1: la escritura pudo quedar hecha o no (véase el README).
        Value::Error(e) => return Err(Failure::refused(format!("el servidor respondió: {e}"))),
        // El valor tal cual, byte a byte (puede no ser texto), como `redis-cli` en una tubería.
        Value::Bulk(b) => out.write_all(&b).and_then(|()| out.write_all(b"\n")),
        other => writeln!(out, "{}", format_value(&other)),
    };
    written.map_err(|e| Failure::stdout(&e))
}
