//! SHA-256 en un hilo aparte, para que calcular el resumen no frene la copia.
//!
//! Quien copia (del socket al disco, o del disco al socket) llena un buffer, lo escribe y se
//! lo pasa a [`HashPipe`]; un hilo calcula el SHA-256 mientras la copia sigue con otro buffer.
//! Con dos núcleos libres, el resumen sale casi gratis. La memoria sigue acotada: como mucho
//! [`BUFFERS`] buffers de [`BUFFER_SIZE`] por transferencia; si el hilo va por detrás, quien
//! copia espera a que le devuelva uno.
//!
//! Si no se puede crear el hilo (límite de hilos del sistema), se calcula en el mismo hilo:
//! más lento, pero igual de correcto.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use sha2::{Digest as _, Sha256};

use crate::protocolo::{Digest, BUFFER_SIZE};

/// Buffers en circulación por transferencia: uno llenándose, uno en el hilo del resumen y
/// uno en la cola entre ambos.
pub const BUFFERS: usize = 3;

/// Un cálculo de SHA-256 que recibe buffers y los devuelve vacíos.
pub struct HashPipe {
    mode: Mode,
    spare: Vec<Vec<u8>>,
    allocated: usize,
    buffer_size: usize,
}

enum Mode {
    Thread {
        to_hash: Option<SyncSender<(Vec<u8>, usize)>>,
        back: Receiver<Vec<u8>>,
        handle: Option<JoinHandle<Sha256>>,
    },
    Inline(Sha256),
}

impl HashPipe {
    /// Empieza desde el estado `initial` (vacío, o con el prefijo ya resumido al reanudar), con
    /// buffers de [`BUFFER_SIZE`].
    pub fn new(initial: Sha256) -> Self {
        Self::with_buffer_size(initial, BUFFER_SIZE)
    }

    /// Como [`HashPipe::new`], con buffers de `buffer_size` bytes (al menos 1).
    pub fn with_buffer_size(initial: Sha256, buffer_size: usize) -> Self {
        let buffer_size = buffer_size.max(1);
        let (to_hash, rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(1);
        let (back_tx, back) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        let mut hasher = initial.clone();
        let spawned = thread::Builder::new()
            .name("problema5-sha256".into())
            .spawn(move || {
                for (buf, n) in rx {
                    hasher.update(buf.get(..n).unwrap_or_default());
                    // Si quien copia ya no espera buffers, da igual perderlo.
                    let _ = back_tx.try_send(buf);
                }
                hasher
            });
        let mode = match spawned {
            Ok(handle) => Mode::Thread {
                to_hash: Some(to_hash),
                back,
                handle: Some(handle),
            },
            Err(e) => {
                log::warn!("no se pudo crear el hilo del SHA-256 ({e}); se calcula en línea");
                Mode::Inline(initial)
            }
        };
        Self {
            mode,
            spare: Vec::new(),
            allocated: 0,
            buffer_size,
        }
    }

    /// Un buffer libre del tamaño de este `HashPipe` (reutilizado si el hilo ya devolvió uno).
    pub fn buffer(&mut self) -> Vec<u8> {
        if let Some(buf) = self.spare.pop() {
            return buf;
        }
        let size = self.buffer_size;
        if self.allocated < BUFFERS {
            self.allocated += 1;
            return vec![0u8; size];
        }
        match &self.mode {
            // Esperar a que el hilo devuelva uno: así la memoria no crece.
            Mode::Thread { back, .. } => back.recv().unwrap_or_else(|_| vec![0u8; size]),
            Mode::Inline(_) => vec![0u8; size],
        }
    }

    /// Devuelve un buffer sin resumir nada (se reutilizará).
    pub fn give_back(&mut self, buf: Vec<u8>) {
        self.spare.push(buf);
    }

    /// Añade al resumen los `n` primeros bytes de `buf`, que pasa al hilo.
    pub fn update(&mut self, buf: Vec<u8>, n: usize) {
        match &mut self.mode {
            Mode::Thread { to_hash, .. } => {
                if let Some(tx) = to_hash {
                    // El hilo solo termina al cerrar el canal; si hubiera muerto, el resumen
                    // final no coincidiría y la transferencia se rechazaría: nunca se acepta
                    // un fichero sin comprobar.
                    let _ = tx.send((buf, n));
                }
            }
            Mode::Inline(hasher) => {
                hasher.update(buf.get(..n).unwrap_or_default());
                self.spare.push(buf);
            }
        }
    }

    /// Espera al hilo y devuelve el SHA-256 de todo lo recibido. `None` si el hilo murió (o
    /// si ya se llamó antes).
    pub fn finish(&mut self) -> Option<Digest> {
        let hasher = match &mut self.mode {
            Mode::Thread {
                to_hash, handle, ..
            } => {
                to_hash.take();
                handle.take()?.join().ok()?
            }
            Mode::Inline(hasher) => std::mem::take(hasher),
        };
        Some(Digest(hasher.finalize().into()))
    }
}

/// Lee de `reader` hasta llenar `buf` o hasta el fin del flujo. Devuelve los bytes leídos y,
/// si la lectura se cortó antes de llenarlo, el error (fin de flujo incluido, como
/// `UnexpectedEof`): así quien llama puede guardar lo que sí llegó antes de rendirse.
pub fn fill(reader: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => return (n, Some(io::ErrorKind::UnexpectedEof.into())),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_matches_a_direct_hash_and_reuses_buffers() {
        let data: Vec<u8> = (0..3 * BUFFER_SIZE + 17).map(|i| (i % 251) as u8).collect();
        let mut pipe = HashPipe::new(Sha256::new());
        for chunk in data.chunks(BUFFER_SIZE / 2) {
            let mut buf = pipe.buffer();
            buf[..chunk.len()].copy_from_slice(chunk);
            pipe.update(buf, chunk.len());
        }
        assert!(pipe.allocated <= BUFFERS);
        let got = pipe.finish().unwrap();
        assert!(pipe.finish().is_none());
        assert_eq!(got.0, <[u8; 32]>::from(Sha256::digest(&data)));
    }

    #[test]
    fn buffer_size_can_be_chosen() {
        let mut pipe = HashPipe::with_buffer_size(Sha256::new(), 7);
        let mut buf = pipe.buffer();
        assert_eq!(buf.len(), 7);
        buf.copy_from_slice(b"abcdefg");
        pipe.update(buf, 7);
        assert_eq!(pipe.buffer().len(), 7);
        assert_eq!(
            pipe.finish().unwrap().0,
            <[u8; 32]>::from(Sha256::digest(b"abcdefg"))
        );
        assert_eq!(
            HashPipe::with_buffer_size(Sha256::new(), 0).buffer().len(),
            1
        );
    }

    #[test]
    fn prefix_state_is_continued() {
        let mut prefix = Sha256::new();
        prefix.update(b"hola ");
        let mut pipe = HashPipe::new(prefix);
        let mut buf = pipe.buffer();
        buf[..5].copy_from_slice(b"mundo");
        pipe.update(buf, 5);
        assert_eq!(
            pipe.finish().unwrap().0,
            <[u8; 32]>::from(Sha256::digest(b"hola mundo"))
        );
    }

    #[test]
    fn fill_reports_what_arrived_before_the_end() {
        let mut input: &[u8] = b"abc";
        let mut buf = [0u8; 5];
        let (n, err) = fill(&mut input, &mut buf);
        assert_eq!(n, 3);
        assert_eq!(err.unwrap().kind(), io::ErrorKind::UnexpectedEof);
        let mut input: &[u8] = b"abcdef";
        assert!(matches!(fill(&mut input, &mut buf), (5, None)));
    }
}
