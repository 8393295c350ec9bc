//! Abrir lo que pide una ruta sin salir nunca de la raíz, con las menos llamadas al sistema
//! posibles, y leer un directorio ya abierto para su listado.
//!
//! Camino rápido (Linux 5.6 o posterior): `openat2(2)` relativo al descriptor de la raíz con
//! `RESOLVE_BENEATH`. El núcleo sigue los enlaces simbólicos y rechaza (`EXDEV`) cualquier
//! paso que salga de la raíz en la misma llamada que abre el fichero. Es una llamada en vez
//! de un `readlink` por componente (lo que hace `canonicalize`) más la apertura, y sin
//! carrera entre comprobar y abrir (TOCTOU): lo que se comprueba es lo que se abre.
//!
//! Camino lento, para lo que `RESOLVE_BENEATH` no acepta pero sí es válido (un enlace
//! simbólico absoluto que apunta dentro de la raíz: `RESOLVE_BENEATH` rechaza todo enlace
//! absoluto) o cuando el núcleo no tiene `openat2`: se canonicaliza la ruta, se comprueba que
//! sigue dentro de la raíz y se abre el camino canónico con `RESOLVE_NO_SYMLINKS`. Si
//! alguien cambia un componente por un enlace entre las dos llamadas, la apertura falla en
//! vez de salir de la raíz. Sin `openat2` queda la comprobación clásica (canonicalizar y
//! abrir), la misma que usan muchos servidores.
//!
//! Todo se abre con `O_NONBLOCK`: abrir una FIFO de la raíz no deja el hilo esperando a un
//! escritor (luego se responde 403 porque no es un fichero). En ficheros normales
//! `O_NONBLOCK` no cambia nada.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::protocolo::{ListingEntry, PathError};

/// La raíz servida: su camino canónico y un descriptor abierto una sola vez al arrancar.
pub(super) struct Root {
    path: PathBuf,
    dir: OwnedFd,
    /// `false` si el núcleo no admite `openat2` (o lo prohíbe): entonces solo camino lento.
    beneath: AtomicBool,
}

impl Root {
    /// Abre la raíz (`path` ya canonicalizado).
    pub(super) fn new(path: PathBuf) -> io::Result<Root> {
        let dir = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            path,
            dir,
            beneath: AtomicBool::new(cfg!(target_os = "linux")),
        })
    }

    /// El camino canónico de la raíz.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Abre `segmentos` (ya decodificados y sin `.`, `..`, barras ni NUL: los de
    /// [`crate::protocolo::decode_path`]) y, si se da, `extra` detrás (`index.html`).
    ///
    /// # Errores
    /// [`PathError::NotFound`], [`PathError::Forbidden`] (sin permiso) o
    /// [`PathError::Outside`] (un enlace simbólico lleva fuera de la raíz).
    pub(super) fn open(
        &self,
        segments: &[Vec<u8>],
        extra: Option<&str>,
    ) -> Result<File, PathError> {
        let mut rel: Vec<u8> = Vec::with_capacity(64);
        for seg in segments
            .iter()
            .map(Vec::as_slice)
            .chain(extra.map(str::as_bytes))
        {
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(seg);
        }
        if rel.is_empty() {
            rel.push(b'.');
        }
        let rel = Path::new(OsStr::from_bytes(&rel));
        if self.beneath.load(Ordering::Relaxed) {
            match open_beneath(&self.dir, rel, false) {
                Ok(file) => return Ok(file),
                Err(e) => match e {
                    Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG | Errno::NXIO => {
                        return Err(PathError::NotFound)
                    }
                    Errno::ACCESS => return Err(PathError::Forbidden),
                    Errno::NOSYS | Errno::PERM => {
                        log::info!(
                            "[problema4] openat2 no disponible ({e}): se comprueban las rutas con canonicalize"
                        );
                        self.beneath.store(false, Ordering::Relaxed);
                    }
                    // EXDEV (un enlace absoluto o que sale), ELOOP, EAGAIN (carrera con un
                    // renombrado)...: el camino lento decide.
                    _ => {}
                },
            }
        }
        self.open_slow(rel)
    }

    /// El camino lento: canonicalizar, comprobar y abrir lo comprobado.
    fn open_slow(&self, rel: &Path) -> Result<File, PathError> {
        let not_found_or_forbidden = |e: io::Error| match e.kind() {
            io::ErrorKind::PermissionDenied => PathError::Forbidden,
            _ => PathError::NotFound,
        };
        let errno_to_path = |e: Errno| match e {
            Errno::ACCESS => PathError::Forbidden,
            _ => PathError::NotFound,
        };
        let real = std::fs::canonicalize(self.path.join(rel)).map_err(not_found_or_forbidden)?;
        let inner = real
            .strip_prefix(&self.path)
            .map_err(|_| PathError::Outside)?;
        let inner = if inner.as_os_str().is_empty() {
            Path::new(".")
        } else {
            inner
        };
        if self.beneath.load(Ordering::Relaxed) {
            open_beneath(&self.dir, inner, true).map_err(errno_to_path)
        } else {
            OpenOptions::new()
                .read(true)
                .custom_flags(libc_nonblock())
                .open(&real)
                .map_err(not_found_or_forbidden)
        }
    }
}

/// `O_NONBLOCK` como lo pide `OpenOptionsExt::custom_flags`.
fn libc_nonblock() -> i32 {
    OFlags::NONBLOCK.bits() as i32
}

/// `openat2(dir, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC)` sin salir de `dir`; con
/// `no_symlinks`, además sin seguir ningún enlace simbólico.
#[cfg(target_os = "linux")]
fn open_beneath(dir: &OwnedFd, rel: &Path, no_symlinks: bool) -> Result<File, Errno> {
    use rustix::fs::ResolveFlags;
    let mut resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    if no_symlinks {
        resolve |= ResolveFlags::NO_SYMLINKS;
    }
    let fd = rustix::fs::openat2(
        dir,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    )?;
    Ok(File::from(fd))
}

/// Fuera de Linux no hay `openat2`: siempre el camino lento.
#[cfg(not(target_os = "linux"))]
fn open_beneath(_dir: &OwnedFd, _rel: &Path, _no_symlinks: bool) -> Result<File, Errno> {
    Err(Errno::NOSYS)
}

/// Las entradas del directorio ya abierto `dir` (como mucho `max`; `true` si había más),
/// sin las ocultas (las que empiezan por `.`) salvo con `hidden`.
///
/// Se lee del descriptor abierto, no de un camino, para listar exactamente el directorio
/// comprobado. Cada entrada se consulta siguiendo los enlaces (un enlace a un directorio se
/// lista como directorio); un enlace roto se lista con sus propios datos.
///
/// # Errores
/// Si no se puede leer el directorio.
pub(super) fn list_dir(
    dir: &File,
    max: usize,
    hidden: bool,
) -> io::Result<(Vec<ListingEntry>, bool)> {
    let mut entries = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." || (!hidden && name.starts_with(b".")) {
            continue;
        }
        if entries.len() == max {
            return Ok((entries, true));
        }
        let stat = rustix::fs::statat(dir, entry.file_name(), AtFlags::empty())
            .or_else(|_| rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW))
            .ok();
        entries.push(ListingEntry {
            name: name.to_vec(),
            is_dir: stat
                .as_ref()
                .is_some_and(|s| FileType::from_raw_mode(s.st_mode).is_dir()),
            size: stat
                .as_ref()
                .map_or(0, |s| u64::try_from(s.st_size).unwrap_or(0)),
            modified: stat.as_ref().and_then(|s| {
                let secs = u64::try_from(s.st_mtime).ok()?;
                let nanos = u32::try_from(s.st_mtime_nsec).ok()?;
                Some(UNIX_EPOCH + Duration::new(secs, nanos))
            }),
        });
    }
    Ok((entries, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn read(root: &Root, path: &str) -> Result<String, PathError> {
        let segments = crate::protocolo::decode_path(path)?;
        let mut file = root.open(&segments, None)?;
        let mut s = String::new();
        match file.read_to_string(&mut s) {
            Ok(_) => Ok(s),
            Err(_) => Ok("<directorio>".into()),
        }
    }

    #[test]
    fn fast_and_slow_paths_give_the_same_answers() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::write(parent.join("secret.txt"), "SECRETO").unwrap();
        let root = parent.join("www");
        std::fs::create_dir_all(root.join("d/e")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("d/e/f.txt"), "f").unwrap();
        symlink("a.txt", root.join("rel-in")).unwrap();
        symlink(root.join("a.txt"), root.join("abs-in")).unwrap();
        symlink("../e/f.txt", root.join("d/e/up-in")).unwrap();
        symlink(root.join("d"), root.join("abs-dir")).unwrap();
        symlink(parent.join("secret.txt"), root.join("abs-out")).unwrap();
        symlink("../secret.txt", root.join("rel-out")).unwrap();
        symlink(&parent, root.join("dir-out")).unwrap();
        symlink("/proc/self/root/etc/hostname", root.join("magic")).unwrap();
        symlink("loop", root.join("loop")).unwrap();

        let fast = Root::new(root.clone()).unwrap();
        let slow = Root::new(root).unwrap();
        slow.beneath.store(false, Ordering::Relaxed);
        let cases: &[(&str, Result<&str, PathError>)] = &[
            ("/a.txt", Ok("a")),
            ("/", Ok("<directorio>")),
            ("/d/e/f.txt", Ok("f")),
            ("/rel-in", Ok("a")),
            ("/abs-in", Ok("a")),
            ("/d/e/up-in", Ok("f")),
            ("/abs-dir/e/f.txt", Ok("f")),
            ("/abs-out", Err(PathError::Outside)),
            ("/rel-out", Err(PathError::Outside)),
            ("/dir-out/secret.txt", Err(PathError::Outside)),
            ("/dir-out/", Err(PathError::Outside)),
            ("/magic", Err(PathError::Outside)),
            ("/loop", Err(PathError::NotFound)),
            ("/nope", Err(PathError::NotFound)),
            ("/a.txt/x", Err(PathError::NotFound)),
        ];
        for (path, want) in cases {
            let want = want.clone().map(str::to_string);
            assert_eq!(read(&fast, path), want, "rápido: {path}");
            assert_eq!(read(&slow, path), want, "lento: {path}");
        }
    }
}
