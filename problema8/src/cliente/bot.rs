//! El bot: juega solo, sin teclado, las partidas que se le pidan y cuenta el resultado.
//!
//! Es un bucle de un solo hilo: cada mensaje del servidor decide la siguiente orden (`PLAY`
//! tras `HELLO` o tras el final de una partida, `MOVE` tras `YOUR_TURN`, `QUIT` al acabar).

use std::io::{BufReader, Write};
use std::net::TcpStream;

use rand::seq::SliceRandom;

use crate::protocolo::{best_move, Board, Command, Mark, PlayTarget, ServerMessage};

use super::{describe, send, tally, ClientError, Messages, Patience};

/// Cómo elige casilla el bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BotKind {
    /// Una casilla libre al azar.
    #[value(alias = "aleatorio")]
    Random,
    /// La mejor jugada (minimax): nunca pierde.
    #[value(alias = "perfecto")]
    Perfect,
}

impl BotKind {
    /// La casilla que elige este bot (`None` si no queda ninguna libre).
    pub fn choose(self, board: &Board, me: Mark) -> Option<u8> {
        match self {
            BotKind::Random => board.free_cells().choose(&mut rand::thread_rng()).copied(),
            BotKind::Perfect => best_move(board, me),
        }
    }
}

/// Resultado de un bot: partidas ganadas, empatadas y perdidas.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BotReport {
    /// Ganadas.
    pub wins: u32,
    /// Tablas.
    pub draws: u32,
    /// Perdidas.
    pub losses: u32,
}

/// Juega `games` partidas seguidas como `name` contra `target`, eligiendo casilla con
/// `kind`, y escribe en `out` una línea por partida terminada. Al acabar envía `QUIT`. El
/// `HELLO` y el `BYE` se esperan `patience.reply`; un rival, `patience.events`.
///
/// # Errores
/// [`ClientError::Refused`] si el servidor rechaza una orden (por ejemplo, nombre en uso),
/// [`ClientError::Unfinished`] si se despide antes de tiempo (se apaga),
/// [`ClientError::Closed`] si cierra sin despedirse, [`ClientError::Output`] si no se puede
/// escribir en `out`, y los de lectura y formato.
pub fn run_bot(
    stream: TcpStream,
    name: &str,
    target: PlayTarget,
    kind: BotKind,
    games: u32,
    patience: Patience,
    out: &mut impl Write,
) -> Result<BotReport, ClientError> {
    let mut writer = stream.try_clone()?;
    let mut messages = Messages::new(BufReader::new(stream));
    patience.for_reply(&writer)?;
    let mut report = BotReport::default();
    let mut current: Option<u64> = None;
    let mut played = 0;
    send(
        &mut writer,
        &Command::Name {
            name: name.to_string(),
            token: None,
        },
    )?;
    while let Some(msg) = messages.next_message()? {
        match &msg {
            ServerMessage::Hello { .. } => {
                if games == 0 {
                    send(&mut writer, &Command::Quit)?;
                } else {
                    patience.for_events(&writer)?;
                    send(&mut writer, &Command::Play(target.clone()))?;
                }
            }
            ServerMessage::Start { game, .. } => current = Some(*game),
            ServerMessage::YourTurn { game, mark, board } if current == Some(*game) => {
                if let Some(cell) = kind.choose(board, *mark) {
                    send(&mut writer, &Command::Move(cell))?;
                }
            }
            m if m.is_game_over() && m.game() == current && current.is_some() => {
                match m {
                    ServerMessage::Win { name: w, .. } if w == name => report.wins += 1,
                    ServerMessage::Forfeit { name: l, .. } if l != name => report.wins += 1,
                    ServerMessage::Draw(_) => report.draws += 1,
                    _ => report.losses += 1,
                }
                writeln!(out, "{name}: {}", describe(m, Some(name)))
                    .map_err(ClientError::Output)?;
                current = None;
                played += 1;
                if played >= games {
                    patience.for_reply(&writer)?;
                    send(&mut writer, &Command::Quit)?;
                } else {
                    send(&mut writer, &Command::Play(target.clone()))?;
                }
            }
            ServerMessage::Error { code, text } => return Err(ClientError::refused(*code, text)),
            ServerMessage::Bye(text) => {
                if played < games {
                    return Err(ClientError::Unfinished {
                        text: text.clone(),
                        played,
                        games,
                    });
                }
                writeln!(
                    out,
                    "{name}: {}",
                    tally(report.wins, report.draws, report.losses)
                )
                .map_err(ClientError::Output)?;
                return Ok(report);
            }
            _ => {}
        }
    }
    Err(ClientError::Closed)
}
