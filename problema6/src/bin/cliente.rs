//! `cliente` del problema 6: conecta con el chat, muestra lo que llega y envía lo que se
//! escribe. La lógica y el código de salida son los del cliente del problema 3 (véase
//! `problema6::cliente`).

use std::io::BufReader;

use clap::Parser;
use common::exit::Failure;
use problema6::cliente;
use problema6::DEFAULT_PORT;

/// Cliente del chat con salas: escriba líneas para hablar en su sala, `/help` para ver las
/// órdenes y `/quit` para salir.
#[derive(Parser)]
#[command(
    name = "problema6",
    version,
    mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)),
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
    common::exit::finish(run(&args));
}

fn run(args: &Args) -> Result<(), Failure> {
    let stream = args.client.connect(DEFAULT_PORT, "problema6")?;
    let input = BufReader::new(std::io::stdin());
    let outcome = cliente::run(stream, args.name.as_deref(), input, std::io::stdout());
    cliente::conclude(outcome)
}
