//! Los SHA-256 guardados en disco junto a cada fichero, para que un servidor recién arrancado
//! no relea todos los ficheros en el primer `LIST` o `DOWNLOAD`.
//!
//! Cada fichero visible `NOMBRE` puede tener al lado un fichero oculto `.sha256-NOMBRE` con una
//! sola línea: `SHA256 <hex> <tamaño> <inodo> <mtime s> <mtime ns> <ctime s> <ctime ns>`. Solo
//! vale si el fichero sigue siendo esa misma versión (mismo tamaño, inodo y fechas de
//! modificación y de cambio; `ctime` no se puede falsear con `touch`): si no, se ignora y el
//! SHA-256 se recalcula leyendo el fichero, como antes. Un resumen perdido, roto o viejo cuesta
//! una relectura, nunca un resumen falso para otro contenido; y el cliente, de todas formas,
//! comprueba el SHA-256 de lo que recibe.
//!
//! Se escribe en un temporal (`.subida-…`, que `Store::open` limpia si se queda a medias) y se
//! renombra encima del anterior. Se lee con un límite de [`MAX_LINE`] bytes.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Version;
use crate::protocolo::Digest;

/// Prefijo de los ficheros de resumen (ocultos: ningún nombre válido empieza por punto).
pub(super) const DIGEST_PREFIX: &str = ".sha256-";

/// Lo más que se lee de un fichero de resumen: la línea correcta ocupa menos de 200 bytes.
const MAX_LINE: u64 = 256;

/// La ruta del resumen de `name` dentro de `dir`.
pub(super) fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{DIGEST_PREFIX}{name}"))
}

fn split_time(t: SystemTime) -> Option<(u64, u32)> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    Some((d.as_secs(), d.subsec_nanos()))
}

/// La línea que se guarda; `None` si la versión no tiene fechas representables (entonces no
/// se guarda nada y el resumen se recalculará).
pub(super) fn encode(version: &Version, digest: Digest) -> Option<String> {
    let (ms, mn) = split_time(version.modified?)?;
    let (cs, cn) = version.changed;
    Some(format!(
        "SHA256 {digest} {} {} {ms} {mn} {cs} {cn}\n",
        version.len, version.inode
    ))
}

/// Lee una línea de [`encode`]. Estricto: cualquier cosa rara es `None`.
pub(super) fn decode(text: &str) -> Option<(Version, Digest)> {
    let line = text.strip_suffix('\n')?;
    let mut parts = line.split(' ');
    if parts.next()? != "SHA256" {
        return None;
    }
    let digest = Digest::from_hex(parts.next()?).ok()?;
    let len: u64 = parts.next()?.parse().ok()?;
    let inode: u64 = parts.next()?.parse().ok()?;
    let ms: u64 = parts.next()?.parse().ok()?;
    let mn: u32 = parts.next()?.parse().ok()?;
    let cs: i64 = parts.next()?.parse().ok()?;
    let cn: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || mn >= 1_000_000_000 || !(0..1_000_000_000).contains(&cn) {
        return None;
    }
    let modified = UNIX_EPOCH.checked_add(Duration::new(ms, mn))?;
    Some((
        Version {
            len,
            modified: Some(modified),
            inode,
            changed: (cs, cn),
        },
        digest,
    ))
}

/// El resumen guardado de `name`, si lo hay y se puede leer.
pub(super) fn load(dir: &Path, name: &str) -> Option<(Version, Digest)> {
    let file = File::open(path(dir, name)).ok()?;
    let mut text = String::new();
    file.take(MAX_LINE).read_to_string(&mut text).ok()?;
    decode(&text)
}

/// Guarda el resumen de `name` pasando por el temporal `temp`. Un fallo solo se registra: sin
/// resumen guardado, el servidor lo recalculará.
pub(super) fn save(dir: &Path, temp: &Path, name: &str, version: &Version, digest: Digest) {
    let Some(line) = encode(version, digest) else {
        return;
    };
    let written = File::create(temp)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .and_then(|()| fs::rename(temp, path(dir, name)));
    if let Err(e) = written {
        log::debug!("no se pudo guardar el SHA-256 de {name}: {e}");
        let _ = fs::remove_file(temp);
    }
}

/// Borra el resumen de `name` (si no existe, no pasa nada).
pub(super) fn remove(dir: &Path, name: &str) {
    match fs::remove_file(path(dir, name)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => log::debug!("no se pudo borrar el SHA-256 guardado de {name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> Version {
        Version {
            len: 1234,
            modified: UNIX_EPOCH.checked_add(Duration::new(1_700_000_000, 5)),
            inode: 42,
            changed: (1_700_000_001, 999_999_999),
        }
    }

    #[test]
    fn line_round_trips() {
        let d = Digest([7; 32]);
        let line = encode(&version(), d).unwrap();
        assert_eq!(decode(&line), Some((version(), d)));
    }

    #[test]
    fn damaged_lines_are_ignored() {
        let line = encode(&version(), Digest([7; 32])).unwrap();
        assert_eq!(decode(line.trim_end()), None, "sin \\n: cortada");
        assert_eq!(decode(&line.replace("SHA256", "SHA1")), None);
        assert_eq!(decode(&line.replace(" 1234 ", " x ")), None);
        assert_eq!(
            decode(&line.replace(" 42 ", " 42 7 ")),
            None,
            "un número de más"
        );
        assert_eq!(decode(&line.replace(" 999999999", " 1000000000")), None);
        assert_eq!(decode(&line[10..]), None);
        assert_eq!(decode(""), None);
    }
}
