//! El servidor: acepta conexiones y atiende las órdenes de cada una en su propio hilo.
//!
//! Cada conexión lee una línea de orden (como mucho [`MAX_COMMAND_LINE`] bytes, con
//! `common::line`), la analiza con [`crate::protocolo`] y la ejecuta sobre el [`Store`]
//! compartido. Los cuerpos de `UPLOAD` y `DOWNLOAD` se copian con un buffer fijo de
//! [`BUFFER_SIZE`]: la memoria de una conexión no depende del tamaño del fichero.
//!
//! Tiempos de espera: mientras se espera una orden, `idle_timeout`; en mitad de un cuerpo,
//! cada lectura o escritura tiene `io_timeout` (un cliente que se para a mitad de una subida
//! se desconecta y su parcial queda guardado para reanudar).

pub mod almacen;

use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::conn::{linger_close, Linger};
use common::line::{discard_line, read_line, LineError};
use common::{serve, ServeConfig, Shutdown};

pub use almacen::{Store, StoreError, Upload};

use crate::protocolo::{
    parse_command, parse_trailer, Command, Digest, ErrorCode, ProtocolError, Reply, BUFFER_SIZE,
    DEFAULT_MAX_SIZE, MAX_COMMAND_LINE, MAX_TRAILER_LINE,
};
use crate::resumen::fill;

/// Directorio de almacenamiento por omisión (relativo al directorio de trabajo).
pub const DEFAULT_DIR: &str = "archivos";

/// Espera máxima por omisión a la siguiente orden: dos minutos dan tiempo a teclear en
/// telnet y no dejan conexiones olvidadas ocupando un hilo para siempre.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Espera máxima por omisión de cada lectura o escritura en mitad de una transferencia: un
/// cliente que no manda ni recibe un solo byte en 30 s está colgado o es hostil.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Cuánto se descarta como mucho del resto de una línea demasiado larga antes de cerrar: más
/// allá de 1 MiB sin `\n` no es un error de tecleo.
const MAX_DISCARD: u64 = 1024 * 1024;

/// La configuración del servidor: cada límite con su valor por omisión.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Directorio donde se guardan los ficheros (se crea si falta).
    pub dir: PathBuf,
    /// Tamaño máximo de un fichero subido.
    pub max_size: u64,
    /// Cuota total del directorio en bytes (`None`: sin cuota).
    pub quota: Option<u64>,
    /// Bytes que se dejan siempre libres en el disco: una subida que los invadiría recibe
    /// `NO_SPACE` antes de `READY` (0: se puede llenar el disco).
    pub min_free: u64,
    /// Conexiones simultáneas como máximo.
    pub max_connections: usize,
    /// Espera máxima a la siguiente orden.
    pub idle_timeout: Duration,
    /// Espera máxima de cada lectura o escritura durante una transferencia.
    pub io_timeout: Duration,
}

impl ServerConfig {
    /// Configuración por omisión sobre el directorio `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_size: DEFAULT_MAX_SIZE,
            quota: None,
            min_free: 0,
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
        }
    }
}

/// Lo que puede impedir que el servidor arranque.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No se pudo preparar el directorio.
    #[error("no se pudo preparar el directorio de almacenamiento: {0}")]
    Store(#[from] StoreError),
    /// Falló el bucle de aceptación.
    #[error("error en el bucle de aceptación: {0}")]
    Accept(#[from] io::Error),
}

/// Atiende conexiones de `listener` hasta que se dispare `shutdown`.
///
/// Al apagar, las conexiones que esperaban una orden reciben `ERROR SHUTDOWN` y se cierran;
/// una subida a medias se guarda como parcial (se puede reanudar al volver el servidor).
///
/// # Errores
/// [`ServerError::Store`] si no se puede crear o leer el directorio.
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let store =
        Store::open_keeping_free(&config.dir, config.max_size, config.quota, config.min_free)?;
    log::info!(
        "guardando en {} (máximo {} bytes por fichero{})",
        config.dir.display(),
        config.max_size,
        config
            .quota
            .map(|q| format!(", cuota {q} bytes"))
            .unwrap_or_default()
    );
    let mut serve_config = ServeConfig::new("problema5");
    serve_config.max_connections = config.max_connections;
    serve_config.refusal = Reply::error(ErrorCode::Busy, "servidor lleno, pruebe más tarde")
        .encode()
        .into_bytes();
    let config = Arc::new(config);
    let sd = shutdown.clone();
    serve(listener, serve_config, shutdown, move |stream, peer| {
        log::info!("{peer}: conectado");
        let conn = Connection::new(stream, peer, store.clone(), Arc::clone(&config), sd.clone());
        match conn {
            Ok(conn) => conn.run(),
            Err(e) => log::warn!("{peer}: no se pudo preparar la conexión: {e}"),
        }
        log::info!("{peer}: desconectado");
    })?;
    log::info!("servidor detenido");
    Ok(())
}

/// ¿Seguimos con la siguiente orden o cerramos la conexión?
enum Flow {
    Continue,
    Close,
}

struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    peer: SocketAddr,
    store: Store,
    config: Arc<ServerConfig>,
    shutdown: Shutdown,
}

impl Connection {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        store: Store,
        config: Arc<ServerConfig>,
        shutdown: Shutdown,
    ) -> io::Result<Self> {
        stream.set_write_timeout(Some(config.io_timeout))?;
        let writer = stream.try_clone()?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
            peer,
            store,
            config,
            shutdown,
        })
    }

    fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.writer.write_all(reply.encode().as_bytes())
    }

    /// Envía un error y lo registra; si ni siquiera se puede enviar, se cierra.
    fn refuse(&mut self, code: ErrorCode, message: String) -> Flow {
        log::warn!("{}: {code} {message}", self.peer);
        match self.send(&Reply::error(code, message)) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(Some(timeout))
    }

    /// Cierre por fin de flujo: si es porque el servidor se apaga, se avisa.
    fn goodbye(&mut self) {
        if self.shutdown.is_triggered() {
            let _ = self.send(&Reply::error(ErrorCode::Shutdown, "servidor cerrándose"));
        }
    }

    fn run(mut self) {
        let mut line = Vec::with_capacity(MAX_COMMAND_LINE);
        loop {
            if self.set_read_timeout(self.config.idle_timeout).is_err() {
                return;
            }
            match read_line(&mut self.reader, &mut line, MAX_COMMAND_LINE) {
                Ok(true) => {}
                Ok(false) => return self.goodbye(),
                Err(LineError::TooLong { max }) => {
                    let msg = format!("la línea de orden pasa de {max} bytes");
                    if let Flow::Close = self.refuse(ErrorCode::LineTooLong, msg) {
                        return;
                    }
                    // El resto de la línea, con su `\n`, sigue en el flujo: lo saltamos.
                    match discard_line(&mut self.reader, MAX_DISCARD) {
                        Ok(true) => continue,
                        _ => return,
                    }
                }
                Err(e) if e.is_timeout() => {
                    let msg = format!(
                        "sin órdenes en {:?}: se cierra la conexión",
                        self.config.idle_timeout
                    );
                    self.refuse(ErrorCode::Timeout, msg);
                    return;
                }
                Err(e) => {
                    log::debug!("{}: {e}", self.peer);
                    return self.goodbye();
                }
            }
            let flow = match parse_command(&line) {
                Err(ProtocolError::Empty) => Flow::Continue,
                Err(e) => self.refuse(e.code(), e.to_string()),
                Ok(command) => {
                    log::debug!("{}: {command:?}", self.peer);
                    self.execute(command).unwrap_or_else(|e| {
                        log::info!("{}: conexión perdida: {e}", self.peer);
                        Flow::Close
                    })
                }
            };
            if let Flow::Close = flow {
                return;
            }
        }
    }

    fn execute(&mut self, command: Command) -> io::Result<Flow> {
        match command {
            Command::List => self.list(),
            Command::Upload {
                name,
                size,
                sha256,
                offset,
            } => self.upload(&name, size, sha256, offset),
            Command::UploadStream { name, size } => self.upload_stream(&name, size),
            Command::Download { name, offset } => self.download(&name, offset),
            Command::Delete { name } => match self.store.delete(&name) {
                Ok(()) => {
                    log::info!("{}: borrado {name}", self.peer);
                    self.send(&Reply::Deleted { name })?;
                    Ok(Flow::Continue)
                }
                Err(e) => Ok(self.store_error(&e)),
            },
            Command::Quit => {
                self.send(&Reply::Bye)?;
                Ok(Flow::Close)
            }
        }
    }

    fn store_error(&mut self, e: &StoreError) -> Flow {
        if let StoreError::Io { .. } | StoreError::DiskFull { .. } = e {
            log::error!("{}: {e}", self.peer);
        }
        self.refuse(e.code(), e.client_message())
    }

    fn list(&mut self) -> io::Result<Flow> {
        let entries = match self.store.list() {
            Ok(entries) => entries,
            Err(e) => return Ok(self.store_error(&e)),
        };
        // Una sola escritura: el listado entero o nada.
        let mut out = Reply::Files {
            count: entries.len(),
        }
        .encode();
        for entry in &entries {
            out.push_str(&entry.encode());
        }
        self.writer.write_all(out.as_bytes())?;
        Ok(Flow::Continue)
    }

    fn upload(
        &mut self,
        name: &str,
        size: u64,
        sha256: Digest,
        resume: Option<u64>,
    ) -> io::Result<Flow> {
        let upload = match self.store.begin_upload(name, size, sha256, resume) {
            Ok(upload) => upload,
            Err(e) => return Ok(self.store_error(&e)),
        };
        log::info!(
            "{}: recibiendo {name} ({size} bytes desde el {})",
            self.peer,
            upload.offset()
        );
        self.send(&Reply::Ready {
            offset: upload.offset(),
        })?;
        self.set_read_timeout(self.config.io_timeout)?;
        self.receive_body(upload, name, false)
    }

    /// `UPLOAD NOMBRE TAMAÑO -`: como [`Connection::upload`], pero siempre desde 0 y con el
    /// SHA-256 en una línea detrás del cuerpo.
    fn upload_stream(&mut self, name: &str, size: u64) -> io::Result<Flow> {
        let upload = match self.store.begin_stream_upload(name, size) {
            Ok(upload) => upload,
            Err(e) => return Ok(self.store_error(&e)),
        };
        log::info!(
            "{}: recibiendo {name} ({size} bytes, SHA-256 al final)",
            self.peer
        );
        self.send(&Reply::Ready { offset: 0 })?;
        self.set_read_timeout(self.config.io_timeout)?;
        self.receive_body(upload, name, true)
    }

    /// Lee la línea `SHA256 <hex>` que sigue al cuerpo de una subida de una sola pasada. Si no
    /// llega o no vale, contesta lo que corresponda y dice si la conexión sigue: una línea
    /// completa pero mal escrita, o demasiado larga pero terminada antes de `MAX_DISCARD`,
    /// deja el flujo sincronizado; un corte o un tiempo agotado, no.
    fn read_trailer(&mut self, name: &str) -> Result<Digest, Flow> {
        let mut line = Vec::with_capacity(MAX_TRAILER_LINE);
        match read_line(&mut self.reader, &mut line, MAX_TRAILER_LINE) {
            Ok(true) => match parse_trailer(&line) {
                Ok(digest) => Ok(digest),
                Err(e) => {
                    Err(self.refuse(ErrorCode::BadCommand, format!("{e}; no se guardó nada")))
                }
            },
            Ok(false) => {
                log::info!(
                    "{}: la subida de {name} se cortó antes de la línea SHA256",
                    self.peer
                );
                self.goodbye();
                Err(Flow::Close)
            }
            Err(LineError::TooLong { max }) => {
                let msg = format!("la línea SHA256 pasa de {max} bytes; no se guardó nada");
                if let Flow::Close = self.refuse(ErrorCode::LineTooLong, msg) {
                    return Err(Flow::Close);
                }
                // Como con una orden demasiado larga: se salta el resto de la línea (hasta
                // MAX_DISCARD) y, si acaba, la conexión sigue sincronizada.
                match discard_line(&mut self.reader, MAX_DISCARD) {
                    Ok(true) => Err(Flow::Continue),
                    _ => Err(Flow::Close),
                }
            }
            Err(e) if e.is_timeout() => {
                let msg = format!(
                    "la línea SHA256 no llegó en {:?}: se cierra la conexión",
                    self.config.io_timeout
                );
                self.refuse(ErrorCode::Timeout, msg);
                Err(Flow::Close)
            }
            Err(e) => {
                log::info!("{}: la subida de {name} se cortó: {e}", self.peer);
                self.goodbye();
                Err(Flow::Close)
            }
        }
    }

    /// Copia el cuerpo de una subida del socket al temporal (y, con `trailer`, lee la línea
    /// `SHA256` que lo sigue), y la cierra según cómo acabe.
    fn receive_body(&mut self, mut upload: Upload, name: &str, trailer: bool) -> io::Result<Flow> {
        let mut left = upload.remaining();
        // Si el disco falla, se sigue leyendo (y tirando) el cuerpo para poder contestar con
        // un error y mantener la conexión sincronizada; salvo si está lleno (véase abajo).
        let mut disk_error: Option<StoreError> = None;
        while left > 0 {
            let want = usize::try_from(left.min(BUFFER_SIZE as u64)).unwrap_or(BUFFER_SIZE);
            let mut buf = upload.buffer();
            // Llenar el buffer entero antes de escribir: menos llamadas al sistema y trozos
            // grandes para el hilo del SHA-256.
            let (n, cut) = fill(&mut self.reader, buf.get_mut(..want).unwrap_or_default());
            if n > 0 && disk_error.is_none() {
                match upload.write(buf, n) {
                    Ok(()) => {}
                    // Disco lleno: seguir leyendo el cuerpo no arreglaría nada. Se descarta
                    // lo escrito, se dice enseguida y se cierra.
                    Err(e @ StoreError::DiskFull { .. }) => {
                        upload.discard();
                        log::error!("{}: {e}; subida de {name} descartada", self.peer);
                        let _ = self.send(&Reply::error(e.code(), e.client_message()));
                        linger_close(self.reader.get_ref(), Linger::DEFAULT);
                        return Ok(Flow::Close);
                    }
                    Err(e) => disk_error = Some(e),
                }
            } else {
                upload.give_back(buf);
            }
            left -= n as u64;
            if let Some(e) = cut {
                // Lo que llegó antes del corte ya está escrito: el parcial lo conserva.
                self.end_interrupted(upload, disk_error.is_some());
                if common::net::is_timeout(&e) {
                    let msg = format!(
                        "ningún byte en {:?} a mitad de la subida: se cierra la conexión",
                        self.config.io_timeout
                    );
                    self.refuse(ErrorCode::Timeout, msg);
                } else {
                    log::info!("{}: la subida de {name} se cortó a medias: {e}", self.peer);
                    self.goodbye();
                }
                return Ok(Flow::Close);
            }
        }
        let late_digest = if trailer {
            match self.read_trailer(name) {
                Ok(digest) => Some(digest),
                Err(flow) => {
                    upload.discard();
                    return Ok(flow);
                }
            }
        } else {
            None
        };
        if let Some(e) = disk_error {
            upload.discard();
            return Ok(self.store_error(&e));
        }
        let finished = match late_digest {
            Some(digest) => upload.finish_with(digest),
            None => upload.finish(),
        };
        match finished {
            Ok(entry) => {
                log::info!("{}: guardado {name} ({} bytes)", self.peer, entry.size);
                self.send(&Reply::Stored {
                    name: entry.name,
                    size: entry.size,
                    sha256: entry.sha256,
                })?;
                Ok(Flow::Continue)
            }
            Err(e) => Ok(self.store_error(&e)),
        }
    }

    fn end_interrupted(&self, upload: Upload, disk_failed: bool) {
        if disk_failed {
            upload.discard();
        } else {
            upload.interrupt();
        }
    }

    fn download(&mut self, name: &str, offset: u64) -> io::Result<Flow> {
        let (file, size, sha256) = match self.store.open_download(name) {
            Ok(found) => found,
            Err(e) => return Ok(self.store_error(&e)),
        };
        if offset > size {
            let msg = format!("el offset {offset} pasa del tamaño de `{name}` ({size} bytes)");
            return Ok(self.refuse(ErrorCode::BadOffset, msg));
        }
        log::info!(
            "{}: enviando {name} ({size} bytes desde el {offset})",
            self.peer
        );
        self.send(&Reply::Data {
            size,
            sha256,
            offset,
        })?;
        // `sendfile(2)`: los bytes van del fichero al socket sin pasar por nuestra memoria.
        let want = size - offset;
        let sent = common::sendfile::send_file(&file, offset, want, &self.writer)?;
        if sent < want {
            // Alguien recortó el fichero por fuera mientras lo enviábamos: ya prometimos
            // `want` bytes, así que la única salida honrada es cortar la conexión.
            log::error!(
                "{}: {name} se acortó durante el envío ({sent} de {want} bytes)",
                self.peer
            );
            return Ok(Flow::Close);
        }
        Ok(Flow::Continue)
    }
}

/// Lee un tamaño en bytes con sufijo opcional binario (`K`, `M`, `G`, `T`; con o sin `iB`):
/// `512`, `64M`, `1GiB`. Para las opciones `--max-size` y `--quota`.
///
/// # Errores
/// Un mensaje en español si no es un número o se sale de `u64`.
///
/// ```
/// use problema5::servidor::parse_byte_size;
/// assert_eq!(parse_byte_size("1K"), Ok(1024));
/// assert_eq!(parse_byte_size("2GiB"), Ok(2 << 30));
/// assert!(parse_byte_size("x").is_err());
/// ```
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let digits_end = upper
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(upper.len());
    let (number, suffix) = upper.split_at(digits_end);
    let shift = match suffix.trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "tamaño no válido `{t}`: use bytes o un sufijo K, M, G o T"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("tamaño no válido `{t}`: se espera un número, como 64M"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("tamaño demasiado grande: `{t}`"))
}
