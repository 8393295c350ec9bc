//! Las órdenes y respuestas del protocolo, y sus analizadores y codificadores puros.
//!
//! Todo aquí trabaja sobre bytes y cadenas, sin sockets ni ficheros, para poder probar cada
//! regla del protocolo por separado. Los límites (longitud de la línea de orden, longitud de
//! un nombre) son constantes con nombre de este módulo; el tamaño máximo de un fichero lo
//! decide la configuración del servidor.
//!
//! Formato (cada línea termina en `\n`; se admite `\r\n`):
//!
//! ```text
//! LIST                              -> FILES <n>, y n líneas <nombre> <tamaño> <sha256> <fecha>
//! UPLOAD <nombre> <tamaño> <sha256> [<offset>]
//!                                   -> READY <offset>, (cuerpo), STORED <nombre> <tamaño> <sha256>
//! UPLOAD <nombre> <tamaño> -        -> READY 0, (cuerpo), SHA256 <sha256>, STORED ...
//!                                      (una sola pasada: el resumen va detrás del cuerpo)
//! DOWNLOAD <nombre> [<offset>]      -> DATA <tamaño> <sha256> <offset>, y los bytes
//! DELETE <nombre>                   -> DELETED <nombre>
//! QUIT                              -> BYE
//! (cualquier fallo)                 -> ERROR <código> <mensaje en español>
//! ```

use std::fmt;

/// Puerto por omisión del problema 5.
pub const DEFAULT_PORT: u16 = 8005;

/// Longitud máxima de una línea de orden o de respuesta. La orden más larga es `UPLOAD` con un
/// nombre de [`MAX_NAME_BYTES`], 64 dígitos hexadecimales y dos números de 20 cifras: unos
/// 320 bytes. 1 KiB deja margen y no permite a nadie hacernos guardar líneas enormes.
pub const MAX_COMMAND_LINE: usize = 1024;

/// Longitud máxima de un nombre de fichero, en bytes UTF-8. Los sistemas de ficheros admiten
/// 255; dejamos sitio para los prefijos de los ficheros temporales (`.subida-...`) y para el
/// sufijo `.parcial` que añade el cliente a una descarga a medias.
pub const MAX_NAME_BYTES: usize = 200;

/// Longitud máxima de la línea `SHA256 <hex>` que sigue al cuerpo de una subida de una sola
/// pasada (`UPLOAD NOMBRE TAMAÑO -`): la línea correcta ocupa 71 bytes (72 con `\r`); 128 dejan
/// margen y acotan lo que un cliente hostil puede hacernos leer.
pub const MAX_TRAILER_LINE: usize = 128;

/// La palabra que abre la línea final de una subida de una sola pasada.
pub const TRAILER_WORD: &str = "SHA256";

/// Tamaño del buffer con el que se copian los cuerpos: la memoria de una transferencia son
/// como mucho tres de estos ([`crate::resumen::BUFFERS`]), sea el fichero de 1 byte o de
/// 100 GiB. Con 1 MiB, un GiB son 1.024 lecturas, escrituras y pases al hilo del SHA-256 (con
/// 256 KiB eran 4.096, y cada pase despierta a un hilo en el otro núcleo): medimos un 5-15 %
/// menos de CPU en el servidor por GiB subido, a cambio de 3 MiB por transferencia en curso.
pub const BUFFER_SIZE: usize = 1024 * 1024;

/// Tamaño máximo por omisión de un fichero subido: 4 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 4 * 1024 * 1024 * 1024;

/// Un resumen SHA-256 (32 bytes), que viaja como 64 dígitos hexadecimales en minúscula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Lee 64 dígitos hexadecimales (se aceptan mayúsculas; se escriben siempre en minúscula).
    ///
    /// # Errores
    /// [`ProtocolError::BadDigest`] si no son exactamente 64 dígitos hexadecimales.
    ///
    /// ```
    /// use problema5::protocolo::Digest;
    /// let d = Digest::from_hex(&"aB".repeat(32)).unwrap();
    /// assert_eq!(d.to_string(), "ab".repeat(32));
    /// assert!(Digest::from_hex("abc").is_err());
    /// ```
    pub fn from_hex(text: &str) -> Result<Self, ProtocolError> {
        let bad = || ProtocolError::BadDigest {
            value: shorten(text),
        };
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (
                pair.first().and_then(|&c| hex_value(c)),
                pair.get(1).and_then(|&c| hex_value(c)),
            ) else {
                return Err(bad());
            };
            *slot = hi << 4 | lo;
        }
        Ok(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Una orden del cliente, ya analizada y validada (nombres seguros, números en rango).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `LIST`: los ficheros guardados.
    List,
    /// `UPLOAD NOMBRE TAMAÑO SHA256 [OFFSET]`: tras `READY n` llegan `size - n` bytes.
    Upload {
        /// Nombre con el que quedará visible.
        name: String,
        /// Tamaño total del fichero.
        size: u64,
        /// Resumen SHA-256 del fichero entero.
        sha256: Digest,
        /// Si viene, el cliente pide reanudar: el servidor usará como mucho este offset.
        offset: Option<u64>,
    },
    /// `UPLOAD NOMBRE TAMAÑO -`: subida de una sola pasada. Tras `READY 0` llegan `size` bytes
    /// y después la línea `SHA256 <hex>` ([`parse_trailer`]), que el cliente calcula mientras
    /// envía. No se puede reanudar: sin resumen anunciado no hay con qué identificar un parcial.
    UploadStream {
        /// Nombre con el que quedará visible.
        name: String,
        /// Tamaño total del fichero.
        size: u64,
    },
    /// `DOWNLOAD NOMBRE [OFFSET]`: el servidor envía desde `offset` hasta el final.
    Download {
        /// El fichero pedido.
        name: String,
        /// Primer byte que se quiere recibir (0 si no se indica).
        offset: u64,
    },
    /// `DELETE NOMBRE`.
    Delete {
        /// El fichero que se borra.
        name: String,
    },
    /// `QUIT`: fin de la sesión.
    Quit,
}

/// Códigos de error del protocolo: la segunda palabra de una línea `ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Orden desconocida, argumentos de más o de menos, número o resumen mal escritos.
    BadCommand,
    /// La línea de orden pasa de [`MAX_COMMAND_LINE`].
    LineTooLong,
    /// Nombre de fichero no permitido.
    BadName,
    /// El fichero no existe.
    NotFound,
    /// El fichero pasa del tamaño máximo del servidor.
    TooLarge,
    /// No cabe en la cuota del directorio.
    Quota,
    /// El offset pedido no está dentro del fichero.
    BadOffset,
    /// El SHA-256 de los bytes recibidos no coincide con el anunciado.
    Checksum,
    /// El cliente tardó demasiado.
    Timeout,
    /// Demasiadas conexiones a la vez.
    Busy,
    /// El servidor se está apagando.
    Shutdown,
    /// No hay sitio en el disco del servidor (antes de `READY`, o el disco se llenó a mitad
    /// de la subida: entonces no se guarda nada y se cierra la conexión).
    NoSpace,
    /// Fallo del propio servidor (permisos, E/S...).
    Internal,
}

impl ErrorCode {
    /// Todos los códigos, para las pruebas y la documentación.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::BadCommand,
        ErrorCode::LineTooLong,
        ErrorCode::BadName,
        ErrorCode::NotFound,
        ErrorCode::TooLarge,
        ErrorCode::Quota,
        ErrorCode::BadOffset,
        ErrorCode::Checksum,
        ErrorCode::Timeout,
        ErrorCode::Busy,
        ErrorCode::Shutdown,
        ErrorCode::NoSpace,
        ErrorCode::Internal,
    ];

    /// La palabra que viaja por la red.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadCommand => "BAD_COMMAND",
            ErrorCode::LineTooLong => "LINE_TOO_LONG",
            ErrorCode::BadName => "BAD_NAME",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::TooLarge => "TOO_LARGE",
            ErrorCode::Quota => "QUOTA",
            ErrorCode::BadOffset => "BAD_OFFSET",
            ErrorCode::Checksum => "CHECKSUM",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Busy => "BUSY",
            ErrorCode::Shutdown => "SHUTDOWN",
            ErrorCode::NoSpace => "NO_SPACE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// El código a partir de su palabra.
    pub fn from_wire(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == word)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Una línea de respuesta del servidor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `READY n`: el servidor ya tiene los `n` primeros bytes; el cliente envía el resto.
    Ready {
        /// Bytes que el cliente no tiene que enviar.
        offset: u64,
    },
    /// `STORED NOMBRE TAMAÑO SHA256`: el fichero ya es visible con ese nombre.
    Stored {
        /// Nombre del fichero.
        name: String,
        /// Tamaño total.
        size: u64,
        /// SHA-256 comprobado.
        sha256: Digest,
    },
    /// `DATA TAMAÑO SHA256 OFFSET`: siguen `size - offset` bytes.
    Data {
        /// Tamaño total del fichero.
        size: u64,
        /// SHA-256 del fichero entero.
        sha256: Digest,
        /// Primer byte que se envía.
        offset: u64,
    },
    /// `FILES n`: siguen `n` líneas de listado.
    Files {
        /// Número de líneas que siguen.
        count: usize,
    },
    /// `DELETED NOMBRE`.
    Deleted {
        /// El fichero borrado.
        name: String,
    },
    /// `BYE`: el servidor cierra la sesión.
    Bye,
    /// `ERROR CÓDIGO mensaje`.
    Error {
        /// El código, para los programas.
        code: ErrorCode,
        /// El mensaje, para las personas (en español).
        message: String,
    },
}

impl Reply {
    /// Atajo para construir una respuesta de error.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Reply::Error {
            code,
            message: message.into(),
        }
    }

    /// La línea que viaja por la red, con su `\n`. Los saltos de línea que pudiera contener
    /// un mensaje de error se cambian por espacios: una respuesta es siempre una línea.
    pub fn encode(&self) -> String {
        match self {
            Reply::Ready { offset } => format!("READY {offset}\n"),
            Reply::Stored { name, size, sha256 } => format!("STORED {name} {size} {sha256}\n"),
            Reply::Data {
                size,
                sha256,
                offset,
            } => format!("DATA {size} {sha256} {offset}\n"),
            Reply::Files { count } => format!("FILES {count}\n"),
            Reply::Deleted { name } => format!("DELETED {name}\n"),
            Reply::Bye => "BYE\n".to_string(),
            Reply::Error { code, message } => format!("ERROR {code} {}\n", one_line(message)),
        }
    }
}

/// Una línea del listado de `LIST`: `NOMBRE TAMAÑO SHA256 FECHA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Nombre del fichero.
    pub name: String,
    /// Tamaño en bytes.
    pub size: u64,
    /// SHA-256 del contenido.
    pub sha256: Digest,
    /// Fecha de modificación en segundos desde 1970 (UTC); viaja como `2026-01-31T12:00:00Z`.
    pub modified: u64,
}

impl ListEntry {
    /// La línea del listado, con su `\n`.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {}\n",
            self.name,
            self.size,
            self.sha256,
            format_utc(self.modified)
        )
    }
}

/// Lo que puede estar mal en un nombre de fichero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nombre vacío.
    #[error("el nombre está vacío")]
    Empty,
    /// Nombre demasiado largo.
    #[error("el nombre ocupa {len} bytes y el máximo es {max}")]
    TooLong {
        /// Bytes del nombre.
        len: usize,
        /// El máximo ([`MAX_NAME_BYTES`]).
        max: usize,
    },
    /// Empieza por punto: `.`, `..` y los ficheros ocultos (ahí guarda el servidor sus
    /// temporales) no se pueden listar, descargar ni sobrescribir.
    #[error("el nombre no puede empezar por punto (`.`, `..` y los ocultos están reservados)")]
    LeadingDot,
    /// Contiene `/` o `\`: solo se admiten nombres simples, sin directorios.
    #[error("el nombre no puede contener `/` ni `\\`: solo nombres simples, sin directorios")]
    Separator,
    /// Contiene un carácter de control (incluido NUL).
    #[error("el nombre contiene un carácter de control")]
    Control,
    /// Contiene espacios u otros blancos (separan los campos de la orden).
    #[error("el nombre no puede contener espacios")]
    Whitespace,
}

/// Comprueba que `name` es un nombre de fichero simple y seguro dentro del directorio.
///
/// # Errores
/// El [`NameError`] que describe el primer problema encontrado.
///
/// ```
/// use problema5::protocolo::{validate_name, NameError};
/// assert!(validate_name("informe-2024.pdf").is_ok());
/// assert_eq!(validate_name("../etc/passwd"), Err(NameError::LeadingDot));
/// assert_eq!(validate_name("a/b"), Err(NameError::Separator));
/// ```
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            len: name.len(),
            max: MAX_NAME_BYTES,
        });
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    for c in name.chars() {
        if c == '/' || c == '\\' {
            return Err(NameError::Separator);
        }
        if c.is_control() {
            return Err(NameError::Control);
        }
        if c.is_whitespace() {
            return Err(NameError::Whitespace);
        }
    }
    Ok(())
}

/// Lo que puede estar mal en una línea de orden o de respuesta.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Línea vacía (el servidor la ignora).
    #[error("línea vacía")]
    Empty,
    /// La línea no es UTF-8.
    #[error("la línea no es texto UTF-8 válido")]
    InvalidUtf8,
    /// Palabra inicial desconocida.
    #[error("orden desconocida `{word}`; las órdenes son LIST, UPLOAD, DOWNLOAD, DELETE y QUIT")]
    UnknownCommand {
        /// La palabra recibida (recortada).
        word: String,
    },
    /// Número de argumentos incorrecto.
    #[error("argumentos incorrectos; uso: {usage}")]
    Usage {
        /// Cómo se usa la orden.
        usage: &'static str,
    },
    /// Un número mal escrito o fuera de rango.
    #[error("{field} no válido: `{value}` (se espera un entero decimal sin signo)")]
    BadNumber {
        /// Qué campo era.
        field: &'static str,
        /// Lo recibido (recortado).
        value: String,
    },
    /// Un resumen SHA-256 mal escrito.
    #[error("SHA-256 no válido: `{value}` (se esperan 64 dígitos hexadecimales)")]
    BadDigest {
        /// Lo recibido (recortado).
        value: String,
    },
    /// El offset está más allá del final del fichero.
    #[error("el offset {offset} pasa del tamaño del fichero ({size} bytes)")]
    OffsetPastEnd {
        /// El offset pedido.
        offset: u64,
        /// El tamaño.
        size: u64,
    },
    /// Nombre de fichero no permitido.
    #[error("nombre no válido: {0}")]
    BadName(#[from] NameError),
    /// `UPLOAD NOMBRE TAMAÑO - OFFSET`: una subida de una sola pasada no se reanuda.
    #[error("una subida con `-` (SHA-256 al final) no se puede reanudar: para reanudar, anuncie el SHA-256 en la orden")]
    StreamWithOffset,
    /// La línea que sigue al cuerpo de una subida de una sola pasada no es `SHA256 <hex>`.
    #[error(
        "tras el cuerpo se esperaba la línea `SHA256 <64 dígitos hexadecimales>` y llegó `{line}`"
    )]
    BadTrailer {
        /// Lo recibido (recortado).
        line: String,
    },
    /// Respuesta del servidor que no sigue el protocolo.
    #[error("respuesta inesperada del servidor: `{line}`")]
    UnexpectedReply {
        /// La línea recibida (recortada).
        line: String,
    },
}

impl ProtocolError {
    /// El código con el que el servidor responde a este error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::BadName(_) => ErrorCode::BadName,
            ProtocolError::OffsetPastEnd { .. } => ErrorCode::BadOffset,
            _ => ErrorCode::BadCommand,
        }
    }
}

const UPLOAD_USAGE: &str =
    "UPLOAD <nombre> <tamaño> <sha256> [<offset>] o UPLOAD <nombre> <tamaño> -";
const DOWNLOAD_USAGE: &str = "DOWNLOAD <nombre> [<offset>]";
const DELETE_USAGE: &str = "DELETE <nombre>";

/// Analiza una línea de orden (sin el `\n`). La palabra de la orden no distingue mayúsculas
/// (`list` vale, por comodidad con telnet); los campos se separan con uno o más blancos.
///
/// # Errores
/// Un [`ProtocolError`] que dice qué está mal; [`ProtocolError::Empty`] para una línea en
/// blanco, que el servidor ignora.
///
/// ```
/// use problema5::protocolo::{parse_command, Command};
/// assert_eq!(parse_command(b"LIST").unwrap(), Command::List);
/// assert_eq!(
///     parse_command(b"DOWNLOAD a.txt 10").unwrap(),
///     Command::Download { name: "a.txt".into(), offset: 10 }
/// );
/// assert!(parse_command(b"DOWNLOAD ../a").is_err());
/// ```
pub fn parse_command(line: &[u8]) -> Result<Command, ProtocolError> {
    let text = std::str::from_utf8(line).map_err(|_| ProtocolError::InvalidUtf8)?;
    // Cualquier blanco ASCII separa campos: telnet puede dejar un `\r` de más al final.
    let mut fields = text.split_ascii_whitespace();
    let Some(word) = fields.next() else {
        return Err(ProtocolError::Empty);
    };
    let args: Vec<&str> = fields.collect();
    match word.to_ascii_uppercase().as_str() {
        "LIST" | "QUIT" if !args.is_empty() => Err(ProtocolError::Usage {
            usage: if word.eq_ignore_ascii_case("LIST") {
                "LIST"
            } else {
                "QUIT"
            },
        }),
        "LIST" => Ok(Command::List),
        "QUIT" => Ok(Command::Quit),
        "UPLOAD" => {
            let (name, size, sha, offset) = match args.as_slice() {
                [n, s, h] => (n, s, h, None),
                [n, s, h, o] => (n, s, h, Some(o)),
                _ => {
                    return Err(ProtocolError::Usage {
                        usage: UPLOAD_USAGE,
                    })
                }
            };
            validate_name(name)?;
            let size = parse_u64(size, "tamaño")?;
            if *sha == "-" {
                if offset.is_some() {
                    return Err(ProtocolError::StreamWithOffset);
                }
                return Ok(Command::UploadStream {
                    name: name.to_string(),
                    size,
                });
            }
            let sha256 = Digest::from_hex(sha)?;
            let offset = offset.map(|o| parse_u64(o, "offset")).transpose()?;
            if let Some(offset) = offset {
                if offset > size {
                    return Err(ProtocolError::OffsetPastEnd { offset, size });
                }
            }
            Ok(Command::Upload {
                name: name.to_string(),
                size,
                sha256,
                offset,
            })
        }
        "DOWNLOAD" => {
            let (name, offset) = match args.as_slice() {
                [n] => (n, 0),
                [n, o] => (n, parse_u64(o, "offset")?),
                _ => {
                    return Err(ProtocolError::Usage {
                        usage: DOWNLOAD_USAGE,
                    })
                }
            };
            validate_name(name)?;
            Ok(Command::Download {
                name: name.to_string(),
                offset,
            })
        }
        "DELETE" => match args.as_slice() {
            [n] => {
                validate_name(n)?;
                Ok(Command::Delete {
                    name: n.to_string(),
                })
            }
            _ => Err(ProtocolError::Usage {
                usage: DELETE_USAGE,
            }),
        },
        _ => Err(ProtocolError::UnknownCommand {
            word: shorten(word),
        }),
    }
}

impl Command {
    /// La línea que envía el cliente, con su `\n` (inversa de [`parse_command`]).
    pub fn encode(&self) -> String {
        match self {
            Command::List => "LIST\n".to_string(),
            Command::Quit => "QUIT\n".to_string(),
            Command::Upload {
                name,
                size,
                sha256,
                offset: None,
            } => format!("UPLOAD {name} {size} {sha256}\n"),
            Command::Upload {
                name,
                size,
                sha256,
                offset: Some(o),
            } => format!("UPLOAD {name} {size} {sha256} {o}\n"),
            Command::UploadStream { name, size } => format!("UPLOAD {name} {size} -\n"),
            Command::Download { name, offset: 0 } => format!("DOWNLOAD {name}\n"),
            Command::Download { name, offset } => format!("DOWNLOAD {name} {offset}\n"),
            Command::Delete { name } => format!("DELETE {name}\n"),
        }
    }
}

/// La línea que cierra el cuerpo de una subida de una sola pasada: `SHA256 <hex>\n`.
///
/// ```
/// use problema5::protocolo::{encode_trailer, Digest};
/// assert_eq!(encode_trailer(Digest([0; 32])), format!("SHA256 {}\n", "00".repeat(32)));
/// ```
pub fn encode_trailer(sha256: Digest) -> String {
    format!("{TRAILER_WORD} {sha256}\n")
}

/// Analiza la línea que sigue al cuerpo de `UPLOAD NOMBRE TAMAÑO -` (sin el `\n`): exactamente
/// `SHA256`, un espacio y 64 dígitos hexadecimales (la palabra no distingue mayúsculas; se
/// admiten blancos de más entre campos y al final, como en las órdenes).
///
/// # Errores
/// [`ProtocolError::BadTrailer`] si la línea no tiene esa forma.
///
/// ```
/// use problema5::protocolo::{parse_trailer, Digest};
/// assert_eq!(parse_trailer(format!("SHA256 {}", "ab".repeat(32)).as_bytes()).unwrap(), Digest([0xab; 32]));
/// assert!(parse_trailer(b"SHA256").is_err());
/// assert!(parse_trailer(b"LIST").is_err());
/// ```
pub fn parse_trailer(line: &[u8]) -> Result<Digest, ProtocolError> {
    let bad = || ProtocolError::BadTrailer {
        line: shorten(&String::from_utf8_lossy(line)),
    };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    match fields.as_slice() {
        [word, hex] if word.eq_ignore_ascii_case(TRAILER_WORD) => {
            Digest::from_hex(hex).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// Analiza una línea de respuesta del servidor (sin el `\n`).
///
/// # Errores
/// [`ProtocolError::UnexpectedReply`] si la línea no es ninguna respuesta conocida.
///
/// ```
/// use problema5::protocolo::{parse_reply, Reply};
/// assert_eq!(parse_reply("READY 42").unwrap(), Reply::Ready { offset: 42 });
/// ```
pub fn parse_reply(line: &str) -> Result<Reply, ProtocolError> {
    let unexpected = || ProtocolError::UnexpectedReply {
        line: shorten(line),
    };
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let args: Vec<&str> = rest.split(' ').filter(|f| !f.is_empty()).collect();
    let num = |s: &str| parse_u64(s, "número").map_err(|_| unexpected());
    let name = |s: &str| {
        validate_name(s)
            .map(|_| s.to_string())
            .map_err(|_| unexpected())
    };
    let digest = |s: &str| Digest::from_hex(s).map_err(|_| unexpected());
    match (word, args.as_slice()) {
        ("READY", [o]) => Ok(Reply::Ready { offset: num(o)? }),
        ("STORED", [n, s, h]) => Ok(Reply::Stored {
            name: name(n)?,
            size: num(s)?,
            sha256: digest(h)?,
        }),
        ("DATA", [s, h, o]) => {
            let (size, offset) = (num(s)?, num(o)?);
            if offset > size {
                return Err(unexpected());
            }
            Ok(Reply::Data {
                size,
                sha256: digest(h)?,
                offset,
            })
        }
        ("FILES", [c]) => Ok(Reply::Files {
            count: usize::try_from(num(c)?).map_err(|_| unexpected())?,
        }),
        ("DELETED", [n]) => Ok(Reply::Deleted { name: name(n)? }),
        ("BYE", []) => Ok(Reply::Bye),
        ("ERROR", [code, ..]) => {
            let code = ErrorCode::from_wire(code).ok_or_else(unexpected)?;
            let message = rest.split_once(' ').map(|(_, m)| m).unwrap_or("");
            Ok(Reply::Error {
                code,
                message: one_line(message),
            })
        }
        _ => Err(unexpected()),
    }
}

/// El texto de un `ERROR` tal como viaja: cada carácter de control (`\r`, `\n`, tabulador...)
/// pasa a ser un espacio y se quitan los de los extremos. Lo aplican el codificador y el
/// analizador, así que `parse_reply(encode(r)) == r` (regresión de fuzzing: un `\r` dentro
/// del mensaje volvía distinto).
fn one_line(message: &str) -> String {
    let clean: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clean.trim().to_string()
}

/// Analiza una línea del listado de `LIST` (sin el `\n`).
///
/// # Errores
/// [`ProtocolError::UnexpectedReply`] si no tiene la forma `NOMBRE TAMAÑO SHA256 FECHA`.
pub fn parse_list_entry(line: &str) -> Result<ListEntry, ProtocolError> {
    let unexpected = || ProtocolError::UnexpectedReply {
        line: shorten(line),
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let [name, size, sha, date] = fields.as_slice() else {
        return Err(unexpected());
    };
    validate_name(name).map_err(|_| unexpected())?;
    Ok(ListEntry {
        name: name.to_string(),
        size: parse_u64(size, "tamaño").map_err(|_| unexpected())?,
        sha256: Digest::from_hex(sha).map_err(|_| unexpected())?,
        modified: parse_utc(date).ok_or_else(unexpected)?,
    })
}

/// Un entero decimal sin signo: solo dígitos ASCII (sin `+`, sin espacios), que quepa en `u64`.
fn parse_u64(text: &str, field: &'static str) -> Result<u64, ProtocolError> {
    let bad = || ProtocolError::BadNumber {
        field,
        value: shorten(text),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// Recorta un texto recibido para citarlo en un mensaje sin devolver 1 KiB de basura.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// Formatea segundos desde 1970 como fecha UTC RFC 3339: `2026-01-31T12:00:00Z`.
///
/// ```
/// use problema5::protocolo::format_utc;
/// assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
/// assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
/// ```
pub fn format_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Inversa de [`format_utc`]; `None` si el texto no tiene exactamente esa forma.
pub fn parse_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.get(19) != Some(&b'Z')
    {
        return None;
    }
    let field = |from: usize, to: usize| -> Option<u64> {
        let s = text.get(from..to)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (h, mi, s) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// Días desde 1970-01-01 a fecha civil (algoritmo de Howard Hinnant, `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Fecha civil a días desde 1970-01-01; `None` si el día no existe en ese mes.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max = *month_days.get(usize::try_from(m).ok()?.checked_sub(1)?)?;
    if d == 0 || d > max {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y % 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn every_command_parses() {
        assert_eq!(parse_command(b"LIST").unwrap(), Command::List);
        assert_eq!(parse_command(b"list").unwrap(), Command::List);
        assert_eq!(parse_command(b"QUIT").unwrap(), Command::Quit);
        assert_eq!(
            parse_command(format!("UPLOAD a.bin 10 {}", sha('a')).as_bytes()).unwrap(),
            Command::Upload {
                name: "a.bin".into(),
                size: 10,
                sha256: Digest([0xaa; 32]),
                offset: None
            }
        );
        assert_eq!(
            parse_command(format!("UPLOAD a.bin 10 {} 10", sha('F')).as_bytes()).unwrap(),
            Command::Upload {
                name: "a.bin".into(),
                size: 10,
                sha256: Digest([0xff; 32]),
                offset: Some(10)
            }
        );
        assert_eq!(
            parse_command(b"upload a.bin 0 -").unwrap(),
            Command::UploadStream {
                name: "a.bin".into(),
                size: 0
            }
        );
        assert_eq!(
            parse_command(b"UPLOAD a.bin 10 -\r").unwrap(),
            Command::UploadStream {
                name: "a.bin".into(),
                size: 10
            }
        );
        assert_eq!(
            parse_command(b"DOWNLOAD x").unwrap(),
            Command::Download {
                name: "x".into(),
                offset: 0
            }
        );
        assert_eq!(
            parse_command(b"DELETE x").unwrap(),
            Command::Delete { name: "x".into() }
        );
    }

    #[test]
    fn malformed_commands_are_rejected_with_their_reason() {
        assert_eq!(parse_command(b""), Err(ProtocolError::Empty));
        assert_eq!(parse_command(b"   "), Err(ProtocolError::Empty));
        assert_eq!(parse_command(b"\xff"), Err(ProtocolError::InvalidUtf8));
        assert!(matches!(
            parse_command(b"HOLA"),
            Err(ProtocolError::UnknownCommand { .. })
        ));
        assert!(matches!(
            parse_command(b"LIST x"),
            Err(ProtocolError::Usage { .. })
        ));
        assert!(matches!(
            parse_command(b"UPLOAD a 1"),
            Err(ProtocolError::Usage { .. })
        ));
        assert!(matches!(
            parse_command(format!("UPLOAD a -1 {}", sha('a')).as_bytes()),
            Err(ProtocolError::BadNumber { .. })
        ));
        assert!(matches!(
            parse_command(format!("UPLOAD a +1 {}", sha('a')).as_bytes()),
            Err(ProtocolError::BadNumber { .. })
        ));
        assert!(matches!(
            parse_command(format!("UPLOAD a 18446744073709551616 {}", sha('a')).as_bytes()),
            Err(ProtocolError::BadNumber { .. })
        ));
        assert!(matches!(
            parse_command(format!("UPLOAD a 1 {}", sha('g')).as_bytes()),
            Err(ProtocolError::BadDigest { .. })
        ));
        assert_eq!(
            parse_command(format!("UPLOAD a 1 {} 2", sha('a')).as_bytes()),
            Err(ProtocolError::OffsetPastEnd { offset: 2, size: 1 })
        );
        assert_eq!(
            parse_command(b"DELETE ../x"),
            Err(ProtocolError::BadName(NameError::LeadingDot))
        );
        assert_eq!(
            parse_command(b"UPLOAD a 10 - 0"),
            Err(ProtocolError::StreamWithOffset)
        );
        assert!(matches!(
            parse_command(b"UPLOAD a 10 --"),
            Err(ProtocolError::BadDigest { .. })
        ));
        assert!(matches!(
            parse_command(b"UPLOAD a x -"),
            Err(ProtocolError::BadNumber { .. })
        ));
        assert_eq!(
            parse_command(b"UPLOAD ../a 1 -"),
            Err(ProtocolError::BadName(NameError::LeadingDot))
        );
        assert_eq!(
            ProtocolError::StreamWithOffset.code(),
            ErrorCode::BadCommand
        );
    }

    #[test]
    fn trailers_parse_only_in_their_exact_form() {
        let d = Digest([0x5a; 32]);
        assert_eq!(encode_trailer(d), format!("SHA256 {}\n", "5a".repeat(32)));
        assert_eq!(parse_trailer(format!("SHA256 {d}").as_bytes()), Ok(d));
        assert_eq!(
            parse_trailer(format!("sha256 {}\r", "5A".repeat(32)).as_bytes()),
            Ok(d)
        );
        for bad in [
            "".to_string(),
            "SHA256".to_string(),
            format!("SHA256 {}", "5a".repeat(31)),
            format!("SHA256 {}0", "5a".repeat(32)),
            format!("SHA256 {d} extra"),
            format!("SHA1 {d}"),
            format!("{d}"),
            format!("SHA256 {}", "zz".repeat(32)),
        ] {
            assert!(
                matches!(
                    parse_trailer(bad.as_bytes()),
                    Err(ProtocolError::BadTrailer { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(parse_trailer(b"SHA256 \xff").is_err());
        assert!(encode_trailer(d).len() <= MAX_TRAILER_LINE);
    }

    #[test]
    fn name_rules_at_and_past_the_edges() {
        assert!(validate_name(&"a".repeat(MAX_NAME_BYTES)).is_ok());
        assert_eq!(
            validate_name(&"a".repeat(MAX_NAME_BYTES + 1)),
            Err(NameError::TooLong {
                len: MAX_NAME_BYTES + 1,
                max: MAX_NAME_BYTES
            })
        );
        assert!(validate_name("ñandú.txt").is_ok());
        assert!(validate_name("a..b").is_ok());
        for (name, err) in [
            ("", NameError::Empty),
            (".", NameError::LeadingDot),
            ("..", NameError::LeadingDot),
            (".oculto", NameError::LeadingDot),
            ("a/b", NameError::Separator),
            ("/etc", NameError::Separator),
            ("a\\b", NameError::Separator),
            ("a\0b", NameError::Control),
            ("a\tb", NameError::Control),
            ("a\u{7f}", NameError::Control),
            ("a b", NameError::Whitespace),
            ("a\u{a0}b", NameError::Whitespace),
        ] {
            assert_eq!(validate_name(name), Err(err), "{name:?}");
        }
    }

    #[test]
    fn replies_round_trip_and_errors_stay_on_one_line() {
        let d = Digest([7; 32]);
        for r in [
            Reply::Ready { offset: 0 },
            Reply::Stored {
                name: "a".into(),
                size: 3,
                sha256: d,
            },
            Reply::Data {
                size: 3,
                sha256: d,
                offset: 1,
            },
            Reply::Files { count: 2 },
            Reply::Deleted { name: "a".into() },
            Reply::Bye,
            Reply::error(ErrorCode::NotFound, "no existe `a`"),
        ] {
            let line = r.encode();
            assert!(line.ends_with('\n'));
            assert_eq!(parse_reply(line.trim_end_matches('\n')).unwrap(), r);
        }
        let e = Reply::error(ErrorCode::Internal, "uno\ndos\r").encode();
        assert_eq!(e, "ERROR INTERNAL uno dos\n");
    }

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        for secs in [0, 59, 86_399, 951_782_400, 1_700_000_000, 253_402_300_799] {
            assert_eq!(parse_utc(&format_utc(secs)), Some(secs), "{secs}");
        }
        assert_eq!(parse_utc("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_utc("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_utc("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc("2024-01-01 00:00:00Z"), None);
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_ñ][a-zA-Z0-9._ñ-]{0,30}"
    }

    proptest! {
        #[test]
        fn commands_round_trip(name in name_strategy(), size in any::<u64>(), bytes in any::<[u8; 32]>(), off in any::<u64>(), kind in 0u8..6) {
            let cmd = match kind {
                0 => Command::List,
                1 => Command::Quit,
                2 => Command::Upload { name, size, sha256: Digest(bytes), offset: if off % 2 == 0 { Some(off % (size / 2 + 1)) } else { None } },
                3 => Command::Download { name, offset: off },
                4 => Command::UploadStream { name, size },
                _ => Command::Delete { name },
            };
            let line = cmd.encode();
            prop_assert_eq!(parse_command(line.trim_end_matches('\n').as_bytes()).unwrap(), cmd);
        }

        #[test]
        fn trailers_round_trip(bytes in any::<[u8; 32]>()) {
            let line = encode_trailer(Digest(bytes));
            prop_assert!(line.len() <= MAX_TRAILER_LINE);
            prop_assert_eq!(parse_trailer(line.trim_end_matches('\n').as_bytes()), Ok(Digest(bytes)));
        }

        #[test]
        fn list_entries_round_trip(name in name_strategy(), size in any::<u64>(), bytes in any::<[u8; 32]>(), modified in 0u64..253_402_300_800) {
            let e = ListEntry { name, size, sha256: Digest(bytes), modified };
            prop_assert_eq!(parse_list_entry(e.encode().trim_end_matches('\n')).unwrap(), e);
        }

        #[test]
        fn parsers_never_panic_and_accepted_names_are_safe(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_command(&input);
            let _ = parse_trailer(&input);
            if let Ok(text) = std::str::from_utf8(&input) {
                let _ = parse_reply(text);
                let _ = parse_list_entry(text);
                let _ = parse_utc(text);
                if validate_name(text).is_ok() {
                    prop_assert!(!text.contains('/') && !text.contains('\\') && !text.starts_with('.'));
                    prop_assert!(!text.is_empty() && text.len() <= MAX_NAME_BYTES);
                    prop_assert!(!text.chars().any(|c| c.is_control()));
                }
            }
        }
    }
}
