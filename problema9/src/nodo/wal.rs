//! El registro de escritura anticipada (WAL) de un nodo: `wal.log` en `--data-dir`.
//!
//! Cada escritura aplicada se añade al final del fichero como un registro
//! `[longitud u32][crc32 u32][datos]` (enteros big-endian; la CRC cubre los datos) antes de
//! confirmarla. Al arrancar se relee el fichero entero: un registro final cortado (el proceso
//! murió a mitad de `write`) o con la CRC mal se detecta, se avisa y se descarta truncando el
//! fichero en el último registro bueno; nunca se carga basura. Si el registro acumula muchas
//! versiones viejas, al arrancar se reescribe compactado (fichero temporal + `rename`).
//!
//! Los datos de un registro: `contador u64`, `nodo` (u16 + bytes), `clave` (u32 + bytes),
//! `1 + valor (u32 + bytes)` para un `SET` o `0` para un `DEL`.
//!
//! La política de `fsync` ([`FsyncPolicy`]) decide cuándo llegan los datos al disco: con
//! `always` una escritura no se confirma hasta que un `fsync` la cubre (varias escrituras
//! concurrentes comparten el mismo `fsync`: "group commit"); con `batch` un hilo hace `fsync`
//! cada [`BATCH_INTERVAL`]; con `never` se deja al sistema operativo. Un `SIGKILL` del proceso
//! no pierde nada con ninguna política (los datos ya están en la caché del núcleo); un corte
//! de luz sí puede perder lo no sincronizado con `batch` o `never`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use common::lock;

use super::almacen::{Entry, Store, Version};

/// Nombre del fichero de registro dentro de `--data-dir`.
pub const WAL_FILE: &str = "wal.log";
/// Tamaño máximo de un registro: lo que pase de aquí al leer es corrupción, no un valor.
pub const MAX_RECORD: usize = 64 * 1024 * 1024;
/// Cada cuánto sincroniza el hilo de la política `batch`.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Cuándo se hace `fsync` del registro.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FsyncPolicy {
    /// Antes de confirmar cada escritura (compartido entre escrituras concurrentes).
    Always,
    /// Cada 100 ms en segundo plano: se confirma sin esperar al disco.
    Batch,
    /// Nunca explícitamente: el sistema operativo decide.
    Never,
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Batch => "batch",
            FsyncPolicy::Never => "never",
        })
    }
}

/// Lo que puede fallar con el registro.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// Error de E/S con la ruta implicada.
    #[error("registro {path}: {source}")]
    Io {
        /// El fichero o directorio.
        path: PathBuf,
        /// El error original.
        #[source]
        source: io::Error,
    },
}

/// Qué se encontró al recuperar el registro.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Registros válidos leídos.
    pub records: u64,
    /// Bytes descartados al final (registro cortado o corrupto); 0 si estaba limpio.
    pub discarded_bytes: u64,
    /// ¿Se reescribió compactado?
    pub compacted: bool,
}

struct Appender {
    file: File,
    written: u64,
}

/// El registro abierto para añadir.
pub struct Wal {
    path: PathBuf,
    policy: FsyncPolicy,
    appender: Mutex<Appender>,
    /// Hasta qué número de registro está sincronizado; su cerrojo ordena los `fsync`.
    synced: Mutex<u64>,
    sync_handle: File,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("path", &self.path)
            .field("policy", &self.policy)
            .finish()
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Wal {
    /// Abre (o crea) el registro de `dir`, lo relee en un [`Store`] y lo deja listo para
    /// añadir. Trunca un final cortado y compacta si hay muchas versiones viejas.
    ///
    /// # Errores
    /// [`WalError::Io`] si no se puede crear el directorio o leer/escribir el fichero.
    pub fn open(dir: &Path, policy: FsyncPolicy) -> Result<(Wal, Store, Recovery), WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(WAL_FILE);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(io_err(&path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        let mut store = Store::new();
        let mut recovery = Recovery::default();
        let mut pos = 0usize;
        while pos < bytes.len() {
            match decode_record(bytes.get(pos..).unwrap_or_default()) {
                Some((key, entry, used)) => {
                    store.apply(&key, entry);
                    recovery.records += 1;
                    pos += used;
                }
                None => break,
            }
        }
        recovery.discarded_bytes = (bytes.len() - pos) as u64;
        if recovery.discarded_bytes > 0 {
            log::warn!(
                "registro {}: {} bytes finales cortados o corruptos tras {} registros buenos: se descartan",
                path.display(),
                recovery.discarded_bytes,
                recovery.records
            );
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.set_len(pos as u64).map_err(io_err(&path))?;
            f.sync_all().map_err(io_err(&path))?;
        }
        drop(bytes);
        let entries = store.entries() as u64;
        if recovery.records > 2 * entries + 1024 {
            compact(dir, &path, &store)?;
            recovery.compacted = true;
            log::info!(
                "registro {}: compactado de {} a {} registros",
                path.display(),
                recovery.records,
                entries
            );
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let sync_handle = file.try_clone().map_err(io_err(&path))?;
        let wal = Wal {
            path,
            policy,
            appender: Mutex::new(Appender { file, written: 0 }),
            synced: Mutex::new(0),
            sync_handle,
        };
        Ok((wal, store, recovery))
    }

    /// La política de `fsync`.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// Añade un registro. Devuelve su número de orden para [`Wal::sync_to`].
    ///
    /// # Errores
    /// [`WalError::Io`] si falla la escritura (disco lleno...): la escritura no debe aplicarse.
    pub fn append(&self, key: &[u8], entry: &Entry) -> Result<u64, WalError> {
        let record = encode_record(key, entry);
        let mut a = lock(&self.appender);
        a.file.write_all(&record).map_err(io_err(&self.path))?;
        a.written += 1;
        Ok(a.written)
    }

    /// Con la política `always`, espera a que un `fsync` cubra el registro `seq`. Si otro
    /// hilo está sincronizando, espera a que acabe: a menudo su `fsync` ya nos cubre.
    ///
    /// # Errores
    /// [`WalError::Io`] si falla el `fsync`.
    pub fn sync_to(&self, seq: u64) -> Result<(), WalError> {
        if self.policy != FsyncPolicy::Always {
            return Ok(());
        }
        self.sync_inner(seq)
    }

    /// Sincroniza todo lo escrito hasta ahora (hilo de `batch` y apagado).
    ///
    /// # Errores
    /// [`WalError::Io`] si falla el `fsync`.
    pub fn sync_all(&self) -> Result<(), WalError> {
        let written = lock(&self.appender).written;
        self.sync_inner(written)
    }

    fn sync_inner(&self, seq: u64) -> Result<(), WalError> {
        let mut synced = lock(&self.synced);
        if *synced >= seq {
            return Ok(());
        }
        // Todo lo escrito antes de este punto queda cubierto por el `fsync` que sigue.
        let target = lock(&self.appender).written;
        self.sync_handle.sync_data().map_err(io_err(&self.path))?;
        *synced = target;
        Ok(())
    }
}

/// Reescribe el registro con una entrada por clave: fichero temporal, `fsync`, `rename` y
/// `fsync` del directorio, para que un fallo a medias deje el registro viejo intacto.
fn compact(dir: &Path, path: &Path, store: &Store) -> Result<(), WalError> {
    let tmp = dir.join(format!("{WAL_FILE}.tmp"));
    {
        let mut f = io::BufWriter::new(File::create(&tmp).map_err(io_err(&tmp))?);
        for (key, entry) in store.iter() {
            f.write_all(&encode_record(key, entry))
                .map_err(io_err(&tmp))?;
        }
        let f = f.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Codifica un registro completo (cabecera + datos).
pub fn encode_record(key: &[u8], entry: &Entry) -> Vec<u8> {
    let node = entry.version.node.as_bytes();
    let value_len = entry.value.as_ref().map_or(0, |v| v.len() + 4);
    let mut payload = Vec::with_capacity(8 + 2 + node.len() + 4 + key.len() + 1 + value_len);
    payload.extend_from_slice(&entry.version.counter.to_be_bytes());
    // Los ids de nodo se limitan al arrancar (`MAX_NODE_ID`), así que caben en u16.
    payload.extend_from_slice(&(node.len().min(u16::MAX as usize) as u16).to_be_bytes());
    payload.extend_from_slice(
        node.get(..node.len().min(u16::MAX as usize))
            .unwrap_or_default(),
    );
    payload.extend_from_slice(&(key.len() as u32).to_be_bytes());
    payload.extend_from_slice(key);
    match &entry.value {
        Some(v) => {
            payload.push(1);
            payload.extend_from_slice(&(v.len() as u32).to_be_bytes());
            payload.extend_from_slice(v);
        }
        None => payload.push(0),
    }
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Decodifica el registro del principio de `buf`. `None` si está cortado, la CRC no cuadra o
/// los datos no tienen la forma esperada.
pub fn decode_record(buf: &[u8]) -> Option<(Vec<u8>, Entry, usize)> {
    let len = u32::from_be_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
    if len > MAX_RECORD {
        return None;
    }
    let crc = u32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
    let payload = buf.get(8..8 + len)?;
    if crc32(payload) != crc {
        return None;
    }
    let mut r = Reader { buf: payload };
    let counter = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let node_len = u16::from_be_bytes(r.take(2)?.try_into().ok()?) as usize;
    let node = String::from_utf8(r.take(node_len)?.to_vec()).ok()?;
    let key_len = u32::from_be_bytes(r.take(4)?.try_into().ok()?) as usize;
    let key = r.take(key_len)?.to_vec();
    let value = match r.take(1)?.first()? {
        0 => None,
        1 => {
            let n = u32::from_be_bytes(r.take(4)?.try_into().ok()?) as usize;
            Some(r.take(n)?.to_vec())
        }
        _ => return None,
    };
    if !r.buf.is_empty() {
        return None;
    }
    let entry = Entry {
        value,
        version: Version { counter, node },
    };
    Some((key, entry, 8 + len))
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let head = self.buf.get(..n)?;
        self.buf = self.buf.get(n..)?;
        Some(head)
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE 802.3, la de zip y Ethernet).
///
/// ```
/// assert_eq!(problema9::nodo::wal::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(counter: u64, value: Option<&str>) -> Entry {
        Entry {
            value: value.map(|v| v.as_bytes().to_vec()),
            version: Version {
                counter,
                node: "n1".into(),
            },
        }
    }

    #[test]
    fn records_round_trip_and_every_prefix_is_rejected() {
        let e = entry(9, Some("valor"));
        let rec = encode_record(b"clave", &e);
        assert_eq!(decode_record(&rec), Some((b"clave".to_vec(), e, rec.len())));
        for n in 0..rec.len() {
            assert_eq!(decode_record(&rec[..n]), None, "prefijo {n}");
        }
        let del = entry(10, None);
        let rec = encode_record(b"k", &del);
        assert_eq!(decode_record(&rec).map(|r| r.1), Some(del));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_round_trip_holds(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
            value in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..50)),
            counter in proptest::prelude::any::<u64>(),
        ) {
            if let Some((_, _, used)) = decode_record(&bytes) {
                proptest::prop_assert!(used <= bytes.len());
            }
            let e = Entry { value, version: Version { counter, node: "n".into() } };
            let rec = encode_record(&key, &e);
            proptest::prop_assert_eq!(decode_record(&rec), Some((key, e, rec.len())));
        }
    }

    #[test]
    fn flipped_byte_is_detected_by_crc() {
        let mut rec = encode_record(b"k", &entry(1, Some("v")));
        let last = rec.len() - 1;
        rec[last] ^= 0x40;
        assert_eq!(decode_record(&rec), None);
    }

    #[test]
    fn reopen_recovers_and_truncates_torn_tail() {
        let dir = std::env::temp_dir().join(format!("p9-wal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        {
            let (wal, _, rec) = Wal::open(&dir, FsyncPolicy::Always).unwrap();
            assert_eq!(rec, Recovery::default());
            let s = wal.append(b"a", &entry(1, Some("1"))).unwrap();
            wal.append(b"b", &entry(2, Some("2"))).unwrap();
            wal.sync_to(s).unwrap();
        }
        // Medio registro al final, como si el proceso muriera a mitad de `write`.
        let torn = encode_record(b"c", &entry(3, Some("3")));
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join(WAL_FILE))
            .unwrap();
        f.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(f);
        let (wal, store, rec) = Wal::open(&dir, FsyncPolicy::Always).unwrap();
        assert_eq!(rec.records, 2);
        assert_eq!(rec.discarded_bytes, (torn.len() / 2) as u64);
        assert_eq!(store.len(), 2);
        assert!(store.get(b"c").is_none());
        // Lo que se añade después del truncado se lee bien en la siguiente apertura.
        wal.append(b"c", &entry(3, Some("3"))).unwrap();
        wal.sync_all().unwrap();
        drop(wal);
        let (_, store, rec) = Wal::open(&dir, FsyncPolicy::Never).unwrap();
        assert_eq!((rec.records, rec.discarded_bytes), (3, 0));
        assert_eq!(store.len(), 3);
        let _ = fs::remove_dir_all(&dir);
    }
}
