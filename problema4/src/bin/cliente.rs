//! `cliente` del problema 4: pide URL o rutas por HTTP/1.1 y muestra o guarda los cuerpos.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Parser;
use problema4::cliente::ClientConfig;
use problema4::DEFAULT_PORT;

/// Cliente HTTP/1.1: GET (o HEAD con -I) de una o varias URL por la misma conexión.
#[derive(Parser)]
#[command(name = "problema4", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    client: common::ClientArgs,
    /// URL (http://host:puerto/ruta) o rutas (/ruta, en --host/--port); por omisión, /
    #[arg(value_name = "URL")]
    urls: Vec<String>,
    /// Pedir solo la cabecera (HEAD) y mostrarla
    #[arg(short = 'I', long = "head")]
    head: bool,
    /// Mostrar también la línea de estado y las cabeceras
    #[arg(short = 'i', long = "include")]
    include: bool,
    /// Guardar el cuerpo en FICHERO (con barra de progreso si stderr es una terminal)
    #[arg(short = 'o', long = "output", value_name = "FICHERO")]
    output: Option<PathBuf>,
}

pub(crate) fn main() {
    let args = common::ayuda::parse::<Args>();
    common::init_logging();
    let progress = args.output.is_some() && std::io::stderr().is_terminal();
    let config = ClientConfig {
        urls: args.urls,
        host: args.client.host.clone(),
        port: args.client.port.unwrap_or(DEFAULT_PORT),
        head_only: args.head,
        include_headers: args.include,
        output: args.output,
        timeout: args.client.timeout(),
        progress,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    if let Err(e) = problema4::cliente::run(&config, &mut out, &mut err) {
        use std::io::Write;
        let _ = out.flush();
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
