//! `cliente` del problema 1: envía un mensaje al servidor e imprime la respuesta.

use clap::Parser;
use common::exit::{finish, say, Failure};
use problema1::protocolo::DEFAULT_GREETING;
use problema1::DEFAULT_PORT;

/// Cliente TCP básico: conecta, envía un mensaje, imprime la respuesta y termina.
#[derive(Parser)]
#[command(name = "problema1", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    client: common::ClientArgs,
    /// Mensaje a enviar (una línea)
    #[arg(value_name = "MENSAJE", default_value = DEFAULT_GREETING)]
    message: String,
}

pub(crate) fn main() {
    let args = common::ayuda::parse::<Args>();
    common::init_logging();
    finish(run(&args));
}

fn run(args: &Args) -> Result<(), Failure> {
    let stream = args.client.connect(DEFAULT_PORT, "problema1")?;
    let reply = problema1::cliente::exchange(&stream, &args.message)?;
    say(reply)
}
