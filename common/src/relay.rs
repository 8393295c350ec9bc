//! Reenvío de bytes entre dos sockets, en ambos sentidos, con medio cierre.
//!
//! Lo usan los túneles `CONNECT` del proxy (problema7) y el balanceador (problema9). Cada
//! sentido se copia en su propio hilo. En Linux los bytes no pasan por nuestra memoria: van
//! de un socket al otro con `splice(2)` a través de una tubería de hasta 1 MiB por sentido
//! (el kernel mueve referencias a páginas en vez de copiarlas); en otros sistemas, con un
//! buffer fijo de [`RELAY_BUFFER`] bytes. En los dos casos la memoria no depende de cuántos
//! bytes pasen. Cuando un lado cierra su escritura (fin de flujo), se
//! propaga con `shutdown(Write)` al otro, y el sentido contrario sigue funcionando: así un
//! cliente puede enviar todo, cerrar su mitad y aún recibir la respuesta completa.
//!
//! Si un sentido falla (reset, error), se cierran ambos sockets para que el otro sentido no
//! quede colgado. Con `idle` se corta el túnel cuando no pasa nada en ninguno de los dos
//! sentidos durante ese tiempo.

use std::io::{self, Read, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::net::is_timeout;

/// Tamaño del buffer de cada sentido: 64 KiB, el punto en que una copia por el espacio de
/// usuario se acerca al rendimiento del loopback sin gastar memoria por conexión.
pub const RELAY_BUFFER: usize = 64 * 1024;

/// Bytes que pasaron en cada sentido.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats {
    /// Del cliente (`a`) al destino (`b`).
    pub a_to_b: u64,
    /// Del destino (`b`) al cliente (`a`).
    pub b_to_a: u64,
}

struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    failed: AtomicBool,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Reenvía entre `a` y `b` hasta que ambos sentidos terminen. Bloquea al llamante.
///
/// # Errores
/// Solo si no se puede duplicar un socket o crear el hilo del segundo sentido; los errores
/// durante la copia terminan el túnel y se reflejan en las cuentas, no como error.
pub fn relay(a: TcpStream, b: TcpStream, idle: Option<Duration>) -> io::Result<RelayStats> {
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
        failed: AtomicBool::new(false),
    });
    if let Some(t) = idle {
        // Despertamos periódicamente para comprobar la inactividad total del túnel.
        let tick = (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        a.set_read_timeout(Some(tick))?;
        b.set_read_timeout(Some(tick))?;
    } else {
        a.set_read_timeout(None)?;
        b.set_read_timeout(None)?;
    }
    let a2 = a.try_clone()?;
    let b2 = b.try_clone()?;
    let act = Arc::clone(&activity);
    let name = thread::current()
        .name()
        .map(|n| format!("{n}-relay"))
        .unwrap_or_else(|| "relay".to_string());
    let other = thread::Builder::new()
        .name(name)
        .spawn(move || copy_half(&a2, &b2, &act, idle))?;
    let b_to_a = copy_half(&b, &a, &activity, idle);
    let a_to_b = other.join().unwrap_or(0);
    Ok(RelayStats { a_to_b, b_to_a })
}

/// Cómo terminó un sentido del reenvío.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Fin de flujo ordenado: se propaga como medio cierre.
    Eof,
    /// Error, inactividad o fallo del otro sentido: se cierra todo.
    Failed,
    /// El sistema no sabe hacer `splice` con estos descriptores: hay que copiar a mano.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Unsupported,
}

/// Copia de `from` a `to` hasta fin de flujo o error; devuelve los bytes copiados.
///
/// En Linux mueve los bytes con `splice(2)` a través de una tubería: las páginas recibidas
/// pasan del socket de entrada al de salida sin copiarse a nuestra memoria (ni volver al
/// kernel). Si no se puede (otro sistema, o un kernel que no lo admite para estos sockets),
/// copia con `read`/`write` y un buffer de [`RELAY_BUFFER`] bytes.
fn copy_half(from: &TcpStream, to: &TcpStream, activity: &Activity, idle: Option<Duration>) -> u64 {
    let mut total: u64 = 0;
    #[cfg(target_os = "linux")]
    let mut end = zero_copy::splice_half(from, to, activity, idle, &mut total);
    #[cfg(not(target_os = "linux"))]
    let mut end = End::Unsupported;
    if end == End::Unsupported {
        end = copy_with_buffer(from, to, activity, idle, &mut total);
    }
    if end == End::Eof {
        // Fin de flujo: propagamos el medio cierre y dejamos vivo el otro sentido.
        let _ = to.shutdown(NetShutdown::Write);
        return total;
    }
    // Fallo o inactividad: cerramos ambos extremos para que el otro sentido también termine.
    activity.failed.store(true, Ordering::Relaxed);
    let _ = from.shutdown(NetShutdown::Both);
    let _ = to.shutdown(NetShutdown::Both);
    total
}

/// Qué hacer cuando una lectura agota su plazo (el "tic" con el que vigilamos la
/// inactividad): seguir si el túnel se usó hace poco, cortar si no.
fn keep_waiting(activity: &Activity, idle: Option<Duration>) -> bool {
    match idle {
        Some(limit) if activity.idle_for() < limit => true,
        _ => {
            log::debug!("túnel inactivo: se cierra");
            false
        }
    }
}

/// La copia clásica por el espacio de usuario, con un buffer fijo.
fn copy_with_buffer(
    from: &TcpStream,
    to: &TcpStream,
    activity: &Activity,
    idle: Option<Duration>,
    total: &mut u64,
) -> End {
    let mut buf = vec![0u8; RELAY_BUFFER];
    let mut from_r = from;
    let mut to_w = to;
    loop {
        if activity.failed.load(Ordering::Relaxed) {
            return End::Failed;
        }
        let n = match from_r.read(&mut buf) {
            Ok(0) => return End::Eof,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                if keep_waiting(activity, idle) {
                    continue;
                }
                return End::Failed;
            }
            Err(e) => {
                log::debug!("túnel: error de lectura: {e}");
                return End::Failed;
            }
        };
        activity.touch();
        let chunk = buf.get(..n).unwrap_or_default();
        if let Err(e) = to_w.write_all(chunk) {
            log::debug!("túnel: error de escritura: {e}");
            return End::Failed;
        }
        *total += n as u64;
    }
}

/// Reenvío sin copias con `splice(2)` (solo Linux).
#[cfg(target_os = "linux")]
mod zero_copy {
    use super::{keep_waiting, Activity, End, Ordering, RELAY_BUFFER};
    use nix::errno::Errno;
    use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
    use nix::unistd::pipe2;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    /// Capacidad que pedimos para la tubería de cada sentido.
    const PIPE_SIZE: usize = 1024 * 1024;

    /// Mueve de `from` a `to` pasando por una tubería propia de este sentido: `splice` del
    /// socket a la tubería (como mucho lo que cabe en ella: [`PIPE_SIZE`] si el sistema deja
    /// agrandarla, 64 KiB si no) y de la
    /// tubería al otro socket hasta vaciarla. La tubería es el único buffer, y lo pone el
    /// kernel: la memoria sigue acotada. El plazo de lectura del socket (`SO_RCVTIMEO`)
    /// también vale para `splice`, así que la vigilancia de inactividad no cambia.
    pub(super) fn splice_half(
        from: &TcpStream,
        to: &TcpStream,
        activity: &Activity,
        idle: Option<Duration>,
        total: &mut u64,
    ) -> End {
        let Ok((pipe_out, pipe_in)) = pipe2(OFlag::O_CLOEXEC) else {
            return End::Unsupported;
        };
        let chunk = grow_pipe(&pipe_in);
        let flags = SpliceFFlags::SPLICE_F_MOVE;
        loop {
            if activity.failed.load(Ordering::Relaxed) {
                return End::Failed;
            }
            let n = match splice(from, None, &pipe_in, None, chunk, flags) {
                Ok(0) => return End::Eof,
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    if keep_waiting(activity, idle) {
                        continue;
                    }
                    return End::Failed;
                }
                Err(Errno::EINVAL | Errno::ENOSYS) if *total == 0 => return End::Unsupported,
                Err(e) => {
                    log::debug!("túnel: error de lectura: {e}");
                    return End::Failed;
                }
            };
            activity.touch();
            let mut left = n;
            while left > 0 {
                match splice(&pipe_out, None, to, None, left, flags) {
                    Ok(0) => return End::Failed,
                    Ok(m) => left = left.saturating_sub(m),
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        log::debug!("túnel: error de escritura: {e}");
                        return End::Failed;
                    }
                }
            }
            *total += n as u64;
        }
    }

    /// Agranda la tubería a [`PIPE_SIZE`] si el sistema lo permite y devuelve su capacidad.
    /// Un usuario sin privilegios tiene un tope para la suma de sus tuberías
    /// (`fs.pipe-user-pages-soft`, 64 MiB por omisión): con muchos túneles abiertos las
    /// siguientes se quedan pequeñas. Es más lento, pero igual de correcto: cada `splice`
    /// mueve lo que cabe.
    fn grow_pipe(pipe: &impl AsRawFd) -> usize {
        match fcntl(pipe.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32)) {
            Ok(size) => usize::try_from(size).unwrap_or(RELAY_BUFFER),
            Err(_) => RELAY_BUFFER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Devuelve (cliente, extremo del túnel del lado del cliente).
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    #[test]
    fn bytes_flow_both_ways_and_half_close_propagates() {
        let (mut client, a) = pair();
        let (b, mut origin) = pair();
        let t = thread::spawn(move || relay(a, b, Some(Duration::from_secs(5))).unwrap());
        client.write_all(b"pregunta").unwrap();
        client.shutdown(NetShutdown::Write).unwrap();
        let mut got = Vec::new();
        origin.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"pregunta");
        // El otro sentido sigue vivo tras el medio cierre.
        origin.write_all(b"respuesta").unwrap();
        origin.shutdown(NetShutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"respuesta");
        let stats = t.join().unwrap();
        assert_eq!(
            stats,
            RelayStats {
                a_to_b: 8,
                b_to_a: 9
            }
        );
    }

    #[test]
    fn large_streams_cross_intact_in_both_directions_at_once() {
        let (client, a) = pair();
        let (b, origin) = pair();
        let t = thread::spawn(move || relay(a, b, Some(Duration::from_secs(10))).unwrap());
        // Bytes distintos en cada posición y en cada sentido, más grandes que la tubería.
        let up: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
        let down: Vec<u8> = (0..5_000_000u32).map(|i| (i % 241) as u8).collect();
        let pump = |mut s: TcpStream, data: Vec<u8>| {
            thread::spawn(move || {
                s.write_all(&data).unwrap();
                s.shutdown(NetShutdown::Write).unwrap();
                let mut got = Vec::new();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.read_to_end(&mut got).unwrap();
                got
            })
        };
        let from_client = pump(client, up.clone());
        let from_origin = pump(origin, down.clone());
        assert!(
            from_client.join().unwrap() == down,
            "el cliente no recibió lo enviado"
        );
        assert!(
            from_origin.join().unwrap() == up,
            "el destino no recibió lo enviado"
        );
        let stats = t.join().unwrap();
        assert_eq!((stats.a_to_b, stats.b_to_a), (6_000_000, 5_000_000));
    }

    fn fresh_activity() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// La copia por el espacio de usuario (la que se usa donde no hay `splice`) mueve un
    /// flujo mayor que su buffer sin perder ni reordenar nada y termina en el fin de flujo.
    #[test]
    fn buffer_fallback_copies_a_stream_larger_than_its_buffer() {
        let (mut client, a) = pair();
        let (b, mut origin) = pair();
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 253) as u8).collect();
        let sent = data.clone();
        let writer = thread::spawn(move || {
            client.write_all(&sent).unwrap();
            client.shutdown(NetShutdown::Write).unwrap();
            client
        });
        let reader = thread::spawn(move || {
            origin
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut got = Vec::new();
            origin.read_to_end(&mut got).unwrap();
            got
        });
        let mut total = 0;
        let end = copy_with_buffer(&a, &b, &fresh_activity(), None, &mut total);
        assert_eq!(end, End::Eof);
        assert_eq!(total, data.len() as u64);
        b.shutdown(NetShutdown::Write).unwrap();
        assert!(
            reader.join().unwrap() == data,
            "el destino no recibió lo enviado"
        );
        drop(writer.join().unwrap());
    }

    /// Sin tráfico, la copia por buffer también respeta el plazo de inactividad.
    #[test]
    fn buffer_fallback_gives_up_on_an_idle_stream() {
        let (_client, a) = pair();
        let (b, _origin) = pair();
        a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let started = Instant::now();
        let mut total = 0;
        let idle = Some(Duration::from_millis(100));
        let end = copy_with_buffer(&a, &b, &fresh_activity(), idle, &mut total);
        assert_eq!(end, End::Failed);
        assert_eq!(total, 0);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn idle_tunnel_is_closed() {
        let (mut client, a) = pair();
        let (b, _origin) = pair();
        let t = thread::spawn(move || relay(a, b, Some(Duration::from_millis(100))).unwrap());
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 1];
        // El túnel se cierra solo: lectura de fin de flujo (o reset), no un tiempo agotado.
        match client.read(&mut buf) {
            Ok(0) => {}
            Err(e) => assert!(!is_timeout(&e), "el túnel no se cerró: {e}"),
            Ok(_) => panic!("datos inesperados"),
        }
        t.join().unwrap();
    }
}
