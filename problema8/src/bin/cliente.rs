//! `cliente` del problema 8: jugar por teclado, mirar una partida o jugar solo (`--bot`).
//!
//! Códigos de salida (los de todo cliente, `common::exit`): 0 bien (también si el servidor
//! se despide al apagarse), 1 el servidor rechazó el nombre o la partida que mirar, 2 uso,
//! 3 no se pudo conectar, 4 la conexión se cortó sin despedida.

use std::io::{BufReader, Write};

use clap::Parser;
use common::exit::Failure;
use problema8::cliente::{
    run_bot, run_interactive, run_watch, BotKind, Patience, Player, TokenFile,
};
use problema8::protocolo::{is_valid_name, is_valid_token, is_valid_word, PlayTarget};
use problema8::DEFAULT_PORT;

/// Cliente de tres en raya: dibuja el tablero y lee el número de casilla (1-9).
#[derive(Parser)]
#[command(name = "problema8", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    client: common::ClientArgs,
    /// Su nombre (de 1 a 16 letras, cifras, `_` o `-`); con el mismo nombre se vuelve solo a la partida tras una caída
    #[arg(long, value_name = "NOMBRE", value_parser = name_arg)]
    name: Option<String>,
    /// Jugar contra la máquina (minimax perfecto)
    #[arg(long, conflicts_with = "code")]
    cpu: bool,
    /// Partida privada con quien use el mismo código
    #[arg(long, value_name = "CÓDIGO", value_parser = code_arg)]
    code: Option<String>,
    /// Jugar solo: `random` o `aleatorio` (por omisión), `perfect` o `perfecto`
    #[arg(long, value_name = "TIPO", value_enum, num_args = 0..=1, default_missing_value = "random")]
    bot: Option<BotKind>,
    /// Partidas que juega el bot antes de despedirse
    #[arg(long, value_name = "N", default_value_t = 1)]
    games: u32,
    /// Mirar la partida con este número (véalas con LIST) y sus revanchas, hasta que un jugador deje la mesa
    #[arg(long, value_name = "PARTIDA", conflicts_with_all = ["bot", "cpu", "code"])]
    watch: Option<u64>,
    /// Volver a una partida con esta clave (el token de 16 cifras hexadecimales de HELLO) en vez de la guardada en la caché
    #[arg(long, value_name = "CLAVE", value_parser = token_arg, requires = "name", conflicts_with_all = ["bot", "watch"])]
    token: Option<String>,
}

fn name_arg(s: &str) -> Result<String, String> {
    is_valid_name(s)
        .then(|| s.to_string())
        .ok_or_else(|| "de 1 a 16 letras ASCII, cifras, `_` o `-` (y no `CPU`)".to_string())
}

fn code_arg(s: &str) -> Result<String, String> {
    is_valid_word(s)
        .then(|| s.to_string())
        .ok_or_else(|| "de 1 a 16 letras ASCII, cifras, `_` o `-`".to_string())
}

fn token_arg(s: &str) -> Result<String, String> {
    is_valid_token(s)
        .then(|| s.to_ascii_lowercase())
        .ok_or_else(|| "son 16 caracteres hexadecimales, los de HELLO".to_string())
}

pub(crate) fn main() {
    common::exit::finish(run());
}

fn run() -> Result<(), Failure> {
    let args = common::ayuda::parse::<Args>();
    common::init_logging();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("jugador{}", std::process::id() % 10_000));
    let target = match (&args.code, args.cpu) {
        (Some(code), _) => PlayTarget::Code(code.clone()),
        (None, true) => PlayTarget::Cpu,
        (None, false) => PlayTarget::Queue,
    };
    let stream = args.client.connect(DEFAULT_PORT, "problema8")?;
    // Una respuesta tiene --timeout; jugar y mirar es esperar al otro, sin límite.
    let patience = Patience {
        reply: args.client.timeout(),
        events: None,
    };
    let mut stdout = std::io::stdout();
    if let Some(game) = args.watch {
        run_watch(stream, game, patience, &mut stdout)?;
    } else if let Some(kind) = args.bot {
        run_bot(
            stream,
            &name,
            target,
            kind,
            args.games,
            patience,
            &mut stdout,
        )?;
    } else {
        let port = args.client.port.unwrap_or(DEFAULT_PORT);
        let player = Player {
            // Sin `--name` el nombre cambia en cada arranque: guardar su token no serviría.
            token_file: args
                .name
                .as_ref()
                .and_then(|n| TokenFile::for_player(&args.client.host, port, n)),
            token: args.token.clone(),
            patience,
            ..Player::new(&name, Some(target))
        };
        // `Stdin` (no su cerrojo) porque el teclado se lee desde otro hilo.
        let keyboard = BufReader::new(std::io::stdin());
        run_interactive(stream, &player, keyboard, stdout.lock())?;
    }
    stdout.flush().map_err(|e| Failure::stdout(&e))
}
