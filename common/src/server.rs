//! El bucle de aceptación: un hilo por conexión, con un tope de conexiones simultáneas.
//!
//! Cada conexión aceptada se atiende en un hilo con nombre (`problema3-17`) para que los
//! registros y los pánicos digan quién fue. Por encima de `max_connections` el cliente recibe
//! un rechazo breve (`refusal`) y se cierra: el servidor sigue sano para los que ya están.
//!
//! Al disparar el [`Shutdown`]: se deja de aceptar, se cierra el lado de lectura de cada
//! conexión (su `read()` bloqueado devuelve fin de flujo y el manejador sale por su camino
//! normal, pudiendo aún escribir una despedida), se espera a que terminen hasta
//! `drain_timeout`, y a las que sigan vivas se les cierra el socket entero.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::ayuda::plural;
use crate::cli::DEFAULT_MAX_CONNECTIONS;
use crate::net::connectable;
use crate::shutdown::Shutdown;
use crate::sync::{lock, wait_timeout};

/// Cuánto esperamos por omisión a que las conexiones terminen al apagar.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Configuración del bucle de aceptación.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Prefijo del nombre de los hilos y de los mensajes de registro (`problema2`).
    pub name: String,
    /// Máximo de conexiones atendidas a la vez.
    pub max_connections: usize,
    /// Bytes que recibe un cliente rechazado por el tope (por ejemplo, una línea de error o
    /// una respuesta HTTP 503). Puede estar vacío.
    pub refusal: Vec<u8>,
    /// Tiempo máximo de espera a que terminen las conexiones al apagar.
    pub drain_timeout: Duration,
}

impl ServeConfig {
    /// Configuración con los valores por omisión y el nombre dado.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            refusal: b"ERROR servidor lleno, pruebe m\xc3\xa1s tarde\n".to_vec(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// Las conexiones vivas, para despertarlas al apagar y saber cuándo han terminado todas.
#[derive(Default)]
struct Registry {
    streams: Mutex<HashMap<u64, Arc<TcpStream>>>,
    empty: Condvar,
}

/// Al salir del manejador (también por pánico) la conexión se borra del registro.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut streams = lock(&self.registry.streams);
        streams.remove(&self.id);
        if streams.is_empty() {
            self.registry.empty.notify_all();
        }
    }
}

/// Acepta conexiones de `listener` y atiende cada una con `handler` en su propio hilo, hasta
/// que se dispare `shutdown`; entonces drena las conexiones y vuelve.
///
/// `handler` recibe el socket y la dirección del cliente. Lo que haga el manejador con el
/// socket (tiempos de espera, límites) es cosa suya; el bucle solo garantiza el tope de
/// conexiones y el apagado ordenado. Cada conexión cuesta aquí dos descriptores (el del
/// manejador y el del registro del apagado); [`serve_shared`] cuesta uno.
///
/// # Errores
/// Solo si no se puede consultar la dirección local del listener. Los errores de `accept`
/// (por ejemplo, sin descriptores libres) se registran y el bucle sigue.
pub fn serve<H>(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: Shutdown,
    handler: H,
) -> io::Result<()>
where
    H: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
{
    let name = config.name.clone();
    serve_shared(
        listener,
        config,
        shutdown,
        move |stream, peer| match stream.try_clone() {
            Ok(own) => handler(own, peer),
            Err(e) => log::error!("[{name}] {peer}: no se pudo duplicar el socket: {e}"),
        },
    )
}

/// Como [`serve`], pero el manejador recibe el socket compartido (`Arc<TcpStream>`) con el
/// registro del apagado: un solo descriptor por conexión. Quien necesite el socket en otro
/// hilo (un escritor) clona el `Arc`, no el descriptor.
///
/// # Errores
/// Los de [`serve`].
pub fn serve_shared<H>(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: Shutdown,
    handler: H,
) -> io::Result<()>
where
    H: Fn(Arc<TcpStream>, SocketAddr) + Send + Sync + 'static,
{
    serve_with(listener, config, shutdown, 1, handler)
}

/// El bucle de [`serve`] y [`serve_shared`]; `fds_per_connection` es lo que cuesta cada
/// conexión en descriptores, para acotar `max_connections` al límite del proceso.
fn serve_with<H>(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: Shutdown,
    fds_per_connection: usize,
    handler: H,
) -> io::Result<()>
where
    H: Fn(Arc<TcpStream>, SocketAddr) + Send + Sync + 'static,
{
    let local = listener.local_addr()?;
    let config = fit_to_fd_limit(config, fds_per_connection);
    // Despertar el `accept()` bloqueado conectándonos a nosotros mismos.
    shutdown.on_trigger(move || {
        let _ = TcpStream::connect_timeout(&connectable(local), Duration::from_secs(1));
    });
    let handler = Arc::new(handler);
    let registry = Arc::new(Registry::default());
    let mut handles: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id: u64 = 0;
    let mut out_of_fds = OutOfFds::new();

    loop {
        if shutdown.is_triggered() {
            break;
        }
        let (stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) => {
                if shutdown.is_triggered() {
                    break;
                }
                if crate::fds::is_out_of_fds(&e) {
                    out_of_fds.refuse_one(&listener, &config);
                } else {
                    log::error!("[{}] error en accept: {e}", config.name);
                    thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        if shutdown.is_triggered() {
            break;
        }
        handles.retain(|h| !h.is_finished());

        let active = lock(&registry.streams).len();
        if active >= config.max_connections {
            log::warn!(
                "[{}] {peer}: rechazada, tope de {} alcanzado",
                config.name,
                plural(config.max_connections, "conexión", "conexiones")
            );
            refuse(stream, &config.refusal);
            continue;
        }

        let stream = Arc::new(stream);
        next_id += 1;
        let id = next_id;
        lock(&registry.streams).insert(id, Arc::clone(&stream));
        let guard = Registered {
            registry: Arc::clone(&registry),
            id,
        };
        let h = Arc::clone(&handler);
        let spawned = thread::Builder::new()
            .name(format!("{}-{id}", config.name))
            .spawn(move || {
                let _guard = guard;
                h(stream, peer);
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                // El cierre del hilo que no llegó a nacer suelta `guard` y con él el registro.
                log::error!("[{}] {peer}: no se pudo crear el hilo: {e}", config.name);
            }
        }
    }

    drain(&config, &registry, handles);
    Ok(())
}

/// Sube el límite de descriptores del proceso (una vez) y acota `max_connections` a lo que
/// cabe en él, avisando si hubo que recortar.
fn fit_to_fd_limit(mut config: ServeConfig, fds_per_connection: usize) -> ServeConfig {
    let Some(limit) = crate::fds::raise_nofile_limit() else {
        return config;
    };
    let fit = crate::fds::connection_capacity(limit.soft, fds_per_connection);
    if config.max_connections > fit {
        log::warn!(
            "[{}] --max-connections {} no cabe en el límite de {} descriptores ({} por conexión): se atienden hasta {fit}",
            config.name,
            config.max_connections,
            limit.soft,
            fds_per_connection
        );
        config.max_connections = fit;
    }
    log::info!(
        "[{}] límite de {} descriptores: hasta {} a la vez",
        config.name,
        limit.soft,
        plural(config.max_connections, "conexión", "conexiones")
    );
    config
}

/// Qué hacer cuando `accept` falla por falta de descriptores (`EMFILE`): el cliente sigue en
/// la cola del núcleo y, sin más, esperaría en silencio mientras el bucle falla una y otra
/// vez. Como nginx, guardamos un descriptor de reserva: se suelta, se acepta al cliente, se le
/// envía el rechazo del servidor y se cierra, y se vuelve a abrir la reserva. El registro dice
/// cuántos se rechazaron, como mucho una vez cada [`OUT_OF_FDS_LOG_EVERY`].
struct OutOfFds {
    reserve: Option<std::fs::File>,
    refused: u64,
    last_log: Option<Instant>,
}

/// Cada cuánto, como mucho, se registra que faltan descriptores.
const OUT_OF_FDS_LOG_EVERY: Duration = Duration::from_secs(10);

impl OutOfFds {
    fn new() -> Self {
        Self {
            reserve: std::fs::File::open("/dev/null").ok(),
            refused: 0,
            last_log: None,
        }
    }

    fn refuse_one(&mut self, listener: &TcpListener, config: &ServeConfig) {
        self.reserve = None;
        match listener.accept() {
            Ok((stream, _)) => {
                refuse(stream, &config.refusal);
                self.refused += 1;
            }
            // Ni con la reserva: otro hilo se la llevó. Respiramos para no girar en vacío.
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
        self.reserve = std::fs::File::open("/dev/null").ok();
        let now = Instant::now();
        if self
            .last_log
            .map_or(true, |t| now.duration_since(t) >= OUT_OF_FDS_LOG_EVERY)
        {
            log::error!(
                "[{}] sin descriptores libres (EMFILE): {} con el aviso de servidor lleno; suba el límite (ulimit -n) o baje --max-connections",
                config.name,
                plural(self.refused, "cliente rechazado", "clientes rechazados")
            );
            self.last_log = Some(now);
            self.refused = 0;
        }
    }
}

/// Envía el rechazo sin quedarse bloqueado por un cliente que no lee, y cierra.
fn refuse(mut stream: TcpStream, refusal: &[u8]) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if !refusal.is_empty() {
        // Un rechazo HTTP (el 503) lleva la fecha del momento, no la del arranque.
        let _ = stream.write_all(&crate::http::stamp_date(refusal));
    }
    let _ = stream.shutdown(NetShutdown::Write);
}

fn drain(config: &ServeConfig, registry: &Registry, handles: Vec<JoinHandle<()>>) {
    let pending = {
        let streams = lock(&registry.streams);
        for s in streams.values() {
            let _ = s.shutdown(NetShutdown::Read);
        }
        streams.len()
    };
    log::info!(
        "[{}] dejamos de aceptar; esperando a {}",
        config.name,
        plural(pending, "conexión", "conexiones")
    );
    if !wait_until_empty(registry, config.drain_timeout) {
        let streams = lock(&registry.streams);
        log::warn!(
            "[{}] {} a tiempo: se cierran",
            config.name,
            plural(
                streams.len(),
                "conexión no terminó",
                "conexiones no terminaron"
            )
        );
        for s in streams.values() {
            let _ = s.shutdown(NetShutdown::Both);
        }
        drop(streams);
        if !wait_until_empty(registry, Duration::from_secs(1)) {
            log::error!("[{}] quedan hilos sin terminar", config.name);
            return;
        }
    }
    for h in handles {
        let _ = h.join();
    }
    log::info!("[{}] todas las conexiones cerradas", config.name);
}

fn wait_until_empty(registry: &Registry, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut streams = lock(&registry.streams);
    while !streams.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        streams = wait_timeout(&registry.empty, streams, deadline - now).0;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};

    fn echo_line(stream: TcpStream, _peer: SocketAddr) {
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = (&stream).write_all(line.as_bytes());
            line.clear();
        }
    }

    fn start(max: usize) -> (SocketAddr, Shutdown, thread::JoinHandle<io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let mut cfg = ServeConfig::new("prueba");
        cfg.max_connections = max;
        cfg.refusal = b"LLENO\n".to_vec();
        let s = shutdown.clone();
        let t = thread::spawn(move || serve(listener, cfg, s, echo_line));
        (addr, shutdown, t)
    }

    fn roundtrip(stream: &mut TcpStream, msg: &str) -> String {
        stream.write_all(msg.as_bytes()).unwrap();
        let mut buf = vec![0; msg.len()];
        stream.read_exact(&mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn over_cap_client_is_refused_and_others_keep_working() {
        let (addr, shutdown, t) = start(2);
        let mut a = TcpStream::connect(addr).unwrap();
        let mut b = TcpStream::connect(addr).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(roundtrip(&mut a, "a\n"), "a\n");
        assert_eq!(roundtrip(&mut b, "b\n"), "b\n");
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "LLENO\n");
        assert_eq!(roundtrip(&mut a, "sigo\n"), "sigo\n");
        // Al cerrar uno, hay sitio para otro.
        drop(b);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut d = TcpStream::connect(addr).unwrap();
            d.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            d.write_all(b"d\n").unwrap();
            let mut buf = [0u8; 2];
            if d.read_exact(&mut buf).is_ok() && &buf == b"d\n" {
                break;
            }
            assert!(Instant::now() < deadline, "nunca quedó sitio libre");
            thread::sleep(Duration::from_millis(20));
        }
        shutdown.trigger();
        t.join().unwrap().unwrap();
    }

    #[test]
    fn shutdown_returns_promptly_with_idle_clients_connected() {
        let (addr, shutdown, t) = start(10);
        let _idle: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
        thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        shutdown.trigger();
        t.join().unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
