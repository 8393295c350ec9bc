//! `cliente` del problema 5: sube, descarga, lista y borra ficheros. Toda la lógica está en
//! la biblioteca (`problema5::cliente`).

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use common::exit::Failure;
use common::progress::{format_bytes, Bar};
use common::ClientArgs;
use problema5::cliente::default_remote_name;
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

pub(crate) fn main() {
    common::init_logging();
    let args = common::ayuda::parse::<Args>();
    common::exit::finish(run(args))
}

/// Ejecuta la orden; los errores llevan ya su código de salida (véase `common::exit` y la
/// conversión de `ClientError` en `problema5::cliente`).
fn run(args: Args) -> Result<(), Failure> {
    // El nombre se valida antes de conectar: un error local no necesita servidor.
    if let Order::Upload {
        file, name: None, ..
    } = &args.command
    {
        if default_remote_name(file).is_none() {
            return Err(Failure::refused(format!(
                "{} no tiene un nombre de fichero utilizable; indique uno con --as NOMBRE",
                file.display()
            )));
        }
    }
    let stream = args.client.connect(DEFAULT_PORT, "problema5")?;
    let mut client = Client::new(stream).map_err(|e| Failure::io("preparando la conexión", &e))?;
    // `list` puede escribir mucho: con `| head` la tubería se cierra y el cliente termina en
    // silencio (`Failure::stdout`) en vez de morir con el pánico de `println!`.
    let mut out = io::stdout().lock();
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
            let mut bar = Bar::new(format!("subiendo {name}"));
            let t = if resume || digest_first {
                client.upload_digest_first(&file, &name, resume, &mut bar)?
            } else {
                client.upload_single_pass(&file, &name, &mut bar)?
            };
            writeln!(
                out,
                "subido {} ({}, SHA-256 {}){}",
                t.name,
                format_bytes(t.size),
                t.sha256,
                resumed(t.resumed_from)
            )
            .map_err(|e| Failure::stdout(&e))?;
        }
        Order::Download {
            name,
            output,
            resume,
        } => {
            let dest = output.unwrap_or_else(|| PathBuf::from(&name));
            let mut bar = Bar::new(format!("descargando {name}"));
            let t = client.download(&name, &dest, resume, &mut bar)?;
            if let Some(bytes) = t.discarded_partial {
                let _ = writeln!(
                    io::stderr(),
                    "aviso: el parcial local ({}) era más largo que el fichero remoto; se descartó y se descargó desde el principio",
                    format_bytes(bytes)
                );
            }
            writeln!(
                out,
                "descargado {} en {} ({}, SHA-256 {}){}",
                t.name,
                dest.display(),
                format_bytes(t.size),
                t.sha256,
                resumed(t.resumed_from)
            )
            .map_err(|e| Failure::stdout(&e))?;
        }
        Order::List => {
            let entries = client.list()?;
            let width = entries
                .iter()
                .map(|e| e.name.chars().count())
                .max()
                .unwrap_or(0);
            for e in &entries {
                writeln!(
                    out,
                    "{:<width$}  {:>12}  {}  {}",
                    e.name,
                    e.size,
                    e.sha256,
                    format_utc(e.modified)
                )
                .map_err(|e| Failure::stdout(&e))?;
            }
            if entries.is_empty() {
                let _ = writeln!(io::stderr(), "(no hay ficheros)");
            }
        }
        Order::Delete { name } => {
            client.delete(&name)?;
            writeln!(out, "borrado {name}").map_err(|e| Failure::stdout(&e))?;
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
