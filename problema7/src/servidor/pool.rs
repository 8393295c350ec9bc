//! Conexiones al origen en reposo, para reutilizarlas.
//!
//! Abrir una conexión TCP por petición cuesta un viaje de ida y vuelta y un hilo del origen
//! ocupado en el `accept`; con conexiones persistentes (RFC 9112 §9.3) el proxy puede servir
//! miles de peticiones por segundo. Tras una respuesta leída entera, la conexión al origen
//! vuelve aquí ([`Pool::put`]) y la siguiente petición al mismo `host:puerto` la recoge
//! ([`Pool::take`]).
//!
//! Límites: como mucho `max_per_origin` conexiones guardadas por origen (las demás se
//! cierran) y ninguna más de `max_idle` sin uso. Antes de entregar una se comprueba que el
//! origen no la haya cerrado mientras dormía (un `peek` sin bloquear): así casi nunca se envía
//! una petición a una conexión muerta.

use std::collections::HashMap;
use std::io::{self, BufReader};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::lock;

/// Una conexión al origen con su buffer de lectura (vacío cuando está en reposo).
pub type UpstreamConn = BufReader<TcpStream>;

/// Las conexiones en reposo por origen (`host:puerto`).
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<(UpstreamConn, Instant)>>>,
    max_per_origin: usize,
    max_idle: Duration,
}

impl Pool {
    /// Un almacén vacío con los límites dados (`max_per_origin == 0` desactiva la reutilización).
    pub fn new(max_per_origin: usize, max_idle: Duration) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_per_origin,
            max_idle,
        }
    }

    /// Saca una conexión viva hacia `origin`, la más recientemente usada.
    pub fn take(&self, origin: &str) -> Option<UpstreamConn> {
        loop {
            let (conn, since) = {
                let mut idle = lock(&self.idle);
                let list = idle.get_mut(origin)?;
                let item = list.pop();
                if list.is_empty() {
                    idle.remove(origin);
                }
                item?
            };
            // Fuera del candado: el `peek` es una llamada al sistema.
            if since.elapsed() < self.max_idle && is_alive(conn.get_ref()) {
                return Some(conn);
            }
        }
    }

    /// Guarda `conn` para reutilizarla. Solo debe llamarse con la respuesta anterior leída
    /// entera: si quedan bytes en el buffer, la conexión se cierra en lugar de guardarse.
    pub fn put(&self, origin: &str, conn: UpstreamConn) {
        if self.max_per_origin == 0 || !conn.buffer().is_empty() {
            return;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let list = idle.entry(origin.to_string()).or_default();
        // Las caducadas se van primero (están al principio: se apilan por orden de llegada).
        list.retain(|(_, since)| now.duration_since(*since) < self.max_idle);
        if list.len() < self.max_per_origin {
            list.push((conn, now));
        }
    }

    /// Conexiones en reposo guardadas ahora (para pruebas y estadísticas).
    pub fn idle_count(&self) -> usize {
        lock(&self.idle).values().map(Vec::len).sum()
    }

    /// Cierra todas las conexiones en reposo (al apagar).
    pub fn clear(&self) {
        lock(&self.idle).clear();
    }
}

/// ¿Sigue abierta la conexión y sin datos inesperados? Un origen que cerró da fin de flujo;
/// uno que envía bytes sin que le hayamos preguntado no es de fiar.
pub(crate) fn is_alive(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut probe = [0u8; 1];
    let alive = matches!(stream.peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && alive
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn pair(l: &TcpListener) -> (UpstreamConn, TcpStream) {
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (BufReader::new(c), s)
    }

    #[test]
    fn live_connections_are_reused_and_closed_ones_dropped() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let pool = Pool::new(2, Duration::from_secs(10));
        let (a, _a_server) = pair(&l);
        let (b, b_server) = pair(&l);
        let (c, _c_server) = pair(&l);
        pool.put("o:1", a);
        pool.put("o:1", b);
        pool.put("o:1", c); // por encima del tope: se cierra
        assert_eq!(pool.idle_count(), 2);
        drop(b_server); // el origen cierra la última guardada
        std::thread::sleep(Duration::from_millis(20));
        let got = pool.take("o:1").expect("queda una viva");
        assert!(is_alive(got.get_ref()));
        assert!(pool.take("o:1").is_none());
        assert!(pool.take("otro:1").is_none());
    }

    #[test]
    fn connections_with_unexpected_bytes_are_not_reused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let pool = Pool::new(4, Duration::from_secs(10));
        let (a, mut a_server) = pair(&l);
        pool.put("o:1", a);
        a_server.write_all(b"basura").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(pool.take("o:1").is_none());
    }

    #[test]
    fn expired_connections_are_not_reused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let pool = Pool::new(4, Duration::from_millis(1));
        let (a, _a_server) = pair(&l);
        pool.put("o:1", a);
        std::thread::sleep(Duration::from_millis(5));
        assert!(pool.take("o:1").is_none());
    }
}
