//! El vestíbulo: nombres, cola de emparejamiento, partidas privadas por código y el índice
//! de partidas. Es el único sitio donde se crean partidas.
//!
//! Un cerrojo (`Lobby`) protege todo esto; se toma antes que el de cualquier partida (véase
//! el orden en `servidor`). Las jugadas no lo tocan: cada conexión guarda una copia de su
//! asiento ([`SeatSlot`]) que el vestíbulo mantiene al día, y con ella va directa al cerrojo
//! de su partida.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::Rng;

use crate::protocolo::{Command, ErrorCode, ForfeitReason, PlayTarget, ServerMessage, HELP_LINES};

use super::games::{Ctx, Game, GameCell, Refusal, Seat, TimerEvent};
use super::scoreboard::Scoreboard;
use super::spectators::Conn;
use super::timers::Timers;
use super::ServerConfig;

/// Envía varias líneas como una sola entrada de la cola de salida: una respuesta larga
/// (`SCORES` con miles de nombres) no debe llenar la cola y hacer parecer lento al cliente.
fn send_batch(conn: &Conn, messages: impl Iterator<Item = ServerMessage>) {
    let mut buf = Vec::new();
    for m in messages {
        buf.extend_from_slice(m.encode().as_bytes());
        buf.push(b'\n');
    }
    conn.send_raw(&buf.into());
}

/// Dónde está un jugador con nombre.
#[derive(Debug, Clone)]
enum Place {
    /// Sin cola ni partida.
    Idle,
    /// En la cola de emparejamiento.
    Queued,
    /// Esperando a un amigo con este código.
    Waiting(String),
    /// Sentado en una partida (en curso o terminada, hasta que deje la mesa).
    Seated(Arc<GameCell>),
}

/// La partida donde está sentado un jugador, compartida entre el vestíbulo (que la cambia al
/// emparejar o al dejar la mesa) y la conexión del jugador (que la lee en cada `MOVE` sin
/// tocar el cerrojo del vestíbulo, muy disputado mientras miles de `PLAY` esperan pareja).
/// Es una hoja del orden de cerrojos: con ella tomada no se toma nada más.
pub type SeatSlot = Arc<Mutex<Option<Arc<GameCell>>>>;

#[derive(Debug)]
struct Player {
    token: String,
    /// `None` mientras está desconectado dentro del plazo de gracia.
    conn: Option<Conn>,
    place: Place,
    seat: SeatSlot,
}

impl Player {
    /// Cambia de sitio manteniendo al día la copia de la conexión.
    fn set_place(&mut self, place: Place) {
        *common::lock(&self.seat) = match &place {
            Place::Seated(cell) => Some(Arc::clone(cell)),
            _ => None,
        };
        self.place = place;
    }
}

#[derive(Debug, Default)]
struct Lobby {
    players: HashMap<String, Player>,
    queue: VecDeque<String>,
    private: HashMap<String, String>,
    games: BTreeMap<u64, Arc<GameCell>>,
}

impl Lobby {
    /// Quita a `name` de la cola o de la espera privada (si estaba) y lo deja `Idle`.
    fn unqueue(&mut self, name: &str) {
        let Some(player) = self.players.get_mut(name) else {
            return;
        };
        match &player.place {
            Place::Queued => {
                player.set_place(Place::Idle);
                self.queue.retain(|n| n != name);
            }
            Place::Waiting(code) => {
                let code = code.clone();
                player.set_place(Place::Idle);
                self.private.remove(&code);
            }
            Place::Idle | Place::Seated(_) => {}
        }
    }
}

/// Lo que dice la conexión sobre sí misma al vestíbulo en cada orden.
#[derive(Debug, Default)]
pub struct Session {
    /// El nombre aceptado, si ya lo tiene.
    pub name: Option<String>,
    /// La partida que mira, si mira alguna.
    pub watching: Option<Arc<GameCell>>,
    /// Dónde está sentado (la copia que mantiene el vestíbulo), desde que tiene nombre.
    pub seat: Option<SeatSlot>,
}

/// ¿Sigue la conexión después de la orden?
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Seguir leyendo órdenes.
    Continue,
    /// Cerrar (tras `QUIT`).
    Quit,
}

/// El estado compartido del servidor: vestíbulo, clasificación y relojes.
pub struct Hub {
    config: ServerConfig,
    lobby: Mutex<Lobby>,
    scores: Scoreboard,
    timers: Timers<TimerEvent>,
    next_game: AtomicU64,
    next_conn: AtomicU64,
}

impl Hub {
    /// Estado vacío con la configuración dada.
    pub fn new(config: ServerConfig) -> Hub {
        Hub {
            config,
            lobby: Mutex::new(Lobby::default()),
            scores: Scoreboard::default(),
            timers: Timers::default(),
            next_game: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
        }
    }

    /// La configuración.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Los relojes (el hilo vigilante los recorre).
    pub fn timers(&self) -> &Timers<TimerEvent> {
        &self.timers
    }

    /// Número para una conexión nueva.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            scores: &self.scores,
            timers: &self.timers,
            grace: self.config.grace,
            turn_timeout: self.config.turn_timeout,
        }
    }

    fn lobby(&self) -> MutexGuard<'_, Lobby> {
        common::lock(&self.lobby)
    }

    /// Atiende una orden de la conexión `conn`.
    pub fn dispatch(&self, conn: &Conn, session: &mut Session, cmd: Command) -> Flow {
        let result = match cmd {
            Command::Name { name, token } => self.name(conn, session, name, token),
            Command::Help => {
                let lines = HELP_LINES
                    .iter()
                    .map(|l| ServerMessage::Info(l.to_string()));
                send_batch(conn, lines);
                Ok(())
            }
            Command::List => {
                self.list(conn);
                Ok(())
            }
            Command::Scores => {
                self.send_scores(conn);
                Ok(())
            }
            Command::Watch(id) => self.watch(conn, session, id),
            Command::Quit => {
                self.leave(conn, session, false);
                conn.send(&ServerMessage::Bye("hasta pronto".to_string()));
                return Flow::Quit;
            }
            Command::Leave => {
                self.leave(conn, session, true);
                Ok(())
            }
            Command::Play(target) => self.play(conn, session, target),
            Command::Move(cell) => self.play_move(session, cell),
            Command::Rematch => self.rematch(session),
        };
        if let Err((code, text)) = result {
            log::debug!("conexión {}: {} {text}", conn.id, code.as_str());
            conn.send(&ServerMessage::Error { code, text });
        }
        Flow::Continue
    }

    fn need_name(session: &Session) -> Result<&str, Refusal> {
        session.name.as_deref().ok_or((
            ErrorCode::NoName,
            "primero elija un nombre con NAME <nombre>".to_string(),
        ))
    }

    fn name(
        &self,
        conn: &Conn,
        session: &mut Session,
        name: String,
        token: Option<String>,
    ) -> Result<(), Refusal> {
        if let Some(current) = &session.name {
            return Err((
                ErrorCode::AlreadyNamed,
                format!("esta conexión ya se llama {current}"),
            ));
        }
        let mut lobby = self.lobby();
        if let Some(player) = lobby.players.get_mut(&name) {
            if player.conn.is_some() {
                return Err((
                    ErrorCode::NameTaken,
                    format!("el nombre {name} ya está en uso: elija otro"),
                ));
            }
            if token.as_deref() != Some(player.token.as_str()) {
                return Err((
                    ErrorCode::NameTaken,
                    format!(
                        "{name} está desconectado de una partida: para volver envíe NAME {name} <token>"
                    ),
                ));
            }
            // Vuelve dentro del plazo de gracia.
            player.conn = Some(conn.clone());
            conn.send(&ServerMessage::Hello {
                name: name.clone(),
                token: player.token.clone(),
            });
            if let Place::Seated(cell) = &player.place {
                let cell = Arc::clone(cell);
                cell.lock().reconnected(&name, conn.clone());
            }
            log::info!("conexión {}: {name} vuelve a su partida", conn.id);
            session.seat = Some(Arc::clone(&player.seat));
            session.name = Some(name);
            return Ok(());
        }
        let token = format!("{:016x}", rand::thread_rng().gen::<u64>());
        let seat = SeatSlot::default();
        session.seat = Some(Arc::clone(&seat));
        lobby.players.insert(
            name.clone(),
            Player {
                token: token.clone(),
                conn: Some(conn.clone()),
                place: Place::Idle,
                seat,
            },
        );
        conn.send(&ServerMessage::Hello {
            name: name.clone(),
            token,
        });
        log::info!("conexión {}: se llama {name}", conn.id);
        session.name = Some(name);
        Ok(())
    }

    fn list(&self, conn: &Conn) {
        let cells: Vec<Arc<GameCell>> = self.lobby().games.values().cloned().collect();
        // Sin el cerrojo del vestíbulo: cada partida se consulta con el suyo.
        let rows: Vec<_> = cells
            .iter()
            .filter_map(|c| {
                let g = c.lock();
                g.is_running().then(|| g.summary())
            })
            .collect();
        let header = ServerMessage::Games(rows.len());
        send_batch(
            conn,
            std::iter::once(header).chain(rows.into_iter().map(ServerMessage::Game)),
        );
    }

    fn send_scores(&self, conn: &Conn) {
        let rows = self.scores.snapshot();
        let header = ServerMessage::Scores(rows.len());
        let scores = rows.into_iter().map(|(name, s)| ServerMessage::Score {
            name,
            wins: s.wins,
            draws: s.draws,
            losses: s.losses,
        });
        send_batch(conn, std::iter::once(header).chain(scores));
    }

    /// ¿Está `name` en la cola o en una partida en curso? (no puede mirar ni volver a jugar)
    fn busy_reason(lobby: &Lobby, name: &str) -> Option<String> {
        match &lobby.players.get(name)?.place {
            Place::Idle => None,
            Place::Queued | Place::Waiting(_) => {
                Some("ya está esperando rival: LEAVE para salir de la cola".to_string())
            }
            Place::Seated(cell) => {
                let g = cell.lock();
                g.is_running().then(|| {
                    format!(
                        "ya está jugando la partida {}: termínela o LEAVE para abandonar",
                        cell.id
                    )
                })
            }
        }
    }

    fn stop_watching(session: &mut Session, conn: &Conn) -> bool {
        match session.watching.take() {
            Some(cell) => cell.lock().unwatch(conn.id),
            None => false,
        }
    }

    fn watch(&self, conn: &Conn, session: &mut Session, id: u64) -> Result<(), Refusal> {
        let cell = {
            let lobby = self.lobby();
            if let Some(name) = &session.name {
                if let Some(reason) = Self::busy_reason(&lobby, name) {
                    return Err((ErrorCode::Busy, reason));
                }
            }
            lobby.games.get(&id).cloned().ok_or((
                ErrorCode::NoSuchGame,
                format!("no existe la partida {id}: véalas con LIST"),
            ))?
        };
        Self::stop_watching(session, conn);
        cell.lock().watch(conn.clone());
        session.watching = Some(cell);
        Ok(())
    }

    /// `LEAVE` (y `QUIT`): deja de mirar, sale de la cola o deja la mesa (perdiendo si la
    /// partida seguía). Con `ack` responde `OK LEAVE`.
    fn leave(&self, conn: &Conn, session: &mut Session, ack: bool) {
        Self::stop_watching(session, conn);
        if let Some(name) = session.name.clone() {
            let mut lobby = self.lobby();
            lobby.unqueue(&name);
            self.leave_table(&mut lobby, &name);
        }
        if ack {
            conn.send(&ServerMessage::Ok("LEAVE".to_string()));
        }
    }

    /// Saca a `name` de su mesa (si tiene) y olvida la partida si ya no queda nadie.
    fn leave_table(&self, lobby: &mut Lobby, name: &str) {
        let Some(player) = lobby.players.get_mut(name) else {
            return;
        };
        let Place::Seated(cell) = player.place.clone() else {
            return;
        };
        player.set_place(Place::Idle);
        let abandoned = {
            let mut g = cell.lock();
            g.leave(name, ForfeitReason::Left, &self.ctx());
            g.is_abandoned()
        };
        if abandoned {
            lobby.games.remove(&cell.id);
        }
    }

    fn play(&self, conn: &Conn, session: &mut Session, target: PlayTarget) -> Result<(), Refusal> {
        let name = Self::need_name(session)?.to_string();
        let mut lobby = self.lobby();
        if let Some(reason) = Self::busy_reason(&lobby, &name) {
            return Err((ErrorCode::Busy, reason));
        }
        // Dejar la mesa de la partida anterior (terminada) y de mirar.
        self.leave_table(&mut lobby, &name);
        Self::stop_watching(session, conn);
        match target {
            PlayTarget::Cpu => {
                self.start_game(&mut lobby, Seat::human(&name, conn.clone()), Seat::cpu());
            }
            PlayTarget::Queue => match lobby.queue.pop_front() {
                Some(rival) => {
                    let seat = self.seat_for(&lobby, &rival)?;
                    self.start_game(&mut lobby, seat, Seat::human(&name, conn.clone()));
                }
                None => {
                    lobby.queue.push_back(name.clone());
                    let position = lobby.queue.len();
                    if let Some(p) = lobby.players.get_mut(&name) {
                        p.set_place(Place::Queued);
                    }
                    conn.send(&ServerMessage::Queued(position));
                }
            },
            PlayTarget::Code(code) => match lobby.private.remove(&code) {
                Some(rival) => {
                    let seat = self.seat_for(&lobby, &rival)?;
                    self.start_game(&mut lobby, seat, Seat::human(&name, conn.clone()));
                }
                None => {
                    lobby.private.insert(code.clone(), name.clone());
                    if let Some(p) = lobby.players.get_mut(&name) {
                        p.set_place(Place::Waiting(code.clone()));
                    }
                    conn.send(&ServerMessage::Waiting(code));
                }
            },
        }
        Ok(())
    }

    /// El asiento de quien esperaba en la cola. Quien se desconecta sale de la cola en ese
    /// mismo momento, así que siempre tiene conexión; si no, es un error del servidor.
    fn seat_for(&self, lobby: &Lobby, rival: &str) -> Result<Seat, Refusal> {
        match lobby.players.get(rival).and_then(|p| p.conn.clone()) {
            Some(c) => Ok(Seat::human(rival, c)),
            None => {
                log::error!("{rival} estaba en la cola sin conexión");
                Err((
                    ErrorCode::Busy,
                    "el rival ya no está: vuelva a intentarlo".to_string(),
                ))
            }
        }
    }

    /// Crea la partida, la registra, sienta a los jugadores y la anuncia.
    fn start_game(&self, lobby: &mut Lobby, x: Seat, o: Seat) {
        let id = self.next_game.fetch_add(1, Ordering::Relaxed);
        let names = [x.name.clone(), o.name.clone()];
        let cell = GameCell::new(Game::new(id, x, o));
        lobby.games.insert(id, Arc::clone(&cell));
        for n in &names {
            if let Some(p) = lobby.players.get_mut(n) {
                p.set_place(Place::Seated(Arc::clone(&cell)));
            }
        }
        log::info!("partida {id}: {} contra {}", names[0], names[1]);
        // El cerrojo del vestíbulo y después el de la partida: el orden permitido.
        cell.lock().begin(&cell, &self.ctx());
    }

    /// La partida donde está sentado `session` (copia del `Arc`, sin cerrojos tomados).
    fn seated_game(&self, session: &Session) -> Result<(String, Arc<GameCell>), Refusal> {
        let not_in_game = || {
            if session.watching.is_some() {
                (
                    ErrorCode::Spectator,
                    "los espectadores no pueden mover".to_string(),
                )
            } else {
                (
                    ErrorCode::NotInGame,
                    "no está jugando ninguna partida: PLAY para empezar".to_string(),
                )
            }
        };
        let name = session.name.as_deref().ok_or_else(not_in_game)?;
        let seat = session.seat.as_ref().ok_or_else(not_in_game)?;
        let cell = common::lock(seat).clone().ok_or_else(not_in_game)?;
        Ok((name.to_string(), cell))
    }

    fn play_move(&self, session: &Session, cell_number: u8) -> Result<(), Refusal> {
        let (name, cell) = self.seated_game(session)?;
        let result = cell.lock().play(&name, cell_number, &cell, &self.ctx());
        result
    }

    fn rematch(&self, session: &Session) -> Result<(), Refusal> {
        let (name, cell) = self.seated_game(session).map_err(|(_, _)| {
            (
                ErrorCode::NoRematch,
                "no hay ninguna partida terminada de la que pedir revancha".to_string(),
            )
        })?;
        let result = cell.lock().rematch(&name, &cell, &self.ctx());
        result
    }

    /// La conexión se cerró (o la cortó el servidor): deja de mirar, sale de la cola y, si
    /// jugaba una partida en curso, empieza su plazo de gracia.
    pub fn disconnect(&self, conn: &Conn, session: &mut Session) {
        Self::stop_watching(session, conn);
        let Some(name) = session.name.take() else {
            return;
        };
        let mut lobby = self.lobby();
        let owned = lobby
            .players
            .get(&name)
            .is_some_and(|p| p.conn.as_ref().map(|c| c.id) == Some(conn.id));
        if !owned {
            return;
        }
        lobby.unqueue(&name);
        let Some(player) = lobby.players.get_mut(&name) else {
            return;
        };
        player.conn = None;
        let keep = match &player.place {
            Place::Seated(cell) => {
                let cell = Arc::clone(cell);
                let (keep, abandoned) = {
                    let mut g = cell.lock();
                    let keep = g.disconnected(&name, &cell, &self.ctx());
                    (keep, g.is_abandoned())
                };
                if abandoned {
                    lobby.games.remove(&cell.id);
                }
                if keep {
                    log::info!(
                        "{name} se desconectó de la partida {}: tiene {:?} para volver",
                        cell.id,
                        self.config.grace
                    );
                }
                keep
            }
            _ => false,
        };
        if !keep {
            lobby.players.remove(&name);
        }
    }

    /// Un plazo venció (lo llama el hilo de los relojes, sin cerrojos tomados).
    pub fn fire(&self, event: TimerEvent) {
        match event {
            TimerEvent::Turn { game, round, ply } => {
                game.lock().turn_expired(round, ply, &self.ctx());
            }
            TimerEvent::Grace {
                game,
                name,
                away_epoch,
            } => {
                let mut lobby = self.lobby();
                let (left, abandoned) = {
                    let mut g = game.lock();
                    let left = g.grace_expired(&name, away_epoch, &self.ctx());
                    (left, g.is_abandoned())
                };
                if left {
                    log::info!("{name} no volvió a tiempo a la partida {}", game.id);
                    let still_away = lobby.players.get(&name).is_some_and(|p| p.conn.is_none());
                    if still_away {
                        lobby.players.remove(&name);
                    }
                }
                if abandoned {
                    lobby.games.remove(&game.id);
                }
            }
        }
    }
}
