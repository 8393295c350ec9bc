//! El espectador: mira una partida y sus revanchas.
//!
//! El servidor mantiene a los espectadores en la partida cuando los jugadores piden la
//! revancha (misma partida, mismo número, fichas cambiadas: llega un `WATCHING` nuevo), así
//! que terminar una ronda no es terminar de mirar. Se deja de mirar cuando ya no puede haber
//! más rondas: cuando un jugador deja la mesa (`LEFT`), o cuando el servidor se despide
//! (`BYE`, por ejemplo al apagarse). Las dos cosas son un final limpio (código 0); que la
//! conexión se corte sin `BYE` no lo es (código 4).

use std::io::{BufReader, Write};
use std::net::TcpStream;

use crate::protocolo::{Command, ForfeitReason, ServerMessage};

use super::{describe, send, ClientError, Messages, Patience};

/// Mira la partida `game` y escribe en `out` cada evento: los de esta ronda y los de cada
/// revancha, hasta que un jugador deja la mesa (`LEFT`) o el servidor se despide (`BYE`).
/// La respuesta a `WATCH` se espera `patience.reply`; después, los eventos sin más plazo que
/// `patience.events`.
///
/// # Errores
/// [`ClientError::Refused`] si el servidor no deja mirar (`NO_SUCH_GAME`),
/// [`ClientError::Closed`] si cierra sin despedirse, [`ClientError::Output`] si no se puede
/// escribir en `out`, y los de lectura y formato.
pub fn run_watch(
    stream: TcpStream,
    game: u64,
    patience: Patience,
    out: &mut impl Write,
) -> Result<(), ClientError> {
    let mut writer = stream.try_clone()?;
    let mut messages = Messages::new(BufReader::new(stream));
    patience.for_reply(&writer)?;
    send(&mut writer, &Command::Watch(game))?;
    let mut show = |text: &str| -> Result<(), ClientError> {
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(ClientError::Output)
    };
    while let Some(msg) = messages.next_message()? {
        match &msg {
            // El saludo invita a enviar `NAME`: no es para quien solo mira.
            ServerMessage::Welcome(_) => continue,
            ServerMessage::Error { code, text } => return Err(ClientError::refused(*code, text)),
            ServerMessage::Bye(_) => {
                show(&describe(&msg, None))?;
                return Ok(());
            }
            // Dentro: a partir de aquí, eventos.
            ServerMessage::Watching { .. } => patience.for_events(&writer)?,
            _ => {}
        }
        show(&describe(&msg, None))?;
        if msg.game() != Some(game) {
            continue;
        }
        if matches!(msg, ServerMessage::Left { .. }) {
            show("Ya no habrá revancha: se deja de mirar.")?;
            // Despedirse es cortesía: si el servidor ya no está, da igual.
            let _ = send(&mut writer, &Command::Quit);
            return Ok(());
        }
        if round_over(&msg) {
            show(
                "Ronda terminada: se sigue mirando por si piden la revancha (Ctrl-C para salir).",
            )?;
        }
    }
    Err(ClientError::Closed)
}

/// ¿Termina este mensaje una ronda que aún puede tener revancha? Un abandono (`LEFT`,
/// `DISCONNECTED`) va seguido del `LEFT` del jugador, que es el final de mirar.
fn round_over(msg: &ServerMessage) -> bool {
    match msg {
        ServerMessage::Win { .. } | ServerMessage::Draw(_) => true,
        ServerMessage::Forfeit { reason, .. } => *reason == ForfeitReason::Timeout,
        ServerMessage::Board { turn, .. } => turn.is_none(),
        _ => false,
    }
}
