//! La sala: quién está dentro y la difusión de mensajes, en un único hilo difusor.
//!
//! Los hilos de cada conexión no escriben a los demás: envían un suceso (`Event`) por un canal
//! acotado y el hilo difusor, el único que conoce a los miembros, los procesa en orden.
//! Así, sin cerrojo sobre la lista de miembros:
//! - todos ven los sucesos en el mismo orden (entradas, mensajes, salidas);
//! - nadie recibe nada después de su salida: la salida es un suceso más de la cola;
//! - bajo carga, el difusor junta los mensajes que esperan en el canal (hasta
//!   [`MAX_BATCH_BYTES`]) y entrega el lote a cada cliente en un solo envío a su cola: el coste
//!   de despertar a su hilo escritor y de la llamada `write` se reparte entre muchos mensajes.
//!   Con poca carga cada lote es un solo mensaje y no se añade espera.
//!
//! La unicidad de los nombres se decide aparte, al momento, con un conjunto tras un `Mutex`
//! (el único cerrojo del servidor): el cliente necesita la respuesta antes de seguir.
//!
//! Un miembro cuya cola está llena se saca de la sala, se le corta la conexión y se anuncia su
//! salida a los demás.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use common::lock;
use common::outbox::{Outbox, OutboxError};

use crate::protocolo;

/// Tamaño máximo de un lote de mensajes entregado de una vez a cada cliente: bastante para
/// repartir el coste de cada envío, y poco para que la cola de un cliente lento (en lotes)
/// no retenga demasiada memoria.
pub const MAX_BATCH_BYTES: usize = 16 * 1024;

/// Sucesos pendientes como máximo en el canal del difusor; si se llena, los hilos lectores
/// esperan (los remitentes van más despacio), pero nada se pierde.
pub const EVENT_QUEUE: usize = 4096;

/// Lo que los hilos de las conexiones piden al difusor.
enum Event {
    /// Un cliente ya confirmado entra: anunciarlo y empezar a enviarle mensajes.
    Join {
        id: u64,
        name: String,
        outbox: Outbox,
    },
    /// Una línea ya formateada (`NOMBRE: texto`) para todos menos `from`.
    Relay { from: u64, line: String },
    /// Un cliente sale: enviarle `farewell` (si hay) y, si `announce`, anunciarlo.
    Leave {
        id: u64,
        farewell: Option<&'static str>,
        announce: bool,
    },
    /// El servidor termina: el difusor sale.
    Stop,
}

/// El difusor ya terminó (solo ocurre al apagar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomClosed;

/// El lado que usan las conexiones: reservar nombres y enviar sucesos al difusor.
pub struct Room {
    names: Mutex<HashSet<String>>,
    events: SyncSender<Event>,
}

impl Room {
    /// Crea la sala y arranca su hilo difusor.
    ///
    /// # Errores
    /// Si no se puede crear el hilo.
    pub fn start() -> io::Result<(Room, JoinHandle<()>)> {
        let (events, rx) = sync_channel(EVENT_QUEUE);
        let handle = thread::Builder::new()
            .name("problema3-difusor".into())
            .spawn(move || broadcaster(rx))?;
        Ok((
            Room {
                names: Mutex::new(HashSet::new()),
                events,
            },
            handle,
        ))
    }

    /// Reserva `name` si está libre; devuelve `false` si ya lo usa otra persona.
    pub fn reserve(&self, name: &str) -> bool {
        lock(&self.names).insert(name.to_string())
    }

    /// Libera un nombre reservado (al salir, después de [`Room::leave`]).
    pub fn release(&self, name: &str) {
        lock(&self.names).remove(name);
    }

    /// Mete en la sala a un cliente que ya recibió la confirmación.
    ///
    /// # Errores
    /// [`RoomClosed`] si el servidor se está apagando.
    pub fn join(&self, id: u64, name: &str, outbox: &Outbox) -> Result<(), RoomClosed> {
        self.send(Event::Join {
            id,
            name: name.to_string(),
            outbox: outbox.clone(),
        })
    }

    /// Difunde `line` a todos menos a la conexión `from`.
    ///
    /// # Errores
    /// [`RoomClosed`] si el servidor se está apagando.
    pub fn relay(&self, from: u64, line: String) -> Result<(), RoomClosed> {
        self.send(Event::Relay { from, line })
    }

    /// Saca a la conexión `id` (si sigue dentro), le envía `farewell` y, si `announce`,
    /// anuncia su salida.
    pub fn leave(&self, id: u64, farewell: Option<&'static str>, announce: bool) {
        let _ = self.send(Event::Leave {
            id,
            farewell,
            announce,
        });
    }

    /// Detiene el difusor (tras procesar lo que ya estaba en el canal).
    pub fn stop(&self) {
        let _ = self.send(Event::Stop);
    }

    fn send(&self, event: Event) -> Result<(), RoomClosed> {
        self.events.send(event).map_err(|_| RoomClosed)
    }
}

/// Un miembro de la sala, visto por el difusor.
struct Member {
    name: String,
    outbox: Outbox,
}

/// El hilo difusor: procesa los sucesos en orden y agrupa los mensajes seguidos en lotes.
fn broadcaster(rx: Receiver<Event>) {
    let mut members: HashMap<u64, Member> = HashMap::new();
    let mut pending: Option<Event> = None;
    loop {
        let event = match pending.take() {
            Some(e) => e,
            None => match rx.recv() {
                Ok(e) => e,
                Err(_) => break,
            },
        };
        match event {
            Event::Relay { from, line } => {
                let mut batch = vec![(Some(from), line)];
                let mut bytes = batch.iter().map(|(_, l)| l.len() + 1).sum::<usize>();
                while bytes < MAX_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(Event::Relay { from, line }) => {
                            bytes += line.len() + 1;
                            batch.push((Some(from), line));
                        }
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                deliver(&mut members, batch);
            }
            Event::Join { id, name, outbox } => {
                deliver(&mut members, vec![(None, protocolo::join_line(&name))]);
                members.insert(id, Member { name, outbox });
            }
            Event::Leave {
                id,
                farewell,
                announce,
            } => {
                if let Some(member) = members.remove(&id) {
                    if let Some(line) = farewell {
                        let _ = member.outbox.send_line(line);
                    }
                    if announce {
                        deliver(
                            &mut members,
                            vec![(None, protocolo::leave_line(&member.name))],
                        );
                    }
                }
            }
            Event::Stop => break,
        }
    }
    log::debug!("[problema3] difusor detenido");
}

/// Entrega un lote de líneas `(remitente, línea)` a cada miembro, sin las suyas propias. Un
/// miembro cuya cola está llena (o cuyo escritor murió) sale de la sala con la conexión
/// cortada, y su salida se anuncia, lo que puede expulsar a otro lento: por eso es un bucle.
fn deliver(members: &mut HashMap<u64, Member>, batch: Vec<(Option<u64>, String)>) {
    let mut work = vec![batch];
    while let Some(batch) = work.pop() {
        let shared: Arc<[u8]> = Arc::from(join_lines(&batch, None));
        let senders: HashSet<u64> = batch.iter().filter_map(|(from, _)| *from).collect();
        let mut dropped = Vec::new();
        for (id, member) in members.iter() {
            let payload = if senders.contains(id) {
                // Un remitente del lote recibe el lote sin sus propias líneas.
                let own_excluded = join_lines(&batch, Some(*id));
                if own_excluded.is_empty() {
                    continue;
                }
                Arc::from(own_excluded)
            } else {
                Arc::clone(&shared)
            };
            match member.outbox.send(payload) {
                Ok(()) => {}
                Err(OutboxError::Full) => {
                    log::warn!(
                        "[problema3] {}: cola de salida llena (no lee): desconectado",
                        member.name
                    );
                    dropped.push(*id);
                }
                Err(OutboxError::Closed) => {
                    log::debug!("[problema3] {}: su escritor ya terminó", member.name);
                    dropped.push(*id);
                }
            }
        }
        for id in dropped {
            if let Some(member) = members.remove(&id) {
                member.outbox.close();
                work.push(vec![(None, protocolo::leave_line(&member.name))]);
            }
        }
    }
}

/// Une las líneas del lote (cada una con su `\n`), saltando las de `skip`.
fn join_lines(batch: &[(Option<u64>, String)], skip: Option<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (from, line) in batch {
        if skip.is_some() && *from == skip {
            continue;
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_lines_skip_only_the_given_sender() {
        let batch = vec![
            (Some(1), "a: uno".to_string()),
            (Some(2), "b: dos".to_string()),
            (None, "c se ha unido al Chat.".to_string()),
        ];
        assert_eq!(
            join_lines(&batch, None),
            b"a: uno\nb: dos\nc se ha unido al Chat.\n"
        );
        assert_eq!(
            join_lines(&batch, Some(1)),
            b"b: dos\nc se ha unido al Chat.\n"
        );
        assert!(join_lines(&[(Some(3), "x".to_string())], Some(3)).is_empty());
    }

    #[test]
    fn names_are_reserved_once_and_released() {
        let (room, handle) = Room::start().unwrap();
        assert!(room.reserve("ana"));
        assert!(!room.reserve("ana"));
        room.release("ana");
        assert!(room.reserve("ana"));
        room.stop();
        handle.join().unwrap();
        assert_eq!(room.relay(1, "x".into()), Err(RoomClosed));
    }
}
