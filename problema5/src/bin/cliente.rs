//! `cliente` del problema 5: sube, descarga, lista y borra ficheros. Toda la lógica está en
//! la biblioteca (`problema5::cliente`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::ClientArgs;
use problema5::cliente::default_remote_name;
use problema5::progreso::{format_bytes, Bar};
use problema5::protocolo::{format_utc, DEFAULT_PORT};
use problema5::Client;

/// Cliente de ficheros: sube, descarga, lista y borra ficheros con su SHA-256, y reanuda
/// transferencias cortadas.
#[derive(Parser, Debug)]
#[command(name = "problema5", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: Order,
}

#[derive(Subcommand, Debug)]
enum Order {
    /// Sube un fichero local (con SHA-256; solo se publica si llega entero y correcto)
    ///
    /// Por omisión lo lee una sola vez y envía el SHA-256 detrás de los bytes; con --continue o
    /// --digest-first lo calcula antes y lo anuncia en la orden (subida reanudable)
    Upload {
        /// El fichero local
        #[arg(value_name = "FICHERO")]
        file: PathBuf,
        /// Nombre en el servidor (por omisión, el del fichero local)
        #[arg(long = "as", value_name = "NOMBRE")]
        name: Option<String>,
        /// Reanuda una subida interrumpida del mismo fichero (implica --digest-first)
        #[arg(long = "continue")]
        resume: bool,
        /// Calcula el SHA-256 antes de enviar y lo anuncia en la orden: dos lecturas del
        /// fichero, pero si se corta el servidor guarda lo recibido para --continue
        #[arg(long = "digest-first")]
        digest_first: bool,
    },
    /// Descarga un fichero (se escribe en DESTINO.parcial y se renombra al comprobarlo)
    Download {
        /// Nombre en el servidor
        #[arg(value_name = "NOMBRE")]
        name: String,
        /// Dónde guardarlo (por omisión, el mismo nombre en el directorio actual)
        #[arg(short = 'o', long = "output", value_name = "RUTA")]
        output: Option<PathBuf>,
        /// Reanuda una descarga interrumpida desde RUTA.parcial
        #[arg(long = "continue")]
        resume: bool,
    },
    /// Lista los ficheros del servidor: nombre, tamaño, SHA-256 y fecha (UTC)
    List,
    /// Borra un fichero del servidor
    Delete {
        /// Nombre en el servidor
        #[arg(value_name = "NOMBRE")]
        name: String,
    },
}

pub(crate) fn main() -> ExitCode {
    common::init_logging();
    let args = common::ayuda::parse::<Args>();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cliente: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    // El nombre se valida antes de conectar: un error local no necesita servidor.
    if let Order::Upload {
        file, name: None, ..
    } = &args.command
    {
        if default_remote_name(file).is_none() {
            anyhow::bail!(
                "{} no tiene un nombre de fichero utilizable; indique uno con --as NOMBRE",
                file.display()
            );
        }
    }
    // El mensaje de `ConnectError` ya incluye el motivo: sin la cadena de causas, una línea.
    let stream = args
        .client
        .connect(DEFAULT_PORT, "problema5")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut client = Client::new(stream)?;
    match args.command {
        Order::Upload {
            file,
            name,
            resume,
            digest_first,
        } => {
            let name = name
                .or_else(|| default_remote_name(&file))
                .unwrap_or_default();
            let mut bar = Bar::if_terminal(format!("subiendo {name}"));
            let t = if resume || digest_first {
                client.upload_digest_first(&file, &name, resume, bar.as_mut())?
            } else {
                client.upload_single_pass(&file, &name, bar.as_mut())?
            };
            println!(
                "subido {} ({}, SHA-256 {}){}",
                t.name,
                format_bytes(t.size),
                t.sha256,
                resumed(t.resumed_from)
            );
        }
        Order::Download {
            name,
            output,
            resume,
        } => {
            let dest = output.unwrap_or_else(|| PathBuf::from(&name));
            let mut bar = Bar::if_terminal(format!("descargando {name}"));
            let t = client.download(&name, &dest, resume, bar.as_mut())?;
            if let Some(bytes) = t.discarded_partial {
                eprintln!(
                    "aviso: el parcial local ({}) era más largo que el fichero remoto; se descartó y se descargó desde el principio",
                    format_bytes(bytes)
                );
            }
            println!(
                "descargado {} en {} ({}, SHA-256 {}){}",
                t.name,
                dest.display(),
                format_bytes(t.size),
                t.sha256,
                resumed(t.resumed_from)
            );
        }
        Order::List => {
            let entries = client.list()?;
            let width = entries
                .iter()
                .map(|e| e.name.chars().count())
                .max()
                .unwrap_or(0);
            for e in &entries {
                println!(
                    "{:<width$}  {:>12}  {}  {}",
                    e.name,
                    e.size,
                    e.sha256,
                    format_utc(e.modified)
                );
            }
            if entries.is_empty() {
                eprintln!("(no hay ficheros)");
            }
        }
        Order::Delete { name } => {
            client.delete(&name)?;
            println!("borrado {name}");
        }
    }
    // Despedida ordenada; si falla, el trabajo ya está hecho.
    let _ = client.quit();
    Ok(())
}

fn resumed(from: u64) -> String {
    if from > 0 {
        format!(", reanudado desde el byte {from}")
    } else {
        String::new()
    }
}
