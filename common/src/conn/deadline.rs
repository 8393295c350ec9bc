//! El lector con plazo total.
//!
//! `set_read_timeout` limita cada `read()` por separado: un cliente que envía un byte cada
//! segundo nunca lo agota y retiene la conexión para siempre (el ataque *slowloris*). Aquí el
//! plazo es un instante absoluto: antes de cada lectura se pone en el socket lo que **queda**
//! hasta él, y al pasarlo la lectura falla con `TimedOut` aunque lleguen bytes.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Un origen de bytes con tiempo de espera por lectura: un socket TCP (propio, prestado o
/// compartido con `Arc`), o un doble de pruebas.
pub trait TimedSource {
    /// Fija el tiempo máximo de la próxima lectura (`None`: sin límite).
    ///
    /// # Errores
    /// Los de `setsockopt`.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Lee lo que haya, esperando como mucho el tiempo fijado.
    ///
    /// # Errores
    /// Los del socket; el tiempo agotado llega como `WouldBlock` o `TimedOut`.
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl TimedSource for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self, buf)
    }
}

impl<T: TimedSource + ?Sized> TimedSource for &T {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_some(buf)
    }
}

impl<T: TimedSource + ?Sized> TimedSource for Arc<T> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_some(buf)
    }
}

/// `set_read_timeout(Some(0))` es un error: el mínimo que ponemos es 1 ms.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Lector con un plazo total opcional (y, para quien lo pida, un tope más corto por lectura).
///
/// Sin plazo es una lectura normal, sin llamadas al sistema de más. Con plazo, el tiempo de
/// espera del socket se ajusta antes de cada lectura; si el que ya estaba puesto difiere en
/// menos de 1/8 de lo que queda, no se repite el `setsockopt` (en una conexión rápida casi no
/// cambia entre lecturas). Si el socket se despierta antes del plazo por esa holgura, se
/// vuelve a esperar: el error `TimedOut` sale solo al pasar el plazo.
#[derive(Debug)]
pub struct DeadlineReader<S> {
    source: S,
    deadline: Option<Instant>,
    /// El tiempo de espera puesto ahora en el socket (`None`: sin límite).
    applied: Option<Duration>,
}

/// Cómo acabó una lectura con tope ([`DeadlineReader::read_within`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Within {
    /// Llegaron estos bytes (0: fin del flujo).
    Read(usize),
    /// Pasó el tope pedido sin que llegase nada, y el plazo total aún no ha vencido.
    Quiet,
}

impl<S: TimedSource> DeadlineReader<S> {
    /// Lector sin plazo sobre `source`.
    pub fn new(source: S) -> Self {
        Self {
            source,
            deadline: None,
            applied: None,
        }
    }

    /// Fija (o quita, con `None`) el instante a partir del cual toda lectura falla.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Fija el plazo a `timeout` desde ahora (o lo quita con `None`).
    pub fn expire_in(&mut self, timeout: Option<Duration>) {
        self.deadline = timeout.map(|t| Instant::now() + t);
    }

    /// El plazo actual.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// ¿Ha vencido ya el plazo?
    pub fn is_expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// El origen de los bytes.
    pub fn get_ref(&self) -> &S {
        &self.source
    }

    /// Lee esperando como mucho `quiet` (si se da) y nunca más allá del plazo total.
    ///
    /// # Errores
    /// `TimedOut` si vence el plazo total; los demás errores del socket tal cual.
    pub fn read_within(&mut self, buf: &mut [u8], quiet: Option<Duration>) -> io::Result<Within> {
        let quiet_until = quiet.map(|q| Instant::now() + q);
        loop {
            let now = Instant::now();
            let left = match self.deadline {
                Some(d) if now >= d => return Err(io::ErrorKind::TimedOut.into()),
                Some(d) => Some(d - now),
                None => None,
            };
            let quiet_left = match quiet_until {
                Some(q) if now >= q => return Ok(Within::Quiet),
                Some(q) => Some(q - now),
                None => None,
            };
            let wait = match (left, quiet_left) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.apply(wait)?;
            match self.source.read_some(buf) {
                Ok(n) => return Ok(Within::Read(n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Venció el tiempo del socket: el bucle decide si era el plazo, la pausa o
                // solo la holgura de 1/8.
                Err(e) if crate::net::is_timeout(&e) && wait.is_some() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn apply(&mut self, wait: Option<Duration>) -> io::Result<()> {
        let wait = wait.map(|w| w.max(MIN_TIMEOUT));
        let close_enough = match (self.applied, wait) {
            (None, None) => true,
            (Some(a), Some(w)) => a.max(w) - a.min(w) <= w / 8,
            _ => false,
        };
        if !close_enough {
            self.source.set_read_timeout(wait)?;
            self.applied = wait;
        }
        Ok(())
    }
}

impl<S: TimedSource> io::Read for DeadlineReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.read_within(buf, None)? {
            Within::Read(n) => Ok(n),
            // Sin tope propio `read_within` nunca devuelve `Quiet`.
            Within::Quiet => Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! Un socket de mentira: una lista de pasos (bytes, silencio de tanto tiempo, fin) que
    //! respeta el tiempo de espera fijado, para probar plazos sin red.
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// Un paso del guion del otro extremo.
    #[derive(Debug, Clone)]
    pub enum Step {
        Bytes(Vec<u8>),
        Silence(Duration),
        Eof,
    }

    #[derive(Debug, Default)]
    pub struct Fake {
        steps: RefCell<VecDeque<Step>>,
        timeout: RefCell<Option<Duration>>,
        pub setsockopts: RefCell<usize>,
    }

    impl Fake {
        pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
            Self {
                steps: RefCell::new(steps.into_iter().collect()),
                ..Self::default()
            }
        }
    }

    impl TimedSource for Fake {
        fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
            *self.timeout.borrow_mut() = timeout;
            *self.setsockopts.borrow_mut() += 1;
            Ok(())
        }
        fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
            let mut steps = self.steps.borrow_mut();
            loop {
                match steps.pop_front() {
                    None | Some(Step::Eof) => return Ok(0),
                    Some(Step::Bytes(mut b)) => {
                        let n = b.len().min(buf.len());
                        buf[..n].copy_from_slice(&b[..n]);
                        if n < b.len() {
                            steps.push_front(Step::Bytes(b.split_off(n)));
                        }
                        return Ok(n);
                    }
                    Some(Step::Silence(d)) => {
                        let limit = *self.timeout.borrow();
                        match limit {
                            Some(t) if t < d => {
                                std::thread::sleep(t);
                                steps.push_front(Step::Silence(d - t));
                                return Err(io::ErrorKind::WouldBlock.into());
                            }
                            _ => std::thread::sleep(d),
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{Fake, Step};
    use super::*;
    use std::io::Read;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_byte_trickle_does_not_extend_the_total_deadline() {
        // Un byte cada 30 ms: con un plazo por lectura de 100 ms nunca se cortaría.
        let steps = (0..50).flat_map(|_| [Step::Silence(30 * MS), Step::Bytes(b"x".to_vec())]);
        let mut r = DeadlineReader::new(Fake::new(steps));
        r.expire_in(Some(200 * MS));
        let started = Instant::now();
        let mut got = 0;
        let mut buf = [0u8; 16];
        let err = loop {
            match r.read(&mut buf) {
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(got < 10, "leyó {got} bytes");
        let took = started.elapsed();
        assert!(took >= 200 * MS && took < 2000 * MS, "{took:?}");
    }

    #[test]
    fn without_deadline_reads_plainly_and_sets_no_timeout() {
        let fake = Fake::new([Step::Bytes(b"hola".to_vec())]);
        let mut r = DeadlineReader::new(&fake);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hola");
        assert_eq!(*fake.setsockopts.borrow(), 0);
    }

    #[test]
    fn quiet_returns_after_silence_without_an_error() {
        let fake = Fake::new([Step::Silence(500 * MS), Step::Bytes(b"a".to_vec())]);
        let mut r = DeadlineReader::new(&fake);
        r.expire_in(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 4];
        assert_eq!(
            r.read_within(&mut buf, Some(50 * MS)).unwrap(),
            Within::Quiet
        );
        assert_eq!(r.read(&mut buf).unwrap(), 1);
    }

    #[test]
    fn quiet_never_outlives_the_deadline() {
        let fake = Fake::new([Step::Silence(Duration::from_secs(5))]);
        let mut r = DeadlineReader::new(&fake);
        r.expire_in(Some(30 * MS));
        let mut buf = [0u8; 4];
        let e = r
            .read_within(&mut buf, Some(Duration::from_secs(1)))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn an_expired_deadline_fails_even_with_bytes_waiting() {
        let fake = Fake::new([Step::Bytes(b"tarde".to_vec())]);
        let mut r = DeadlineReader::new(&fake);
        r.set_deadline(Some(Instant::now()));
        assert!(r.is_expired());
        let e = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
