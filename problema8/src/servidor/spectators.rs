//! Los espectadores de una partida y la difusión de sus eventos.
//!
//! Cada espectador es una conexión con su [`Outbox`]: difundir un evento es encolarlo, que
//! nunca bloquea. Un espectador que no lee llena su cola y se le desconecta; la partida y los
//! demás espectadores siguen sin esperarle. La lista vive dentro de la partida (bajo su
//! cerrojo), así que un espectador recibe el tablero actual y después cada evento en el mismo
//! orden en que ocurrieron, sin huecos ni repeticiones.

use std::sync::Arc;

use common::outbox::Outbox;

/// Una conexión que recibe eventos: jugador o espectador.
#[derive(Debug, Clone)]
pub struct Conn {
    /// Número de la conexión (único mientras vive el servidor).
    pub id: u64,
    /// Su cola de salida.
    pub outbox: Outbox,
}

impl Conn {
    /// Encola una línea ya codificada (con `\n`). Si el cliente va tan atrasado que su cola
    /// está llena, se le corta la conexión: su hilo lector verá el cierre y lo dará de baja.
    /// Devuelve `false` si no se pudo encolar.
    pub fn send_raw(&self, line: &Arc<[u8]>) -> bool {
        match self.outbox.send(Arc::clone(line)) {
            Ok(()) => true,
            Err(common::outbox::OutboxError::Full) => {
                log::warn!(
                    "conexión {}: no lee sus mensajes (cola llena); se cierra",
                    self.id
                );
                self.outbox.close();
                false
            }
            Err(e) => {
                // Ya cerrada por el otro extremo: su hilo lector la dará de baja.
                log::debug!("conexión {}: {e}", self.id);
                false
            }
        }
    }

    /// Codifica y encola un mensaje (véase [`Conn::send_raw`]).
    pub fn send(&self, msg: &crate::protocolo::ServerMessage) -> bool {
        self.send_raw(&encode(msg))
    }
}

/// Un mensaje como línea compartible entre todos sus destinatarios: se codifica una vez.
pub fn encode(msg: &crate::protocolo::ServerMessage) -> Arc<[u8]> {
    let mut line = msg.encode().into_bytes();
    line.push(b'\n');
    line.into()
}

/// Los espectadores de una partida.
#[derive(Debug, Default)]
pub struct Spectators {
    conns: Vec<Conn>,
}

impl Spectators {
    /// Añade un espectador (si ya estaba, no se duplica).
    pub fn add(&mut self, conn: Conn) {
        if !self.conns.iter().any(|c| c.id == conn.id) {
            self.conns.push(conn);
        }
    }

    /// Quita al espectador `id`; devuelve si estaba.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.conns.len();
        self.conns.retain(|c| c.id != id);
        self.conns.len() != before
    }

    /// Envía `line` a todos; quien no puede recibir (cola llena o cerrada) sale de la lista.
    pub fn broadcast(&mut self, line: &Arc<[u8]>) {
        self.conns.retain(|c| c.send_raw(line));
    }

    /// Cuántos miran.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// ¿No mira nadie?
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}
