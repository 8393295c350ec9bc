//! Cola de salida acotada con su propio hilo escritor, una por cliente.
//!
//! En un chat o con espectadores, un mensaje se envía a muchos clientes. Si el hilo que
//! difunde escribiera directamente en cada socket, un cliente que no lee (su buffer del
//! kernel lleno) bloquearía a todos. Por eso cada cliente tiene una [`Outbox`]: difundir es
//! solo meter el mensaje en su cola (nunca bloquea) y un hilo escritor propio la vacía en el
//! socket. Si la cola se llena, el cliente es demasiado lento: [`Outbox::send`] devuelve
//! [`OutboxError::Full`] y quien llama decide (normalmente, desconectarlo).
//!
//! Al soltar la última [`Outbox`] el escritor envía lo que quedaba en la cola y termina; con
//! [`Outbox::close`] se corta el socket sin esperar.

use std::io::Write;
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Mensajes en cola por omisión antes de considerar lento a un cliente.
pub const DEFAULT_QUEUE: usize = 1024;

/// Tiempo máximo por omisión que el escritor espera a que el socket acepte bytes.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Por qué no se pudo encolar un mensaje.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// La cola está llena: el cliente no lee al ritmo al que le escribimos.
    #[error("cola de salida llena: el cliente no lee")]
    Full,
    /// El escritor ya terminó (el socket se cerró o falló).
    #[error("la conexión de salida está cerrada")]
    Closed,
}

/// El extremo de envío de la cola de un cliente. Clonarla es barato.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: SyncSender<Arc<[u8]>>,
    stream: Arc<TcpStream>,
}

impl Outbox {
    /// Crea la cola de `capacity` mensajes y su hilo escritor sobre un clon de `stream`.
    /// El escritor usa `write_timeout` para no quedarse bloqueado para siempre.
    ///
    /// # Errores
    /// Si no se puede duplicar el socket o crear el hilo.
    pub fn spawn(
        stream: &TcpStream,
        capacity: usize,
        write_timeout: Duration,
        name: &str,
    ) -> std::io::Result<(Outbox, JoinHandle<()>)> {
        Self::spawn_shared(Arc::new(stream.try_clone()?), capacity, write_timeout, name)
    }

    /// Como [`Outbox::spawn`], pero sobre el mismo socket compartido (`Arc`), sin duplicar
    /// el descriptor: cada descriptor de más por cliente acerca el límite del proceso
    /// (`RLIMIT_NOFILE`). Fija el tiempo de escritura del socket a `write_timeout`.
    ///
    /// # Errores
    /// Si no se puede fijar el tiempo de escritura o crear el hilo.
    pub fn spawn_shared(
        stream: Arc<TcpStream>,
        capacity: usize,
        write_timeout: Duration,
        name: &str,
    ) -> std::io::Result<(Outbox, JoinHandle<()>)> {
        stream.set_write_timeout(Some(write_timeout))?;
        let writer = Arc::clone(&stream);
        let control = stream;
        let (tx, rx) = sync_channel::<Arc<[u8]>>(capacity.max(1));
        let handle = thread::Builder::new()
            .name(format!("{name}-escritor"))
            .spawn(move || {
                let mut w = &*writer;
                while let Ok(msg) = rx.recv() {
                    // Un mensaje vacío es la marca de [`Outbox::finish`]: todo lo anterior ya
                    // salió, y el escritor termina aunque queden otras copias de la cola.
                    if msg.is_empty() {
                        return;
                    }
                    if let Err(e) = w.write_all(&msg) {
                        log::debug!("escritor: error de escritura: {e}");
                        // Despertamos también al lector de esta conexión.
                        let _ = writer.shutdown(NetShutdown::Both);
                        return;
                    }
                }
            })?;
        Ok((
            Outbox {
                tx,
                stream: control,
            },
            handle,
        ))
    }

    /// Encola `msg` sin bloquear. Un mensaje vacío no se envía: es la marca de
    /// [`Outbox::finish`].
    ///
    /// # Errores
    /// [`OutboxError::Full`] si el cliente va retrasado; [`OutboxError::Closed`] si ya no hay
    /// escritor.
    pub fn send(&self, msg: impl Into<Arc<[u8]>>) -> Result<(), OutboxError> {
        self.tx.try_send(msg.into()).map_err(|e| match e {
            TrySendError::Full(_) => OutboxError::Full,
            TrySendError::Disconnected(_) => OutboxError::Closed,
        })
    }

    /// Encola una línea de texto añadiéndole `\n`.
    ///
    /// # Errores
    /// Los de [`Outbox::send`].
    pub fn send_line(&self, line: &str) -> Result<(), OutboxError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.send(bytes)
    }

    /// Pide al escritor que termine en cuanto haya enviado lo ya encolado, aunque otros
    /// (una partida, una sala) guarden copias de esta cola: lo que encolen después se pierde
    /// ([`OutboxError::Closed`]). Sirve para esperar (`join`) al escritor sin depender de que
    /// se suelten todas las copias. Si la cola está llena, corta la conexión ([`Outbox::close`]).
    pub fn finish(&self) {
        if self.send(Vec::new()).is_err() {
            self.close();
        }
    }

    /// Corta la conexión en ambos sentidos sin esperar a vaciar la cola (cliente lento o
    /// expulsado): el escritor falla y termina, y el lector de la conexión ve el cierre.
    pub fn close(&self) {
        let _ = self.stream.shutdown(NetShutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    #[test]
    fn finish_flushes_and_ends_the_writer_even_with_other_copies_alive() {
        let (client, server) = pair();
        let (outbox, handle) =
            Outbox::spawn(&server, 16, Duration::from_secs(5), "prueba").unwrap();
        let kept = outbox.clone();
        outbox.send_line("BYE").unwrap();
        outbox.finish();
        handle.join().unwrap();
        assert_eq!(kept.send_line("tarde"), Err(OutboxError::Closed));
        drop(server);
        drop((outbox, kept));
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let lines: Vec<String> = BufReader::new(client).lines().map(|l| l.unwrap()).collect();
        assert_eq!(lines, vec!["BYE".to_string()]);
    }

    #[test]
    fn messages_arrive_in_order_and_are_flushed_on_drop() {
        let (client, server) = pair();
        let (outbox, handle) =
            Outbox::spawn(&server, 16, Duration::from_secs(5), "prueba").unwrap();
        for i in 0..10 {
            outbox.send_line(&format!("m{i}")).unwrap();
        }
        drop(outbox);
        handle.join().unwrap();
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let lines: Vec<String> = BufReader::new(client).lines().map(|l| l.unwrap()).collect();
        let expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_client_that_never_reads_fills_its_queue_without_blocking_the_sender() {
        let (_client, server) = pair();
        let (outbox, handle) =
            Outbox::spawn(&server, 4, Duration::from_millis(200), "prueba").unwrap();
        let big = vec![b'x'; 1 << 20];
        let started = std::time::Instant::now();
        let mut full = false;
        for _ in 0..200 {
            match outbox.send(big.clone()) {
                Ok(()) => {}
                Err(OutboxError::Full) | Err(OutboxError::Closed) => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full, "la cola nunca se llenó");
        assert!(started.elapsed() < Duration::from_secs(5));
        outbox.close();
        drop(outbox);
        handle.join().unwrap();
    }
}
