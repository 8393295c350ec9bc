//! Una partida: el estado con autoridad (tablero, turno, asientos, espectadores) y sus reglas.
//!
//! Cada partida tiene su propio cerrojo ([`GameCell`]): las jugadas de partidas distintas no
//! se esperan entre sí. Todo cambio de estado y el anuncio de ese cambio ocurren con el
//! cerrojo tomado, así que nadie ve un tablero a medio cambiar, una jugada no se aplica dos
//! veces (la segunda encuentra el turno cambiado) y todos los destinatarios reciben los
//! eventos en el mismo orden. Anunciar es encolar en las [`Conn`] (nunca bloquea).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::protocolo::{
    best_move, Board, ErrorCode, ForfeitReason, GameSummary, Mark, Outcome, ServerMessage,
};

use super::scoreboard::Scoreboard;
use super::spectators::{encode, Conn, Spectators};
use super::timers::Timers;

/// Qué hay que comprobar cuando vence un plazo.
#[derive(Debug, Clone)]
pub enum TimerEvent {
    /// Fin del plazo de gracia del jugador `name`, desconectado en la vez `away_epoch`.
    Grace {
        /// La partida.
        game: Arc<GameCell>,
        /// Quién se desconectó.
        name: String,
        /// Qué desconexión (si volvió y se fue otra vez, este plazo ya no vale).
        away_epoch: u64,
    },
    /// Fin del tiempo del turno número `ply` de la ronda `round`.
    Turn {
        /// La partida.
        game: Arc<GameCell>,
        /// La ronda (cada revancha es una ronda nueva).
        round: u32,
        /// Fichas en el tablero cuando empezó el turno.
        ply: usize,
    },
}

/// Lo que una partida necesita del resto del servidor para anunciar y programar plazos.
pub struct Ctx<'a> {
    /// La clasificación, para anotar resultados.
    pub scores: &'a Scoreboard,
    /// Los relojes (gracia y turno).
    pub timers: &'a Timers<TimerEvent>,
    /// Plazo de gracia tras una desconexión.
    pub grace: Duration,
    /// Tiempo máximo por turno, si lo hay.
    pub turn_timeout: Option<Duration>,
}

/// Una partida detrás de su cerrojo, con su número a la vista sin tomarlo.
#[derive(Debug)]
pub struct GameCell {
    /// Número de la partida.
    pub id: u64,
    state: Mutex<Game>,
}

impl GameCell {
    /// Envuelve una partida nueva.
    pub fn new(game: Game) -> Arc<GameCell> {
        Arc::new(GameCell {
            id: game.id,
            state: Mutex::new(game),
        })
    }

    /// Toma el cerrojo de la partida (recuperándose del envenenamiento).
    pub fn lock(&self) -> MutexGuard<'_, Game> {
        common::lock(&self.state)
    }
}

/// Quién ocupa un asiento.
#[derive(Debug)]
pub enum SeatKind {
    /// La máquina.
    Cpu,
    /// Una persona (o un bot por la red).
    Human {
        /// Su conexión; `None` mientras está desconectado o tras irse.
        conn: Option<Conn>,
        /// `Some(n)` mientras está desconectado dentro del plazo de gracia número `n`.
        away: Option<u64>,
        /// Dejó la mesa: ya no hay revancha posible.
        gone: bool,
    },
}

/// Un asiento: el nombre y quién lo ocupa.
#[derive(Debug)]
pub struct Seat {
    /// Nombre del jugador (`CPU` para la máquina).
    pub name: String,
    /// Persona o máquina.
    pub kind: SeatKind,
}

impl Seat {
    /// Asiento de una persona conectada.
    pub fn human(name: &str, conn: Conn) -> Seat {
        Seat {
            name: name.to_string(),
            kind: SeatKind::Human {
                conn: Some(conn),
                away: None,
                gone: false,
            },
        }
    }

    /// Asiento de la máquina.
    pub fn cpu() -> Seat {
        Seat {
            name: crate::protocolo::CPU_NAME.to_string(),
            kind: SeatKind::Cpu,
        }
    }

    fn conn(&self) -> Option<&Conn> {
        match &self.kind {
            SeatKind::Human { conn, .. } => conn.as_ref(),
            SeatKind::Cpu => None,
        }
    }

    fn is_present_human(&self, name: &str) -> bool {
        matches!(self.kind, SeatKind::Human { gone: false, .. }) && self.name == name
    }

    fn is_empty(&self) -> bool {
        matches!(
            self.kind,
            SeatKind::Cpu | SeatKind::Human { gone: true, .. }
        )
    }
}

/// Una orden rechazada: el código y el motivo para el `ERROR`.
pub type Refusal = (ErrorCode, String);

/// El estado de una partida.
#[derive(Debug)]
pub struct Game {
    id: u64,
    round: u32,
    board: Board,
    /// `[X, O]`; en cada revancha se intercambian.
    seats: [Seat; 2],
    over: bool,
    rematch: [bool; 2],
    spectators: Spectators,
    next_away: u64,
}

impl Game {
    /// Partida nueva entre `x` y `o` (aún sin anunciar: véase [`Game::begin`]).
    pub fn new(id: u64, x: Seat, o: Seat) -> Game {
        Game {
            id,
            round: 1,
            board: Board::new(),
            seats: [x, o],
            over: false,
            rematch: [false; 2],
            spectators: Spectators::default(),
            next_away: 0,
        }
    }

    /// ¿Sigue en juego?
    pub fn is_running(&self) -> bool {
        !self.over
    }

    /// A quién le toca (`None` si terminó).
    pub fn turn(&self) -> Option<Mark> {
        (!self.over).then(|| self.board.next_mark())
    }

    /// La ficha de `name` si está sentado en esta partida.
    pub fn seat_of(&self, name: &str) -> Option<Mark> {
        [Mark::X, Mark::O]
            .into_iter()
            .find(|m| self.seat(*m).is_present_human(name))
    }

    fn seat(&self, mark: Mark) -> &Seat {
        &self.seats[mark.index()]
    }

    fn seat_mut(&mut self, mark: Mark) -> &mut Seat {
        &mut self.seats[mark.index()]
    }

    /// ¿Se fueron (o son la máquina) los dos asientos? Entonces nadie la necesita ya.
    pub fn is_abandoned(&self) -> bool {
        self.over && self.seats.iter().all(Seat::is_empty)
    }

    /// La fila de `LIST`.
    pub fn summary(&self) -> GameSummary {
        GameSummary {
            id: self.id,
            x: self.seat(Mark::X).name.clone(),
            o: self.seat(Mark::O).name.clone(),
            moves: self.board.count(),
            board: self.board,
            turn: self.turn(),
        }
    }

    fn board_msg(&self) -> ServerMessage {
        ServerMessage::Board {
            game: self.id,
            board: self.board,
            turn: self.turn(),
        }
    }

    fn watching_msg(&self) -> ServerMessage {
        ServerMessage::Watching {
            game: self.id,
            x: self.seat(Mark::X).name.clone(),
            o: self.seat(Mark::O).name.clone(),
        }
    }

    /// Envía `msg` a los dos jugadores conectados y a todos los espectadores.
    fn broadcast(&mut self, msg: &ServerMessage) {
        let line = encode(msg);
        for seat in &self.seats {
            if let Some(conn) = seat.conn() {
                conn.send_raw(&line);
            }
        }
        self.spectators.broadcast(&line);
    }

    /// Como [`Game::broadcast`], pero sin el jugador `except`.
    fn broadcast_except(&mut self, except: Mark, msg: &ServerMessage) {
        let line = encode(msg);
        if let Some(conn) = self.seat(except.other()).conn() {
            conn.send_raw(&line);
        }
        self.spectators.broadcast(&line);
    }

    fn send_to(&self, mark: Mark, msg: &ServerMessage) {
        if let Some(conn) = self.seat(mark).conn() {
            conn.send(msg);
        }
    }

    /// Lo que ve un jugador al empezar o al volver: `START`, `BOARD` y, si le toca,
    /// `YOUR_TURN`.
    fn send_intro(&self, mark: Mark) {
        self.send_to(
            mark,
            &ServerMessage::Start {
                game: self.id,
                mark,
                opponent: self.seat(mark.other()).name.clone(),
            },
        );
        self.send_to(mark, &self.board_msg());
        if self.turn() == Some(mark) {
            self.send_to(
                mark,
                &ServerMessage::YourTurn {
                    game: self.id,
                    mark,
                    board: self.board,
                },
            );
        }
    }

    /// Anuncia el comienzo de la ronda y deja que mueva quien empieza (la máquina, si es X).
    pub fn begin(&mut self, cell: &Arc<GameCell>, ctx: &Ctx) {
        for mark in [Mark::X, Mark::O] {
            // YOUR_TURN lo manda `advance`, después de que todos sepan que ha empezado.
            self.send_to(
                mark,
                &ServerMessage::Start {
                    game: self.id,
                    mark,
                    opponent: self.seat(mark.other()).name.clone(),
                },
            );
        }
        let watching = encode(&self.watching_msg());
        self.spectators.broadcast(&watching);
        let board = self.board_msg();
        self.broadcast(&board);
        self.advance(cell, ctx);
    }

    /// Tras cada cambio: si le toca a la máquina, mueve; si a una persona, se lo dice y
    /// arranca su reloj de turno.
    fn advance(&mut self, cell: &Arc<GameCell>, ctx: &Ctx) {
        while let Some(mark) = self.turn() {
            if matches!(self.seat(mark).kind, SeatKind::Cpu) {
                match best_move(&self.board, mark) {
                    Some(c) => self.apply(mark, c, ctx),
                    None => return,
                }
                continue;
            }
            self.send_to(
                mark,
                &ServerMessage::YourTurn {
                    game: self.id,
                    mark,
                    board: self.board,
                },
            );
            if let Some(after) = ctx.turn_timeout {
                ctx.timers.schedule(
                    after,
                    TimerEvent::Turn {
                        game: Arc::clone(cell),
                        round: self.round,
                        ply: self.board.count(),
                    },
                );
            }
            return;
        }
    }

    /// Pone la ficha (ya validada), lo anuncia y, si la partida acabó, cierra el resultado.
    fn apply(&mut self, mark: Mark, cell: u8, ctx: &Ctx) {
        if self.board.place(cell, mark).is_err() {
            return;
        }
        let outcome = self.board.outcome();
        let next = if outcome.is_some() {
            None
        } else {
            Some(self.board.next_mark())
        };
        self.broadcast(&ServerMessage::Moved {
            game: self.id,
            mark,
            cell,
            board: self.board,
            next,
        });
        match outcome {
            Some(Outcome::Win { mark, line }) => {
                self.over = true;
                let (w, l) = (
                    self.seat(mark).name.clone(),
                    self.seat(mark.other()).name.clone(),
                );
                ctx.scores.record_win(&w, &l);
                self.broadcast(&ServerMessage::Win {
                    game: self.id,
                    mark,
                    name: w,
                    line,
                });
            }
            Some(Outcome::Draw) => {
                self.over = true;
                ctx.scores
                    .record_draw(&self.seats[0].name, &self.seats[1].name);
                self.broadcast(&ServerMessage::Draw(self.id));
            }
            None => {}
        }
    }

    /// La jugada `cell` de `name`, con todas las comprobaciones.
    ///
    /// # Errores
    /// `NOT_IN_GAME`, `GAME_OVER`, `NOT_YOUR_TURN`, `OUT_OF_RANGE` u `OCCUPIED`, en ese
    /// orden de comprobación; el estado no cambia.
    pub fn play(
        &mut self,
        name: &str,
        cell: u8,
        me: &Arc<GameCell>,
        ctx: &Ctx,
    ) -> Result<(), Refusal> {
        let mark = self.seat_of(name).ok_or((
            ErrorCode::NotInGame,
            "no está jugando ninguna partida".to_string(),
        ))?;
        if self.over {
            return Err((
                ErrorCode::GameOver,
                format!(
                    "la partida {} ya terminó: REMATCH para la revancha o PLAY para otra",
                    self.id
                ),
            ));
        }
        if self.board.next_mark() != mark {
            return Err((
                ErrorCode::NotYourTurn,
                format!("no es su turno: le toca a {}", mark.other()),
            ));
        }
        let mut probe = self.board;
        probe.place(cell, mark).map_err(|e| {
            let code = match e {
                crate::protocolo::MoveError::OutOfRange(_) => ErrorCode::OutOfRange,
                crate::protocolo::MoveError::Occupied(_) => ErrorCode::Occupied,
            };
            (code, e.to_string())
        })?;
        self.apply(mark, cell, ctx);
        self.advance(me, ctx);
        Ok(())
    }

    /// `mark` pierde por abandono (si la partida sigue).
    pub fn forfeit(&mut self, mark: Mark, reason: ForfeitReason, ctx: &Ctx) {
        if self.over {
            return;
        }
        self.over = true;
        let (w, l) = (
            self.seat(mark.other()).name.clone(),
            self.seat(mark).name.clone(),
        );
        ctx.scores.record_win(&w, &l);
        self.broadcast(&ServerMessage::Forfeit {
            game: self.id,
            mark,
            name: l,
            reason,
        });
    }

    /// `name` deja la mesa (`LEAVE`, `QUIT`, `PLAY` otra vez o fin de la gracia): si la
    /// partida seguía, pierde por `reason`; después todos reciben `LEFT`.
    pub fn leave(&mut self, name: &str, reason: ForfeitReason, ctx: &Ctx) {
        let Some(mark) = self.seat_of(name) else {
            return;
        };
        self.forfeit(mark, reason, ctx);
        // Primero el aviso (aún le llega a quien se va), después se vacía el asiento.
        self.broadcast(&ServerMessage::Left {
            game: self.id,
            mark,
            name: name.to_string(),
        });
        if let SeatKind::Human { conn, away, gone } = &mut self.seat_mut(mark).kind {
            *conn = None;
            *away = None;
            *gone = true;
        }
    }

    /// La conexión de `name` se cortó. Con la partida en curso empieza su plazo de gracia
    /// (`AWAY` a los demás) y devuelve `true`: el jugador sigue sentado y puede volver. Con la
    /// partida terminada deja la mesa y devuelve `false`.
    pub fn disconnected(&mut self, name: &str, me: &Arc<GameCell>, ctx: &Ctx) -> bool {
        let Some(mark) = self.seat_of(name) else {
            return false;
        };
        if self.over {
            self.leave(name, ForfeitReason::Disconnected, ctx);
            return false;
        }
        self.next_away += 1;
        let epoch = self.next_away;
        if let SeatKind::Human { conn, away, .. } = &mut self.seat_mut(mark).kind {
            *conn = None;
            *away = Some(epoch);
        }
        let grace_ms = u64::try_from(ctx.grace.as_millis()).unwrap_or(u64::MAX);
        self.broadcast_except(
            mark,
            &ServerMessage::Away {
                game: self.id,
                mark,
                name: name.to_string(),
                grace_ms,
            },
        );
        ctx.timers.schedule(
            ctx.grace,
            TimerEvent::Grace {
                game: Arc::clone(me),
                name: name.to_string(),
                away_epoch: epoch,
            },
        );
        true
    }

    /// `name` vuelve con una conexión nueva: los demás reciben `BACK` y él, `START`, `BOARD`
    /// y `YOUR_TURN` si le toca. Devuelve `false` si no estaba esperando volver aquí.
    pub fn reconnected(&mut self, name: &str, new_conn: Conn) -> bool {
        let Some(mark) = self.seat_of(name) else {
            return false;
        };
        match &mut self.seat_mut(mark).kind {
            SeatKind::Human { conn, away, .. } if away.is_some() => {
                *conn = Some(new_conn);
                *away = None;
            }
            _ => return false,
        }
        self.broadcast_except(
            mark,
            &ServerMessage::Back {
                game: self.id,
                mark,
                name: name.to_string(),
            },
        );
        self.send_intro(mark);
        true
    }

    /// Venció el plazo de gracia número `epoch` de `name`: si no volvió, pierde por
    /// abandono y deja la mesa. Devuelve `true` si dejó la mesa (el lobby lo olvida).
    pub fn grace_expired(&mut self, name: &str, epoch: u64, ctx: &Ctx) -> bool {
        let Some(mark) = self.seat_of(name) else {
            return false;
        };
        if !matches!(self.seat(mark).kind, SeatKind::Human { away: Some(e), .. } if e == epoch) {
            return false;
        }
        self.leave(name, ForfeitReason::Disconnected, ctx);
        true
    }

    /// Venció el tiempo del turno `ply` de la ronda `round`: si nadie ha movido desde
    /// entonces, quien tenía el turno pierde.
    pub fn turn_expired(&mut self, round: u32, ply: usize, ctx: &Ctx) {
        if self.over || self.round != round || self.board.count() != ply {
            return;
        }
        let mark = self.board.next_mark();
        self.forfeit(mark, ForfeitReason::Timeout, ctx);
    }

    /// `name` pide la revancha; cuando la piden los dos (o el rival es la máquina) empieza
    /// una ronda nueva con las fichas cambiadas.
    ///
    /// # Errores
    /// `NO_REMATCH` si la partida sigue o el rival ya se fue.
    pub fn rematch(&mut self, name: &str, me: &Arc<GameCell>, ctx: &Ctx) -> Result<(), Refusal> {
        let mark = self.seat_of(name).ok_or((
            ErrorCode::NoRematch,
            "no hay ninguna partida terminada de la que pedir revancha".to_string(),
        ))?;
        if !self.over {
            return Err((
                ErrorCode::NoRematch,
                "la partida sigue en curso".to_string(),
            ));
        }
        let rival = self.seat(mark.other());
        match &rival.kind {
            SeatKind::Human { gone: true, .. } => {
                return Err((
                    ErrorCode::NoRematch,
                    format!("{} ya dejó la mesa", rival.name),
                ))
            }
            SeatKind::Human { .. } => {
                self.rematch[mark.index()] = true;
            }
            SeatKind::Cpu => {
                self.rematch = [true; 2];
            }
        }
        if self.rematch == [true; 2] {
            self.seats.swap(0, 1);
            self.round += 1;
            self.board = Board::new();
            self.over = false;
            self.rematch = [false; 2];
            self.begin(me, ctx);
        } else {
            self.send_to(mark, &ServerMessage::RematchWaiting(self.id));
            self.send_to(
                mark.other(),
                &ServerMessage::RematchOffered {
                    game: self.id,
                    name: name.to_string(),
                },
            );
        }
        Ok(())
    }

    /// Añade un espectador: recibe `WATCHING` y `BOARD`, y desde ese momento cada evento.
    pub fn watch(&mut self, conn: Conn) {
        conn.send(&self.watching_msg());
        conn.send(&self.board_msg());
        self.spectators.add(conn);
    }

    /// Quita al espectador `id`.
    pub fn unwatch(&mut self, id: u64) -> bool {
        self.spectators.remove(id)
    }
}
