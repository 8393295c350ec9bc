//! `cliente` del problema 4: pide URL o rutas por HTTP/1.1 y muestra o guarda los cuerpos.

use std::path::PathBuf;

use clap::Parser;
use common::exit::Failure;
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
    let config = ClientConfig {
        urls: args.urls,
        host: args.client.host.clone(),
        port: args.client.port.unwrap_or(DEFAULT_PORT),
        head_only: args.head,
        include_headers: args.include,
        // La barra solo acompaña a `-o` (con el cuerpo en stdout se mezclaría con él) y solo
        // se dibuja si stderr es una terminal.
        progress: args.output.is_some(),
        output: args.output,
        timeout: args.client.timeout(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = problema4::cliente::run(&config, &mut out).map_err(Failure::from);
    // Lo que quede en el buffer sale antes del mensaje de error.
    drop(out);
    common::exit::finish(result)
}
