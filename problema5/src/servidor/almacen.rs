//! El directorio de almacenamiento: nombres seguros, subidas atómicas, reanudación y cuota.
//!
//! Reglas que garantiza este módulo:
//! - Solo se tocan nombres que pasaron [`validate_name`] (sin `/`, sin `..`, sin punto
//!   inicial), unidos al directorio: nunca se sale de él. Los enlaces simbólicos que alguien
//!   deje dentro no se siguen.
//! - Una subida se escribe en un temporal oculto con nombre único (`.subida-<n>`), se hace
//!   `fsync` y solo si el SHA-256 coincide se renombra al nombre real. `rename` es atómico: quien
//!   mire ve la versión vieja completa o la nueva completa, nunca una mezcla. Dos subidas del
//!   mismo nombre a la vez escriben en temporales distintos; gana la última en renombrar.
//! - Una subida interrumpida guarda lo recibido como parcial oculto
//!   (`.parcial-<sha256>-<tamaño>`), identificado por el contenido anunciado y no por el
//!   nombre: reanudar exige el mismo tamaño y el mismo SHA-256. Quien reanuda "reclama" el
//!   parcial renombrándolo a su propio temporal, así que dos reanudaciones a la vez no
//!   escriben en el mismo fichero.
//! - La cuota (opcional) cuenta los ficheros visibles, los parciales y el tamaño completo de
//!   cada subida en curso; la comprobación y la reserva se hacen bajo el mismo cerrojo.
//! - Antes de aceptar una subida se mira el espacio libre del disco (`statvfs`), dejando
//!   `min_free` bytes sin tocar: si no cabe, `NO_SPACE` antes de `READY`. El disco puede
//!   llenarse igualmente a mitad (otra subida, otro programa): entonces `ENOSPC` se convierte
//!   en [`StoreError::DiskFull`], la subida se descarta entera y no queda ningún fichero a
//!   medio escribir.
//! - Los SHA-256 se guardan en memoria y en disco (`.sha256-NOMBRE`, módulo `resumenes`),
//!   indexados por nombre, tamaño, inodo y fechas de modificación y de cambio: `LIST` y
//!   `DOWNLOAD` no releen un fichero que ya conocen, ni siquiera tras reiniciar el servidor, y
//!   si alguien lo cambia por fuera se recalcula.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::lock;
use nix::errno::Errno;
use nix::sys::statvfs::statvfs;
use sha2::{Digest as _, Sha256};

use crate::protocolo::{validate_name, Digest, ErrorCode, ListEntry, BUFFER_SIZE};

mod resumenes;
mod subida;

pub use subida::Upload;

/// Prefijo de los temporales de subida (ocultos: ningún nombre válido empieza por punto).
const TEMP_PREFIX: &str = ".subida-";
/// Prefijo de los parciales que esperan una reanudación.
const PARTIAL_PREFIX: &str = ".parcial-";
/// Un parcial que nadie reanuda en este tiempo se borra (al arrancar el servidor y, si hay
/// cuota, cada vez que se calcula), para que las subidas abandonadas no llenen el disco.
pub const PARTIAL_TTL: Duration = Duration::from_secs(24 * 3600);

/// Lo que puede fallar en el almacén. Cada variante sabe qué código de error lleva al cliente.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No existe un fichero con ese nombre.
    #[error("no existe el fichero `{name}`")]
    NotFound {
        /// El nombre pedido.
        name: String,
    },
    /// El fichero anunciado supera el máximo.
    #[error("el fichero ocupa {size} bytes y el máximo es {max}")]
    TooLarge {
        /// Tamaño anunciado.
        size: u64,
        /// El máximo configurado.
        max: u64,
    },
    /// No cabe en la cuota.
    #[error("no cabe en la cuota: se necesitan {needed} bytes y quedan {free} de {quota}")]
    Quota {
        /// Bytes que ocuparía la subida.
        needed: u64,
        /// Bytes libres en la cuota.
        free: u64,
        /// La cuota total.
        quota: u64,
    },
    /// El contenido recibido no tiene el SHA-256 anunciado; no se guardó nada.
    #[error("el SHA-256 recibido ({actual}) no coincide con el anunciado ({expected}); no se guardó nada")]
    Checksum {
        /// El anunciado.
        expected: Digest,
        /// El calculado.
        actual: Digest,
    },
    /// No hay sitio en el disco para la subida anunciada (se comprueba antes de `READY`).
    #[error("no hay espacio en el disco del servidor: la subida necesita {needed} bytes y quedan {free} libres")]
    NoSpace {
        /// Bytes que faltan por escribir.
        needed: u64,
        /// Bytes libres que se pueden usar (ya descontado `min_free`).
        free: u64,
    },
    /// El disco se llenó (`ENOSPC` o `EDQUOT`) mientras se escribía.
    #[error("el disco se llenó al escribir {path}")]
    DiskFull {
        /// El fichero que se estaba escribiendo.
        path: PathBuf,
    },
    /// Fallo de disco (permisos, E/S...).
    #[error("error de disco en {path}: {source}")]
    Io {
        /// El fichero o directorio implicado.
        path: PathBuf,
        /// El error original.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// El código de error del protocolo que corresponde.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::TooLarge { .. } => ErrorCode::TooLarge,
            StoreError::Quota { .. } => ErrorCode::Quota,
            StoreError::Checksum { .. } => ErrorCode::Checksum,
            StoreError::NoSpace { .. } | StoreError::DiskFull { .. } => ErrorCode::NoSpace,
            StoreError::Io { .. } => ErrorCode::Internal,
        }
    }

    /// El mensaje para el cliente: el de los errores de disco no revela rutas del servidor.
    pub fn client_message(&self) -> String {
        match self {
            StoreError::Io { .. } => "error interno del servidor al acceder al disco".into(),
            StoreError::DiskFull { .. } => {
                "el disco del servidor se llenó a mitad de la subida; no se guardó nada".into()
            }
            other => other.to_string(),
        }
    }
}

/// Convierte un error de E/S sobre `path` en un [`StoreError`]: disco lleno o cuota del
/// sistema agotada son [`StoreError::DiskFull`]; lo demás, [`StoreError::Io`].
fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| {
        let full = [Errno::ENOSPC, Errno::EDQUOT].map(|e| Some(e as i32));
        if full.contains(&source.raw_os_error()) {
            return StoreError::DiskFull {
                path: path.to_path_buf(),
            };
        }
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Bytes libres para un usuario sin privilegios en el sistema de ficheros de `dir`
/// (`f_bavail * f_frsize`, lo que muestra `df`).
///
/// # Errores
/// El de `statvfs(2)`.
// En 64 bits los dos campos ya son `u64`; en 32 bits son `u32`: la conversión no sobra.
#[allow(clippy::useless_conversion)]
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let stats = statvfs(dir).map_err(io::Error::from)?;
    Ok(u64::from(stats.blocks_available()).saturating_mul(u64::from(stats.fragment_size())))
}

/// Crea el fichero temporal de una subida (nunca uno que ya exista).
fn create_temp(temp: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(io_err(temp))
}

/// Identidad de una versión concreta de un fichero, para saber si un SHA-256 guardado vale.
/// `changed` es la fecha de cambio del inodo (`ctime`, segundos y nanosegundos): a diferencia
/// de la de modificación, nadie la puede poner a mano, y cambia con cada escritura.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    changed: (i64, i64),
}

impl Version {
    fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Version {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: meta.ino(),
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Default)]
struct State {
    /// SHA-256 conocidos: nombre -> (versión, resumen).
    digests: HashMap<String, (Version, Digest)>,
    /// Subidas en curso: identificador -> bytes reservados en la cuota.
    reserved: HashMap<u64, u64>,
}

struct Inner {
    dir: PathBuf,
    max_size: u64,
    quota: Option<u64>,
    min_free: u64,
    state: Mutex<State>,
    next_id: AtomicU64,
}

/// El almacén compartido por todas las conexiones. Clonarlo es barato (un `Arc`).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Abre (y crea si falta) el directorio. Borra los temporales de subidas que un servidor
    /// anterior dejó a medias al morir, y los parciales caducados.
    ///
    /// # Errores
    /// [`StoreError::Io`] si no se puede crear o leer el directorio.
    pub fn open(dir: &Path, max_size: u64, quota: Option<u64>) -> Result<Self, StoreError> {
        Self::open_keeping_free(dir, max_size, quota, 0)
    }

    /// Como [`Store::open`], dejando siempre `min_free` bytes libres en el disco: una subida
    /// que los invadiría se rechaza con `NO_SPACE` antes de `READY`.
    ///
    /// # Errores
    /// Los de [`Store::open`].
    pub fn open_keeping_free(
        dir: &Path,
        max_size: u64,
        quota: Option<u64>,
        min_free: u64,
    ) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let store = Store {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                max_size,
                quota,
                min_free,
                state: Mutex::new(State::default()),
                next_id: AtomicU64::new(1),
            }),
        };
        for entry in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) {
                log::info!("borrando el temporal abandonado {name}");
                let _ = fs::remove_file(entry.path());
            }
            // Un resumen guardado cuyo fichero ya no existe (borrado por fuera) sobra.
            if let Some(owner) = name.strip_prefix(resumenes::DIGEST_PREFIX) {
                if !dir.join(owner).is_file() {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        store.usage(true)?;
        Ok(store)
    }

    /// El directorio de almacenamiento.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// El listado de ficheros visibles, ordenado por nombre. Los ocultos, los que no son
    /// ficheros regulares y los que tienen nombres que el protocolo no admite no aparecen.
    ///
    /// # Errores
    /// [`StoreError::Io`] si no se puede leer el directorio. Un fichero que desaparece
    /// mientras se lista simplemente no sale.
    pub fn list(&self) -> Result<Vec<ListEntry>, StoreError> {
        let dir = &self.inner.dir;
        let mut entries = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if validate_name(&name).is_err() {
                continue;
            }
            let Ok((file, meta)) = self.open_visible(&name) else {
                continue;
            };
            let digest = match self.digest_of(&name, &file, &meta) {
                Ok(d) => d,
                Err(e) => {
                    log::warn!("no se pudo leer {name} para el listado: {e}");
                    continue;
                }
            };
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            entries.push(ListEntry {
                name,
                size: meta.len(),
                sha256: digest,
                modified,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Abre un fichero visible para descargarlo: devuelve el fichero abierto, su tamaño y su
    /// SHA-256. Como el fichero ya está abierto, una subida que lo sustituya mientras tanto no
    /// cambia lo que se envía (el `rename` deja intacta la versión abierta).
    ///
    /// # Errores
    /// [`StoreError::NotFound`] si no existe (o no es un fichero regular).
    pub fn open_download(&self, name: &str) -> Result<(File, u64, Digest), StoreError> {
        let (file, meta) = self.open_visible(name)?;
        let digest = self.digest_of(name, &file, &meta)?;
        Ok((file, meta.len(), digest))
    }

    /// Borra un fichero visible.
    ///
    /// # Errores
    /// [`StoreError::NotFound`] si no existe.
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        let path = self.inner.dir.join(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(not_found(name)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found(name)),
            Err(e) => return Err(io_err(&path)(e)),
        }
        let mut state = lock(&self.inner.state);
        match fs::remove_file(&path) {
            Ok(()) => {
                state.digests.remove(name);
                resumenes::remove(&self.inner.dir, name);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found(name)),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Empieza una subida de `size` bytes con resumen `sha256`. Con `resume = Some(n)` el
    /// cliente pide reanudar: si hay un parcial del mismo contenido, se continúa desde
    /// `min(n, lo guardado)`; si no, desde 0. El offset elegido está en [`Upload::offset`].
    ///
    /// # Errores
    /// [`StoreError::TooLarge`], [`StoreError::Quota`] o [`StoreError::Io`]; en todos los
    /// casos no queda nada escrito.
    pub fn begin_upload(
        &self,
        name: &str,
        size: u64,
        sha256: Digest,
        resume: Option<u64>,
    ) -> Result<Upload, StoreError> {
        let (id, temp) = self.new_temp(size)?;
        let partial = self.partial_path(sha256, size);
        // Reclamar el parcial: si el rename funciona, es nuestro y de nadie más.
        let claimed = resume.is_some() && fs::rename(&partial, &temp).is_ok();
        let file = if claimed {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&temp)
                .map_err(io_err(&temp))?
        } else {
            create_temp(&temp)?
        };
        let held = if claimed {
            file.metadata().map_err(io_err(&temp))?.len()
        } else {
            0
        };
        let mut upload = Upload::new(self.clone(), id, name, size, Some(sha256), temp, file, held);
        self.reserve(id, size, held)?;
        if claimed {
            let start = resume.unwrap_or(0).min(held).min(size);
            upload.rehash_prefix(start)?;
        }
        Ok(upload)
    }

    /// Empieza una subida de una sola pasada (`UPLOAD NOMBRE TAMAÑO -`): el SHA-256 se conoce
    /// al final ([`Upload::finish_with`]). Siempre desde 0, y si se corta no queda parcial:
    /// sin resumen anunciado no hay con qué identificarlo para reanudar.
    ///
    /// # Errores
    /// [`StoreError::TooLarge`], [`StoreError::Quota`] o [`StoreError::Io`]; en todos los
    /// casos no queda nada escrito.
    pub fn begin_stream_upload(&self, name: &str, size: u64) -> Result<Upload, StoreError> {
        let (id, temp) = self.new_temp(size)?;
        let file = create_temp(&temp)?;
        let upload = Upload::new(self.clone(), id, name, size, None, temp, file, 0);
        self.reserve(id, size, 0)?;
        Ok(upload)
    }

    /// Comprueba la cuota y el disco, y reserva `size` bytes para la subida `id`, todo bajo el
    /// cerrojo. `held` son los bytes que ya están en el temporal (una reanudación): el disco
    /// solo tiene que tener sitio para el resto.
    fn reserve(&self, id: u64, size: u64, held: u64) -> Result<(), StoreError> {
        let mut state = lock(&self.inner.state);
        let needed = size.saturating_sub(held);
        let dir = &self.inner.dir;
        let free = free_space(dir)
            .map_err(io_err(dir))?
            .saturating_sub(self.inner.min_free);
        if needed > free {
            return Err(StoreError::NoSpace { needed, free });
        }
        if let Some(quota) = self.inner.quota {
            let on_disk = self.usage(true)?;
            let reserved: u64 = state.reserved.values().sum();
            let used = on_disk.saturating_add(reserved);
            let free = quota.saturating_sub(used);
            if size > free {
                return Err(StoreError::Quota {
                    needed: size,
                    free,
                    quota,
                });
            }
        }
        state.reserved.insert(id, size);
        Ok(())
    }

    /// Bytes ocupados por los ficheros visibles y los parciales (los temporales en curso
    /// cuentan por su reserva). Con `sweep`, borra de paso los parciales caducados.
    fn usage(&self, sweep: bool) -> Result<u64, StoreError> {
        let dir = &self.inner.dir;
        let mut total: u64 = 0;
        let now = SystemTime::now();
        for entry in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Los resúmenes guardados son metadatos de unos 200 bytes: no cuentan.
            if name.starts_with(TEMP_PREFIX) || name.starts_with(resumenes::DIGEST_PREFIX) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            if name.starts_with(PARTIAL_PREFIX) {
                let age = meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default();
                if sweep && age > PARTIAL_TTL {
                    log::info!("borrando el parcial caducado {name}");
                    let _ = fs::remove_file(entry.path());
                    continue;
                }
            }
            total = total.saturating_add(meta.len());
        }
        Ok(total)
    }

    /// El primer paso de toda subida: comprobar que el tamaño cabe en `--max-size` y darle un
    /// id y un nombre temporal propios.
    fn new_temp(&self, size: u64) -> Result<(u64, PathBuf), StoreError> {
        if size > self.inner.max_size {
            return Err(StoreError::TooLarge {
                size,
                max: self.inner.max_size,
            });
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        Ok((id, self.temp_path(id)))
    }

    fn temp_path(&self, id: u64) -> PathBuf {
        // El id del proceso evita choques si por error dos servidores comparten directorio.
        self.inner
            .dir
            .join(format!("{TEMP_PREFIX}{}-{id}", std::process::id()))
    }

    fn partial_path(&self, sha256: Digest, size: u64) -> PathBuf {
        self.inner
            .dir
            .join(format!("{PARTIAL_PREFIX}{sha256}-{size}"))
    }

    /// Abre un fichero visible sin seguir enlaces simbólicos.
    fn open_visible(&self, name: &str) -> Result<(File, fs::Metadata), StoreError> {
        let path = self.inner.dir.join(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(not_found(name)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found(name)),
            Err(e) => return Err(io_err(&path)(e)),
        }
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                not_found(name)
            } else {
                io_err(&path)(e)
            }
        })?;
        let meta = file.metadata().map_err(io_err(&path))?;
        if !meta.is_file() {
            return Err(not_found(name));
        }
        Ok((file, meta))
    }

    /// El SHA-256 de un fichero abierto: de la memoria si la versión coincide; si no, del
    /// resumen guardado en disco si es de esta versión; si no, se calcula leyendo el fichero
    /// con el buffer fijo (sin tener el cerrojo durante la lectura) y se guarda.
    fn digest_of(
        &self,
        name: &str,
        file: &File,
        meta: &fs::Metadata,
    ) -> Result<Digest, StoreError> {
        let version = Version::of(meta);
        if let Some((v, d)) = lock(&self.inner.state).digests.get(name) {
            if *v == version {
                return Ok(*d);
            }
        }
        if let Some((v, d)) = resumenes::load(&self.inner.dir, name) {
            if v == version {
                lock(&self.inner.state)
                    .digests
                    .insert(name.to_string(), (version, d));
                return Ok(d);
            }
        }
        let path = self.inner.dir.join(name);
        let mut hasher = Sha256::new();
        let mut reader = file;
        let mut buf = vec![0u8; BUFFER_SIZE];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        let digest = Digest(hasher.finalize().into());
        lock(&self.inner.state)
            .digests
            .insert(name.to_string(), (version, digest));
        self.save_digest(name, &version, digest);
        Ok(digest)
    }

    /// Guarda en disco el SHA-256 de la versión `version` de `name` ([`resumenes`]).
    fn save_digest(&self, name: &str, version: &Version, digest: Digest) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        resumenes::save(&self.inner.dir, &self.temp_path(id), name, version, digest);
    }
}

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> Digest {
        Digest(Sha256::digest(data).into())
    }

    /// Lo que hay en el directorio, ocultos incluidos, salvo los resúmenes guardados
    /// (`.sha256-*`, que tienen sus propias pruebas).
    fn visible(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with(resumenes::DIGEST_PREFIX))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn upload_is_invisible_until_checksum_matches() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), 1 << 20, None).unwrap();
        let mut up = store.begin_upload("a", 5, sha(b"hello"), None).unwrap();
        up.write_slice(b"hel").unwrap();
        assert!(store.list().unwrap().is_empty());
        up.write_slice(b"lo").unwrap();
        let entry = up.finish().unwrap();
        assert_eq!(entry.sha256, sha(b"hello"));
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"hello");
        assert_eq!(visible(tmp.path()), vec!["a"]);
    }

    #[test]
    fn bad_checksum_keeps_old_version_and_leaves_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), 1 << 20, None).unwrap();
        fs::write(tmp.path().join("a"), b"viejo").unwrap();
        let mut up = store.begin_upload("a", 5, sha(b"nuevo"), None).unwrap();
        up.write_slice(b"NUEVO").unwrap();
        assert!(matches!(up.finish(), Err(StoreError::Checksum { .. })));
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"viejo");
        assert_eq!(visible(tmp.path()), vec!["a"]);
    }

    #[test]
    fn interrupted_upload_resumes_from_what_was_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), 1 << 20, None).unwrap();
        let data = b"0123456789";
        let mut up = store.begin_upload("n", 10, sha(data), None).unwrap();
        up.write_slice(&data[..6]).unwrap();
        up.interrupt();
        assert!(store.list().unwrap().is_empty());
        // Sin pedir reanudación se empieza de cero; pidiendo 4, se usa 4.
        let up = store.begin_upload("n", 10, sha(data), Some(4)).unwrap();
        assert_eq!(up.offset(), 4);
        drop(up);
        let mut up = store.begin_upload("n", 10, sha(data), Some(10)).unwrap();
        assert_eq!(up.offset(), 4, "el parcial se recortó a 4 bytes");
        up.write_slice(&data[4..]).unwrap();
        up.finish().unwrap();
        assert_eq!(fs::read(tmp.path().join("n")).unwrap(), data);
        assert_eq!(visible(tmp.path()), vec!["n"]);
    }

    #[test]
    fn stream_upload_is_checked_against_the_late_digest_and_never_leaves_a_partial() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), 1 << 20, None).unwrap();
        fs::write(tmp.path().join("a"), b"viejo").unwrap();
        let mut up = store.begin_stream_upload("a", 5).unwrap();
        up.write_slice(b"nuevo").unwrap();
        assert!(matches!(
            up.finish_with(sha(b"otro!")),
            Err(StoreError::Checksum { .. })
        ));
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"viejo");
        let mut up = store.begin_stream_upload("a", 5).unwrap();
        up.write_slice(b"nue").unwrap();
        up.interrupt();
        assert_eq!(visible(tmp.path()), vec!["a"], "ni temporal ni parcial");
        let mut up = store.begin_stream_upload("a", 5).unwrap();
        up.write_slice(b"nue").unwrap();
        assert!(matches!(up.finish(), Err(StoreError::Io { .. })));
        assert_eq!(visible(tmp.path()), vec!["a"]);
        let mut up = store.begin_stream_upload("a", 5).unwrap();
        up.write_slice(b"nuevo").unwrap();
        assert_eq!(up.finish_with(sha(b"nuevo")).unwrap().sha256, sha(b"nuevo"));
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"nuevo");
        assert_eq!(visible(tmp.path()), vec!["a"]);
    }

    #[test]
    fn saved_digest_is_reused_after_a_restart_and_ignored_once_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), 1 << 20, None).unwrap();
        let mut up = store.begin_upload("a", 5, sha(b"hello"), None).unwrap();
        up.write_slice(b"hello").unwrap();
        up.finish().unwrap();
        let saved = tmp.path().join(".sha256-a");
        let line = fs::read_to_string(&saved).unwrap();
        assert!(
            line.starts_with(&format!("SHA256 {} 5 ", sha(b"hello"))),
            "{line}"
        );
        // Un servidor nuevo no tiene nada en memoria: si usa el resumen guardado (aquí
        // falseado a propósito) es que no ha releído el fichero.
        let fake = Digest([0xab; 32]);
        fs::write(
            &saved,
            line.replace(&sha(b"hello").to_string(), &fake.to_string()),
        )
        .unwrap();
        let restarted = Store::open(tmp.path(), 1 << 20, None).unwrap();
        assert_eq!(restarted.list().unwrap()[0].sha256, fake);
        // Si el fichero cambia por fuera, el resumen guardado ya no vale: se recalcula.
        let restarted = Store::open(tmp.path(), 1 << 20, None).unwrap();
        fs::write(tmp.path().join("a"), b"HELLO").unwrap();
        assert_eq!(restarted.open_download("a").unwrap().2, sha(b"HELLO"));
        let line = fs::read_to_string(&saved).unwrap();
        assert!(
            line.starts_with(&format!("SHA256 {} 5 ", sha(b"HELLO"))),
            "{line}"
        );
        // Borrar el fichero borra su resumen; uno huérfano se limpia al arrancar.
        restarted.delete("a").unwrap();
        assert!(!saved.exists());
        fs::write(tmp.path().join(".sha256-b"), b"basura").unwrap();
        Store::open(tmp.path(), 1 << 20, None).unwrap();
        assert!(fs::read_dir(tmp.path()).unwrap().next().is_none());
    }

    #[test]
    fn quota_counts_files_and_uploads_in_flight() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), 1 << 20, Some(10)).unwrap();
        fs::write(tmp.path().join("a"), b"1234").unwrap();
        let first = store.begin_upload("b", 6, sha(b"123456"), None).unwrap();
        assert!(matches!(
            store.begin_upload("c", 1, sha(b"1"), None),
            Err(StoreError::Quota { free: 0, .. })
        ));
        first.discard();
        assert!(store.begin_upload("c", 6, sha(b"123456"), None).is_ok());
    }

    #[test]
    fn hidden_files_symlinks_and_directories_are_not_listed() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(".oculto"), b"x").unwrap();
        fs::write(tmp.path().join("con espacio"), b"x").unwrap();
        fs::create_dir(tmp.path().join("sub")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("enlace")).unwrap();
        let store = Store::open(tmp.path(), 1 << 20, None).unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(
            store.open_download("enlace"),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.delete("sub"),
            Err(StoreError::NotFound { .. })
        ));
    }
}
