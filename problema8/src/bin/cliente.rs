//! `cliente` del problema 8: jugar por teclado, mirar una partida o jugar solo (`--bot`).

use anyhow::Context;
use clap::Parser;
use problema8::cliente::{run_bot, run_interactive, run_watch, BotKind};
use problema8::protocolo::{is_valid_name, is_valid_word, PlayTarget};
use problema8::DEFAULT_PORT;

/// Cliente de tres en raya: dibuja el tablero y lee el número de casilla (1-9).
#[derive(Parser)]
#[command(name = "problema8", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    client: common::ClientArgs,
    /// Su nombre (de 1 a 16 letras, cifras, `_` o `-`)
    #[arg(long, value_name = "NOMBRE")]
    name: Option<String>,
    /// Jugar contra la máquina (minimax perfecto)
    #[arg(long, conflicts_with = "code")]
    cpu: bool,
    /// Partida privada con quien use el mismo código
    #[arg(long, value_name = "CÓDIGO")]
    code: Option<String>,
    /// Jugar solo: `random` o `aleatorio` (por omisión), `perfect` o `perfecto`
    #[arg(long, value_name = "TIPO", value_enum, num_args = 0..=1, default_missing_value = "random")]
    bot: Option<BotKind>,
    /// Partidas que juega el bot antes de despedirse
    #[arg(long, value_name = "N", default_value_t = 1)]
    games: u32,
    /// Mirar la partida con este número (véalas con LIST) hasta que termine
    #[arg(long, value_name = "PARTIDA", conflicts_with_all = ["bot", "cpu", "code"])]
    watch: Option<u64>,
}

pub(crate) fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = common::ayuda::parse::<Args>();
    common::init_logging();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("jugador{}", std::process::id() % 10_000));
    if !is_valid_name(&name) {
        anyhow::bail!("nombre no válido `{name}`: de 1 a 16 letras ASCII, cifras, `_` o `-`");
    }
    let target = match (&args.code, args.cpu) {
        (Some(code), _) if !is_valid_word(code) => {
            anyhow::bail!("código no válido `{code}`: de 1 a 16 letras ASCII, cifras, `_` o `-`")
        }
        (Some(code), _) => PlayTarget::Code(code.clone()),
        (None, true) => PlayTarget::Cpu,
        (None, false) => PlayTarget::Queue,
    };
    let stream = args.client.connect(DEFAULT_PORT, "problema8")?;
    let mut stdout = std::io::stdout();
    if let Some(game) = args.watch {
        // Mirar es esperar: sin límite de tiempo entre eventos.
        stream.set_read_timeout(None).context("socket")?;
        run_watch(stream, game, &mut stdout)?;
    } else if let Some(kind) = args.bot {
        stream.set_read_timeout(None).context("socket")?;
        run_bot(stream, &name, target, kind, args.games, &mut stdout)?;
    } else {
        // El rival puede tardar lo que quiera: sin límite de espera entre eventos.
        stream.set_read_timeout(None).context("socket")?;
        println!(
            "Conectado. Escriba el número de una casilla (1-9), o HELP, LIST, REMATCH, QUIT..."
        );
        run_interactive(stream, &name, Some(target), std::io::stdin().lock(), stdout)?;
    }
    Ok(())
}
