//! El servidor: acepta conexiones y atiende las órdenes de cada una en su propio hilo.
//!
//! Cada conexión lee una línea de orden (como mucho [`MAX_COMMAND_LINE`] bytes, con
//! `common::line`), la analiza con [`crate::protocolo`] y la ejecuta sobre el [`Store`]
//! compartido. Los cuerpos de `UPLOAD` y `DOWNLOAD` se copian con un buffer fijo de
//! [`BUFFER_SIZE`]: la memoria de una conexión no depende del tamaño del fichero.
//!
//! Tiempos de espera (issue 16), con el lector de plazo total de `common::conn`:
//! - **una orden**: desde que el servidor queda listo para ella, la línea entera (hasta su
//!   `\n`) debe llegar en `idle_timeout`, **en total**. Esperar callado y teclear caben en ese
//!   plazo; un cliente que gotea un byte cada pocos segundos no lo renueva (*slowloris*).
//! - **la línea `SHA256`** tras el cuerpo de una subida de una sola pasada: `io_timeout` en
//!   total desde el final del cuerpo.
//! - **el cuerpo** de una subida: un plazo de *progreso*, `io_timeout` por lectura; una subida
//!   lenta pero viva no se corta, y una que se para se desconecta y su parcial queda guardado
//!   para reanudar. Cada escritura al cliente (respuestas, descargas) tiene también
//!   `io_timeout`.

pub mod almacen;

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::conn::{linger_close, DeadlineReader, Linger};
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

/// Plazo total por omisión para recibir la siguiente orden entera, contando la espera: dos
/// minutos dan tiempo a teclear en telnet y no dejan conexiones olvidadas (ni goteos byte a
/// byte) ocupando un hilo para siempre.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Espera máxima por omisión de cada lectura o escritura en mitad de una transferencia (y
/// plazo total de la línea `SHA256` tras el cuerpo): un cliente que no manda ni recibe un
/// solo byte en 30 s está colgado o es hostil.
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
    /// Plazo total para recibir la siguiente orden entera (hasta su `\n`), desde que el
    /// servidor queda listo para ella.
    pub idle_timeout: Duration,
    /// Espera máxima de cada lectura o escritura durante una transferencia, y plazo total de
    /// la línea `SHA256` que sigue al cuerpo de una subida de una sola pasada.
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

/// El lado de lectura de una conexión: con buffer y con el plazo total de
/// [`common::conn::DeadlineReader`] sobre el mismo socket que escribe (compartido con `Arc`:
/// un solo descriptor por conexión).
type Reader = BufReader<DeadlineReader<Arc<TcpStream>>>;

struct Connection {
    reader: Reader,
    writer: Arc<TcpStream>,
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
        let writer = Arc::new(stream);
        Ok(Self {
            reader: BufReader::new(DeadlineReader::new(Arc::clone(&writer))),
            writer,
            peer,
            store,
            config,
            shutdown,
        })
    }

    fn send(&mut self, reply: &Reply) -> io::Result<()> {
        (&*self.writer).write_all(reply.encode().as_bytes())
    }

    /// Envía un error y lo registra; si ni siquiera se puede enviar, se cierra.
    fn refuse(&mut self, code: ErrorCode, message: String) -> Flow {
        log::warn!("{}: {code} {message}", self.peer);
        match self.send(&Reply::error(code, message)) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    /// Envía un `ERROR TIMEOUT` y cierra con espera: si el cliente seguía goteando bytes, un
    /// cierre sin más respondería con un RST que podría borrar el error antes de que lo lea.
    fn time_out(&mut self, message: String) -> Flow {
        self.refuse(ErrorCode::Timeout, message);
        linger_close(&self.writer, Linger::DEFAULT);
        Flow::Close
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
            // Un plazo total para esperar la orden y recibirla entera: ni la espera ni cada
            // byte que llega lo renuevan.
            self.reader
                .get_mut()
                .expire_in(Some(self.config.idle_timeout));
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
                    let idle = self.config.idle_timeout;
                    let msg = if line.is_empty() {
                        format!("sin órdenes en {idle:?}: se cierra la conexión")
                    } else {
                        format!("la orden no llegó entera en {idle:?}: se cierra la conexión")
                    };
                    self.time_out(msg);
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
        (&*self.writer).write_all(out.as_bytes())?;
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
        self.receive_body(upload, name, true)
    }

    /// Lee la línea `SHA256 <hex>` que sigue al cuerpo de una subida de una sola pasada. Si no
    /// llega o no vale, contesta lo que corresponda y dice si la conexión sigue: una línea
    /// completa pero mal escrita, o demasiado larga pero terminada antes de `MAX_DISCARD`,
    /// deja el flujo sincronizado; un corte o un tiempo agotado, no. La línea tiene
    /// `io_timeout` en total: el cliente la envía justo detrás del cuerpo.
    fn read_trailer(&mut self, name: &str) -> Result<Digest, Flow> {
        self.reader
            .get_mut()
            .expire_in(Some(self.config.io_timeout));
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
                let io = self.config.io_timeout;
                let msg = if line.is_empty() {
                    format!("la línea SHA256 no llegó en {io:?}: se cierra la conexión")
                } else {
                    format!("la línea SHA256 no llegó entera en {io:?}: se cierra la conexión")
                };
                Err(self.time_out(msg))
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
            let mut body = Progress {
                reader: &mut self.reader,
                timeout: self.config.io_timeout,
            };
            let (n, cut) = fill(&mut body, buf.get_mut(..want).unwrap_or_default());
            if n > 0 && disk_error.is_none() {
                match upload.write(buf, n) {
                    Ok(()) => {}
                    // Disco lleno: seguir leyendo el cuerpo no arreglaría nada. Se descarta
                    // lo escrito, se dice enseguida y se cierra.
                    Err(e @ StoreError::DiskFull { .. }) => {
                        upload.discard();
                        log::error!("{}: {e}; subida de {name} descartada", self.peer);
                        let _ = self.send(&Reply::error(e.code(), e.client_message()));
                        linger_close(&self.writer, Linger::DEFAULT);
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

/// El cuerpo de una subida: cada lectura tiene `timeout` para traer algún byte (un plazo de
/// *progreso*, renovado en cada lectura, no total: una subida lenta pero viva no se corta).
/// Lee a través del buffer de la conexión, que puede guardar ya el principio del cuerpo.
struct Progress<'a> {
    reader: &'a mut Reader,
    timeout: Duration,
}

impl Read for Progress<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.get_mut().expire_in(Some(self.timeout));
        self.reader.read(buf)
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
