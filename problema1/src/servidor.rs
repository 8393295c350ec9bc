//! El servidor del problema 1, con el ciclo de vida del socket a la vista: `bind` (en el
//! binario), el bucle de `accept`, `read`, `write` y `close`, cada llamada con una línea que
//! dice qué hace. Los demás problemas usan el bucle de `common::serve`, que hace lo mismo con
//! más oficio (véase el README de problema3); aquí no hay nada escondido.
//!
//! Cada conexión se atiende en su hilo, con un plazo **total** para recibir el mensaje: un
//! cliente que se conecta y calla (o que envía byte a byte) no ocupa un hilo para siempre. El
//! mensaje termina en un salto de línea, en el medio cierre del cliente o tras una pausa
//! (`pause`, 200 ms por omisión): el cliente del taller envía `Mundo!` sin `\n` y espera la
//! respuesta sin cerrar. Con `once`, el servidor atiende una sola conexión y termina.
//!
//! Al apagar (Ctrl-C): se deja de aceptar; quien ya envió su mensaje recibe su respuesta, y
//! quien aún no lo envió recibe `ERROR servidor cerrándose` en lugar de esperarlo.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::ayuda::plural;
use common::conn::{linger_close, Ending, Linger};
use common::net::{connectable, describe_io_error, is_timeout};
use common::{lock, Shutdown};

use crate::protocolo::{
    reply, timed_out, too_long, BUSY, DEFAULT_MAX_MESSAGE, DEFAULT_TIMEOUT, SHUTTING_DOWN,
};

/// Cuánto se espera, al apagar, a que terminen las conexiones en curso.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Configuración del servidor.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Longitud máxima del mensaje del cliente, en bytes.
    pub max_message: usize,
    /// Tiempo máximo (total) para recibir el mensaje y para enviar la respuesta.
    pub timeout: Duration,
    /// Silencio que termina un mensaje sin salto de línea (`None`: solo `\n` o el cierre).
    pub pause: Option<Duration>,
    /// Máximo de conexiones simultáneas.
    pub max_connections: usize,
    /// Atender una sola conexión y terminar.
    pub once: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_message: DEFAULT_MAX_MESSAGE,
            timeout: DEFAULT_TIMEOUT,
            pause: Some(common::conn::DEFAULT_PAUSE),
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            once: false,
        }
    }
}

/// Errores del servidor.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Fallo del socket de escucha.
    #[error("error del socket de escucha: {}", describe_io_error(.0))]
    Io(#[from] io::Error),
}

/// Las conexiones en curso: una copia de cada socket, para despertar su `read` al apagar.
type Live = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// Atiende conexiones en `listener` hasta que se dispare `shutdown` (o tras la primera, con
/// `once`), y espera a que terminen las que estaban en curso.
///
/// # Errores
/// Solo los del socket de escucha; los de cada cliente se registran y no paran el servidor.
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let local = listener.local_addr()?;
    // Un `accept` bloqueado no ve la bandera de apagado: al dispararla nos conectamos a nuestro
    // propio puerto, `accept` vuelve con esa conexión y el bucle ve la bandera.
    shutdown.on_trigger(move || {
        let _ = TcpStream::connect_timeout(&connectable(local), Duration::from_secs(1));
    });
    // Cada conexión cuesta dos descriptores (el suyo y la copia de `live`): pedimos al sistema
    // el máximo permitido en lugar de los 1024 habituales.
    common::fds::raise_nofile_limit();
    let max = if config.once {
        1
    } else {
        config.max_connections
    };
    let config = Arc::new(config);
    let live: Live = Arc::default();
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut accepted: u64 = 0;

    loop {
        // accept(2): espera a que el núcleo complete el saludo TCP de un cliente y devuelve un
        // socket nuevo solo para él; `listener` sigue escuchando a los demás.
        let (stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) if shutdown.is_triggered() => {
                log::debug!(
                    "[problema1] accept tras el apagado: {}",
                    describe_io_error(&e)
                );
                break;
            }
            Err(e) => {
                // Sin descriptores libres, o un cliente que se fue antes de que lo
                // aceptáramos: se respira y se sigue.
                log::error!("[problema1] error en accept: {}", describe_io_error(&e));
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if shutdown.is_triggered() {
            break; // la conexión que nos despertó (o alguien que llegó tarde)
        }
        workers.retain(|w| !w.is_finished());
        if lock(&live).len() >= max || (config.once && accepted > 0) {
            refuse(stream, peer);
            continue;
        }
        accepted += 1;
        let id = accepted;
        match stream.try_clone() {
            Ok(copy) => {
                lock(&live).insert(id, copy);
            }
            Err(e) => {
                log::error!(
                    "{peer}: no se pudo duplicar el socket: {}",
                    describe_io_error(&e)
                );
                continue;
            }
        }
        let (live_w, config_w, shutdown_w) =
            (Arc::clone(&live), Arc::clone(&config), shutdown.clone());
        let spawned = thread::Builder::new()
            .name(format!("problema1-{id}"))
            .spawn(move || {
                handle(stream, peer, &config_w, &shutdown_w);
                lock(&live_w).remove(&id);
                if config_w.once {
                    log::info!("--once: primera conexión atendida, terminamos");
                    shutdown_w.trigger();
                }
            });
        match spawned {
            Ok(worker) => workers.push(worker),
            Err(e) => {
                lock(&live).remove(&id);
                log::error!(
                    "{peer}: no se pudo crear el hilo: {}",
                    describe_io_error(&e)
                );
            }
        }
    }
    drain(&live, workers);
    Ok(())
}

/// Por encima del tope: una línea de rechazo y fuera, sin gastar un hilo.
fn refuse(stream: TcpStream, peer: SocketAddr) {
    log::warn!("{peer}: rechazada, tope de conexiones alcanzado");
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    let _ = (&stream).write_all(format!("{BUSY}\n").as_bytes());
    let _ = stream.shutdown(NetShutdown::Write);
}

/// El apagado: despierta el `read` de cada conexión en curso y espera a que terminen.
fn drain(live: &Live, workers: Vec<JoinHandle<()>>) {
    let pending = {
        let live = lock(live);
        for stream in live.values() {
            // shutdown(2) de la lectura: el `read` bloqueado de esa conexión devuelve 0 bytes,
            // como si el cliente hubiera cerrado, y su hilo sale por su camino normal.
            let _ = stream.shutdown(NetShutdown::Read);
        }
        live.len()
    };
    log::info!(
        "[problema1] dejamos de aceptar; esperando a {}",
        plural(pending, "conexión", "conexiones")
    );
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    for worker in workers {
        while !worker.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if worker.is_finished() {
            let _ = worker.join();
        }
    }
    let live = lock(live);
    if !live.is_empty() {
        log::warn!(
            "[problema1] {} a tiempo: se cierran",
            plural(
                live.len(),
                "conexión no terminó",
                "conexiones no terminaron"
            )
        );
        for stream in live.values() {
            let _ = stream.shutdown(NetShutdown::Both);
        }
    }
    log::info!("[problema1] apagado");
}

/// Atiende una conexión: un mensaje de ida, una línea de vuelta, cierre.
fn handle(stream: TcpStream, peer: SocketAddr, config: &ServerConfig, shutdown: &Shutdown) {
    log::info!("{peer}: conectado");
    let _ = stream.set_write_timeout(Some(config.timeout));
    let answer = match read_message(&stream, config) {
        // Un fin de flujo durante el apagado es nuestro `shutdown(Read)`, no el del cliente.
        Ok((_, Ending::HalfClose)) | Err(ReadError::Closed) if shutdown.is_triggered() => {
            log::info!("{peer}: servidor cerrándose, no se espera su mensaje");
            Some(SHUTTING_DOWN.to_string())
        }
        Ok((message, ending)) => {
            log::info!(
                "{peer}: mensaje de {} ({})",
                plural(message.len(), "byte", "bytes"),
                ending.describe()
            );
            log::debug!("{peer}: {:?}", String::from_utf8_lossy(&message));
            Some(reply(&message))
        }
        Err(ReadError::Closed) => {
            log::info!("{peer}: cerró sin enviar nada");
            None
        }
        Err(ReadError::TooLong) => {
            log::warn!("{peer}: mensaje de más de {} bytes", config.max_message);
            Some(too_long(config.max_message))
        }
        Err(ReadError::TimedOut) => {
            log::warn!("{peer}: ningún mensaje completo en {:?}", config.timeout);
            Some(timed_out(config.timeout))
        }
        Err(ReadError::Io(e)) => {
            log::warn!("{peer}: error de lectura: {}", describe_io_error(&e));
            None
        }
    };
    if let Some(line) = answer {
        // write(2): entrega la respuesta al núcleo, que la envía; `write_all` repite la
        // llamada hasta que sale entera (o vence el plazo de escritura).
        if let Err(e) = (&stream).write_all(format!("{line}\n").as_bytes()) {
            log::warn!(
                "{peer}: no se pudo enviar la respuesta: {}",
                describe_io_error(&e)
            );
        }
    }
    // El cierre: shutdown(2) de la escritura (el cliente ve el FIN tras la respuesta), se tira
    // lo que aún envíe (acotado), para que el cierre no sea un RST que borre la respuesta antes
    // de que la lea, y al soltar `stream` se llama a close(2).
    linger_close(&stream, Linger::DEFAULT);
    drop(stream);
    log::info!("{peer}: desconectado");
}

/// Por qué no llegó un mensaje.
#[derive(Debug)]
enum ReadError {
    /// El cliente cerró sin enviar nada.
    Closed,
    /// El mensaje pasa del máximo.
    TooLong,
    /// Venció el plazo total.
    TimedOut,
    /// Error del socket.
    Io(io::Error),
}

/// Lee el mensaje del cliente (sin su terminador) dentro del plazo total `config.timeout`.
///
/// Termina en un `\n` (en el acto), en el fin de flujo, o tras `config.pause` de silencio con
/// bytes ya recibidos. Un byte cada poco no alarga el plazo: cada `read` espera como mucho lo
/// que queda hasta él.
fn read_message(
    mut stream: &TcpStream,
    config: &ServerConfig,
) -> Result<(Vec<u8>, Ending), ReadError> {
    let deadline = Instant::now() + config.timeout;
    let max = config.max_message;
    let mut message = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = message.iter().position(|&b| b == b'\n') {
            message.truncate(end);
            return finish(message, Ending::Newline, max);
        }
        // `max + 1`: aún cabe el `\r` de un `\r\n` que no ha llegado entero.
        if message.len() > max.saturating_add(1) {
            return Err(ReadError::TooLong);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::TimedOut);
        }
        // Con medio mensaje recibido esperamos como mucho la pausa: su silencio lo termina.
        let wait = match config.pause {
            Some(pause) if !message.is_empty() && pause < left => pause,
            _ => left,
        };
        // set_read_timeout: el `read` de abajo esperará como mucho `wait`.
        stream.set_read_timeout(Some(wait)).map_err(ReadError::Io)?;
        // read(2): copia en `chunk` lo que el núcleo ya recibió del cliente, o espera a que
        // llegue algo; 0 bytes quiere decir que el cliente cerró su escritura (FIN).
        match stream.read(&mut chunk) {
            Ok(0) if message.is_empty() => return Err(ReadError::Closed),
            Ok(0) => return finish(message, Ending::HalfClose, max),
            Ok(n) => message.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && wait < left => return finish(message, Ending::Pause, max),
            // Venció el plazo total: lo ve la vuelta siguiente del bucle.
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

/// Quita el `\r` final y comprueba el máximo.
fn finish(
    mut message: Vec<u8>,
    ending: Ending,
    max: usize,
) -> Result<(Vec<u8>, Ending), ReadError> {
    if message.last() == Some(&b'\r') {
        message.pop();
    }
    if message.len() > max {
        return Err(ReadError::TooLong);
    }
    Ok((message, ending))
}
