//! Carga del problema 8: muchas partidas de tres en raya a la vez, jugadas por bots.
//!
//! Conecta `2 × --games` jugadores (todos eligen nombre antes de empezar), los suelta a la
//! vez con `PLAY` para que el emparejamiento los junte por orden de llegada, y añade
//! `--spectators` espectadores repartidos entre las partidas. Cada bot juega al azar.
//!
//! Mide:
//! - partidas por segundo: partidas terminadas / tiempo desde que se suelta a los jugadores
//!   hasta que termina la última;
//! - latencia de jugada: desde que el bot envía `MOVE` hasta que el `MOVED` correspondiente
//!   ha llegado a los dos jugadores y a todos los espectadores que miraban (p50, p99, máx.);
//! - errores de protocolo: cualquier `ERROR`, línea que no se entienda, cierre inesperado o
//!   partida en que los dos jugadores no vean el mismo resultado;
//! - memoria máxima del servidor (VmHWM) si se da `--server-pid`.
//!
//! Sale con código 1 si alguna partida no terminó o hubo algún error.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use problema8::cliente::{BotKind, Messages};
use problema8::protocolo::{Command, ServerMessage};

/// Partidas concurrentes de tres en raya contra el servidor del problema 8.
#[derive(Parser)]
#[command(about)]
struct Args {
    /// Dirección del servidor
    #[arg(long, default_value = "127.0.0.1:8008")]
    addr: String,
    /// Partidas simultáneas (el doble de jugadores)
    #[arg(long, default_value_t = 1000)]
    games: usize,
    /// Conexiones espectadoras (cada una mira una partida)
    #[arg(long, default_value_t = 200)]
    spectators: usize,
    /// Pausa media de cada bot antes de mover, en milisegundos (al azar entre 0 y el doble;
    /// 0 = sin pausa: todos mueven en cuanto les toca)
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Tiempo máximo de espera de cada lectura, en segundos
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Muestra en stderr las N jugadas más lentas (partida, número, cuándo se enviaron)
    #[arg(long, default_value_t = 0)]
    worst: usize,
    /// PID del servidor, para leer su memoria máxima (VmHWM)
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Cuándo se envió una jugada y cuándo llegó su `MOVED` al último destinatario.
#[derive(Clone, Copy)]
struct Timing {
    sent: Option<Instant>,
    last: Option<Instant>,
}

/// Trozos de la tabla de tiempos.
const SHARDS: usize = 64;

#[derive(Default)]
struct Shared {
    /// (partida, fichas en el tablero tras la jugada) -> tiempos, repartido en
    /// [`SHARDS`] cerrojos para que miles de hilos no se esperen en uno solo.
    timings: Vec<Mutex<HashMap<(u64, usize), Timing>>>,
    /// Partidas empezadas (las anota quien juega con X), para repartir espectadores.
    started: Mutex<Vec<u64>>,
    /// Partidas con su espectador ya dentro; X no abre hasta entonces, para que el
    /// espectador vea la partida entera.
    watched: Mutex<HashSet<u64>>,
    watched_cond: Condvar,
    /// Resultado visto por cada jugador: partida -> líneas de fin.
    results: Mutex<HashMap<u64, Vec<String>>>,
    errors: AtomicU64,
    /// Jugadores que ya terminaron su partida (o fallaron): nadie se despide hasta que
    /// terminan todos, para que el cierre de miles de conexiones e hilos no caiga en mitad
    /// de las partidas que aún se juegan y enturbie la medida.
    done: Mutex<usize>,
    done_cond: Condvar,
    players: usize,
    finished_games: AtomicU64,
    last_finish: Mutex<Option<Instant>>,
}

impl Shared {
    fn error(&self, who: &str, what: &str) {
        if self.errors.fetch_add(1, Ordering::Relaxed) < 10 {
            eprintln!("error de protocolo ({who}): {what}");
        }
    }

    fn new(players: usize) -> Self {
        Self {
            timings: (0..SHARDS).map(|_| Mutex::default()).collect(),
            players,
            ..Self::default()
        }
    }

    fn mark_done(&self) {
        let mut done = common::lock(&self.done);
        *done += 1;
        if *done >= self.players {
            self.done_cond.notify_all();
        }
    }

    /// Espera (como mucho `timeout`) a que todos los jugadores hayan terminado.
    fn wait_all_done(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut done = common::lock(&self.done);
        while *done < self.players && Instant::now() < deadline {
            done = common::sync::wait_timeout(&self.done_cond, done, Duration::from_millis(100)).0;
        }
    }

    fn timings(&self, game: u64) -> std::sync::MutexGuard<'_, HashMap<(u64, usize), Timing>> {
        // `timings` siempre tiene SHARDS trozos (véase `new`).
        common::lock(&self.timings[(game % SHARDS as u64) as usize])
    }

    fn note_arrival(&self, game: u64, ply: usize) {
        let now = Instant::now();
        let mut t = self.timings(game);
        let entry = t.entry((game, ply)).or_insert(Timing {
            sent: None,
            last: None,
        });
        entry.last = Some(entry.last.map_or(now, |l| l.max(now)));
    }
}

fn send(stream: &mut TcpStream, cmd: &Command) -> std::io::Result<()> {
    stream.write_all(format!("{}\n", cmd.encode()).as_bytes())
}

/// Un jugador: nombre, espera en la barrera, `PLAY`, juega al azar, `QUIT`.
fn player(
    addr: String,
    index: usize,
    spectators: usize,
    timeout: Duration,
    think: Duration,
    ready: Arc<Barrier>,
    shared: Arc<Shared>,
) {
    let who = format!("j{index}");
    let fail = |what: String| shared.error(&who, &what);
    // Cuenta al jugador como terminado una sola vez, también si sale por un error.
    let mut done = Some(DoneGuard(&shared));
    let stream = match common::cli::connect_with_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            fail(format!("conectar: {e}"));
            ready.wait();
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        fail("try_clone".into());
        ready.wait();
        return;
    };
    let mut messages = Messages::new(BufReader::new(stream));
    let named = send(
        &mut writer,
        &Command::Name {
            name: who.clone(),
            token: None,
        },
    )
    .is_ok()
        && loop {
            match messages.next_message() {
                Ok(Some(ServerMessage::Hello { .. })) => break true,
                Ok(Some(ServerMessage::Welcome(_))) => continue,
                other => {
                    fail(format!("esperaba HELLO: {other:?}"));
                    break false;
                }
            }
        };
    ready.wait();
    if !named
        || send(
            &mut writer,
            &Command::Play(problema8::protocolo::PlayTarget::Queue),
        )
        .is_err()
    {
        return;
    }
    let mut game = None;
    let mut watched_game = false;
    // xorshift64 sembrado con el índice: cada bot con su propia secuencia de pausas.
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15 ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
    loop {
        let msg = match messages.next_message() {
            Ok(Some(m)) => m,
            Ok(None) => return fail("el servidor cerró antes de tiempo".into()),
            Err(e) => return fail(format!("{e}")),
        };
        match &msg {
            ServerMessage::Start { game: g, mark, .. } => {
                game = Some(*g);
                if *mark == problema8::protocolo::Mark::X {
                    let mut started = common::lock(&shared.started);
                    started.push(*g);
                    watched_game = started.len() <= spectators;
                }
            }
            ServerMessage::YourTurn {
                game: g,
                mark,
                board,
            } => {
                if watched_game && board.count() == 0 {
                    // Esperar a que su espectador esté dentro (como mucho `timeout`).
                    let deadline = Instant::now() + timeout;
                    let mut w = common::lock(&shared.watched);
                    while !w.contains(g) && Instant::now() < deadline {
                        w = common::sync::wait_timeout(
                            &shared.watched_cond,
                            w,
                            Duration::from_millis(100),
                        )
                        .0;
                    }
                }
                if !think.is_zero() {
                    // Pausa al azar entre 0 y 2·think (media `think`): sin ella, todas las
                    // partidas moverían al compás, a ráfagas de mil jugadas a la vez.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let max = think.as_micros().max(1) as u64 * 2;
                    thread::sleep(Duration::from_micros(rng % max));
                }
                let Some(cell) = BotKind::Random.choose(board, *mark) else {
                    return fail("YOUR_TURN sin casillas libres".into());
                };
                shared.timings(*g).insert(
                    (*g, board.count() + 1),
                    Timing {
                        sent: Some(Instant::now()),
                        last: None,
                    },
                );
                if send(&mut writer, &Command::Move(cell)).is_err() {
                    return fail("no se pudo enviar MOVE".into());
                }
            }
            ServerMessage::Moved { game: g, board, .. } => shared.note_arrival(*g, board.count()),
            m if m.is_game_over() && m.game() == game => {
                let g = game.unwrap_or_default();
                let seen = {
                    let mut r = common::lock(&shared.results);
                    let v = r.entry(g).or_default();
                    v.push(m.encode());
                    v.len()
                };
                if seen == 2 {
                    shared.finished_games.fetch_add(1, Ordering::Relaxed);
                    *common::lock(&shared.last_finish) = Some(Instant::now());
                }
                drop(done.take());
                shared.wait_all_done(timeout);
                let _ = send(&mut writer, &Command::Quit);
            }
            ServerMessage::Bye(_) => return,
            ServerMessage::Error { code, text } => {
                return fail(format!("{} {text}", code.as_str()));
            }
            _ => {}
        }
    }
}

/// Un espectador: espera a que empiece la partida `index`-ésima, la mira y anota la llegada
/// de cada jugada hasta el final. Su jugador X no abre hasta que el espectador está dentro.
fn spectator(addr: String, index: usize, timeout: Duration, shared: Arc<Shared>) {
    let who = format!("espectador{index}");
    let fail = |what: String| shared.error(&who, &what);
    let deadline = Instant::now() + timeout;
    let target = loop {
        let started = common::lock(&shared.started);
        if started.len() > index {
            break started.get(index).copied();
        }
        drop(started);
        if Instant::now() > deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(1));
    };
    let Some(target) = target else {
        return;
    };
    let stream = match common::cli::connect_with_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("conectar: {e}")),
    };
    let Ok(mut writer) = stream.try_clone() else {
        return fail("try_clone".into());
    };
    let mut messages = Messages::new(BufReader::new(stream));
    if send(&mut writer, &Command::Watch(target)).is_err() {
        return fail("no se pudo enviar WATCH".into());
    }
    loop {
        match messages.next_message() {
            Ok(Some(ServerMessage::Watching { game, .. })) => {
                common::lock(&shared.watched).insert(game);
                shared.watched_cond.notify_all();
            }
            Ok(Some(ServerMessage::Moved { game, board, .. })) => {
                shared.note_arrival(game, board.count())
            }
            Ok(Some(ServerMessage::Board { turn: None, .. })) => break,
            Ok(Some(m)) if m.is_game_over() => break,
            Ok(Some(ServerMessage::Error { code, text })) => {
                return fail(format!("{} {text}", code.as_str()))
            }
            Ok(Some(_)) => {}
            Ok(None) => return fail("el servidor cerró antes de tiempo".into()),
            Err(e) => return fail(format!("{e}")),
        }
    }
    shared.wait_all_done(timeout);
    let _ = send(&mut writer, &Command::Quit);
}

/// Marca al jugador como terminado al soltarse.
struct DoneGuard<'a>(&'a Shared);

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.0.mark_done();
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let think = Duration::from_millis(args.think_ms);
    let players = args.games * 2;
    let shared = Arc::new(Shared::new(players));
    // Todos los jugadores y este hilo: se suelta cuando todos tienen nombre.
    let ready = Arc::new(Barrier::new(players + 1));
    let mut handles = Vec::with_capacity(players + args.spectators);
    // Un espectador por partida como mucho: el espectador `i` mira la partida `i`-ésima.
    let spectators = args.spectators.min(args.games);
    for i in 0..players {
        let (addr, ready, shared) = (args.addr.clone(), Arc::clone(&ready), Arc::clone(&shared));
        handles.push(
            thread::Builder::new()
                .name(format!("j{i}"))
                .stack_size(128 * 1024)
                .spawn(move || player(addr, i, spectators, timeout, think, ready, shared))
                .context("crear hilo de jugador")?,
        );
    }
    ready.wait();
    let start = Instant::now();
    for i in 0..spectators {
        let (addr, shared) = (args.addr.clone(), Arc::clone(&shared));
        handles.push(
            thread::Builder::new()
                .name(format!("e{i}"))
                .stack_size(128 * 1024)
                .spawn(move || spectator(addr, i, timeout, shared))
                .context("crear hilo de espectador")?,
        );
    }
    for h in handles {
        let _ = h.join();
    }
    let finished = shared.finished_games.load(Ordering::Relaxed);
    let end = (*common::lock(&shared.last_finish)).unwrap_or_else(Instant::now);
    let elapsed = end.saturating_duration_since(start).as_secs_f64().max(1e-9);

    // Coherencia: los dos jugadores de cada partida vieron el mismo final.
    let mut inconsistent = 0;
    for (game, lines) in common::lock(&shared.results).iter() {
        if lines.len() != 2 || lines[0] != lines[1] {
            inconsistent += 1;
            if inconsistent <= 5 {
                eprintln!("partida {game}: finales distintos {lines:?}");
            }
        }
    }
    let mut detailed: Vec<(u64, (u64, usize), Instant)> = shared
        .timings
        .iter()
        .flat_map(|shard| common::lock(shard).clone())
        .filter_map(|(k, t)| {
            let sent = t.sent?;
            Some((
                t.last?.saturating_duration_since(sent).as_micros() as u64,
                k,
                sent,
            ))
        })
        .collect();
    detailed.sort_unstable_by_key(|d| d.0);
    if args.worst > 0 {
        for (us, (game, ply), sent) in detailed.iter().rev().take(args.worst) {
            eprintln!(
                "lenta: partida {game} jugada {ply}: {:.2} ms (enviada a los {:.0} ms)",
                *us as f64 / 1000.0,
                sent.saturating_duration_since(start).as_secs_f64() * 1000.0
            );
        }
    }
    let latencies: Vec<u64> = detailed.iter().map(|d| d.0).collect();
    let errors = shared.errors.load(Ordering::Relaxed) + inconsistent;
    let ms = |p: f64| bench::percentile(&latencies, p).map_or(0.0, |us| us as f64 / 1000.0);
    println!("partidas: {finished}/{} terminadas", args.games);
    println!(
        "conexiones: {players} jugadores + {} espectadores",
        args.spectators
    );
    println!(
        "tiempo: {elapsed:.2} s; partidas/s: {:.0}",
        finished as f64 / elapsed
    );
    println!(
        "latencia de jugada (MOVE -> todos notificados), {} jugadas: p50 {:.2} ms, p99 {:.2} ms, máx {:.2} ms",
        latencies.len(),
        ms(50.0),
        ms(99.0),
        ms(100.0)
    );
    println!("errores de protocolo: {errors}");
    if let Some(pid) = args.server_pid {
        match bench::peak_rss_kib(pid) {
            Some(kib) => println!(
                "memoria máxima del servidor (VmHWM): {:.1} MiB",
                kib as f64 / 1024.0
            ),
            None => println!("memoria máxima del servidor: no disponible"),
        }
    }
    if finished as usize != args.games || errors > 0 {
        anyhow::bail!("la carga no terminó limpia");
    }
    Ok(())
}
