//! `servidor` del problema 4: sirve un directorio por HTTP/1.1.

use std::path::PathBuf;

use clap::Parser;
use common::http::{DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_START_LINE};
use problema4::protocolo::{DEFAULT_MAX_DISCARD, DEFAULT_TIMEOUT};
use problema4::{ServerConfig, DEFAULT_PORT};

/// Servidor HTTP/1.1 de ficheros estáticos (GET y HEAD, listados, rangos, 304).
#[derive(Parser)]
#[command(name = "problema4", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    server: common::ServerArgs,
    /// Directorio que se sirve (nada fuera de él es accesible)
    #[arg(long, value_name = "DIRECTORIO", default_value = ".")]
    dir: PathBuf,
    /// Segundos para recibir cada petición completa; también la inactividad máxima de una
    /// conexión persistente
    #[arg(long, value_name = "SEGUNDOS", default_value_t = DEFAULT_TIMEOUT.as_secs())]
    timeout: u64,
    /// Longitud máxima de la línea de petición, en bytes (414 al pasarla)
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_START_LINE)]
    max_request_line: usize,
    /// Bytes máximos de todas las cabeceras (431 al pasarlos)
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// Número máximo de cabeceras (431 al pasarlo)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_HEADERS)]
    max_headers: usize,
    /// Cuerpo máximo que se descarta en un GET antes de cerrar la conexión, en bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_DISCARD)]
    max_discard: u64,
    /// Sirve y lista también los ficheros ocultos (los que empiezan por `.`, como `.git/`);
    /// sin esta opción reciben 404
    #[arg(long)]
    hidden: bool,
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
    let mut config = ServerConfig::new(args.dir);
    config.timeout = std::time::Duration::from_secs(args.timeout.max(1));
    config.limits.max_start_line = args.max_request_line;
    config.limits.max_header_bytes = args.max_header_bytes;
    config.limits.max_headers = args.max_headers;
    config.max_discard = args.max_discard;
    config.max_connections = args.server.max_connections;
    config.hidden = args.hidden;
    // Todo se comprueba antes de escuchar: la línea `escuchando en` significa "listo".
    let server = problema4::Server::new(config)?;
    let (listener, shutdown) = args.server.start(DEFAULT_PORT)?;
    server.run(listener, shutdown)?;
    Ok(())
}
