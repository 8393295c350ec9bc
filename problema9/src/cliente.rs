//! El cliente del almacén: órdenes sueltas (`set`, `get`, `del`), una sesión interactiva y
//! `status` (la tabla del balanceador más versiones y retraso de cada nodo).
//!
//! Habla RESP como `redis-cli`, normalmente a través del balanceador (8009). Las respuestas
//! se muestran como las muestra `redis-cli`: `OK`, `"valor"`, `(nil)`, `(integer) 1`,
//! `(error) ...`.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::cli::connect_with_timeout;
use common::exit::Failure;
use common::net::describe_io_error;
use common::Parsed;

use crate::registro;
use crate::resp::{encode_command, parse_value, split_inline, Limits, RespError, Value};

/// Lo que puede fallar en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No se pudo conectar.
    #[error("no se pudo conectar a {addr}: {reason}. ¿Está el servidor en marcha? Pruebe `cargo run -p problema9 --bin servidor` (la demostración: balanceador y tres nodos)")]
    Connect {
        /// La dirección.
        addr: String,
        /// El motivo.
        reason: String,
    },
    /// Fallo de E/S a mitad de la conversación.
    #[error("error de comunicación con el servidor: {0}")]
    Io(String),
    /// El servidor cerró la conexión.
    #[error("el servidor cerró la conexión")]
    Closed,
    /// La respuesta no es RESP válido.
    #[error("respuesta no válida del servidor: {0}")]
    Protocol(#[from] RespError),
    /// El servidor respondió con un error.
    #[error("{0}")]
    Server(String),
    /// El balanceador no dio su estado (el mensaje ya dice qué pasó: se muestra una vez).
    #[error(transparent)]
    Registro(#[from] registro::RegistroError),
    /// No se pudo leer la entrada estándar de la sesión interactiva.
    #[error("no se pudo leer la entrada: {}", describe_io_error(.0))]
    Input(io::Error),
    /// No se pudo escribir en la salida (la terminal, o una tubería que se cerró).
    #[error("no se pudo escribir la salida: {}", describe_io_error(.0))]
    Output(io::Error),
}

/// Cada error del cliente con su código de salida (véase [`common::exit`]): 3 si no se pudo
/// conectar, 1 si el servidor o el balanceador dijeron que no, 4 si la conversación se
/// cortó o llegó algo que no es RESP, y silencio si quien leía la salida la cerró.
impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        use registro::RegistroError as R;
        match e {
            ClientError::Connect { .. } | ClientError::Registro(R::Connect { .. }) => {
                Failure::connect(e.to_string())
            }
            ClientError::Server(_)
            | ClientError::Input(_)
            | ClientError::Registro(R::Rejected { .. }) => Failure::refused(e.to_string()),
            ClientError::Output(io) => Failure::stdout(&io),
            ClientError::Io(_)
            | ClientError::Closed
            | ClientError::Protocol(_)
            | ClientError::Registro(_) => Failure::network(e.to_string()),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(describe_io_error(&e))
    }
}

/// Una conexión RESP con un servidor (balanceador o nodo).
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    limits: Limits,
}

impl Client {
    /// Conecta con `addr`, con `timeout` para conectar y para cada respuesta.
    ///
    /// # Errores
    /// [`ClientError::Connect`] con el motivo en español.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Self, ClientError> {
        let stream = connect_with_timeout(addr, timeout).map_err(|e| ClientError::Connect {
            addr: addr.to_string(),
            reason: describe_io_error(&e),
        })?;
        let _ = stream.set_nodelay(true);
        Ok(Self::from_stream(stream))
    }

    /// Usa un socket ya conectado (con sus tiempos de espera ya puestos).
    pub fn from_stream(stream: TcpStream) -> Self {
        // Las respuestas (`KEYS *`) pueden tener muchos más elementos que una orden.
        let limits = Limits {
            max_array: 10 * 1024 * 1024,
            ..Limits::default()
        };
        Self {
            stream,
            buf: Vec::new(),
            limits,
        }
    }

    /// Envía una orden y lee su respuesta (un `-ERR` llega como `Value::Error`, no como error).
    ///
    /// # Errores
    /// Fallo del socket, cierre o respuesta mal formada.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value, ClientError> {
        self.stream.write_all(&encode_command(args))?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> Result<Value, ClientError> {
        loop {
            if let Parsed::Complete { value, consumed } = parse_value(&self.buf, &self.limits)? {
                self.buf.drain(..consumed);
                return Ok(value);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// Muestra una respuesta como `redis-cli` (sin `--raw`).
///
/// ```
/// use problema9::cliente::format_value;
/// use problema9::resp::Value;
/// assert_eq!(format_value(&Value::Null), "(nil)");
/// assert_eq!(format_value(&Value::Integer(2)), "(integer) 2");
/// assert_eq!(format_value(&Value::bulk("a b")), "\"a b\"");
/// ```
pub fn format_value(value: &Value) -> String {
    match value {
        Value::Simple(s) => s.clone(),
        Value::Error(e) => format!("(error) {e}"),
        Value::Integer(n) => format!("(integer) {n}"),
        // Un texto de varias líneas (`INFO`) se muestra tal cual, como hace `redis-cli`.
        Value::Bulk(b) if b.contains(&b'\n') => String::from_utf8_lossy(b)
            .replace("\r\n", "\n")
            .trim_end()
            .to_string(),
        Value::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::Null | Value::NullArray => "(nil)".to_string(),
        Value::Array(items) if items.is_empty() => "(empty array)".to_string(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{}) {}", i + 1, format_value(v)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// La sesión interactiva: lee órdenes de `input` (una por línea, como en `redis-cli`),
/// las envía y escribe las respuestas en `output`. Con `prompt`, muestra `p9> `.
/// Termina con el fin de la entrada o con `quit`.
///
/// # Errores
/// Si se pierde la conexión, o [`ClientError::Output`] si no se puede escribir en `output`.
pub fn interactive(
    client: &mut Client,
    mut input: impl BufRead,
    mut output: impl Write,
    prompt: bool,
) -> Result<(), ClientError> {
    let mut line = Vec::new();
    loop {
        if prompt {
            write!(output, "p9> ")
                .and_then(|()| output.flush())
                .map_err(ClientError::Output)?;
        }
        line.clear();
        // Bytes, no `String`: una línea que no es UTF-8 es un error de esa orden, no del
        // cliente (`split_inline` trabaja sobre bytes).
        if input
            .read_until(b'\n', &mut line)
            .map_err(ClientError::Input)?
            == 0
        {
            break;
        }
        let args = match split_inline(&line) {
            Ok(a) if a.is_empty() => continue,
            Ok(a) => a,
            Err(e) => {
                writeln!(output, "(error) {e}").map_err(ClientError::Output)?;
                continue;
            }
        };
        let reply = client.command(&args)?;
        writeln!(output, "{}", format_value(&reply)).map_err(ClientError::Output)?;
        if args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"quit"))
        {
            break;
        }
    }
    Ok(())
}

/// Un nodo tal como lo describe su `INFO`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// `node_id`.
    pub id: String,
    /// ¿Al día?
    pub caught_up: bool,
    /// Reloj de Lamport.
    pub clock: u64,
    /// Resumen del contenido.
    pub digest: String,
    /// Claves con valor.
    pub keys: u64,
    /// Pares conectados.
    pub peers_connected: u64,
}

/// Extrae los campos que interesan del texto de `INFO`.
pub fn parse_info(text: &str) -> NodeInfo {
    let mut info = NodeInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k {
            "node_id" => info.id = v.to_string(),
            "caught_up" => info.caught_up = v == "1",
            "lamport_clock" => info.clock = v.parse().unwrap_or(0),
            "digest" => info.digest = v.to_string(),
            "peers_connected" => info.peers_connected = v.parse().unwrap_or(0),
            "db0" => {
                info.keys = v
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("keys="))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            }
            _ => {}
        }
    }
    info
}

/// Pide `INFO` a un nodo directamente (sin pasar por el balanceador).
///
/// # Errores
/// Los de conexión o protocolo, o [`ClientError::Server`] si responde con un error.
pub fn node_info(addr: &str, timeout: Duration) -> Result<NodeInfo, ClientError> {
    let mut c = Client::connect(addr, timeout)?;
    match c.command(&["INFO"])? {
        Value::Bulk(b) => Ok(parse_info(&String::from_utf8_lossy(&b))),
        Value::Error(e) => Err(ClientError::Server(e)),
        other => Err(ClientError::Server(format!(
            "respuesta inesperada a INFO: {}",
            format_value(&other)
        ))),
    }
}

/// `cliente status`: la tabla del balanceador y, debajo, cada nodo con su reloj, su resumen,
/// sus claves y su retraso (cuánto le falta a su reloj para el mayor del clúster).
///
/// # Errores
/// Si el balanceador no responde.
pub fn status(control: &str, timeout: Duration) -> Result<String, ClientError> {
    let backends = registro::status(control, timeout)?;
    let mut out = registro::format_status_table(&backends);
    let infos: Vec<(&str, &str, Result<NodeInfo, ClientError>)> = backends
        .iter()
        .map(|b| (b.id.as_str(), b.addr.as_str(), node_info(&b.addr, timeout)))
        .collect();
    let max_clock = infos
        .iter()
        .filter_map(|(_, _, i)| i.as_ref().ok().map(|i| i.clock))
        .max()
        .unwrap_or(0);
    out.push('\n');
    out.push_str(&format!(
        "{:<10} {:<22} {:<8} {:>8} {:>8} {:>7} {:<16} {:>5}\n",
        "NODO", "DIRECCIÓN", "AL DÍA", "CLAVES", "RELOJ", "RETRASO", "RESUMEN", "PARES"
    ));
    for (id, addr, info) in infos {
        match info {
            Ok(i) => out.push_str(&format!(
                "{:<10} {:<22} {:<8} {:>8} {:>8} {:>7} {:<16} {:>5}\n",
                i.id,
                addr,
                if i.caught_up { "sí" } else { "no" },
                i.keys,
                i.clock,
                max_clock - i.clock.min(max_clock),
                i.digest,
                i.peers_connected
            )),
            Err(e) => {
                // Solo el motivo: la pista de cómo arrancar el servidor no es de esta fila
                // (issue 18). El id es el que el nodo dio al registrarse.
                let reason = match e {
                    ClientError::Connect { reason, .. } => reason,
                    other => other.to_string(),
                };
                out.push_str(&format!("{id:<10} {addr:<22} sin respuesta: {reason}\n"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_extracted() {
        let text = "# Server\r\nnode_id:n2\r\n# Replication\r\ncaught_up:1\r\nlamport_clock:42\r\ndigest:00ff\r\n# Cluster\r\npeers_connected:2\r\n# Keyspace\r\ndb0:keys=7,entries=9\r\n";
        assert_eq!(
            parse_info(text),
            NodeInfo {
                id: "n2".into(),
                caught_up: true,
                clock: 42,
                digest: "00ff".into(),
                keys: 7,
                peers_connected: 2,
            }
        );
    }

    #[test]
    fn arrays_are_numbered_like_redis_cli() {
        let v = Value::Array(vec![Value::bulk("a"), Value::Integer(1)]);
        assert_eq!(format_value(&v), "1) \"a\"\n2) (integer) 1");
        assert_eq!(format_value(&Value::bulk("a:1\r\nb:2\r\n")), "a:1\nb:2");
    }
}
