//! El `cliente` de problema8 como proceso de verdad (issue 18): códigos de salida, `error:`,
//! la salida estándar cerrada, el espectador que sigue las revanchas y se despide bien al
//! apagarse el servidor, el token guardado para volver tras una caída y el saludo que no se
//! muestra. Cada proceso se espera con plazo: un cliente colgado hace fallar la prueba.
//!
//! La caché de los tokens apunta a un directorio temporal (`XDG_CACHE_HOME` y `HOME`), nunca
//! a la del usuario que ejecuta las pruebas.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use problema8::protocolo::ServerMessage;
use problema8::ServerConfig;
use tests::{start_server, LineClient, ServerGuard};

/// Plazo para ver una línea en la salida del cliente o para que termine.
const PATIENCE: Duration = Duration::from_secs(30);

fn start_with(config: ServerConfig) -> ServerGuard {
    start_server(move |listener, shutdown| problema8::run(listener, config, shutdown))
}

fn start() -> ServerGuard {
    // Gracia larga: en una máquina cargada, matar y relanzar el cliente puede tardar.
    start_with(ServerConfig {
        grace: Duration::from_secs(60),
        ..ServerConfig::default()
    })
}

/// Un `cliente` de problema8 en marcha, con sus tres tuberías.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// Copia lo que escribe `pipe` en `into`, según llega.
fn collect(mut pipe: impl Read + Send + 'static, into: &Arc<Mutex<String>>) -> JoinHandle<()> {
    let into = Arc::clone(into);
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

/// El cliente contra `addr` con `args`, la caché en `cache` y el teclado en una tubería.
fn command(addr: SocketAddr, cache: &Path, args: &[&str]) -> Command {
    let mut command = tests::cliente("problema8");
    command
        .args(["--port", &addr.port().to_string()])
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .stdin(Stdio::piped());
    command
}

/// Lanza el cliente (véase [`command`]) con stdout y stderr en tuberías.
fn spawn(addr: SocketAddr, cache: &Path, args: &[&str]) -> Child {
    command(addr, cache, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lanzar el cliente")
}

/// Espera a que `child` termine; si pasa el plazo, lo mata y falla la prueba.
fn wait_child(child: &mut Child) -> ExitStatus {
    tests::wait_or_kill(child, Instant::now() + PATIENCE, || {
        format!("el cliente no terminó en {PATIENCE:?}")
    })
}

impl Client {
    /// Lanza el cliente (véase [`spawn`]) y recoge su salida según llega.
    fn launch(addr: SocketAddr, cache: &Path, args: &[&str]) -> Client {
        let mut child = spawn(addr, cache, args);
        let stdout = Arc::default();
        let stderr = Arc::default();
        let readers = vec![
            collect(child.stdout.take().unwrap(), &stdout),
            collect(child.stderr.take().unwrap(), &stderr),
        ];
        Client {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn output(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Espera a que la salida cumpla `pred` (falla si el cliente termina antes o pasa el plazo).
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let out = self.output();
            if pred(&out) {
                return out;
            }
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "no llegó {what:?} (salida del cliente: {exited:?}):\n{out}\n{}",
                self.stderr.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Espera a que la salida contenga `needle`.
    fn wait_text(&mut self, needle: &str) -> String {
        self.wait_for(needle, |out| out.contains(needle))
    }

    /// Escribe una línea en el teclado del cliente.
    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin abierta");
        writeln!(stdin, "{line}").expect("escribir en el cliente");
    }

    /// Cierra el teclado y espera a que termine: código, stdout y stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        drop(self.stdin.take());
        let status = wait_child(&mut self.child);
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        let err = self.stderr.lock().unwrap().clone();
        (status, self.output(), err)
    }

    /// Mata el proceso sin despedida, como una caída, y espera a que el servidor lo note: un
    /// espectador de la partida `game` recibe `AWAY` (hasta entonces el nombre sigue en uso
    /// y volver con el token daría `NAME_TAKEN`; en una máquina cargada eso tarda).
    fn crash(mut self, addr: SocketAddr, game: u64) {
        let mut spectator = LineClient::connect(addr);
        spectator.send(&format!("WATCH {game}"));
        spectator.line_containing(&format!("WATCHING {game} "));
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        spectator.line_matching(|l| l.starts_with(&format!("AWAY {game} ")));
    }
}

/// Un cliente que termina solo (sin teclado): su código, stdout y stderr.
fn run(addr: SocketAddr, cache: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    Client::launch(addr, cache, args).finish()
}

/// Un cliente que termina solo y debe fallar con `code` y un `error: ` que empieza por
/// `prefix`, en una sola línea.
fn expect_failure(addr: SocketAddr, cache: &Path, args: &[&str], code: i32, prefix: &str) {
    let (status, out, err) = run(addr, cache, args);
    assert_eq!(status.code(), Some(code), "{args:?}: {out}\n{err}");
    assert!(err.starts_with(prefix), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
}

/// Donde el cliente guarda el token de `name` para el servidor `addr`.
fn token_path(cache: &Path, addr: SocketAddr, name: &str) -> PathBuf {
    cache
        .join("taller-redes/problema8")
        .join(format!("127.0.0.1-{}-{name}.token", addr.port()))
}

/// Conecta por protocolo con nombre.
fn named(addr: SocketAddr, name: &str) -> LineClient {
    let mut c = LineClient::connect(addr);
    c.line_containing("WELCOME");
    c.send(&format!("NAME {name}"));
    c.line_containing("HELLO");
    c
}

/// Juega siempre la primera casilla libre hasta que la ronda termine; devuelve el final.
fn play_round(c: &mut LineClient) -> ServerMessage {
    loop {
        let msg = ServerMessage::parse(&c.line()).unwrap();
        if msg.is_game_over() {
            return msg;
        }
        if let ServerMessage::YourTurn { board, .. } = msg {
            c.send(&format!("MOVE {}", board.free_cells()[0]));
        }
    }
}

// ---- Punto 1: el espectador y el apagado del servidor ------------------------------------

/// `ana` juega contra la máquina la partida 1 (ya empezada) y un `cliente --watch 1` la mira.
fn watching_ana_against_the_cpu() -> (ServerGuard, tempfile::TempDir, LineClient, Client) {
    let server = start();
    let cache = tempfile::tempdir().unwrap();
    let mut ana = named(server.addr, "ana");
    ana.send("PLAY CPU");
    ana.line_containing("START 1");
    let mut watcher = Client::launch(server.addr, cache.path(), &["--watch", "1"]);
    watcher.wait_text("Mirando la partida 1: ana (X) contra CPU (O).");
    (server, cache, ana, watcher)
}

#[test]
fn watch_exits_0_with_a_spanish_line_when_the_server_shuts_down() {
    // Antes: `error: el servidor cerró la conexión` y código 1, aunque el servidor envió BYE.
    let (mut server, _cache, _ana, watcher) = watching_ana_against_the_cpu();
    server.stop().unwrap();
    let (status, out, err) = watcher.finish();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.ends_with("El servidor cierra: servidor cerrándose\n"),
        "{out}"
    );
    assert_eq!(err, "");
}

// ---- Punto 2: el espectador sigue la revancha --------------------------------------------

#[test]
fn watch_follows_the_rematch_and_ends_when_a_player_leaves_the_table() {
    let (_server, _cache, mut ana, mut watcher) = watching_ana_against_the_cpu();
    play_round(&mut ana);
    watcher.wait_text("Ronda terminada");
    // Antes el espectador se iba aquí; ahora sigue y ve la revancha (misma partida, fichas
    // cambiadas: la máquina abre).
    ana.send("REMATCH");
    ana.line_containing("START 1 O CPU");
    watcher.wait_text("Mirando la partida 1: CPU (X) contra ana (O).");
    let second = play_round(&mut ana);
    let second = problema8::cliente::describe(&second, None);
    watcher.wait_for("el final de la revancha", |out| {
        out.matches("Ronda terminada").count() == 2
    });
    ana.send("LEAVE");
    let (status, out, err) = watcher.finish();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains(&second), "{out}");
    assert!(
        out.ends_with("ana ha dejado la mesa.\nYa no habrá revancha: se deja de mirar.\n"),
        "{out}"
    );
    assert_eq!(err, "");
}

// ---- Punto 3: el token en la caché y --token ----------------------------------------------

/// Un `cliente --name ana --cpu` de verdad, con su caché, esperando su primer turno.
fn ana_playing_the_cpu() -> (ServerGuard, tempfile::TempDir, Client) {
    let server = start();
    let cache = tempfile::tempdir().unwrap();
    let mut ana = Client::launch(server.addr, cache.path(), &["--name", "ana", "--cpu"]);
    ana.wait_text("Su turno (X)");
    (server, cache, ana)
}

#[test]
fn a_crashed_player_rejoins_automatically_with_the_token_saved_in_the_cache() {
    let (server, cache, mut first) = ana_playing_the_cpu();
    let file = token_path(cache.path(), server.addr, "ana");
    let token = std::fs::read_to_string(&file).expect("el token guardado");
    assert!(
        token.trim().len() == 16 && token.trim().bytes().all(|b| b.is_ascii_hexdigit()),
        "{token:?}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "el token solo lo lee su dueño");
    }
    first.type_line("5");
    first.wait_text("O juega en 1.");
    first.crash(server.addr, 1);

    // Mismo nombre, mismo servidor: vuelve solo, sin copiar nada de la pantalla.
    let mut again = Client::launch(server.addr, cache.path(), &["--name", "ana", "--cpu"]);
    let out = again.wait_text("Su turno (X)");
    assert!(
        out.contains("Hola de nuevo, ana: vuelve a su partida."),
        "{out}"
    );
    assert!(out.contains("Partida 1: juega con X contra CPU."), "{out}");
    assert!(out.contains(" O | 2 | 3\n---+---+---\n 4 | X | 6"), "{out}");
    again.type_line("QUIT");
    let (status, out, err) = again.finish();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(out.ends_with("El servidor cierra: hasta pronto\n"), "{out}");
    assert!(!file.exists(), "tras despedirse el token se borra");
}

#[test]
fn the_token_file_lives_only_while_a_game_is_running() {
    let server = start();
    let cache = tempfile::tempdir().unwrap();
    let file = token_path(cache.path(), server.addr, "bea");
    let mut bea = Client::launch(server.addr, cache.path(), &["--name", "bea", "--cpu"]);
    let over = |out: &str| out.contains("Gana CPU") || out.contains("Tablas.");
    let mut turns = 0;
    loop {
        let out = bea.wait_for("su turno o el final", |out| {
            over(out) || out.matches("Su turno").count() > turns
        });
        if over(&out) {
            break;
        }
        assert!(
            file.exists(),
            "con la partida en curso el token está guardado"
        );
        turns += 1;
        let last = out.rsplit("elija casilla (").next().unwrap();
        let cell: String = last.chars().take_while(char::is_ascii_digit).collect();
        bea.type_line(&cell);
    }
    assert!(
        !file.exists(),
        "al terminar la partida el token ya no sirve"
    );
    let (status, out, err) = bea.finish();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
}

#[test]
fn a_token_given_by_hand_rejoins_and_a_taken_name_exits_1() {
    let (server, cache, first) = ana_playing_the_cpu();
    let token = std::fs::read_to_string(token_path(cache.path(), server.addr, "ana")).unwrap();
    first.crash(server.addr, 1);

    // Otra caché (otra máquina, otra cuenta): el token a mano.
    let other = tempfile::tempdir().unwrap();
    let mut back = Client::launch(
        server.addr,
        other.path(),
        &["--name", "ana", "--token", token.trim()],
    );
    back.wait_text("Hola de nuevo, ana: vuelve a su partida.");
    back.wait_text("Su turno (X)");

    // Mientras ana está conectada, su nombre no es de nadie más: código 1 y `error:`.
    let taken = "error: el servidor respondió NAME_TAKEN: el nombre ana ya está en uso";
    expect_failure(server.addr, other.path(), &["--name", "ana"], 1, taken);
    expect_failure(
        server.addr,
        other.path(),
        &["--name", "ana", "--bot"],
        1,
        taken,
    );

    let (status, out, err) = back.finish();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
}

// ---- Punto 4: el saludo del servidor no se muestra ----------------------------------------

#[test]
fn clients_that_send_name_themselves_do_not_show_the_name_banner() {
    let (server, cache, ana) = ana_playing_the_cpu();
    let (status, out, err) = ana.finish();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("Hola, ana."), "{out}");
    assert!(!out.contains("para empezar"), "{out}");
    let (status, out, err) = run(
        server.addr,
        cache.path(),
        &["--name", "robot", "--bot", "--cpu"],
    );
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(!out.contains("para empezar"), "{out}");
}

// ---- Punto 5: códigos de salida y salida estándar cerrada ---------------------------------

#[test]
fn watching_a_game_that_does_not_exist_exits_1() {
    let server = start();
    let cache = tempfile::tempdir().unwrap();
    expect_failure(
        server.addr,
        cache.path(),
        &["--watch", "99"],
        1,
        "error: el servidor respondió NO_SUCH_GAME: no existe la partida 99: véalas con LIST",
    );
}

#[test]
fn a_full_server_exits_1_in_every_mode() {
    let server = start_with(ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    });
    let _only = named(server.addr, "ana");
    let cache = tempfile::tempdir().unwrap();
    for args in [
        &["--name", "bea"][..],
        &["--watch", "1"],
        &["--bot", "--cpu"],
    ] {
        let full = "error: el servidor respondió FULL: servidor lleno, pruebe más tarde";
        expect_failure(server.addr, cache.path(), args, 1, full);
    }
}

/// Un servidor de mentira para `clients` conexiones seguidas: saluda, lee la orden y, con
/// `hang_up`, cuelga sin despedirse; si no, calla hasta que el cliente se va.
fn fake_server(clients: usize, hang_up: bool) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = thread::spawn(move || {
        for _ in 0..clients {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(PATIENCE)).unwrap();
            s.write_all(b"WELCOME hola\n").unwrap();
            let _ = s.read(&mut [0u8; 64]);
            while !hang_up && matches!(s.read(&mut [0u8; 64]), Ok(1..)) {}
        }
    });
    (addr, fake)
}

#[test]
fn a_server_that_hangs_up_without_bye_gives_exit_4() {
    let cache = tempfile::tempdir().unwrap();
    let (addr, fake) = fake_server(2, true);
    let cut = "error: el servidor cerró la conexión sin despedirse";
    expect_failure(addr, cache.path(), &["--watch", "1"], 4, cut);
    expect_failure(addr, cache.path(), &["--name", "ana"], 4, cut);
    fake.join().unwrap();
}

#[test]
fn a_server_that_does_not_answer_gives_exit_4_after_the_timeout() {
    // Antes el cliente esperaba el HELLO (o el WATCHING) para siempre.
    let cache = tempfile::tempdir().unwrap();
    let (addr, fake) = fake_server(3, false);
    let silent = "error: la conexión con el servidor falló: se agotó el tiempo de espera";
    for mode in [
        &["--name", "ana"][..],
        &["--watch", "1"],
        &["--bot", "--cpu"],
    ] {
        let args = [mode, &["--timeout", "1"]].concat();
        expect_failure(addr, cache.path(), &args, 4, silent);
    }
    fake.join().unwrap();
}

/// `cliente ARGS | head -c 10`: su primera línea ya tiene 10 bytes; `after_close` le da
/// algo más que escribir. Debe terminar con 0 y sin escribir nada en stderr (antes el jugador
/// no terminaba y el espectador salía con 1 y `Broken pipe (os error 32)`).
fn closing_stdout_is_a_quiet_success(addr: SocketAddr, args: &[&str], after_close: impl FnOnce()) {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = command(addr, cache.path(), args);
    let out = tests::run_with_closed_stdout(&mut cmd, 10, after_close, PATIENCE);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert_eq!(err, "", "{args:?}");
}

#[test]
fn a_closed_stdout_ends_the_player_quietly_with_exit_0() {
    // ana espera a su amiga; cuando llega, empieza la partida y su cliente tiene que
    // escribirlo en una salida ya cerrada (el teclado sigue abierto: no se despide por eso).
    // Si el cliente ya vio cerrada la salida con el `HELLO`, se ha despedido y bea espera
    // sola: también vale.
    let server = start();
    closing_stdout_is_a_quiet_success(server.addr, &["--name", "ana", "--code", "amigas"], || {
        named(server.addr, "bea").send("PLAY amigas");
    });
}

#[test]
fn a_closed_stdout_ends_the_spectator_quietly_with_exit_0() {
    // El espectador ya ha escrito `Mirando la partida 1...`; después ana juega una ronda.
    let server = start();
    let mut ana = named(server.addr, "ana");
    ana.send("PLAY CPU");
    ana.line_containing("START 1");
    closing_stdout_is_a_quiet_success(server.addr, &["--watch", "1"], move || {
        play_round(&mut ana);
    });
}
