//! El cliente: un [`Client`] sobre un socket ya conectado, con un método por orden.
//!
//! Garantías del lado del cliente:
//! - Una subida, por omisión, lee el fichero una sola vez: lo envía y calcula el SHA-256 en
//!   otro hilo a la vez, y lo manda detrás del cuerpo (`UPLOAD NOMBRE TAMAÑO -`, luego
//!   `SHA256 <hex>`). Para reanudar (`resume`), o si se pide ([`Client::upload_digest_first`]),
//!   calcula antes el SHA-256 y lo anuncia en la orden. En los dos casos comprueba que el
//!   servidor confirma el mismo resumen.
//! - Una descarga se escribe en `DESTINO.parcial`, se comprueba su SHA-256 y solo entonces
//!   se renombra a `DESTINO`: nunca queda un fichero a medias con el nombre final. Si se corta,
//!   el `.parcial` se conserva para reanudar con `resume = true` (`--continue`).
//! - Memoria fija: todo se copia con un buffer de [`BUFFER_SIZE`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::exit::Failure;
use common::line::{read_line, LineError};
use common::net::describe_io_error;
use common::progress::Bar;
use sha2::{Digest as _, Sha256};

use crate::protocolo::{
    encode_trailer, parse_list_entry, parse_reply, validate_name, Command, Digest, ErrorCode,
    ListEntry, NameError, ProtocolError, Reply, BUFFER_SIZE, MAX_COMMAND_LINE,
};
use crate::resumen::{fill, HashPipe};

/// Espera mínima a las respuestas lentas: la final de una subida (el servidor hace `fsync` de
/// todo el fichero antes de contestar) y las de `LIST` y `DOWNLOAD` (tras reiniciarse, el
/// servidor lee cada fichero entero para calcular su SHA-256). Con varios GiB son segundos.
pub const FINAL_REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Buffer de las descargas del cliente: 256 KiB y no [`BUFFER_SIZE`] (1 MiB). Sobre ext4,
/// recibir y escribir el fichero a trozos de 1 MiB salió más lento y más irregular (mediana de
/// 1,30 s frente a 0,99 s por GiB en 6 pares alternados, con el tiempo de sistema entre 0,5 y
/// 1,6 s); en tmpfs, igual dentro del ruido (mejor de 5: 0,80 s con 256 KiB, 0,82 s con
/// 1 MiB). Véase `bench/README.md`.
pub const DOWNLOAD_BUFFER: usize = 256 * 1024;

/// Sufijo del fichero de una descarga a medias.
pub const PARTIAL_SUFFIX: &str = ".parcial";

/// Lo que puede fallar en el cliente. Cada mensaje dice qué pasó y, si se puede, qué hacer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Error de red (cierre, reset, tiempo agotado).
    #[error("se perdió la conexión con el servidor: {}", describe_io_error(.0))]
    Connection(io::Error),
    /// El servidor cerró cuando se esperaba una respuesta.
    #[error("el servidor cerró la conexión sin responder")]
    Closed,
    /// El servidor respondió con un error.
    #[error("el servidor respondió {code}: {message}")]
    Server {
        /// El código del error.
        code: ErrorCode,
        /// El mensaje del servidor.
        message: String,
    },
    /// Respuesta que no sigue el protocolo.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// El nombre remoto no es válido (se comprueba antes de enviar nada).
    #[error("nombre remoto no válido `{name}`: {reason}. Elija otro con --as NOMBRE")]
    BadName {
        /// El nombre.
        name: String,
        /// El motivo.
        reason: NameError,
    },
    /// No se pudo leer un fichero local.
    #[error("no se pudo leer {}: {}", .path.display(), describe_io_error(.error))]
    ReadLocal {
        /// El fichero.
        path: PathBuf,
        /// El error.
        error: io::Error,
    },
    /// No se pudo escribir un fichero local.
    #[error("no se pudo escribir {}: {}", .path.display(), describe_io_error(.error))]
    WriteLocal {
        /// El fichero.
        path: PathBuf,
        /// El error.
        error: io::Error,
    },
    /// El fichero local cambió de tamaño mientras se subía.
    #[error("{} cambió mientras se subía; vuelva a intentarlo", .path.display())]
    LocalChanged {
        /// El fichero.
        path: PathBuf,
    },
    /// El contenido recibido no tiene el SHA-256 anunciado.
    #[error("el SHA-256 recibido ({actual}) no coincide con el anunciado ({expected}); se descartó lo descargado")]
    Checksum {
        /// El anunciado por el servidor.
        expected: Digest,
        /// El calculado.
        actual: Digest,
    },
    /// Una subida de una sola pasada se cortó: el servidor no guarda nada de ella.
    #[error("la subida se cortó ({reason}); no se guardó nada: vuelva a intentarlo (con --continue se anuncia el SHA-256 antes y, si se vuelve a cortar, se puede reanudar)")]
    StreamInterrupted {
        /// Por qué se cortó.
        reason: String,
    },
    /// La subida se cortó a medias; el servidor guarda lo recibido para reanudar.
    #[error(
        "la subida se cortó ({reason}); el servidor guarda lo recibido: reanude con --continue"
    )]
    UploadInterrupted {
        /// Por qué se cortó.
        reason: String,
    },
    /// La descarga se cortó; lo recibido quedó en el parcial.
    #[error("la descarga se cortó en el byte {received} de {size} ({reason}); lo recibido está en {}: continúe con --continue", .partial.display())]
    Interrupted {
        /// Bytes que ya están en el parcial.
        received: u64,
        /// Tamaño total.
        size: u64,
        /// El fichero parcial.
        partial: PathBuf,
        /// Por qué se cortó.
        reason: String,
    },
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Connection(e)
    }
}

/// El código de salida de cada error (véase `common::exit`): 1 si el servidor dijo que no o
/// lo pedido no se pudo hacer aquí (un fichero local, un nombre, un SHA-256 que no cuadra), 4
/// si la conexión se cortó o el servidor dejó de seguir el protocolo a mitad de la sesión.
impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let message = e.to_string();
        match e {
            ClientError::Server { .. }
            | ClientError::BadName { .. }
            | ClientError::ReadLocal { .. }
            | ClientError::WriteLocal { .. }
            | ClientError::LocalChanged { .. }
            | ClientError::Checksum { .. } => Failure::refused(message),
            ClientError::Connection(_)
            | ClientError::Closed
            | ClientError::Protocol(_)
            | ClientError::StreamInterrupted { .. }
            | ClientError::UploadInterrupted { .. }
            | ClientError::Interrupted { .. } => Failure::network(message),
        }
    }
}

/// Resultado de una transferencia.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Nombre remoto.
    pub name: String,
    /// Tamaño total del fichero.
    pub size: u64,
    /// SHA-256 comprobado en los dos extremos.
    pub sha256: Digest,
    /// Bytes que no hubo que transferir gracias a la reanudación.
    pub resumed_from: u64,
    /// Con `--continue`, el parcial local era más largo que el fichero remoto (otra versión):
    /// se descartaron estos bytes y se descargó desde el principio.
    pub discarded_partial: Option<u64>,
}

/// Un cliente conectado. Las órdenes se envían una detrás de otra por la misma conexión.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Envuelve un socket ya conectado (con sus tiempos de espera ya fijados).
    ///
    /// # Errores
    /// Si no se puede duplicar el socket.
    pub fn new(stream: TcpStream) -> io::Result<Self> {
        let writer = stream.try_clone()?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, command: &Command) -> Result<(), ClientError> {
        self.writer.write_all(command.encode().as_bytes())?;
        Ok(())
    }

    fn read_line(&mut self) -> Result<String, ClientError> {
        let mut buf = Vec::new();
        match read_line(&mut self.reader, &mut buf, MAX_COMMAND_LINE) {
            Ok(true) => String::from_utf8(buf).map_err(|_| ProtocolError::InvalidUtf8.into()),
            Ok(false) => Err(ClientError::Closed),
            Err(LineError::Io(e)) => Err(ClientError::Connection(e)),
            Err(e) => Err(ProtocolError::UnexpectedReply {
                line: e.to_string(),
            }
            .into()),
        }
    }

    /// Lee una respuesta; un `ERROR` se convierte en [`ClientError::Server`].
    fn reply(&mut self) -> Result<Reply, ClientError> {
        match parse_reply(&self.read_line()?)? {
            Reply::Error { code, message } => Err(ClientError::Server { code, message }),
            reply => Ok(reply),
        }
    }

    /// Como [`Client::reply`], pero esperando al menos [`FINAL_REPLY_TIMEOUT`]: para las
    /// respuestas que pueden tardar (el servidor lee un fichero entero para calcular su
    /// SHA-256, o hace `fsync` de una subida).
    fn patient_reply(&mut self) -> Result<Reply, ClientError> {
        let normal = self.reader.get_ref().read_timeout().ok().flatten();
        let longer = normal.map(|t| t.max(FINAL_REPLY_TIMEOUT));
        self.reader.get_ref().set_read_timeout(longer)?;
        let reply = self.reply();
        self.reader.get_ref().set_read_timeout(normal)?;
        reply
    }

    fn unexpected(reply: &Reply) -> ClientError {
        ProtocolError::UnexpectedReply {
            line: reply.encode().trim_end().to_string(),
        }
        .into()
    }

    /// `LIST`: los ficheros del servidor.
    ///
    /// # Errores
    /// De red o de protocolo.
    pub fn list(&mut self) -> Result<Vec<ListEntry>, ClientError> {
        self.send(&Command::List)?;
        let count = match self.patient_reply()? {
            Reply::Files { count } => count,
            other => return Err(Self::unexpected(&other)),
        };
        let mut entries = Vec::new();
        for _ in 0..count {
            entries.push(parse_list_entry(&self.read_line()?)?);
        }
        Ok(entries)
    }

    /// `DELETE`: borra un fichero del servidor.
    ///
    /// # Errores
    /// [`ClientError::Server`] con `NOT_FOUND` si no existe; de red o de protocolo.
    pub fn delete(&mut self, name: &str) -> Result<(), ClientError> {
        check_name(name)?;
        self.send(&Command::Delete {
            name: name.to_string(),
        })?;
        match self.reply()? {
            Reply::Deleted { .. } => Ok(()),
            other => Err(Self::unexpected(&other)),
        }
    }

    /// `QUIT`: cierra la sesión de forma ordenada.
    ///
    /// # Errores
    /// De red o de protocolo.
    pub fn quit(mut self) -> Result<(), ClientError> {
        self.send(&Command::Quit)?;
        match self.reply()? {
            Reply::Bye => Ok(()),
            other => Err(Self::unexpected(&other)),
        }
    }

    /// Sube el fichero local `path` con el nombre remoto `name`. Sin `resume`, en una sola
    /// pasada ([`Client::upload_single_pass`]); con `resume`, anunciando antes el SHA-256 y
    /// pidiendo al servidor que continúe lo que ya tenga de este mismo contenido
    /// ([`Client::upload_digest_first`]).
    ///
    /// # Errores
    /// Los de la forma elegida.
    pub fn upload(
        &mut self,
        path: &Path,
        name: &str,
        resume: bool,
        progress: &mut Bar,
    ) -> Result<Transfer, ClientError> {
        if resume {
            self.upload_digest_first(path, name, true, progress)
        } else {
            self.upload_single_pass(path, name, progress)
        }
    }

    /// Sube `path` como `name` leyéndolo una sola vez: `UPLOAD NOMBRE TAMAÑO -`, tras `READY 0`
    /// el cuerpo, y detrás la línea `SHA256 <hex>` calculada mientras se enviaba (en otro hilo,
    /// con buffers acotados). No se puede reanudar: si se corta, el servidor no guarda nada.
    ///
    /// # Errores
    /// [`ClientError::BadName`] antes de enviar nada si el nombre no vale;
    /// [`ClientError::ReadLocal`] si no se puede leer el fichero; [`ClientError::LocalChanged`]
    /// si se acorta mientras se envía; [`ClientError::Server`] si el servidor lo rechaza
    /// (nombre, tamaño, cuota, SHA-256); [`ClientError::StreamInterrupted`] si se corta.
    pub fn upload_single_pass(
        &mut self,
        path: &Path,
        name: &str,
        progress: &mut Bar,
    ) -> Result<Transfer, ClientError> {
        check_name(name)?;
        let read_err = |error| ClientError::ReadLocal {
            path: path.to_path_buf(),
            error,
        };
        let mut file = File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        self.send(&Command::UploadStream {
            name: name.to_string(),
            size,
        })?;
        match self.reply()? {
            Reply::Ready { offset: 0 } => {}
            other => return Err(Self::unexpected(&other)),
        }
        progress.start(Some(size), 0);
        let sent = self.send_and_hash(&mut file, size, progress);
        progress.finish();
        let sha256 = match sent {
            Ok(digest) => digest,
            Err(SendError::Local) => {
                return Err(ClientError::LocalChanged {
                    path: path.to_path_buf(),
                })
            }
            Err(SendError::ReadLocal(e)) => return Err(read_err(e)),
            Err(SendError::Net(e)) => return Err(self.error_after_stream_failure(e)),
        };
        if let Err(e) = self.writer.write_all(encode_trailer(sha256).as_bytes()) {
            return Err(self.error_after_stream_failure(e));
        }
        self.expect_stored(name, size, sha256, 0)
    }

    /// Lee `size` bytes de `file` y los envía, pasando cada buffer al hilo del SHA-256 mientras
    /// se lee el siguiente. Devuelve el SHA-256 de lo enviado: los mismos bytes que salieron
    /// por el socket, aunque alguien cambie el fichero a la vez.
    ///
    /// No usamos `sendfile` aquí: el SHA-256 obliga a leer los bytes de todas formas, y por
    /// loopback medimos que `sendfile` solo traslada el coste al receptor (el servidor gastaba
    /// unos 0,25 s más de CPU por GiB copiando desde la caché de páginas del cliente que lo
    /// que ahorraba el cliente; véase `bench/README.md`).
    fn send_and_hash(
        &mut self,
        file: &mut File,
        size: u64,
        progress: &Bar,
    ) -> Result<Digest, SendError> {
        let mut pipe = HashPipe::new(Sha256::new());
        let mut done = 0;
        while done < size {
            let want =
                usize::try_from((size - done).min(BUFFER_SIZE as u64)).unwrap_or(BUFFER_SIZE);
            let mut buf = pipe.buffer();
            let (n, cut) = fill(file, buf.get_mut(..want).unwrap_or_default());
            if let Some(e) = cut {
                pipe.give_back(buf);
                return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                    SendError::Local
                } else {
                    SendError::ReadLocal(e)
                });
            }
            if let Err(e) = self.writer.write_all(buf.get(..n).unwrap_or_default()) {
                pipe.give_back(buf);
                return Err(SendError::Net(e));
            }
            pipe.update(buf, n);
            done += n as u64;
            progress.set(done);
        }
        pipe.finish().ok_or_else(|| {
            SendError::ReadLocal(io::Error::other(
                "el hilo del SHA-256 terminó antes de tiempo",
            ))
        })
    }

    /// Como [`Client::error_after_send_failure`], para una subida de una sola pasada (que el
    /// servidor no guarda para reanudar).
    fn error_after_stream_failure(&mut self, e: io::Error) -> ClientError {
        match self.error_after_send_failure(e) {
            ClientError::UploadInterrupted { reason } => ClientError::StreamInterrupted { reason },
            other => other,
        }
    }

    /// Sube `path` como `name` anunciando antes su SHA-256 (`UPLOAD NOMBRE TAMAÑO SHA256`): lee
    /// el fichero dos veces, una para el resumen y otra para enviarlo. Con `resume`, pide al
    /// servidor que continúe lo que ya tenga de este mismo contenido (mismo tamaño y SHA-256).
    ///
    /// # Errores
    /// [`ClientError::BadName`] antes de conectar nada si el nombre no vale;
    /// [`ClientError::ReadLocal`] si no se puede leer el fichero; [`ClientError::Server`] si
    /// el servidor lo rechaza (nombre, tamaño, cuota, SHA-256); de red si se corta.
    pub fn upload_digest_first(
        &mut self,
        path: &Path,
        name: &str,
        resume: bool,
        progress: &mut Bar,
    ) -> Result<Transfer, ClientError> {
        check_name(name)?;
        let read_err = |error| ClientError::ReadLocal {
            path: path.to_path_buf(),
            error,
        };
        let file = File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        let sha256 = hash_prefix(&file, size).map_err(|e| match e {
            HashError::Io(error) => read_err(error),
            HashError::Short => ClientError::LocalChanged {
                path: path.to_path_buf(),
            },
        })?;
        self.send(&Command::Upload {
            name: name.to_string(),
            size,
            sha256,
            offset: resume.then_some(size),
        })?;
        let offset = match self.reply()? {
            Reply::Ready { offset } if offset <= size && (resume || offset == 0) => offset,
            other => return Err(Self::unexpected(&other)),
        };
        progress.start(Some(size), offset);
        let sent = send_range(&self.writer, &file, offset, size, progress);
        progress.finish();
        match sent {
            Ok(()) => {}
            Err(SendError::Local) => {
                return Err(ClientError::LocalChanged {
                    path: path.to_path_buf(),
                })
            }
            Err(SendError::ReadLocal(e)) => return Err(read_err(e)),
            Err(SendError::Net(e)) => return Err(self.error_after_send_failure(e)),
        }
        self.expect_stored(name, size, sha256, offset)
    }

    /// Espera la confirmación `STORED` de una subida (con más margen: el servidor comprueba y
    /// hace `fsync` antes de contestar) y comprueba que nombra lo que enviamos.
    fn expect_stored(
        &mut self,
        name: &str,
        size: u64,
        sha256: Digest,
        resumed_from: u64,
    ) -> Result<Transfer, ClientError> {
        match self.patient_reply()? {
            Reply::Stored {
                name: stored,
                size: s,
                sha256: d,
            } if stored == name && s == size && d == sha256 => Ok(Transfer {
                discarded_partial: None,
                name: stored,
                size,
                sha256,
                resumed_from,
            }),
            other => Err(Self::unexpected(&other)),
        }
    }

    /// Si el envío falla, quizá el servidor dejó una línea `ERROR` explicando por qué
    /// (por ejemplo, `TIMEOUT`): se intenta leer antes de dar el error de red.
    fn error_after_send_failure(&mut self, e: io::Error) -> ClientError {
        let _ = self
            .reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(500)));
        match self.reply() {
            Err(server @ ClientError::Server { .. }) => server,
            _ => ClientError::UploadInterrupted {
                reason: describe_io_error(&e),
            },
        }
    }

    /// Descarga `name` en `dest`, pasando por `dest.parcial`. Con `resume` y un parcial de
    /// un intento anterior, pide solo los bytes que faltan.
    ///
    /// # Errores
    /// [`ClientError::Server`] (`NOT_FOUND`...; un parcial más largo que el fichero remoto no
    /// es un error: se descarta y se empieza de 0, véase [`Transfer::discarded_partial`]);
    /// [`ClientError::Checksum`] si los bytes no cuadran (el parcial se
    /// borra); [`ClientError::Interrupted`] si se corta (el parcial se conserva);
    /// [`ClientError::WriteLocal`] si falla el disco local.
    pub fn download(
        &mut self,
        name: &str,
        dest: &Path,
        resume: bool,
        progress: &mut Bar,
    ) -> Result<Transfer, ClientError> {
        check_name(name)?;
        let partial = partial_path(dest);
        let write_err = |error| ClientError::WriteLocal {
            path: partial.clone(),
            error,
        };
        // Lo que ya tenemos: su longitud y su SHA-256 parcial, para seguir calculándolo.
        let mut hasher = Sha256::new();
        let mut offset = 0;
        let mut file = if resume {
            match OpenOptions::new().read(true).write(true).open(&partial) {
                Ok(mut f) => {
                    offset = f.metadata().map_err(write_err)?.len();
                    hasher = hash_into(&mut f, offset, hasher).map_err(write_err)?;
                    Some(f)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(write_err(e)),
            }
        } else {
            None
        };
        self.send(&Command::Download {
            name: name.to_string(),
            offset,
        })?;
        let mut reply = self.patient_reply();
        let mut discarded_partial = None;
        if let (
            Err(ClientError::Server {
                code: ErrorCode::BadOffset,
                ..
            }),
            Some(f),
        ) = (&reply, &file)
        {
            // El parcial es más largo que el fichero remoto: es de otra versión y reintentar
            // con el mismo offset fallaría siempre. Se vacía y se empieza desde 0.
            log::warn!(
                "{}: el parcial ({offset} bytes) es más largo que el fichero remoto; se descarga desde el principio",
                partial.display()
            );
            f.set_len(0).map_err(write_err)?;
            discarded_partial = Some(offset);
            offset = 0;
            hasher = Sha256::new();
            self.send(&Command::Download {
                name: name.to_string(),
                offset,
            })?;
            reply = self.patient_reply();
        }
        let (size, expected) = match reply? {
            Reply::Data {
                size,
                sha256,
                offset: o,
            } if o == offset => (size, sha256),
            other => return Err(Self::unexpected(&other)),
        };
        // El parcial se crea solo cuando el servidor ya dijo que el fichero existe.
        let mut file = match file.take() {
            Some(f) => f,
            None => File::create(&partial).map_err(write_err)?,
        };
        file.seek(SeekFrom::Start(offset)).map_err(write_err)?;
        progress.start(Some(size), offset);
        let mut pipe = HashPipe::with_buffer_size(hasher, DOWNLOAD_BUFFER);
        let received = self.receive_body(&mut file, &mut pipe, offset, size, progress);
        progress.finish();
        if let Err((received, e)) = received {
            return Err(match e {
                ReceiveError::Local(error) => ClientError::WriteLocal {
                    path: partial,
                    error,
                },
                ReceiveError::Net(reason) => ClientError::Interrupted {
                    received,
                    size,
                    partial,
                    reason,
                },
            });
        }
        let actual = pipe.finish().ok_or_else(|| ClientError::WriteLocal {
            path: partial.clone(),
            error: io::Error::other("el hilo del SHA-256 terminó antes de tiempo"),
        })?;
        if actual != expected {
            drop(file);
            let _ = fs::remove_file(&partial);
            return Err(ClientError::Checksum { expected, actual });
        }
        file.sync_all().map_err(write_err)?;
        drop(file);
        fs::rename(&partial, dest).map_err(|error| ClientError::WriteLocal {
            path: dest.to_path_buf(),
            error,
        })?;
        sync_parent(dest);
        Ok(Transfer {
            name: name.to_string(),
            size,
            sha256: actual,
            resumed_from: offset,
            discarded_partial,
        })
    }

    /// Recibe `[offset, size)` en `file`, calculando el SHA-256 en otro hilo. Si falla,
    /// dice cuántos bytes llegaron a escribirse.
    fn receive_body(
        &mut self,
        file: &mut File,
        pipe: &mut HashPipe,
        offset: u64,
        size: u64,
        progress: &Bar,
    ) -> Result<(), (u64, ReceiveError)> {
        let mut done = offset;
        while done < size {
            let mut buf = pipe.buffer();
            let want = usize::try_from(size - done)
                .unwrap_or(buf.len())
                .min(buf.len());
            let (n, cut) = fill(&mut self.reader, buf.get_mut(..want).unwrap_or_default());
            if let Err(e) = file.write_all(buf.get(..n).unwrap_or_default()) {
                return Err((done, ReceiveError::Local(e)));
            }
            pipe.update(buf, n);
            done += n as u64;
            progress.set(done);
            if let Some(e) = cut {
                let reason = if e.kind() == io::ErrorKind::UnexpectedEof {
                    "el servidor cerró la conexión".to_string()
                } else {
                    describe_io_error(&e)
                };
                return Err((done, ReceiveError::Net(reason)));
            }
        }
        Ok(())
    }
}

enum SendError {
    /// El fichero local se acortó.
    Local,
    /// No se pudo leer el fichero local.
    ReadLocal(io::Error),
    Net(io::Error),
}

enum ReceiveError {
    Local(io::Error),
    Net(String),
}

enum HashError {
    Io(io::Error),
    Short,
}

/// Envía los bytes `[from, to)` de `file` por `out` leyéndolos con `read_at` en un buffer de
/// [`BUFFER_SIZE`] (pocas llamadas al sistema: `io::copy` iba de 8 KiB en 8 KiB), avisando a
/// la barra de progreso tras cada trozo.
fn send_range(
    mut out: &TcpStream,
    file: &File,
    from: u64,
    to: u64,
    progress: &Bar,
) -> Result<(), SendError> {
    let mut buf = vec![
        0u8;
        usize::try_from(to - from)
            .unwrap_or(BUFFER_SIZE)
            .min(BUFFER_SIZE)
    ];
    let mut done = from;
    while done < to {
        let want = usize::try_from(to - done)
            .unwrap_or(BUFFER_SIZE)
            .min(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = match file.read_at(chunk, done) {
            // El fichero se acortó mientras se enviaba.
            Ok(0) => return Err(SendError::Local),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SendError::ReadLocal(e)),
        };
        out.write_all(buf.get(..n).unwrap_or_default())
            .map_err(SendError::Net)?;
        done += n as u64;
        progress.set(done);
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), ClientError> {
    validate_name(name).map_err(|reason| ClientError::BadName {
        name: name.to_string(),
        reason,
    })
}

/// El fichero donde se va guardando una descarga a `dest`: `dest.parcial`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_os_string();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// El nombre remoto por omisión de un fichero local: su último componente.
pub fn default_remote_name(path: &Path) -> Option<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
}

/// SHA-256 de los primeros `len` bytes de `file`, desde el principio (leyendo en este hilo
/// y resumiendo en otro: la lectura se solapa con el resumen).
fn hash_prefix(mut file: &File, len: u64) -> Result<Digest, HashError> {
    file.seek(SeekFrom::Start(0)).map_err(HashError::Io)?;
    let mut pipe = HashPipe::new(Sha256::new());
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(BUFFER_SIZE as u64)).unwrap_or(BUFFER_SIZE);
        let mut buf = pipe.buffer();
        let (n, cut) = fill(&mut file, buf.get_mut(..want).unwrap_or_default());
        pipe.update(buf, n);
        left -= n as u64;
        match cut {
            None => {}
            Some(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(HashError::Short),
            Some(e) => return Err(HashError::Io(e)),
        }
    }
    pipe.finish().ok_or_else(|| {
        HashError::Io(io::Error::other(
            "el hilo del SHA-256 terminó antes de tiempo",
        ))
    })
}

/// Añade a `hasher` los primeros `len` bytes de `file`.
fn hash_into(file: &mut File, len: u64, mut hasher: Sha256) -> io::Result<Sha256> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(BUFFER_SIZE as u64)).unwrap_or(BUFFER_SIZE);
        let chunk = buf.get_mut(..want).unwrap_or_default();
        file.read_exact(chunk)?;
        hasher.update(&*chunk);
        left -= want as u64;
    }
    Ok(hasher)
}

/// `fsync` del directorio que contiene `path`, para que el `rename` sobreviva a un corte.
fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_path_appends_suffix() {
        assert_eq!(
            partial_path(Path::new("/tmp/a.bin")),
            PathBuf::from("/tmp/a.bin.parcial")
        );
        assert_eq!(
            default_remote_name(Path::new("dir/x.txt")).as_deref(),
            Some("x.txt")
        );
        assert_eq!(default_remote_name(Path::new("/")), None);
    }

    #[test]
    fn refusals_exit_1_and_cuts_exit_4() {
        let refused = Failure::from(ClientError::Server {
            code: ErrorCode::NotFound,
            message: "no existe".into(),
        });
        assert_eq!(refused.exit.code(), 1);
        assert_eq!(
            refused.message,
            "el servidor respondió NOT_FOUND: no existe"
        );
        assert_eq!(Failure::from(ClientError::Closed).exit.code(), 4);
        let cut = ClientError::Connection(io::ErrorKind::ConnectionReset.into());
        assert_eq!(Failure::from(cut).exit.code(), 4);
    }
}
