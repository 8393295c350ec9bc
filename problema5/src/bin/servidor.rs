//! `servidor` del problema 5: guarda y sirve ficheros con SHA-256, reanudación y escrituras
//! atómicas. Toda la lógica está en la biblioteca (`problema5::servidor`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::ServerArgs;
use problema5::protocolo::{DEFAULT_MAX_SIZE, DEFAULT_PORT};
use problema5::servidor::{
    parse_byte_size, ServerConfig, DEFAULT_DIR, DEFAULT_IDLE_TIMEOUT, DEFAULT_IO_TIMEOUT,
};

/// Servidor de ficheros con SHA-256, reanudación y escrituras atómicas (UPLOAD, DOWNLOAD,
/// LIST, DELETE, QUIT).
#[derive(Parser, Debug)]
#[command(name = "problema5", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Directorio donde se guardan los ficheros (se crea si falta)
    #[arg(long, value_name = "DIRECTORIO", default_value = DEFAULT_DIR)]
    dir: PathBuf,
    /// Tamaño máximo de cada fichero (bytes; admite sufijos K, M, G, T)
    #[arg(long, value_name = "TAMAÑO", value_parser = parse_byte_size, default_value_t = DEFAULT_MAX_SIZE)]
    max_size: u64,
    /// Cuota total del directorio (bytes; admite sufijos K, M, G, T); sin cuota si se omite
    #[arg(long, value_name = "TAMAÑO", value_parser = parse_byte_size)]
    quota: Option<u64>,
    /// Espacio que se deja siempre libre en el disco (bytes; admite sufijos K, M, G, T): una
    /// subida que lo invadiría se rechaza con NO_SPACE antes de empezar
    #[arg(long, value_name = "TAMAÑO", value_parser = parse_byte_size, default_value_t = 0)]
    min_free: u64,
    /// Segundos, en total, para esperar la siguiente orden y recibirla entera (un goteo de
    /// bytes no los renueva)
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Segundos de espera de cada lectura o escritura en mitad de una transferencia (y plazo
    /// total de la línea SHA256 tras el cuerpo)
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_IO_TIMEOUT.as_secs())]
    io_timeout: u64,
}

fn main() -> ExitCode {
    common::init_logging();
    match run(common::ayuda::parse::<Args>()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("servidor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    // El directorio se comprueba antes de la línea `escuchando en` (issue 16).
    problema5::Store::open(&args.dir, args.max_size, args.quota)?;
    let (listener, shutdown) = args.server.start(DEFAULT_PORT)?;
    let config = ServerConfig {
        dir: args.dir,
        max_size: args.max_size,
        quota: args.quota,
        min_free: args.min_free,
        max_connections: args.server.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        io_timeout: Duration::from_secs(args.io_timeout.max(1)),
    };
    problema5::run(listener, config, shutdown)?;
    Ok(())
}
