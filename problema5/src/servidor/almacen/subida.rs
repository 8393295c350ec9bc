//! Una subida en curso: el temporal que se llena, su SHA-256 y cómo termina.
//!
//! Termina de una de tres formas: publicada con `rename` si el SHA-256 coincide
//! ([`Upload::finish`], o [`Upload::finish_with`] cuando el resumen llega detrás del cuerpo),
//! guardada como parcial para reanudar si se cortó ([`Upload::interrupt`], también al soltarla
//! sin más; una subida de una sola pasada no deja parcial), o descartada ([`Upload::discard`]).
//! Mientras llega, un hilo pide al disco cada [`FLUSH_EVERY`] bytes que vaya escribiendo, para
//! que el `fsync` final sea corto.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::UNIX_EPOCH;

use common::lock;
use sha2::{Digest as _, Sha256};

use super::{io_err, Store, StoreError, Version};
use crate::protocolo::{Digest, ListEntry, BUFFER_SIZE};
use crate::resumen::HashPipe;

/// Cada cuántos bytes recibidos se pide al disco, en segundo plano, que vaya escribiendo: así
/// el `fsync` final solo espera a la cola y no a todo el fichero.
const FLUSH_EVERY: u64 = 32 * 1024 * 1024;

/// Una subida en curso: un temporal oculto que se va llenando y calculando su SHA-256.
///
/// Termina con [`Upload::finish`] (comprobar y publicar) o [`Upload::interrupt`] (guardar lo
/// recibido para reanudar). Si se suelta sin llamar a ninguna (un pánico, un error), el
/// temporal se conserva como parcial igual que en `interrupt`: nunca queda nada a la vista.
pub struct Upload {
    store: Store,
    id: u64,
    name: String,
    size: u64,
    /// El SHA-256 anunciado; `None` en una subida de una sola pasada hasta que llega la línea
    /// final ([`Upload::finish_with`]).
    expected: Option<Digest>,
    temp: PathBuf,
    file: File,
    pipe: HashPipe,
    offset: u64,
    written: u64,
    unflushed: u64,
    flusher: Option<Flusher>,
    done: bool,
}

impl Upload {
    /// Una subida sobre el temporal ya abierto `file`, que contiene `held` bytes (un parcial
    /// reclamado) o ninguno. Hasta [`Upload::rehash_prefix`], `offset` es lo que hay en disco:
    /// si algo falla antes, `Drop` devuelve el parcial entero a su sitio.
    #[allow(clippy::too_many_arguments)] // todos son el estado inicial, sin valores por omisión
    pub(super) fn new(
        store: Store,
        id: u64,
        name: &str,
        size: u64,
        expected: Option<Digest>,
        temp: PathBuf,
        file: File,
        held: u64,
    ) -> Self {
        Upload {
            store,
            id,
            name: name.to_string(),
            size,
            expected,
            temp,
            file,
            pipe: HashPipe::new(Sha256::new()),
            offset: held,
            written: 0,
            unflushed: 0,
            flusher: None,
            done: false,
        }
    }

    /// Los bytes que el servidor ya tiene: el cliente envía desde aquí (`READY offset`).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Cuántos bytes faltan por recibir.
    pub fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.offset + self.written)
    }

    /// Recalcula el SHA-256 de los primeros `start` bytes de un parcial reclamado y deja el
    /// fichero preparado para seguir escribiendo justo detrás.
    pub(super) fn rehash_prefix(&mut self, start: u64) -> Result<(), StoreError> {
        self.file.set_len(start).map_err(io_err(&self.temp))?;
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(io_err(&self.temp))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; BUFFER_SIZE];
        let mut left = start;
        while left > 0 {
            let want = usize::try_from(left.min(BUFFER_SIZE as u64)).unwrap_or(BUFFER_SIZE);
            let chunk = buf.get_mut(..want).unwrap_or_default();
            self.file.read_exact(chunk).map_err(io_err(&self.temp))?;
            hasher.update(&*chunk);
            left -= want as u64;
        }
        self.pipe = HashPipe::new(hasher);
        self.offset = start;
        Ok(())
    }

    /// Un buffer libre de [`BUFFER_SIZE`] bytes para llenarlo con lo que llega del socket.
    pub fn buffer(&mut self) -> Vec<u8> {
        self.pipe.buffer()
    }

    /// Escribe en el temporal los `n` primeros bytes de `buf` (que viene de
    /// [`Upload::buffer`]) y los pasa al cálculo del SHA-256, en otro hilo.
    ///
    /// # Errores
    /// [`StoreError::Io`] si falla el disco.
    pub fn write(&mut self, buf: Vec<u8>, n: usize) -> Result<(), StoreError> {
        let result = self.file.write_all(buf.get(..n).unwrap_or_default());
        // El buffer vuelve al ciclo aunque la escritura falle: si se perdiera, `buffer()`
        // esperaría para siempre uno que nunca va a volver.
        self.pipe.update(buf, n);
        result.map_err(io_err(&self.temp))?;
        self.written += n as u64;
        self.unflushed += n as u64;
        if self.unflushed >= FLUSH_EVERY {
            self.unflushed = 0;
            if self.flusher.is_none() {
                self.flusher = Flusher::start(&self.file);
            }
            if let Some(f) = &self.flusher {
                f.poke();
            }
        }
        Ok(())
    }

    /// Devuelve un buffer sin usarlo (por ejemplo, si no llegó ningún byte).
    pub fn give_back(&mut self, buf: Vec<u8>) {
        self.pipe.give_back(buf);
    }

    /// Atajo para escribir un trozo de memoria (pruebas, cuerpos pequeños).
    ///
    /// # Errores
    /// Los de [`Upload::write`].
    pub fn write_slice(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        for chunk in bytes.chunks(BUFFER_SIZE) {
            let mut buf = self.buffer();
            if let Some(dst) = buf.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            self.write(buf, chunk.len())?;
        }
        Ok(())
    }

    /// Comprueba el SHA-256, hace `fsync` y publica el fichero con su nombre real.
    ///
    /// # Errores
    /// [`StoreError::Checksum`] si no coincide (el temporal se borra: esos bytes no sirven para
    /// reanudar); [`StoreError::Io`] si falla el disco. En ambos casos la versión anterior,
    /// si la había, queda intacta.
    pub fn finish(mut self) -> Result<ListEntry, StoreError> {
        self.done = true;
        let result = match (self.pipe.finish(), self.expected) {
            (Some(actual), Some(expected)) => self.publish(actual, expected),
            (None, _) => Err(StoreError::Io {
                path: self.temp.clone(),
                source: io::Error::other("el hilo del SHA-256 terminó antes de tiempo"),
            }),
            (Some(_), None) => Err(StoreError::Io {
                path: self.temp.clone(),
                source: io::Error::other("subida de una sola pasada cerrada sin su SHA-256"),
            }),
        };
        if result.is_err() {
            let _ = fs::remove_file(&self.temp);
        }
        self.release();
        result
    }

    /// Como [`Upload::finish`], con el SHA-256 que llegó detrás del cuerpo en una subida de
    /// una sola pasada (`UPLOAD NOMBRE TAMAÑO -`).
    ///
    /// # Errores
    /// Los de [`Upload::finish`].
    pub fn finish_with(mut self, expected: Digest) -> Result<ListEntry, StoreError> {
        self.expected = Some(expected);
        self.finish()
    }

    fn publish(&mut self, actual: Digest, expected: Digest) -> Result<ListEntry, StoreError> {
        if actual != expected {
            return Err(StoreError::Checksum { expected, actual });
        }
        // Los datos, en disco antes del rename: tras un corte de luz no puede aparecer el
        // nombre nuevo apuntando a un fichero con huecos.
        if let Some(mut f) = self.flusher.take() {
            f.stop();
        }
        self.file.sync_all().map_err(io_err(&self.temp))?;
        let dir = &self.store.inner.dir;
        let dest = dir.join(&self.name);
        let meta = {
            let mut state = lock(&self.store.inner.state);
            fs::rename(&self.temp, &dest).map_err(io_err(&dest))?;
            let meta = self.file.metadata().map_err(io_err(&dest))?;
            state
                .digests
                .insert(self.name.clone(), (Version::of(&meta), actual));
            state.reserved.remove(&self.id);
            meta
        };
        // Y el rename, en disco (la entrada del directorio).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        // El SHA-256 junto al fichero: tras reiniciar, `LIST` y `DOWNLOAD` no lo releen.
        self.store
            .save_digest(&self.name, &Version::of(&meta), actual);
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(ListEntry {
            name: self.name.clone(),
            size: self.size,
            sha256: actual,
            modified,
        })
    }

    /// La subida se cortó (el cliente se fue, tardó demasiado o el servidor se apaga): lo
    /// recibido se guarda como parcial oculto para poder reanudar; si no había nada, o si es
    /// una subida de una sola pasada (sin SHA-256 con el que identificar el parcial), se borra.
    pub fn interrupt(mut self) {
        self.keep_partial();
    }

    /// Se descarta todo lo recibido (por ejemplo, tras un error de disco).
    pub fn discard(mut self) {
        self.done = true;
        let _ = fs::remove_file(&self.temp);
        self.release();
    }

    fn keep_partial(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let held = self.offset + self.written;
        if held == 0 {
            let _ = fs::remove_file(&self.temp);
        } else if let Some(expected) = self.expected {
            let partial = self.store.partial_path(expected, self.size);
            match fs::rename(&self.temp, &partial) {
                Ok(()) => log::info!(
                    "subida de {} interrumpida: {held} de {} bytes guardados para reanudar",
                    self.name,
                    self.size
                ),
                Err(e) => {
                    log::warn!("no se pudo guardar el parcial de {}: {e}", self.name);
                    let _ = fs::remove_file(&self.temp);
                }
            }
        } else {
            log::info!(
                "subida de una sola pasada de {} interrumpida: {held} de {} bytes descartados",
                self.name,
                self.size
            );
            let _ = fs::remove_file(&self.temp);
        }
        self.release();
    }

    fn release(&self) {
        lock(&self.store.inner.state).reserved.remove(&self.id);
    }
}

/// Un hilo que hace `fdatasync` del temporal cuando se le pide, mientras la recepción sigue.
/// Si ya hay una petición pendiente, las nuevas se ignoran: nunca se acumula trabajo.
struct Flusher {
    poke: Option<SyncSender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Flusher {
    /// `None` si no se puede duplicar el fichero o crear el hilo: entonces todo lo hace el
    /// `fsync` final, más tarde pero igual de seguro.
    fn start(file: &File) -> Option<Self> {
        let file = file.try_clone().ok()?;
        let (poke, requests) = mpsc::sync_channel::<()>(1);
        let handle = thread::Builder::new()
            .name("problema5-fsync".into())
            .spawn(move || {
                for () in requests {
                    let _ = file.sync_data();
                }
            })
            .ok()?;
        Some(Self {
            poke: Some(poke),
            handle: Some(handle),
        })
    }

    fn poke(&self) {
        if let Some(p) = &self.poke {
            let _ = p.try_send(());
        }
    }

    /// Espera a que termine el `fdatasync` en curso, si lo hay.
    fn stop(&mut self) {
        self.poke.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.keep_partial();
    }
}
