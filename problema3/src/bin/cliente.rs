//! `cliente` del problema 3: conecta con el chat, muestra lo que llega y envía lo que se
//! escribe. Toda la lógica está en la biblioteca.

use std::io::BufReader;

use clap::Parser;
use problema3::Outcome;

/// Cliente del chat de una sala: escriba líneas para hablar y `/quit` para salir.
#[derive(Parser, Debug)]
#[command(name = "problema3", version, mut_arg("port", |a| common::ayuda::default_port(a, problema3::DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    client: common::ClientArgs,
    /// Nombre con el que entrar (si no se da, el servidor lo pregunta)
    #[arg(long, value_name = "NOMBRE")]
    name: Option<String>,
}

pub(crate) fn main() {
    common::init_logging();
    let args = common::ayuda::parse::<Args>();
    let stream = match args.client.connect(problema3::DEFAULT_PORT, "problema3") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let input = BufReader::new(std::io::stdin());
    match problema3::cliente::run(stream, args.name.as_deref(), input, std::io::stdout()) {
        Ok(Outcome::Quit) => {}
        Ok(Outcome::ServerClosed { announced: true }) => {
            eprintln!("el servidor se ha apagado; hasta pronto");
        }
        Ok(Outcome::ServerClosed { announced: false }) => {
            eprintln!("error: el servidor cerró la conexión");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
