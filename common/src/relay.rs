//! Reenvío de bytes entre dos sockets, en ambos sentidos, con medio cierre.
//!
//! Lo usan los túneles `CONNECT` del proxy (problema7) y el balanceador (problema9). Cada
//! sentido se copia en su propio hilo con un buffer fijo ([`RELAY_BUFFER`]): la memoria no
//! depende de cuántos bytes pasen. Cuando un lado cierra su escritura (fin de flujo), se
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

/// Copia de `from` a `to` hasta fin de flujo o error; devuelve los bytes copiados.
fn copy_half(from: &TcpStream, to: &TcpStream, activity: &Activity, idle: Option<Duration>) -> u64 {
    let mut buf = vec![0u8; RELAY_BUFFER];
    let mut total: u64 = 0;
    let mut from_r = from;
    let mut to_w = to;
    loop {
        if activity.failed.load(Ordering::Relaxed) {
            break;
        }
        let n = match from_r.read(&mut buf) {
            Ok(0) => {
                // Fin de flujo: propagamos el medio cierre y dejamos vivo el otro sentido.
                let _ = to.shutdown(NetShutdown::Write);
                return total;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => match idle {
                Some(limit) if activity.idle_for() < limit => continue,
                _ => {
                    log::debug!("túnel inactivo: se cierra");
                    break;
                }
            },
            Err(e) => {
                log::debug!("túnel: error de lectura: {e}");
                break;
            }
        };
        activity.touch();
        let chunk = buf.get(..n).unwrap_or_default();
        if let Err(e) = to_w.write_all(chunk) {
            log::debug!("túnel: error de escritura: {e}");
            break;
        }
        total += n as u64;
    }
    // Fallo o inactividad: cerramos ambos extremos para que el otro sentido también termine.
    activity.failed.store(true, Ordering::Relaxed);
    let _ = from.shutdown(NetShutdown::Both);
    let _ = to.shutdown(NetShutdown::Both);
    total
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
