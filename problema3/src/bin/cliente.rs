//! `cliente` del problema 3: conecta con el chat, muestra lo que llega y envía lo que se
//! escribe. Toda la lógica está en la biblioteca.

use std::io::BufReader;

use clap::Parser;
use common::exit::{finish, Failure};

/// Cliente del chat de una sala: escriba líneas para hablar y `/quit` para salir.
#[derive(Parser, Debug)]
#[command(
    name = "problema3",
    version,
    mut_arg("port", |a| common::ayuda::default_port(a, problema3::DEFAULT_PORT)),
    mut_arg("timeout", |a| a.help(problema3::cliente::TIMEOUT_HELP))
)]
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
    finish(run(&args));
}

fn run(args: &Args) -> Result<(), Failure> {
    let stream = args.client.connect(problema3::DEFAULT_PORT, "problema3")?;
    let input = BufReader::new(std::io::stdin());
    let outcome = problema3::cliente::run(stream, args.name.as_deref(), input, std::io::stdout());
    problema3::cliente::conclude(outcome)
}
