//! `cliente` del problema 6: conecta con el chat, muestra lo que llega y envía lo que se
//! escribe. La lógica es la del cliente del problema 3 (véase `problema6::cliente`).

use std::io::BufReader;

use clap::Parser;
use problema6::cliente::{self, Outcome};
use problema6::DEFAULT_PORT;

/// Cliente del chat con salas: escriba líneas para hablar en su sala, `/help` para ver las
/// órdenes y `/quit` para salir.
#[derive(Parser)]
#[command(name = "problema6", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
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
    let stream = match args.client.connect(DEFAULT_PORT, "problema6") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let input = BufReader::new(std::io::stdin());
    match cliente::run(stream, args.name.as_deref(), input, std::io::stdout()) {
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
