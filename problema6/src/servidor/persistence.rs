//! La lista de salas en disco: un fichero JSON que se escribe de forma atómica.
//!
//! Se guardan las salas (nombre, creador, fecha de creación y tema), no los usuarios ni los
//! mensajes. El formato es:
//!
//! ```json
//! {
//!   "version": 1,
//!   "rooms": [
//!     { "name": "general", "creator": "servidor", "created_at": 1764135575 },
//!     { "name": "juegos", "creator": "ana", "created_at": 1764135600, "topic": "de mesa" }
//!   ]
//! }
//! ```
//!
//! `created_at` son segundos desde la época Unix (UTC); `topic` falta si la sala no tiene tema.
//!
//! Escritura atómica: se escribe un fichero temporal en el mismo directorio, se fuerza a disco
//! (`fsync`), se renombra encima del definitivo (`rename` es atómico dentro de un sistema de
//! ficheros) y se fuerza también el directorio. Un corte de luz a mitad deja el fichero
//! anterior o el nuevo, nunca uno a medias. Un fichero corrupto al arrancar se aparta con
//! otro nombre (para que nadie pierda lo que había) y el servidor arranca solo con `general`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use common::net::describe_io_error;
use serde::{Deserialize, Serialize};

use crate::protocolo::{validate_room_name, validate_topic, GENERAL, SERVER_CREATOR};

/// Versión del formato del fichero; otra versión se trata como fichero ilegible.
pub const FORMAT_VERSION: u32 = 1;

/// Tamaño máximo del fichero de salas que se acepta leer: miles de salas caben de sobra y
/// un fichero enorme (o un dispositivo) no nos hace reservar gigabytes.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Máximo de caracteres del creador guardado (un nombre de usuario válido es más corto).
const MAX_CREATOR_CHARS: usize = 64;

/// Lo que se guarda de cada sala.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// Nombre de la sala.
    pub name: String,
    /// Quién la creó (`servidor` para `general`).
    pub creator: String,
    /// Creación, en segundos desde la época Unix (UTC).
    pub created_at: u64,
    /// Tema, si lo tiene.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

impl RoomInfo {
    /// Una sala nueva creada ahora por `creator`.
    pub fn new(name: &str, creator: &str) -> Self {
        Self {
            name: name.to_string(),
            creator: creator.to_string(),
            created_at: now_unix(),
            topic: None,
        }
    }

    /// La sala `general`, creada por el servidor.
    pub fn general() -> Self {
        Self::new(GENERAL, SERVER_CREATOR)
    }
}

/// El contenido completo del fichero.
#[derive(Debug, Serialize, Deserialize)]
struct RoomsFile {
    version: u32,
    rooms: Vec<RoomInfo>,
}

/// No se pudo leer el fichero de salas.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Error del sistema de ficheros (permisos, es un directorio...).
    #[error("no se pudo leer {path}: {}", describe_io_error(.error))]
    Read {
        /// El fichero.
        path: PathBuf,
        /// El error original (no es la `source` del error: su texto va en el mensaje, en
        /// español, y no se repite en inglés al encadenar).
        error: io::Error,
    },
    /// El fichero pasa de [`MAX_FILE_BYTES`].
    #[error("{path} ocupa {size} bytes, más que el máximo de {max}")]
    TooBig {
        /// El fichero.
        path: PathBuf,
        /// Su tamaño.
        size: u64,
        /// El máximo.
        max: u64,
    },
    /// El contenido no es el JSON esperado.
    #[error("{path} está corrupto: {source}")]
    Corrupt {
        /// El fichero.
        path: PathBuf,
        /// El error de JSON, con línea y columna.
        source: serde_json::Error,
    },
    /// El JSON es válido pero de otra versión del formato.
    #[error("{path} tiene la versión de formato {found}; se esperaba {FORMAT_VERSION}")]
    Version {
        /// El fichero.
        path: PathBuf,
        /// La versión encontrada.
        found: u32,
    },
}

/// No se pudo guardar el fichero de salas.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// La ruta no tiene nombre de fichero (`/` o `..`).
    #[error("la ruta {0} no nombra un fichero")]
    NoFileName(PathBuf),
    /// Falló la escritura, el `fsync` o el `rename`.
    #[error("no se pudo escribir {path}: {}", describe_io_error(.error))]
    Write {
        /// El fichero definitivo.
        path: PathBuf,
        /// El error original (su texto va en el mensaje, en español).
        error: io::Error,
    },
    /// No se pudo convertir a JSON (no debería ocurrir).
    #[error("no se pudo convertir las salas a JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Lee el fichero de salas. `Ok(None)` si no existe (primer arranque).
///
/// # Errores
/// [`LoadError`] si no se puede leer, es demasiado grande, no es JSON válido o es de otra
/// versión.
pub fn load(path: &Path) -> Result<Option<Vec<RoomInfo>>, LoadError> {
    let read_err = |error| LoadError::Read {
        path: path.to_path_buf(),
        error,
    };
    let size = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    if size > MAX_FILE_BYTES {
        return Err(LoadError::TooBig {
            path: path.to_path_buf(),
            size,
            max: MAX_FILE_BYTES,
        });
    }
    let bytes = fs::read(path).map_err(read_err)?;
    let file: RoomsFile = serde_json::from_slice(&bytes).map_err(|source| LoadError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    if file.version != FORMAT_VERSION {
        return Err(LoadError::Version {
            path: path.to_path_buf(),
            found: file.version,
        });
    }
    Ok(Some(file.rooms))
}

/// Distingue los ficheros temporales de escrituras simultáneas del mismo proceso.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Escribe `rooms` en `path` de forma atómica: temporal en el mismo directorio, `fsync`,
/// `rename` y `fsync` del directorio. Si algo falla, el temporal se borra y `path` queda
/// como estaba.
///
/// # Errores
/// [`SaveError`] con la ruta y el motivo.
pub fn save_atomic(path: &Path, rooms: &[RoomInfo]) -> Result<(), SaveError> {
    let file_name = path
        .file_name()
        .ok_or_else(|| SaveError::NoFileName(path.to_path_buf()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut bytes = serde_json::to_vec_pretty(&RoomsFile {
        version: FORMAT_VERSION,
        rooms: rooms.to_vec(),
    })?;
    bytes.push(b'\n');
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_and_rename(&tmp, path, dir, &bytes);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|error| SaveError::Write {
        path: path.to_path_buf(),
        error,
    })
}

fn write_and_rename(tmp: &Path, path: &Path, dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    // Sin el fsync del directorio, el rename podría perderse en un corte de luz. Algunos
    // sistemas no permiten abrir un directorio así: entonces nos conformamos con el rename.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Borra los temporales `.NOMBRE.tmp-PID-N` que dejó un guardado interrumpido (un SIGKILL
/// entre crear el temporal y el `rename`). Se llama al arrancar, antes de que este proceso
/// guarde nada: ninguno de ellos es de un guardado en curso. Devuelve los que borró.
pub fn remove_stale_temps(path: &Path) -> Vec<PathBuf> {
    let Some(file_name) = path.file_name() else {
        return Vec::new();
    };
    let prefix = format!(".{}.tmp-", file_name.to_string_lossy());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let is_temp = entry.file_name().to_string_lossy().starts_with(&prefix);
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_temp && is_file && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// Aparta un fichero corrupto como `NOMBRE.corrupto-SEGUNDOS` en el mismo directorio, para
/// que el próximo guardado no destruya lo que un humano quizá quiera recuperar.
///
/// # Errores
/// Los del `rename`.
pub fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".corrupto-{}", now_unix()));
    let aside = path.with_file_name(name);
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// Deja una lista de salas leída de disco en un estado válido: descarta salas con nombre no
/// válido o repetido y temas demasiado largos, sustituye los caracteres de control de los
/// temas, cambia creadores absurdos por `desconocido`, garantiza `general` y aplica el máximo
/// de salas. Cada descarte se registra.
pub fn sanitize(rooms: Vec<RoomInfo>, max_rooms: usize) -> Vec<RoomInfo> {
    let mut out: Vec<RoomInfo> = Vec::new();
    if !rooms.iter().any(|r| r.name == GENERAL) {
        out.push(RoomInfo::general());
    }
    for mut room in rooms {
        if let Err(e) = validate_room_name(&room.name) {
            log::warn!(
                "[problema6] sala {:?} descartada del fichero: {e}",
                room.name
            );
            continue;
        }
        if out.iter().any(|r| r.name == room.name) {
            log::warn!(
                "[problema6] sala {} repetida en el fichero: se ignora la copia",
                room.name
            );
            continue;
        }
        if out.len() >= max_rooms.max(1) && room.name != GENERAL {
            log::warn!(
                "[problema6] sala {} descartada: se superaría el máximo de {max_rooms} salas",
                room.name
            );
            continue;
        }
        room.topic = room
            .topic
            .map(|t| crate::protocolo::sanitize_text(&t).into_owned());
        if let Some(Err(e)) = room.topic.as_deref().map(validate_topic) {
            log::warn!("[problema6] tema de la sala {} descartado: {e}", room.name);
            room.topic = None;
        }
        if room.creator.chars().count() > MAX_CREATOR_CHARS
            || room.creator.chars().any(char::is_control)
        {
            room.creator = "desconocido".to_string();
        }
        out.push(room);
    }
    out
}

/// Segundos desde la época Unix (0 si el reloj está antes de 1970).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomInfo {
        RoomInfo {
            name: name.into(),
            creator: "ana".into(),
            created_at: 7,
            topic: None,
        }
    }

    #[test]
    fn save_then_load_gives_the_same_rooms_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("salas.json");
        let mut rooms = vec![RoomInfo::general(), room("juegos")];
        rooms[1].topic = Some("de mesa".into());
        save_atomic(&path, &rooms).unwrap();
        save_atomic(&path, &rooms).unwrap();
        assert_eq!(load(&path).unwrap(), Some(rooms));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("salas.json")]);
    }

    #[test]
    fn topic_is_omitted_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        save_atomic(&path, &[room("x")]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("topic"), "{text}");
        assert!(text.contains("\"version\": 1"), "{text}");
    }

    #[test]
    fn missing_file_is_none_and_garbage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("salas.json");
        assert!(load(&path).unwrap().is_none());
        fs::write(&path, b"{\"version\": 1, \"rooms\": [").unwrap();
        assert!(matches!(load(&path), Err(LoadError::Corrupt { .. })));
        fs::write(&path, b"{\"version\": 9, \"rooms\": []}").unwrap();
        assert!(matches!(
            load(&path),
            Err(LoadError::Version { found: 9, .. })
        ));
        let aside = move_aside(&path).unwrap();
        assert!(!path.exists());
        assert!(aside.exists());
    }

    #[test]
    fn failed_save_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // El destino es un directorio no vacío: el rename falla.
        let path = dir.path().join("salas.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("dentro"), b"x").unwrap();
        assert!(save_atomic(&path, &[room("x")]).is_err());
        let count = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(count, 1);
    }

    #[test]
    fn sanitize_keeps_general_drops_bad_and_duplicate_rooms_and_caps() {
        let mut bad_topic = room("tema");
        bad_topic.topic = Some("\u{1b}[2J".into());
        let mut long_topic = room("largo");
        long_topic.topic = Some("x".repeat(1000));
        let rooms = vec![
            room("juegos"),
            room("juegos"),
            room("no válida!"),
            bad_topic,
            long_topic,
            room("extra"),
        ];
        let out = sanitize(rooms, 4);
        let names: Vec<_> = out.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["general", "juegos", "tema", "largo"]);
        assert_eq!(out[2].topic.as_deref(), Some("\u{fffd}[2J"));
        assert_eq!(out[3].topic, None);
    }
}
