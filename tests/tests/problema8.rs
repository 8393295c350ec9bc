//! Pruebas de extremo a extremo del problema 8 (tres en raya) por sockets reales.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use problema8::cliente::{run_bot, run_interactive, run_watch, BotKind, Patience, Player};
use problema8::protocolo::{PlayTarget, ServerMessage};
use problema8::ServerConfig;
use tests::{connect, require_tool, run_with_timeout, start_server, LineClient, ServerGuard};

fn start_with(config: ServerConfig) -> ServerGuard {
    start_server(move |listener, shutdown| problema8::run(listener, config, shutdown))
}

fn start() -> ServerGuard {
    start_with(ServerConfig::default())
}

/// Conecta, lee el saludo, elige `name` y devuelve el cliente y su token.
fn named(addr: SocketAddr, name: &str) -> (LineClient, String) {
    let mut c = LineClient::connect(addr);
    assert!(c.line().starts_with("WELCOME "));
    c.send(&format!("NAME {name}"));
    let hello = c.line();
    let token = hello
        .strip_prefix(&format!("HELLO {name} "))
        .unwrap_or_else(|| panic!("se esperaba HELLO, llegó {hello:?}"))
        .to_string();
    assert_eq!(token.len(), 16);
    (c, token)
}

/// Dos jugadores emparejados por la cola: `ana` (X) y `bea` (O), ya con el inicio leído.
fn pair(addr: SocketAddr) -> (LineClient, LineClient) {
    let (mut a, _) = named(addr, "ana");
    let (mut b, _) = named(addr, "bea");
    a.send("PLAY");
    assert_eq!(a.line(), "QUEUED 1");
    b.send("PLAY");
    assert_eq!(a.line(), "START 1 X bea");
    assert_eq!(a.line(), "BOARD 1 ......... X");
    assert_eq!(a.line(), "YOUR_TURN 1 X .........");
    assert_eq!(b.line(), "START 1 O ana");
    assert_eq!(b.line(), "BOARD 1 ......... X");
    (a, b)
}

/// Juega `cells` alternando X y O y devuelve las líneas `MOVED` que vio el espectador.
fn play_moves(a: &mut LineClient, b: &mut LineClient, cells: &[u8]) {
    let mut board = ['.'; 9];
    for (i, &cell) in cells.iter().enumerate() {
        let (mover, other, mark) = if i % 2 == 0 {
            (&mut *a, &mut *b, 'X')
        } else {
            (&mut *b, &mut *a, 'O')
        };
        mover.send(&format!("MOVE {cell}"));
        board[usize::from(cell) - 1] = mark;
        let b_str: String = board.iter().collect();
        let moved_prefix = format!("MOVED 1 {mark} {cell} {b_str} ");
        let l1 = mover.line();
        assert!(l1.starts_with(&moved_prefix), "{l1:?} vs {moved_prefix:?}");
        let l2 = other.line();
        assert_eq!(l1, l2, "los dos jugadores ven la misma jugada");
        if l1.ends_with(" -") {
            return;
        }
        let next = if mark == 'X' { 'O' } else { 'X' };
        assert_eq!(other.line(), format!("YOUR_TURN 1 {next} {b_str}"));
    }
}

#[test]
fn full_game_ends_in_a_win_announced_to_players_and_spectator() {
    let server = start();
    let (mut a, mut b) = pair(server.addr);
    let mut spec = LineClient::connect(server.addr);
    spec.line();
    spec.send("WATCH 1");
    assert_eq!(spec.line(), "WATCHING 1 ana bea");
    assert_eq!(spec.line(), "BOARD 1 ......... X");
    play_moves(&mut a, &mut b, &[1, 4, 5, 7, 9]);
    assert_eq!(a.line(), "WIN 1 X ana 1,5,9");
    assert_eq!(b.line(), "WIN 1 X ana 1,5,9");
    for _ in 0..5 {
        assert!(spec.line().starts_with("MOVED 1 "));
    }
    assert_eq!(spec.line(), "WIN 1 X ana 1,5,9");
    a.send("SCORES");
    assert_eq!(a.line(), "SCORES 2");
    assert_eq!(a.line(), "SCORE ana 1 0 0");
    assert_eq!(a.line(), "SCORE bea 0 0 1");
}

#[test]
fn full_game_ends_in_a_draw_and_counts_for_both() {
    let server = start();
    let (mut a, mut b) = pair(server.addr);
    play_moves(&mut a, &mut b, &[1, 2, 3, 5, 4, 6, 8, 7, 9]);
    assert_eq!(a.line(), "DRAW 1");
    assert_eq!(b.line(), "DRAW 1");
    a.send("SCORES");
    assert_eq!(a.line(), "SCORES 2");
    assert_eq!(a.line(), "SCORE ana 0 1 0");
    assert_eq!(a.line(), "SCORE bea 0 1 0");
}

#[test]
fn every_illegal_move_is_refused_with_its_reason_and_changes_nothing() {
    let server = start();
    let mut anon = LineClient::connect(server.addr);
    anon.line();
    anon.send("MOVE 5");
    assert!(anon.line().starts_with("ERROR NOT_IN_GAME "));
    anon.send("PLAY");
    assert!(anon.line().starts_with("ERROR NO_NAME "));

    let (mut idle, _) = named(server.addr, "cid");
    idle.send("MOVE 5");
    assert!(idle.line().starts_with("ERROR NOT_IN_GAME "));

    let (mut a, mut b) = pair(server.addr);
    for (cmd, code) in [
        ("MOVE 0", "OUT_OF_RANGE"),
        ("MOVE 10", "OUT_OF_RANGE"),
        ("MOVE x", "BAD_ARGUMENT"),
        ("MOVE", "BAD_ARGUMENT"),
        ("MOVE 1 2", "BAD_ARGUMENT"),
        ("BAILAR", "UNKNOWN_COMMAND"),
    ] {
        a.send(cmd);
        let l = a.line();
        assert!(l.starts_with(&format!("ERROR {code} ")), "{cmd}: {l}");
    }
    // Fuera de turno: empieza X.
    b.send("MOVE 5");
    assert_eq!(b.line(), "ERROR NOT_YOUR_TURN no es su turno: le toca a X");
    a.send("MOVE 5");
    assert_eq!(a.line(), "MOVED 1 X 5 ....X.... O");
    assert_eq!(b.line(), "MOVED 1 X 5 ....X.... O");
    assert_eq!(b.line(), "YOUR_TURN 1 O ....X....");
    // Ocupada.
    b.send("MOVE 5");
    assert_eq!(b.line(), "ERROR OCCUPIED la casilla 5 ya está ocupada");
    // Dos seguidas: la segunda ya no es su turno.
    a.send("MOVE 1");
    assert!(a.line().starts_with("ERROR NOT_YOUR_TURN "));
    // Un espectador no mueve.
    let mut spec = LineClient::connect(server.addr);
    spec.line();
    spec.send("WATCH 1");
    assert_eq!(spec.line(), "WATCHING 1 ana bea");
    assert_eq!(spec.line(), "BOARD 1 ....X.... O");
    spec.send("MOVE 1");
    assert_eq!(
        spec.line(),
        "ERROR SPECTATOR los espectadores no pueden mover"
    );
    // Nada cambió: la siguiente jugada legal se aplica sobre el tablero de antes.
    b.send("MOVE 1");
    assert_eq!(b.line(), "MOVED 1 O 1 O...X.... X");
    assert_eq!(spec.line(), "MOVED 1 O 1 O...X.... X");
    // Tras la partida.
    b.send("LEAVE");
    assert_eq!(b.line(), "FORFEIT 1 O bea LEFT");
    assert_eq!(b.line(), "LEFT 1 O bea");
    assert_eq!(b.line(), "OK LEAVE");
    assert_eq!(a.line(), "MOVED 1 O 1 O...X.... X");
    assert_eq!(a.line(), "YOUR_TURN 1 X O...X....");
    assert_eq!(a.line(), "FORFEIT 1 O bea LEFT");
    assert_eq!(a.line(), "LEFT 1 O bea");
    a.send("MOVE 9");
    assert!(a.line().starts_with("ERROR GAME_OVER "));
    a.send("REMATCH");
    assert_eq!(a.line(), "ERROR NO_REMATCH bea ya dejó la mesa");
}

#[test]
fn spectators_see_every_move_in_order_from_the_board_they_joined() {
    let server = start();
    let (mut a, mut b) = pair(server.addr);
    let mut early = LineClient::connect(server.addr);
    early.line();
    early.send("WATCH 1");
    assert_eq!(early.line(), "WATCHING 1 ana bea");
    assert_eq!(early.line(), "BOARD 1 ......... X");
    play_moves(&mut a, &mut b, &[5, 1]);
    let mut late = LineClient::connect(server.addr);
    late.line();
    late.send("LIST");
    assert_eq!(late.line(), "GAMES 1");
    assert_eq!(late.line(), "GAME 1 ana bea 2 O...X.... X");
    late.send("WATCH 1");
    assert_eq!(late.line(), "WATCHING 1 ana bea");
    assert_eq!(late.line(), "BOARD 1 O...X.... X");
    play_moves(&mut a, &mut b, &[]);
    let rest = [
        ("ana", 3u8, "O.X.X....", "O"),
        ("bea", 7, "O.X.X.O..", "X"),
        ("ana", 4, "O.XXX.O..", "O"),
        ("bea", 6, "O.XXXOO..", "X"),
        ("ana", 2, "OXXXXOO..", "O"),
        ("bea", 8, "OXXXXOOO.", "X"),
        ("ana", 9, "OXXXXOOOX", "-"),
    ];
    for (who, cell, board, next) in rest {
        let (mover, other) = if who == "ana" {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let mark = if who == "ana" { "X" } else { "O" };
        mover.send(&format!("MOVE {cell}"));
        let expected = format!("MOVED 1 {mark} {cell} {board} {next}");
        assert_eq!(mover.line(), expected);
        assert_eq!(other.line(), expected);
        if next != "-" {
            other.line(); // YOUR_TURN
        }
    }
    let early_moves = ["MOVED 1 X 5 ....X.... O", "MOVED 1 O 1 O...X.... X"];
    for m in early_moves {
        assert_eq!(early.line(), m);
    }
    for (_, cell, board, next) in rest {
        let mark = if board.matches('X').count() > board.matches('O').count() {
            "X"
        } else {
            "O"
        };
        let expected = format!("MOVED 1 {mark} {cell} {board} {next}");
        assert_eq!(early.line(), expected);
        assert_eq!(late.line(), expected);
    }
    assert_eq!(early.line(), "DRAW 1");
    assert_eq!(late.line(), "DRAW 1");
    late.send("LIST");
    assert_eq!(late.line(), "GAMES 0");
}

#[test]
fn dropped_player_forfeits_after_the_grace_period() {
    let server = start_with(ServerConfig {
        grace: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let (a, mut b) = pair(server.addr);
    let mut spec = LineClient::connect(server.addr);
    spec.line();
    spec.send("WATCH 1");
    spec.line();
    spec.line();
    drop(a);
    assert_eq!(b.line(), "AWAY 1 X ana 200");
    assert_eq!(spec.line(), "AWAY 1 X ana 200");
    assert_eq!(b.line(), "FORFEIT 1 X ana DISCONNECTED");
    assert_eq!(b.line(), "LEFT 1 X ana");
    assert_eq!(spec.line(), "FORFEIT 1 X ana DISCONNECTED");
    b.send("SCORES");
    assert_eq!(b.line(), "SCORES 2");
    assert_eq!(b.line(), "SCORE bea 1 0 0");
    assert_eq!(b.line(), "SCORE ana 0 0 1");
    // El nombre queda libre.
    let (_again, _) = named(server.addr, "ana");
}

#[test]
fn dropped_player_rejoins_within_grace_with_name_and_token_and_finishes() {
    let server = start_with(ServerConfig {
        grace: Duration::from_secs(60),
        ..ServerConfig::default()
    });
    let (mut a, _) = named(server.addr, "ana");
    let (mut b, token_b) = named(server.addr, "bea");
    a.send("PLAY amigos");
    assert_eq!(a.line(), "WAITING amigos");
    b.send("PLAY amigos");
    assert_eq!(a.line(), "START 1 X bea");
    assert_eq!(b.line(), "START 1 O ana");
    a.line();
    a.line();
    b.line();
    a.send("MOVE 1");
    a.line();
    b.line();
    b.line();
    let mut spec = LineClient::connect(server.addr);
    spec.line();
    spec.send("WATCH 1");
    spec.line();
    assert_eq!(spec.line(), "BOARD 1 X........ O");
    // bea se cae en su turno.
    drop(b);
    assert_eq!(a.line(), "AWAY 1 O bea 60000");
    assert_eq!(spec.line(), "AWAY 1 O bea 60000");
    // Sin token, o con otro, el nombre no se puede usar.
    let mut thief = LineClient::connect(server.addr);
    thief.line();
    thief.send("NAME bea");
    assert!(thief.line().starts_with("ERROR NAME_TAKEN "));
    thief.send("NAME bea 0000000000000000");
    assert!(thief.line().starts_with("ERROR NAME_TAKEN "));
    // Mientras tanto, ana no puede mover por ella.
    a.send("MOVE 2");
    assert!(a.line().starts_with("ERROR NOT_YOUR_TURN "));
    // Vuelve con su token.
    let mut b = LineClient::connect(server.addr);
    b.line();
    b.send(&format!("NAME bea {token_b}"));
    assert_eq!(b.line(), format!("HELLO bea {token_b}"));
    assert_eq!(b.line(), "START 1 O ana");
    assert_eq!(b.line(), "BOARD 1 X........ O");
    assert_eq!(b.line(), "YOUR_TURN 1 O X........");
    assert_eq!(a.line(), "BACK 1 O bea");
    assert_eq!(spec.line(), "BACK 1 O bea");
    b.send("MOVE 5");
    assert_eq!(b.line(), "MOVED 1 O 5 X...O.... X");
    assert_eq!(a.line(), "MOVED 1 O 5 X...O.... X");
    assert_eq!(spec.line(), "MOVED 1 O 5 X...O.... X");
}

#[test]
fn turn_timeout_forfeits_the_player_who_does_not_move() {
    let server = start_with(ServerConfig {
        turn_timeout: Some(Duration::from_millis(150)),
        ..ServerConfig::default()
    });
    let (mut a, mut b) = pair(server.addr);
    a.send("MOVE 5");
    a.line();
    b.line();
    b.line();
    assert_eq!(a.line(), "FORFEIT 1 O bea TIMEOUT");
    assert_eq!(b.line(), "FORFEIT 1 O bea TIMEOUT");
}

#[test]
fn rematch_starts_when_both_agree_with_marks_swapped() {
    let server = start();
    let (mut a, mut b) = pair(server.addr);
    play_moves(&mut a, &mut b, &[1, 4, 2, 5, 3]);
    a.line();
    b.line();
    a.send("REMATCH");
    assert_eq!(a.line(), "REMATCH_WAITING 1");
    assert_eq!(b.line(), "REMATCH_OFFERED 1 ana");
    b.send("REMATCH");
    assert_eq!(a.line(), "START 1 O bea");
    assert_eq!(a.line(), "BOARD 1 ......... X");
    assert_eq!(b.line(), "START 1 X ana");
    assert_eq!(b.line(), "BOARD 1 ......... X");
    assert_eq!(b.line(), "YOUR_TURN 1 X .........");
    b.send("MOVE 5");
    assert_eq!(a.line(), "MOVED 1 X 5 ....X.... O");
}

#[test]
fn busy_players_and_taken_names_are_refused() {
    let server = start();
    let (mut a, _) = named(server.addr, "ana");
    let mut other = LineClient::connect(server.addr);
    other.line();
    other.send("NAME ana");
    assert_eq!(
        other.line(),
        "ERROR NAME_TAKEN el nombre ana ya está en uso: elija otro"
    );
    other.send("NAME CPU");
    assert!(other.line().starts_with("ERROR BAD_NAME "));
    a.send("NAME otra");
    assert!(a.line().starts_with("ERROR ALREADY_NAMED "));
    a.send("PLAY");
    assert_eq!(a.line(), "QUEUED 1");
    a.send("PLAY");
    assert!(a.line().starts_with("ERROR BUSY "));
    a.send("WATCH 1");
    assert!(a.line().starts_with("ERROR BUSY "));
    a.send("LEAVE");
    assert_eq!(a.line(), "OK LEAVE");
    a.send("WATCH 99");
    assert!(a.line().starts_with("ERROR NO_SUCH_GAME "));
    a.send("HELP");
    assert!(a.line().starts_with("INFO NAME "));
}

#[test]
fn oversized_line_and_invalid_utf8_get_errors_and_the_connection_survives() {
    let server = start();
    let mut c = LineClient::connect(server.addr);
    c.line();
    c.send(&"A".repeat(5000));
    assert_eq!(
        c.line(),
        "ERROR LINE_TOO_LONG línea demasiado larga: el máximo es 256 bytes"
    );
    c.send_raw(b"NAME \xff\xfe\n");
    assert_eq!(
        c.line(),
        "ERROR INVALID_UTF8 la línea no es texto UTF-8 válido"
    );
    c.send_raw(b"name ana\r\n");
    assert!(c.line().starts_with("HELLO ana "));
    c.send("QUIT");
    assert_eq!(c.line(), "BYE hasta pronto");
    c.expect_closed();
}

#[test]
fn shutdown_says_bye_to_connected_clients() {
    let mut server = start();
    let (mut a, _) = named(server.addr, "ana");
    a.send("PLAY");
    assert_eq!(a.line(), "QUEUED 1");
    server.stop().unwrap();
    assert_eq!(a.line(), "BYE servidor cerrándose");
    a.expect_closed();
}

#[test]
fn cpu_never_loses_against_a_random_bot_over_many_games() {
    let server = start();
    let mut out = Vec::new();
    let report = run_bot(
        connect(server.addr),
        "azar",
        PlayTarget::Cpu,
        BotKind::Random,
        30,
        Patience::fixed(tests::IO_TIMEOUT),
        &mut out,
    )
    .unwrap();
    assert_eq!(report.wins, 0, "{}", String::from_utf8_lossy(&out));
    assert_eq!(report.draws + report.losses, 30);
    let mut c = LineClient::connect(server.addr);
    c.line();
    c.send("SCORES");
    assert_eq!(c.line(), "SCORES 2");
    let cpu = c.line();
    assert_eq!(
        cpu,
        format!("SCORE CPU {} {} 0", report.losses, report.draws)
    );
}

#[test]
fn two_hundred_concurrent_bot_games_end_with_consistent_results_and_scores() {
    let server = start_with(ServerConfig {
        max_connections: 1000,
        ..ServerConfig::default()
    });
    let addr = server.addr;
    let bots: Vec<_> = (0..400)
        .map(|i| {
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let name = format!("bot{i}");
                    let kind = if i % 2 == 0 {
                        BotKind::Random
                    } else {
                        BotKind::Perfect
                    };
                    let report = run_bot(
                        connect(addr),
                        &name,
                        PlayTarget::Queue,
                        kind,
                        1,
                        Patience::fixed(tests::IO_TIMEOUT),
                        &mut Vec::new(),
                    )
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                    (name, report)
                })
                .unwrap()
        })
        .collect();
    let reports: Vec<_> = bots.into_iter().map(|h| h.join().unwrap()).collect();
    let wins: u32 = reports.iter().map(|r| r.1.wins).sum();
    let losses: u32 = reports.iter().map(|r| r.1.losses).sum();
    let draws: u32 = reports.iter().map(|r| r.1.draws).sum();
    assert_eq!(wins, losses);
    assert_eq!(
        wins + draws / 2,
        200,
        "cada partida termina exactamente una vez"
    );
    assert_eq!(draws % 2, 0);

    let mut c = LineClient::connect(addr);
    c.line();
    c.send("SCORES");
    assert_eq!(c.line(), "SCORES 400");
    for _ in 0..400 {
        let l = c.line();
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f[0], "SCORE");
        let r = &reports.iter().find(|r| r.0 == f[1]).unwrap().1;
        assert_eq!(
            (f[2], f[3], f[4]),
            (
                r.wins.to_string().as_str(),
                r.draws.to_string().as_str(),
                r.losses.to_string().as_str()
            ),
            "{l}"
        );
    }
    c.send("LIST");
    assert_eq!(c.line(), "GAMES 0");
}

/// Un `Write` compartido para leer lo que escribió el hilo lector del cliente.
#[derive(Clone, Default)]
struct SharedOut(Arc<Mutex<Vec<u8>>>);

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn interactive_client_draws_the_grid_and_turns_numbers_into_moves() {
    let server = start();
    let out = SharedOut::default();
    run_interactive(
        connect(server.addr),
        &Player::new("ana", Some(PlayTarget::Cpu)),
        &b"5\nQUIT\n"[..],
        out.clone(),
    )
    .unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("Partida 1: juega con X contra CPU."),
        "{text}"
    );
    assert!(
        text.contains(" 1 | 2 | 3\n---+---+---\n 4 | 5 | 6\n---+---+---\n 7 | 8 | 9"),
        "{text}"
    );
    assert!(text.contains("Su turno (X): elija casilla (1, 2, 3, 4, 5, 6, 7, 8, 9)"));
    assert!(
        text.contains("X juega en 5.\n 1 | 2 | 3\n---+---+---\n 4 | X | 6"),
        "{text}"
    );
    assert!(text.contains("O juega en 1."), "{text}");
    assert!(text.contains("El servidor cierra: hasta pronto"), "{text}");
}

#[test]
fn watch_client_follows_a_game_until_a_player_leaves_the_table() {
    let server = start();
    let (mut a, mut b) = pair(server.addr);
    let addr = server.addr;
    play_moves(&mut a, &mut b, &[1, 4, 2, 5]);
    let out = SharedOut::default();
    let watcher = {
        let mut out = out.clone();
        thread::spawn(move || {
            run_watch(
                connect(addr),
                1,
                Patience::fixed(tests::IO_TIMEOUT),
                &mut out,
            )
        })
    };
    // El espectador está dentro cuando ha escrito el tablero actual.
    assert!(tests::wait_until(Duration::from_secs(10), || {
        String::from_utf8_lossy(&out.0.lock().unwrap()).contains("le toca a X")
    }));
    a.send("MOVE 3");
    assert_eq!(a.line(), "MOVED 1 X 3 XXXOO.... -");
    // Tras el final sigue mirando (podría haber revancha) hasta que alguien deja la mesa.
    assert!(tests::wait_until(Duration::from_secs(10), || {
        String::from_utf8_lossy(&out.0.lock().unwrap()).contains("Ronda terminada")
    }));
    assert!(!watcher.is_finished());
    b.send("LEAVE");
    watcher.join().unwrap().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("Mirando la partida 1: ana (X) contra bea (O)."),
        "{text}"
    );
    assert!(text.contains("Gana ana (X) con la línea 1,2,3."), "{text}");
    assert!(
        text.contains("bea ha dejado la mesa.\nYa no habrá revancha"),
        "{text}"
    );
}

#[test]
fn a_game_against_the_cpu_can_be_played_with_nc() {
    if !require_tool("nc") {
        return;
    }
    let server = start();
    let out = run_with_timeout(
        std::process::Command::new("sh").arg("-c").arg(format!(
            "printf 'NAME ana\\nPLAY CPU\\nMOVE 5\\nQUIT\\n' | nc {} {}",
            server.addr.ip(),
            server.addr.port()
        )),
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("WELCOME "), "{text}");
    assert!(lines[1].starts_with("HELLO ana "), "{text}");
    assert_eq!(
        &lines[2..],
        [
            "START 1 X CPU",
            "BOARD 1 ......... X",
            "YOUR_TURN 1 X .........",
            "MOVED 1 X 5 ....X.... O",
            "MOVED 1 O 1 O...X.... X",
            "YOUR_TURN 1 X O...X....",
            "FORFEIT 1 X ana LEFT",
            "LEFT 1 X ana",
            "BYE hasta pronto",
        ]
    );
    // Todos los mensajes se entienden con el analizador del cliente.
    for l in &lines {
        ServerMessage::parse(l).unwrap();
    }
}

#[test]
fn idle_connection_is_told_and_closed() {
    let server = start_with(ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut c = LineClient::connect(server.addr);
    c.line();
    assert_eq!(
        c.line(),
        "ERROR IDLE 200ms sin recibir una orden completa: se cierra la conexión"
    );
    c.expect_closed();
}

#[test]
fn clients_over_the_connection_cap_are_refused_and_the_rest_keep_playing() {
    let server = start_with(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    });
    let (mut a, _) = named(server.addr, "ana");
    let (_b, _) = named(server.addr, "bea");
    let mut c = LineClient::connect(server.addr);
    assert_eq!(c.line(), "ERROR FULL servidor lleno, pruebe más tarde");
    c.expect_closed();
    a.send("PLAY CPU");
    assert_eq!(a.line(), "START 1 X CPU");
}

#[test]
fn abrupt_reset_of_a_spectator_does_not_disturb_the_game() {
    let server = start();
    let (mut a, mut b) = pair(server.addr);
    {
        let spec = LineClient::connect(server.addr);
        let mut s = spec;
        s.line();
        s.send("WATCH 1");
        assert_eq!(s.line(), "WATCHING 1 ana bea");
        // Se cierra sin despedida y sin leer el BOARD pendiente: el núcleo envía RST.
    }
    play_moves(&mut a, &mut b, &[1, 4, 2, 5, 3]);
    assert_eq!(a.line(), "WIN 1 X ana 1,2,3");
    assert_eq!(b.line(), "WIN 1 X ana 1,2,3");
}

#[test]
fn a_flood_of_commands_is_rate_limited_and_the_connection_survives() {
    let server = start_with(ServerConfig {
        rate_limit: 0.5,
        rate_burst: 2,
        ..ServerConfig::default()
    });
    let mut c = LineClient::connect(server.addr);
    c.line();
    c.send("LIST");
    c.send("LIST");
    c.send("LIST");
    assert_eq!(c.line(), "GAMES 0");
    assert_eq!(c.line(), "GAMES 0");
    assert_eq!(
        c.line(),
        "ERROR RATE_LIMITED demasiadas órdenes: el máximo es 0.5 por segundo; se ignoró esta"
    );
}

#[test]
fn rematch_against_the_cpu_swaps_marks_and_the_cpu_opens() {
    let server = start();
    let (mut a, _) = named(server.addr, "ana");
    a.send("PLAY CPU");
    assert_eq!(a.line(), "START 1 X CPU");
    // Juega siempre la primera casilla libre hasta que la partida termine.
    loop {
        let l = a.line();
        let msg = ServerMessage::parse(&l).unwrap();
        if msg.is_game_over() {
            break;
        }
        if let ServerMessage::YourTurn { board, .. } = msg {
            a.send(&format!("MOVE {}", board.free_cells()[0]));
        }
    }
    a.send("REMATCH");
    assert_eq!(a.line(), "START 1 O CPU");
    assert_eq!(a.line(), "BOARD 1 ......... X");
    assert_eq!(a.line(), "MOVED 1 X 1 X........ O");
    assert_eq!(a.line(), "YOUR_TURN 1 O X........");
}

// ---- Issue 16: plazo total por orden y `BYE` antes de volver ------------------------------

#[test]
fn a_command_trickled_byte_by_byte_is_cut_at_the_idle_deadline() {
    // Antes el plazo era por lectura: un byte cada 50 ms con un plazo de 400 ms no lo
    // agotaba nunca (slowloris).
    let server = start_with(ServerConfig {
        idle_timeout: Duration::from_millis(400),
        ..ServerConfig::default()
    });
    let mut c = LineClient::connect(server.addr);
    assert!(c.line().starts_with("WELCOME"));
    let mut dribbler = c.stream.try_clone().unwrap();
    let t = thread::spawn(move || {
        for _ in 0..200 {
            if dribbler.write_all(b"L").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let l = c.line();
    assert!(l.starts_with("ERROR IDLE 400ms"), "{l}");
    c.expect_closed();
    t.join().unwrap();
}

#[test]
fn a_seated_player_gets_bye_before_run_returns_on_shutdown() {
    // Issue 16, punto 7: el escritor de cada conexión se espera; la partida guarda una copia
    // de la cola del jugador y aun así el `BYE` sale antes de que `run` vuelva.
    let mut server = start();
    let (mut ana, _) = named(server.addr, "ana");
    ana.send("PLAY CPU");
    ana.line_containing("YOUR_TURN");
    server.stop().unwrap();
    ana.stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    ana.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert_eq!(ana.line(), "BYE servidor cerrándose");
    ana.expect_closed();
}
