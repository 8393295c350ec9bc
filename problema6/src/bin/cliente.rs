//! `cliente` del problema 6: conecta con el chat, muestra lo que llega y envía lo que se
//! escribe.

use std::io::BufReader;

use clap::Parser;
use problema6::cliente::{self, Ending};
use problema6::DEFAULT_PORT;

/// Cliente del chat con salas. Escriba /help una vez dentro para ver las órdenes.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    client: common::ClientArgs,
    /// Nombre con el que entrar (si no se da, se teclea cuando el servidor lo pida)
    #[arg(long)]
    name: Option<String>,
}

fn main() {
    let args = Args::parse();
    common::init_logging();
    let stream = match args.client.connect(DEFAULT_PORT, "problema6") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let input = BufReader::new(std::io::stdin());
    let mut output = std::io::stdout();
    match cliente::run(stream, input, &mut output, args.name.as_deref()) {
        Ok(Ending::Quit) => {}
        Ok(Ending::ServerClosed) => eprintln!("el servidor cerró la conexión"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
