//! Arnés de las pruebas de integración.
//!
//! Cada prueba arranca el servidor dentro del propio proceso, escuchando en `127.0.0.1:0`, en
//! un hilo propio ([`start_server`]); recibe un [`ServerGuard`] con la dirección real y, al
//! soltarlo, el servidor se apaga y su hilo se une. Si el servidor no se detiene en
//! [`STOP_TIMEOUT`], la prueba falla en lugar de colgar la CI.
//!
//! Todos los sockets de cliente llevan tiempo de espera ([`IO_TIMEOUT`]): un servidor colgado
//! hace fallar la prueba en segundos. Las esperas sondean un evento observable contra un plazo
//! ([`wait_until`]), así que una máquina lenta alarga la prueba pero no la hace fallar.

pub mod comprobar;
pub mod fuzz_checks;
pub mod goteo;
pub mod linearizability;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use common::Shutdown;

/// Tiempo de espera de lectura y escritura de los sockets de prueba.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Plazo para que un servidor se detenga tras disparar su apagado.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Un servidor en marcha dentro del proceso de prueba. Al soltarlo se apaga y se espera.
pub struct ServerGuard {
    /// Dirección real en la que escucha.
    pub addr: SocketAddr,
    /// Su señal de apagado (la prueba puede dispararla antes, para probar el apagado).
    pub shutdown: Shutdown,
    handle: Option<JoinHandle<Result<(), String>>>,
}

impl ServerGuard {
    /// Dispara el apagado y espera a que el servidor vuelva, devolviendo su resultado.
    ///
    /// # Panics
    /// Si el servidor no se detiene en [`STOP_TIMEOUT`] o su hilo entró en pánico.
    pub fn stop(&mut self) -> Result<(), String> {
        self.shutdown.trigger();
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !handle.is_finished() {
            if Instant::now() > deadline {
                panic!(
                    "el servidor en {} no se detuvo en {STOP_TIMEOUT:?}",
                    self.addr
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        match handle.join() {
            Ok(r) => r,
            Err(_) => panic!("el hilo del servidor en {} entró en pánico", self.addr),
        }
    }

    /// Conecta un cliente nuevo (ver [`connect`]).
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            self.shutdown.trigger();
            return;
        }
        if let Err(e) = self.stop() {
            panic!("el servidor terminó con error: {e}");
        }
    }
}

/// Arranca un servidor en `127.0.0.1:0`. `run` recibe el listener ya abierto y la señal de
/// apagado, y debe volver cuando se dispare (es la forma de `run` de cada problema).
pub fn start_server<F, E>(run: F) -> ServerGuard
where
    F: FnOnce(TcpListener, Shutdown) -> Result<(), E> + Send + 'static,
    E: std::fmt::Display,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    start_on(listener, run)
}

/// Como [`start_server`], con un listener que la prueba ya abrió.
pub fn start_on<F, E>(listener: TcpListener, run: F) -> ServerGuard
where
    F: FnOnce(TcpListener, Shutdown) -> Result<(), E> + Send + 'static,
    E: std::fmt::Display,
{
    let addr = listener.local_addr().expect("local_addr");
    let shutdown = Shutdown::new();
    let s = shutdown.clone();
    let handle = thread::Builder::new()
        .name(format!("servidor-{}", addr.port()))
        .spawn(move || run(listener, s).map_err(|e| e.to_string()))
        .expect("crear hilo del servidor");
    ServerGuard {
        addr,
        shutdown,
        handle: Some(handle),
    }
}

/// Conecta con `addr` con tiempos de espera de lectura y escritura de [`IO_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("no se pudo conectar a {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream
}

/// Un cliente de texto por líneas: un `BufReader` para leer y el socket para escribir.
pub struct LineClient {
    /// Lector con buffer sobre el socket.
    pub reader: BufReader<TcpStream>,
    /// El socket, para escribir.
    pub stream: TcpStream,
}

impl LineClient {
    /// Conecta con tiempos de espera.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = connect(addr);
        let reader = BufReader::new(stream.try_clone().expect("try_clone"));
        Self { reader, stream }
    }

    /// Envía `line` seguido de `\n`.
    pub fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("no se pudo enviar {line:?}: {e}"));
    }

    /// Envía bytes tal cual.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("enviar bytes");
    }

    /// Lee una línea (sin `\n` ni `\r`). Falla la prueba si se agota el tiempo; `None` si el
    /// servidor cerró.
    pub fn try_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                Some(String::from_utf8_lossy(&buf).into_owned())
            }
            Err(e) if common::net::is_timeout(&e) => {
                panic!("tiempo agotado esperando una línea del servidor")
            }
            Err(e) if common::net::is_disconnect(&e) => None,
            Err(e) => panic!("error leyendo del servidor: {e}"),
        }
    }

    /// Lee una línea; falla la prueba si el servidor cerró o no responde.
    pub fn line(&mut self) -> String {
        self.try_line()
            .expect("el servidor cerró la conexión cuando se esperaba una línea")
    }

    /// Lee líneas hasta una que cumpla `pred` y la devuelve (falla por tiempo si no llega).
    pub fn line_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let l = self.line();
            if pred(&l) {
                return l;
            }
            assert!(Instant::now() < deadline, "no llegó la línea esperada");
        }
    }

    /// Lee líneas hasta una que contenga `needle`.
    pub fn line_containing(&mut self, needle: &str) -> String {
        self.line_matching(|l| l.contains(needle))
    }

    /// Espera a que el servidor cierre la conexión, descartando lo que llegue. Falla por tiempo.
    pub fn expect_closed(&mut self) {
        let mut sink = Vec::new();
        match self.reader.read_to_end(&mut sink) {
            Ok(_) => {}
            Err(e) if common::net::is_disconnect(&e) => {}
            Err(e) => panic!("el servidor no cerró la conexión: {e}"),
        }
    }
}

/// Sondea `cond` cada 10 ms hasta que sea cierta o pase `timeout`; devuelve si se cumplió.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Lee exactamente `n` bytes (falla por tiempo si no llegan).
pub fn read_exact_n(stream: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).expect("leer bytes esperados");
    buf
}

/// Hilos del proceso actual, según `/proc/self/status` (para detectar hilos perdidos).
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// ¿Está disponible la herramienta externa `tool` (curl, nc, redis-cli...)?
///
/// Fuera de la CI, si falta, la prueba lo dice y se salta (devuelve `false`). Con `CI=true`
/// una herramienta ausente hace fallar la prueba: `.ci/run` debe instalarla.
pub fn require_tool(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("falta la herramienta `{tool}` y CI=true: .ci/run debe instalarla");
    }
    eprintln!("AVISO: falta `{tool}`; se salta esta prueba de interoperabilidad");
    false
}

/// Ejecuta una orden externa con un plazo; la mata y falla la prueba si se pasa.
pub fn run_with_timeout(
    cmd: &mut std::process::Command,
    timeout: Duration,
) -> std::process::Output {
    let mut child = spawn_piped(cmd);
    let t_out = read_all_in_thread(child.stdout.take().expect("stdout"));
    let t_err = read_all_in_thread(child.stderr.take().expect("stderr"));
    let status = wait_or_kill(&mut child, Instant::now() + timeout, || {
        format!("{cmd:?} no terminó en {timeout:?}")
    });
    std::process::Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Lanza `cmd` con la salida estándar y la de errores en tuberías.
fn spawn_piped(cmd: &mut std::process::Command) -> std::process::Child {
    use std::process::Stdio;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("no se pudo lanzar {cmd:?}: {e}"))
}

/// Lee `r` hasta el final en un hilo aparte (para vaciar una tubería mientras se espera).
fn read_all_in_thread(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Espera a que `child` termine; pasado `deadline`, lo mata y falla la prueba con `why()`.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    deadline: Instant,
    why: impl Fn() -> String,
) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}", why());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Ejecuta `cmd` como `cmd | head -c keep` (issue 18: una salida estándar cerrada no es un
/// error): lee `keep` bytes de su stdout, la cierra, llama a `after_close` (para que el
/// programa tenga algo más que escribir, si hace falta) y espera a que termine. Su stdin, si
/// la prueba pidió `Stdio::piped()`, sigue abierta hasta el final. Devuelve el código, los
/// bytes leídos y todo su stderr; si no escribe `keep` bytes o no termina en `timeout`, lo
/// mata y falla la prueba.
pub fn run_with_closed_stdout(
    cmd: &mut std::process::Command,
    keep: usize,
    after_close: impl FnOnce(),
    timeout: Duration,
) -> std::process::Output {
    let mut child = spawn_piped(cmd);
    let stdin = child.stdin.take();
    let out = child.stdout.take().expect("stdout");
    let t_err = read_all_in_thread(child.stderr.take().expect("stderr"));
    let (read_tx, read_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = out.take(keep as u64).read_to_end(&mut kept);
        // Soltar `out` cierra la tubería, como `head` al terminar.
        let _ = read_tx.send(kept);
    });
    let deadline = Instant::now() + timeout;
    let Ok(kept) = read_rx.recv_timeout(timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} no escribió {keep} bytes en {timeout:?}");
    };
    after_close();
    let status = wait_or_kill(&mut child, deadline, || {
        format!("{cmd:?} no terminó en {timeout:?} con la salida estándar cerrada")
    });
    drop(stdin);
    std::process::Output {
        status,
        stdout: kept,
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Error de E/S tal cual, para las pruebas que esperan un cierre o un reset.
pub fn io_kind(r: io::Result<usize>) -> Option<io::ErrorKind> {
    r.err().map(|e| e.kind())
}

/// Una conexión HTTP de prueba: envía bytes tal cual y lee respuestas completas con la capa
/// `common::http` (cabecera y cuerpo según su encuadre). La usan las pruebas del servidor de
/// ficheros (problema4) y del proxy (problema7).
pub struct HttpConn {
    /// Lector con buffer sobre el socket.
    pub reader: BufReader<TcpStream>,
    /// El socket, para escribir.
    pub stream: TcpStream,
}

impl HttpConn {
    /// Conecta con tiempos de espera (ver [`connect`]).
    pub fn new(addr: SocketAddr) -> Self {
        let stream = connect(addr);
        let reader = BufReader::new(stream.try_clone().expect("try_clone"));
        Self { reader, stream }
    }

    /// Envía bytes tal cual (una petición, un trozo de ella, basura...).
    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("enviar la petición");
    }

    /// Lee una respuesta completa a una petición hecha con `method` (importa para `HEAD`).
    ///
    /// # Panics
    /// Si el servidor cierra sin responder o la respuesta está mal formada.
    pub fn response(&mut self, method: &str) -> (common::http::ResponseHead, Vec<u8>) {
        use common::http::{self, BodyReader, ChunkLimits, Limits};
        let head = http::read_response_head(&mut self.reader, &Limits::default())
            .expect("cabecera de respuesta válida")
            .expect("el servidor cerró sin responder");
        let kind = http::response_body_kind(method, head.status, &head.headers)
            .expect("encuadre del cuerpo válido");
        let mut body = Vec::new();
        BodyReader::new(&mut self.reader, kind, ChunkLimits::default())
            .read_to_end(&mut body)
            .expect("cuerpo completo");
        (head, body)
    }

    /// Envía `raw` y lee la respuesta a `method`.
    pub fn request(&mut self, method: &str, raw: &str) -> (common::http::ResponseHead, Vec<u8>) {
        self.send(raw.as_bytes());
        self.response(method)
    }

    /// `GET path` en HTTP/1.1 con `Host: x`, y su respuesta.
    pub fn get(&mut self, path: &str) -> (common::http::ResponseHead, Vec<u8>) {
        self.request("GET", &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
    }
}

/// El `cliente` del problema `problem` (`"problema4"`) como proceso, listo para añadirle
/// argumentos: el ejecutable `clientes` de este paquete con `TALLER_CLIENTE` (véase
/// `src/bin/clientes.rs`: `target/debug/cliente` es el del último problema compilado).
///
/// `cargo test` compila los binarios del paquete antes que sus pruebas de integración; el
/// ejecutable está junto al directorio `deps/` de la prueba que llama.
pub fn cliente(problem: &str) -> std::process::Command {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("clientes")))
        .unwrap_or_else(|| std::path::PathBuf::from("target/debug/clientes"));
    let mut command = std::process::Command::new(exe);
    // Que la ayuda y los errores digan `cliente`, como el binario de verdad.
    std::os::unix::process::CommandExt::arg0(&mut command, "cliente");
    command
        .env("TALLER_CLIENTE", problem)
        .env("RUST_LOG", "warn");
    command
}
