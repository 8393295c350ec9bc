//! Las comprobaciones de salud activas, como las `check` de HAProxy.
//!
//! Cada `check_interval` un hilo comprueba todos los servidores a la vez (un hilo corto por
//! servidor, así un servidor que no contesta no retrasa a los demás) y apunta el resultado
//! en el registro, que aplica `fall`/`rise`. Cada comprobación está acotada por
//! `check_timeout`, tanto al conectar como al esperar la respuesta del `PING`.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use common::conn::DeadlineReader;
use common::line::read_line;
use common::net::describe_io_error;
use common::Shutdown;

use super::backends::Backends;

/// Qué se hace en cada comprobación.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CheckKind {
    /// Basta con que acepte la conexión TCP.
    #[default]
    Tcp,
    /// Conectar, enviar `PING\r\n` y esperar una línea que empiece por `+PONG` (los nodos
    /// RESP del almacén replicado, o cualquier servidor Redis).
    Ping,
}

/// Longitud máxima de la respuesta a `PING` que leemos.
const MAX_PING_REPLY: usize = 512;

/// Resuelve `addr` y conecta con el primer destino que acepte en `timeout`.
///
/// # Errores
/// Un texto en español con el motivo (para la columna "última comprobación").
pub fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| format!("no se pudo resolver: {}", describe_io_error(&e)))?
        .collect();
    let mut last = "el nombre no resuelve a ninguna dirección".to_string();
    for sa in addrs {
        match TcpStream::connect_timeout(&sa, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = describe_io_error(&e),
        }
    }
    Err(last)
}

/// Hace una comprobación de `addr`. `Ok` lleva el detalle para la tabla ("ok en 2 ms").
///
/// # Errores
/// El motivo del fallo, en español.
pub fn check(addr: &str, kind: CheckKind, timeout: Duration) -> Result<String, String> {
    let started = Instant::now();
    let stream = connect(addr, timeout)?;
    if kind == CheckKind::Ping {
        ping(stream, timeout)?;
    }
    let ms = started.elapsed().as_millis();
    Ok(format!("ok en {ms} ms"))
}

/// `PING` y su respuesta, todo dentro de `timeout` (un plazo total: un servidor que responde
/// byte a byte no lo alarga, y cada ronda espera a todas las comprobaciones).
fn ping(stream: TcpStream, timeout: Duration) -> Result<(), String> {
    let io = |e: std::io::Error| describe_io_error(&e);
    let mut deadline = DeadlineReader::new(&stream);
    deadline.expire_in(Some(timeout));
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    (&stream).write_all(b"PING\r\n").map_err(io)?;
    let mut reader = BufReader::new(deadline);
    let mut line = Vec::new();
    match read_line(&mut reader, &mut line, MAX_PING_REPLY) {
        Ok(true) if line.starts_with(b"+PONG") => Ok(()),
        Ok(true) => Err(format!(
            "respuesta inesperada a PING: «{}»",
            String::from_utf8_lossy(&line).trim_end()
        )),
        Ok(false) => Err("cerró la conexión sin responder a PING".to_string()),
        Err(e) if e.is_timeout() => Err("no respondió a PING a tiempo".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// El bucle de comprobaciones: corre hasta que se dispare `shutdown`.
pub fn run_checks(
    backends: Backends,
    kind: CheckKind,
    interval: Duration,
    timeout: Duration,
    shutdown: Shutdown,
) {
    let interval = interval.max(Duration::from_millis(10));
    while !shutdown.wait_timeout(interval) {
        let targets = backends.targets();
        // Un hilo por servidor y ronda; `scope` espera a todos antes de la siguiente ronda,
        // así nunca hay dos comprobaciones del mismo servidor a la vez.
        thread::scope(|scope| {
            for target in targets {
                let backends = &backends;
                let spawned = thread::Builder::new()
                    .name(format!("salud-{}", target.key))
                    .spawn_scoped(scope, move || {
                        let result = check(&target.addr, kind, timeout);
                        match &result {
                            Ok(detail) => log::debug!("comprobación de {}: {detail}", target.id),
                            Err(e) => log::debug!("comprobación de {} falló: {e}", target.id),
                        }
                        let ok = result.is_ok();
                        let detail = result.unwrap_or_else(|e| format!("fallo: {e}"));
                        backends.record(target.key, ok, detail);
                    });
                if let Err(e) = spawned {
                    log::error!("no se pudo crear el hilo de comprobación: {e}");
                }
            }
        });
    }
}
