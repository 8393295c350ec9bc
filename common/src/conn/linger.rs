//! El cierre con espera (*lingering close*).
//!
//! Si un servidor cierra un socket con bytes del cliente aún sin leer (una petición que no
//! quiso, las líneas que siguieron a `/quit`, una inundación), el núcleo responde con un RST en
//! lugar de un FIN, y el RST puede borrar del buffer del cliente nuestra última respuesta (el
//! error, la despedida) antes de que la lea. Apache y nginx lo evitan igual que aquí: primero
//! se cierra la escritura (el cliente ve el FIN tras la respuesta), después se lee y se tira lo
//! que siga llegando, acotado en bytes y en tiempo **total**, y solo entonces se cierra.

use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use super::deadline::{DeadlineReader, TimedSource};

/// Los límites de la espera al cerrar: nunca más de `max_bytes` ni de `max_time` en total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linger {
    /// Bytes que como mucho se leen y se tiran.
    pub max_bytes: u64,
    /// Tiempo total que como mucho se espera (un byte de vez en cuando no lo alarga).
    pub max_time: Duration,
}

impl Linger {
    /// Los límites por omisión: 1 MiB y 1 s, de sobra para que lo que ya estaba en camino
    /// llegue y se tire, y poco para que un cliente hostil retenga el hilo.
    pub const DEFAULT: Linger = Linger {
        max_bytes: 1024 * 1024,
        max_time: Duration::from_secs(1),
    };
}

impl Default for Linger {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Cierra la escritura de `stream` y descarta lo que el cliente aún envíe, dentro de `limits`.
///
/// Devuelve cuántos bytes se tiraron. No informa de errores: al cerrar ya no hay a quién.
pub fn linger_close(stream: &TcpStream, limits: Linger) -> u64 {
    let _ = stream.shutdown(Shutdown::Write);
    drain(stream, limits)
}

/// La mitad de [`linger_close`] que no depende del socket: lee y tira hasta el fin del flujo,
/// un error, `max_bytes` o `max_time`.
pub fn drain(source: impl TimedSource, limits: Linger) -> u64 {
    let mut reader = DeadlineReader::new(source);
    reader.expire_in(Some(limits.max_time));
    let mut sink = [0u8; 8192];
    let mut total: u64 = 0;
    while total < limits.max_bytes {
        match std::io::Read::read(&mut reader, &mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total = total.saturating_add(n as u64),
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::super::deadline::fake::{Fake, Step};
    use super::*;
    use std::time::Instant;

    #[test]
    fn drain_stops_at_end_of_stream() {
        let fake = Fake::new([Step::Bytes(vec![1; 100]), Step::Eof]);
        assert_eq!(drain(&fake, Linger::DEFAULT), 100);
    }

    #[test]
    fn drain_stops_at_its_byte_budget() {
        let fake = Fake::new([Step::Bytes(vec![1; 100_000])]);
        let limits = Linger {
            max_bytes: 10_000,
            max_time: Duration::from_secs(5),
        };
        let got = drain(&fake, limits);
        assert!((10_000..=10_000 + 8192).contains(&got), "{got}");
    }

    #[test]
    fn a_trickle_does_not_extend_the_linger_time() {
        let steps = (0..100).flat_map(|_| {
            [
                Step::Silence(Duration::from_millis(20)),
                Step::Bytes(b"x".to_vec()),
            ]
        });
        let fake = Fake::new(steps);
        let started = Instant::now();
        let limits = Linger {
            max_bytes: 1 << 20,
            max_time: Duration::from_millis(150),
        };
        drain(&fake, limits);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }

    #[test]
    fn linger_close_lets_the_client_read_the_reply_before_eof() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // El cliente envía de más; el servidor responde sin leerlo y cierra con espera.
        client.write_all(&[b'x'; 4096]).unwrap();
        server.write_all(b"ERROR adios\n").unwrap();
        let t = std::thread::spawn(move || {
            linger_close(
                &server,
                Linger {
                    max_bytes: 1 << 20,
                    max_time: Duration::from_secs(2),
                },
            )
        });
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "ERROR adios\n");
        drop(client);
        assert!(t.join().unwrap() >= 4096);
    }
}
