//! El estado compartido del chat: salas, usuarios, historial y reparto de mensajes.
//!
//! Todo el estado vive en un único `Mutex<State>` detrás de [`Chat`]; quien llama nunca ve
//! el cerrojo. Cada método toma el cerrojo, cambia el estado y **encola** las líneas que
//! tocan en las colas de salida ([`Outbox`]) de los destinatarios antes de soltarlo.
//! Encolar bajo el cerrojo es deliberado y barato (`try_send`, nunca bloquea ni escribe en
//! un socket) y es lo que da las garantías del enunciado:
//! - nadie recibe un mensaje de una sala de la que ya salió: la lista de miembros y el envío
//!   se ven en el mismo instante;
//! - todos los miembros de una sala ven sus mensajes en el mismo orden, y quien entra ve el
//!   historial exacto hasta su llegada, sin huecos ni repetidos;
//! - dos `/create` simultáneos de la misma sala: uno la crea y el otro recibe "ya existe".
//!
//! Un cliente cuya cola se llena (no lee) se desconecta: se corta su socket y su hilo lector
//! lo saca del chat por el camino normal.
//!
//! Orden de cerrojos: [`Chat`] tiene dos, `persist` (serializa las escrituras del fichero) y
//! `state`. Si se toman los dos, siempre `persist` primero y luego `state`; nunca se pide
//! `persist` con `state` tomado. Así no hay interbloqueo, y como la instantánea que se
//! escribe se toma con `persist` ya tomado, el fichero nunca retrocede a un estado anterior.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::lock;
use common::outbox::{Outbox, OutboxError};

use super::persistence::{self, RoomInfo, SaveError};
use crate::protocolo::{self as p, NameError, RoomNameError, TopicError, GENERAL};

/// Lo que puede salir mal en una operación del chat; el servidor lo envía como `ERROR ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// Ya hay un usuario con ese nombre.
    #[error("el nombre {0} ya está en uso, elige otro")]
    NameTaken(String),
    /// Nombre de usuario no válido (en `/nick`).
    #[error("{0}")]
    InvalidName(#[from] NameError),
    /// `/nick` con el nombre que ya se tiene.
    #[error("ya te llamas {0}")]
    SameName(String),
    /// `/create` de una sala que ya existe.
    #[error("la sala {0} ya existe; entra con /join {0}")]
    RoomExists(String),
    /// `/join` de una sala que no existe.
    #[error("la sala {0} no existe; créala con /create {0}")]
    NoSuchRoom(String),
    /// `/join` de la sala en la que ya se está.
    #[error("ya estás en la sala {0}")]
    AlreadyInRoom(String),
    /// `/leave` estando en `general`.
    #[error("ya estás en general; para desconectarte usa /quit")]
    AlreadyInGeneral,
    /// `/msg` a alguien que no está conectado.
    #[error("el usuario {0} no existe")]
    NoSuchUser(String),
    /// Se alcanzó el máximo de salas.
    #[error("no se pueden crear más salas (máximo {max})")]
    TooManyRooms {
        /// El máximo configurado.
        max: usize,
    },
    /// Nombre de sala no válido.
    #[error("{0}")]
    InvalidRoomName(#[from] RoomNameError),
    /// Tema no válido.
    #[error("{0}")]
    InvalidTopic(#[from] TopicError),
    /// El usuario ya no está en el chat (lo desconectaron por lento).
    #[error("ya no estás en el chat")]
    NotConnected,
}

/// Una sala en memoria: lo que se guarda en disco más sus miembros y su historial.
struct Room {
    info: RoomInfo,
    members: BTreeSet<String>,
    history: VecDeque<Arc<str>>,
}

impl Room {
    fn new(info: RoomInfo) -> Self {
        Self {
            info,
            members: BTreeSet::new(),
            history: VecDeque::new(),
        }
    }
}

/// Un usuario conectado.
struct Member {
    room: String,
    outbox: Outbox,
    peer: SocketAddr,
    /// Ya se cortó por lento: no volver a registrarlo.
    dropped: bool,
}

#[derive(Default)]
struct State {
    rooms: BTreeMap<String, Room>,
    users: HashMap<String, Member>,
}

/// El chat compartido por todos los hilos de conexión. Se comparte con `Arc`.
pub struct Chat {
    state: Mutex<State>,
    persist: Mutex<()>,
    rooms_file: PathBuf,
    history_len: usize,
    max_rooms: usize,
}

impl Chat {
    /// Un chat con las salas `rooms` (ya saneadas, con `general`), sin usuarios.
    pub fn new(
        rooms: Vec<RoomInfo>,
        rooms_file: PathBuf,
        history_len: usize,
        max_rooms: usize,
    ) -> Self {
        let mut state = State::default();
        for info in rooms {
            state.rooms.insert(info.name.clone(), Room::new(info));
        }
        state
            .rooms
            .entry(GENERAL.to_string())
            .or_insert_with(|| Room::new(RoomInfo::general()));
        Self {
            state: Mutex::new(state),
            persist: Mutex::new(()),
            rooms_file,
            history_len,
            max_rooms,
        }
    }

    /// Da de alta a `name` en `general`: le confirma la conexión, le envía la entrada en la
    /// sala (con el historial) y avisa a los demás de `general`.
    ///
    /// # Errores
    /// [`ChatError::NameTaken`] si el nombre ya está en uso.
    pub fn login(&self, name: &str, outbox: Outbox, peer: SocketAddr) -> Result<(), ChatError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if state.users.contains_key(name) {
            return Err(ChatError::NameTaken(name.to_string()));
        }
        let Some(room) = state.rooms.get_mut(GENERAL) else {
            return Err(ChatError::NoSuchRoom(GENERAL.to_string()));
        };
        room.members.insert(name.to_string());
        let mut member = Member {
            room: GENERAL.to_string(),
            outbox,
            peer,
            dropped: false,
        };
        let welcome = format!("{}\n{}", p::CONNECTED, entry_block(room));
        deliver(name, &mut member, text_msg(&welcome));
        state.users.insert(name.to_string(), member);
        fan_out(state, GENERAL, Some(name), line_msg(&p::join_line(name)));
        Ok(())
    }

    /// Da de baja a `name`; si `announce`, su sala se entera de que salió del chat.
    pub fn logout(&self, name: &str, announce: bool) {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(member) = state.users.remove(name) else {
            return;
        };
        if let Some(room) = state.rooms.get_mut(&member.room) {
            room.members.remove(name);
        }
        if announce {
            fan_out(state, &member.room, None, line_msg(&p::leave_line(name)));
        }
    }

    /// Un mensaje de `name` para su sala: se guarda en el historial y lo reciben los demás.
    /// Los caracteres de control se sustituyen por `�` ([`p::sanitize_text`]).
    ///
    /// # Errores
    /// [`ChatError::NotConnected`].
    pub fn say(&self, name: &str, text: &str) -> Result<(), ChatError> {
        let line: Arc<str> = Arc::from(p::relay_line(name, &p::sanitize_text(text)));
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let room_name = member_room(state, name)?;
        if let Some(room) = state.rooms.get_mut(&room_name) {
            if self.history_len > 0 {
                if room.history.len() >= self.history_len {
                    room.history.pop_front();
                }
                room.history.push_back(Arc::clone(&line));
            }
        }
        fan_out(state, &room_name, Some(name), line_msg(&line));
        Ok(())
    }

    /// `/create`: crea la sala, guarda la lista en disco y mete en ella a `name`.
    ///
    /// La confirmación `Sala ... creada.` se envía después de guardar: quien la recibe sabe
    /// que la sala sobrevive a un reinicio. Entre crear y entrar, otro usuario podría entrar
    /// primero en la sala, y no pasa nada.
    ///
    /// # Errores
    /// Nombre no válido, sala existente o máximo de salas alcanzado. Un fallo al escribir el
    /// fichero no es un error de la orden (la sala existe y se volverá a intentar guardar en
    /// el próximo cambio y al apagar), pero en lugar de `Sala ... creada.` el cliente recibe un
    /// `ERROR` que dice que no se guardó.
    pub fn create(&self, name: &str, room: &str) -> Result<(), ChatError> {
        p::validate_room_name(room)?;
        {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            member_room(state, name)?;
            if state.rooms.contains_key(room) {
                return Err(ChatError::RoomExists(room.to_string()));
            }
            if state.rooms.len() >= self.max_rooms {
                return Err(ChatError::TooManyRooms {
                    max: self.max_rooms,
                });
            }
            state
                .rooms
                .insert(room.to_string(), Room::new(RoomInfo::new(room, name)));
        }
        log::info!("[problema6] {name} creó la sala {room}");
        // Se confirma después del `fsync` y el `rename`; si el guardado falla, se dice.
        let saved = self.save_logged();
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        match saved {
            Ok(()) => reply(state, name, &p::room_created(room))?,
            Err(e) => reply(state, name, &p::error_line(&p::room_not_saved(room, &e)))?,
        }
        if state.rooms.contains_key(room) {
            move_to(state, name, room);
        }
        Ok(())
    }

    /// `/join`: `name` sale de su sala y entra en `room`.
    ///
    /// # Errores
    /// Sala inexistente o la misma en la que ya está.
    pub fn join(&self, name: &str, room: &str) -> Result<(), ChatError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let current = member_room(state, name)?;
        if !state.rooms.contains_key(room) {
            return Err(ChatError::NoSuchRoom(room.to_string()));
        }
        if current == room {
            return Err(ChatError::AlreadyInRoom(room.to_string()));
        }
        move_to(state, name, room);
        Ok(())
    }

    /// `/leave`: `name` vuelve a `general`.
    ///
    /// # Errores
    /// [`ChatError::AlreadyInGeneral`].
    pub fn leave(&self, name: &str) -> Result<(), ChatError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if member_room(state, name)? == GENERAL {
            return Err(ChatError::AlreadyInGeneral);
        }
        move_to(state, name, GENERAL);
        Ok(())
    }

    /// `/rooms`: envía a `name` la lista de salas con sus miembros.
    ///
    /// # Errores
    /// [`ChatError::NotConnected`].
    pub fn list_rooms(&self, name: &str) -> Result<(), ChatError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let mut text = p::rooms_header(state.rooms.len());
        for room in state.rooms.values() {
            text.push('\n');
            text.push_str(&p::room_entry(
                &room.info.name,
                room.members.len(),
                room.info.topic.as_deref(),
            ));
        }
        reply(state, name, &text)
    }

    /// `/users`: envía a `name` los usuarios de su sala.
    ///
    /// # Errores
    /// [`ChatError::NotConnected`].
    pub fn list_users(&self, name: &str) -> Result<(), ChatError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let room_name = member_room(state, name)?;
        let text = match state.rooms.get(&room_name) {
            Some(room) => {
                let names: Vec<&str> = room.members.iter().map(String::as_str).collect();
                p::users_line(&room_name, &names)
            }
            None => p::users_line(&room_name, &[]),
        };
        reply(state, name, &text)
    }

    /// `/msg`: mensaje privado de `from` a `to` (y su confirmación a `from`).
    ///
    /// # Errores
    /// [`ChatError::NoSuchUser`] si `to` no está conectado.
    pub fn private(&self, from: &str, to: &str, text: &str) -> Result<(), ChatError> {
        let text = &*p::sanitize_text(text);
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        member_room(state, from)?;
        let Some(target) = state.users.get_mut(to) else {
            return Err(ChatError::NoSuchUser(to.to_string()));
        };
        deliver(to, target, line_msg(&p::private_received(from, text)));
        reply(state, from, &p::private_sent(to, text))
    }

    /// `/nick`: `old` pasa a llamarse `new` (ya validado); su sala se entera.
    ///
    /// # Errores
    /// [`ChatError::NameTaken`] o [`ChatError::SameName`].
    pub fn rename(&self, old: &str, new: &str) -> Result<(), ChatError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        if old == new {
            return Err(ChatError::SameName(new.to_string()));
        }
        if state.users.contains_key(new) {
            return Err(ChatError::NameTaken(new.to_string()));
        }
        let Some(member) = state.users.remove(old) else {
            return Err(ChatError::NotConnected);
        };
        let room_name = member.room.clone();
        state.users.insert(new.to_string(), member);
        if let Some(room) = state.rooms.get_mut(&room_name) {
            room.members.remove(old);
            room.members.insert(new.to_string());
        }
        fan_out(
            state,
            &room_name,
            Some(new),
            line_msg(&p::nick_announcement(old, new)),
        );
        reply(state, new, &p::renamed(new))
    }

    /// `/topic`: sin texto, envía a `name` el tema de su sala; con texto, lo cambia, lo
    /// anuncia a la sala (incluido `name`) y guarda la lista en disco.
    ///
    /// # Errores
    /// Tema no válido.
    pub fn topic(&self, name: &str, topic: Option<&str>) -> Result<(), ChatError> {
        let topic = topic.map(p::sanitize_text);
        if let Some(t) = topic.as_deref() {
            p::validate_topic(t)?;
        }
        let topic = topic.as_deref();
        {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            let room_name = member_room(state, name)?;
            let Some(room) = state.rooms.get_mut(&room_name) else {
                return Err(ChatError::NoSuchRoom(room_name));
            };
            let Some(new) = topic else {
                let text = p::topic_line(&room_name, room.info.topic.as_deref());
                return reply(state, name, &text);
            };
            room.info.topic = Some(new.to_string());
        }
        // El anuncio (la confirmación) sale después del `fsync` y el `rename`: quien lo ve
        // sabe que el tema sobrevive a un reinicio. Si el guardado falla, se le dice.
        let saved = self.save_logged();
        // Sin texto ya se contestó dentro del bloque: aquí `topic` siempre tiene valor.
        let new = topic.unwrap_or_default();
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let room_name = member_room(state, name)?;
        fan_out(
            state,
            &room_name,
            None,
            line_msg(&p::topic_announcement(name, new)),
        );
        if let Err(e) = saved {
            reply(state, name, &p::error_line(&p::topic_not_saved(&e)))?;
        }
        Ok(())
    }

    /// Envía `line` a todos los conectados (el aviso de apagado).
    pub fn broadcast_all(&self, line: &str) {
        let msg = line_msg(line);
        let mut guard = lock(&self.state);
        for (name, member) in guard.users.iter_mut() {
            deliver(name, member, Arc::clone(&msg));
        }
    }

    /// Copia de la lista de salas tal como se guarda.
    pub fn snapshot(&self) -> Vec<RoomInfo> {
        lock(&self.state)
            .rooms
            .values()
            .map(|r| r.info.clone())
            .collect()
    }

    /// Guarda la lista de salas en el fichero, de forma atómica.
    ///
    /// # Errores
    /// [`SaveError`] si no se pudo escribir; el fichero anterior queda intacto.
    pub fn save(&self) -> Result<(), SaveError> {
        // Orden de cerrojos: `persist` y después `state` (dentro de `snapshot`).
        let _persist = lock(&self.persist);
        let rooms = self.snapshot();
        persistence::save_atomic(&self.rooms_file, &rooms)
    }

    /// Guarda y registra el fallo; devuelve el motivo, para decírselo al cliente.
    fn save_logged(&self) -> Result<(), String> {
        self.save().map_err(|e| {
            log::error!("[problema6] no se pudo guardar la lista de salas: {e}");
            e.to_string()
        })
    }
}

/// La sala en la que está `name`.
fn member_room(state: &State, name: &str) -> Result<String, ChatError> {
    state
        .users
        .get(name)
        .map(|m| m.room.clone())
        .ok_or(ChatError::NotConnected)
}

/// Encola `text` (una o varias líneas) para `name`.
fn reply(state: &mut State, name: &str, text: &str) -> Result<(), ChatError> {
    let member = state.users.get_mut(name).ok_or(ChatError::NotConnected)?;
    deliver(name, member, text_msg(text));
    Ok(())
}

/// Saca a `name` de su sala (avisando) y lo mete en `to` (avisando y enviándole la entrada
/// con el historial). `to` debe existir.
fn move_to(state: &mut State, name: &str, to: &str) {
    let Some(member) = state.users.get_mut(name) else {
        return;
    };
    let from = std::mem::replace(&mut member.room, to.to_string());
    if let Some(room) = state.rooms.get_mut(&from) {
        room.members.remove(name);
    }
    fan_out(state, &from, None, line_msg(&p::left_announcement(name)));
    fan_out(state, to, None, line_msg(&p::joined_announcement(name)));
    let State { rooms, users } = state;
    if let (Some(room), Some(member)) = (rooms.get_mut(to), users.get_mut(name)) {
        room.members.insert(name.to_string());
        let block = entry_block(room);
        deliver(name, member, text_msg(&block));
    }
}

/// Lo que ve quien entra en una sala: dónde está, el tema y el historial.
fn entry_block(room: &Room) -> String {
    let mut text = p::now_in_room(&room.info.name, room.members.len());
    if let Some(topic) = room.info.topic.as_deref() {
        text.push('\n');
        text.push_str(&p::topic_line(&room.info.name, Some(topic)));
    }
    if !room.history.is_empty() {
        text.push('\n');
        text.push_str(&p::history_header(&room.info.name, room.history.len()));
        for line in &room.history {
            text.push('\n');
            text.push_str(line);
        }
        text.push('\n');
        text.push_str(p::HISTORY_END);
    }
    text
}

/// Encola `msg` para todos los miembros de `room` salvo `except`.
fn fan_out(state: &mut State, room: &str, except: Option<&str>, msg: Arc<[u8]>) {
    let State { rooms, users } = state;
    let Some(room) = rooms.get(room) else {
        return;
    };
    for name in &room.members {
        if Some(name.as_str()) == except {
            continue;
        }
        if let Some(member) = users.get_mut(name) {
            deliver(name, member, Arc::clone(&msg));
        }
    }
}

/// Encola sin bloquear; un cliente con la cola llena se corta (una sola vez).
fn deliver(name: &str, member: &mut Member, msg: Arc<[u8]>) {
    match member.outbox.send(msg) {
        Ok(()) | Err(OutboxError::Closed) => {}
        Err(OutboxError::Full) => {
            if !member.dropped {
                member.dropped = true;
                log::warn!(
                    "[problema6] {} ({name}): su cola de salida está llena (no lee); se desconecta",
                    member.peer
                );
                member.outbox.close();
            }
        }
    }
}

/// Una línea como mensaje para la cola (con su `\n`).
fn line_msg(line: &str) -> Arc<[u8]> {
    text_msg(line)
}

/// Un texto de una o varias líneas como un único mensaje para la cola (un solo hueco en la
/// cola aunque sea el historial entero).
fn text_msg(text: &str) -> Arc<[u8]> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    Arc::from(bytes)
}
