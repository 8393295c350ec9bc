//! El cliente del proxy: una petición HTTP a través del proxy, o un túnel `CONNECT` que
//! conecta la entrada y la salida estándar con un destino.
//!
//! - [`fetch`]: envía `MÉTODO http://host/ruta HTTP/1.1` al proxy y escribe en `out` la línea
//!   de estado, las cabeceras, una línea vacía y el cuerpo (ya sin la codificación `chunked`).
//! - [`tunnel`]: pide `CONNECT host:puerto`, y si el proxy contesta 200, copia `input` hacia
//!   el destino y lo que llega del destino hacia `output`. Al acabarse `input` se cierra solo
//!   nuestra mitad de escritura (medio cierre): la respuesta del destino sigue llegando.
//!
//! Las respuestas se leen con `common::http`, el mismo analizador que usa el proxy. Los
//! errores de la red ([`ClientError::Io`]) y los de la salida ([`ClientError::Output`]) se
//! distinguen: `cliente URL | head` cierra la salida, y eso no es un fallo de la red.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::thread;
use std::time::Duration;

use common::cli::{connect_with_timeout, ConnectError};
use common::exit::{Exit, Failure};
use common::http::{self, BodyReader, ChunkLimits, HttpError, Limits, ResponseHead, Target};
use common::net::describe_io_error;

use crate::servidor::access::Credentials;

/// Lo que puede fallar en el cliente. Cada variante tiene su código de salida (véase
/// [`From<ClientError> for Failure`](#impl-From<ClientError>-for-Failure)): lo que depende
/// de la red (3, 4) se distingue de la salida estándar cerrada (`| head`), que no es un error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// La URL no es `http://host[:puerto]/ruta` (código 2: es un error de uso).
    #[error("URL no válida `{url}`: {why}")]
    BadUrl {
        /// La URL dada.
        url: String,
        /// El motivo.
        why: String,
    },
    /// No se pudo conectar con el proxy (código 3).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// El socket falló a mitad de la conversación: corte, reinicio, tiempo agotado (código 4).
    #[error("{doing}: {}", describe_io_error(.error))]
    Io {
        /// Lo que se estaba haciendo (`leyendo la respuesta`).
        doing: &'static str,
        /// El error del socket (su texto va en el mensaje, en español).
        error: io::Error,
    },
    /// La respuesta se cortó o no terminó a tiempo (código 4), o no es HTTP válido (código 4:
    /// la conversación no llegó a una respuesta que mostrar).
    #[error("leyendo la respuesta: {0}")]
    Http(HttpError),
    /// El proxy cerró sin responder (código 4).
    #[error("el proxy cerró la conexión sin responder")]
    NoResponse,
    /// El proxy no abrió el túnel (código 1: el servidor dijo que no).
    #[error("el proxy no abrió el túnel a {target}: {status} {reason}")]
    TunnelRefused {
        /// El destino pedido.
        target: String,
        /// Código recibido.
        status: u16,
        /// Frase de estado.
        reason: String,
    },
    /// No se pudo escribir en la salida (código 0 si quien leía la cerró; 1 si no).
    #[error("no se pudo escribir en la salida: {}", describe_io_error(.0))]
    Output(io::Error),
}

impl ClientError {
    /// Un error de lectura de la respuesta: el `HttpError` que trae dentro (corte, tiempo
    /// agotado, HTTP mal formado) o el del socket, ya en español.
    fn reading(e: HttpError) -> Self {
        match e {
            HttpError::Io(error) => ClientError::Io {
                doing: "leyendo la respuesta",
                error,
            },
            other => ClientError::Http(other),
        }
    }

    /// Como [`ClientError::reading`], para un `io::Error` de un lector de cuerpo.
    fn reading_body(e: io::Error) -> Self {
        Self::reading(HttpError::from_io_error(e))
    }
}

/// El código de salida y el mensaje de cada error (la tabla de `common::exit`).
impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Connect(e) => Failure::from(e),
            ClientError::Output(e) => Failure::stdout(&e),
            ClientError::TunnelRefused { .. } => Failure::refused(e.to_string()),
            ClientError::BadUrl { .. } => Failure {
                exit: Exit::Usage,
                message: e.to_string(),
            },
            ClientError::Io { .. } | ClientError::Http(_) | ClientError::NoResponse => {
                Failure::network(e.to_string())
            }
        }
    }
}

/// Escribe en la salida; su error es [`ClientError::Output`], no uno de red.
fn show(out: &mut impl Write, bytes: &[u8]) -> Result<(), ClientError> {
    out.write_all(bytes).map_err(ClientError::Output)
}

/// Una petición del cliente.
#[derive(Debug, Clone)]
pub struct Request {
    /// La URL completa (`http://127.0.0.1:8004/`).
    pub url: String,
    /// El método (`GET` por omisión).
    pub method: String,
    /// El cuerpo (`-d`), si hay.
    pub body: Option<Vec<u8>>,
    /// Credenciales para el proxy (`--auth`).
    pub auth: Option<Credentials>,
}

/// Conecta con el proxy; el error lleva la pista de cómo arrancarlo.
fn connect(proxy: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    connect_with_timeout(proxy, timeout).map_err(|source| {
        ClientError::Connect(ConnectError {
            addr: proxy.to_string(),
            reason: describe_io_error(&source),
            package: "problema7".to_string(),
            source,
        })
    })
}

/// Envía `req` a través del proxy `proxy` (`HOST:PUERTO`) y escribe la respuesta en `out`.
/// Devuelve el código de estado.
///
/// # Errores
/// [`ClientError`]: URL no válida, proxy inalcanzable, respuesta mal formada o cortada.
pub fn fetch(
    proxy: &str,
    req: &Request,
    timeout: Duration,
    out: &mut impl Write,
) -> Result<ResponseHead, ClientError> {
    let bad = |why: String| ClientError::BadUrl {
        url: req.url.clone(),
        why,
    };
    let host_header = match Target::parse(&req.method, &req.url) {
        Ok(Target::Absolute {
            scheme, host, port, ..
        }) if scheme == "http" => crate::protocolo::Origin::new(&host, port).host_header(),
        Ok(Target::Absolute { .. }) => {
            return Err(bad(
                "solo http:// (para HTTPS abra un túnel con --connect o use curl -p)".into(),
            ))
        }
        Ok(_) => return Err(bad("se espera una URL completa: http://host/ruta".into())),
        Err(e) => return Err(bad(e.to_string())),
    };
    let stream = connect(proxy, timeout)?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: taller-cliente/0.1\r\nAccept: */*\r\nConnection: close\r\n",
        req.method, req.url
    );
    if let Some(creds) = &req.auth {
        head.push_str(&format!(
            "Proxy-Authorization: {}\r\n",
            creds.header_value()
        ));
    }
    if let Some(body) = &req.body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(body) = &req.body {
        bytes.extend_from_slice(body);
    }
    (&stream)
        .write_all(&bytes)
        .map_err(|error| ClientError::Io {
            doing: "enviando la petición",
            error,
        })?;

    let mut reader = BufReader::new(&stream);
    let response = http::read_response_head(&mut reader, &Limits::default())
        .map_err(ClientError::reading)?
        .ok_or(ClientError::NoResponse)?;
    let mut head_out = Vec::new();
    response.encode(&mut head_out);
    show(out, &head_out)?;
    let kind = http::response_body_kind(&req.method, response.status, &response.headers)
        .map_err(ClientError::reading)?;
    let mut body = BodyReader::new(&mut reader, kind, ChunkLimits::default());
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ClientError::reading_body(e)),
        };
        show(out, buf.get(..n).unwrap_or_default())?;
    }
    out.flush().map_err(ClientError::Output)?;
    Ok(response)
}

/// Bytes que pasaron por el túnel en cada sentido.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// De `input` al destino.
    pub sent: u64,
    /// Del destino a `output`.
    pub received: u64,
}

/// Abre un túnel `CONNECT target` a través de `proxy` y copia `input` → destino y
/// destino → `output` hasta que el destino cierre.
///
/// `input` se lee en un hilo aparte; si el destino cierra antes de que `input` se acabe (por
/// ejemplo, la entrada estándar de una terminal), ese hilo se abandona y muere con el proceso.
///
/// # Errores
/// [`ClientError::TunnelRefused`] si el proxy no contesta 200 (403 puerto no permitido, 407,
/// 502...), y los de red.
pub fn tunnel<I, O>(
    proxy: &str,
    target: &str,
    auth: Option<&Credentials>,
    timeout: Duration,
    input: I,
    mut output: O,
) -> Result<TunnelStats, ClientError>
where
    I: Read + Send + 'static,
    O: Write,
{
    let stream = connect(proxy, timeout)?;
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(creds) = auth {
        request.push_str(&format!(
            "Proxy-Authorization: {}\r\n",
            creds.header_value()
        ));
    }
    request.push_str("\r\n");
    let io_err = |doing: &'static str| move |error| ClientError::Io { doing, error };
    (&stream)
        .write_all(request.as_bytes())
        .map_err(io_err("pidiendo el túnel"))?;
    let mut reader = BufReader::new(stream.try_clone().map_err(io_err("preparando el socket"))?);
    let response = http::read_response_head(&mut reader, &Limits::default())
        .map_err(ClientError::reading)?
        .ok_or(ClientError::NoResponse)?;
    if response.status != 200 {
        return Err(ClientError::TunnelRefused {
            target: target.to_string(),
            status: response.status,
            reason: response.reason,
        });
    }
    // Dentro del túnel no hay respuestas que esperar: sin tiempo de espera de lectura.
    stream
        .set_read_timeout(None)
        .map_err(io_err("preparando el socket"))?;

    let writer = stream.try_clone().map_err(io_err("preparando el socket"))?;
    let sender = thread::Builder::new()
        .name("cliente-tunel-envio".into())
        .spawn(move || -> u64 {
            let mut input = input;
            let mut to = &writer;
            let sent = io::copy(&mut input, &mut to).unwrap_or(0);
            let _ = writer.shutdown(NetShutdown::Write);
            sent
        })
        .map_err(io_err("creando el hilo de envío"))?;

    let mut received = 0u64;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("leyendo del túnel")(e)),
        };
        show(&mut output, buf.get(..n).unwrap_or_default())?;
        output.flush().map_err(ClientError::Output)?;
        received += n as u64;
    }
    // Normalmente el hilo de envío ya terminó (el destino suele cerrar tras nuestro medio
    // cierre); le damos un momento por si está acabando.
    for _ in 0..20 {
        if sender.is_finished() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let sent = if sender.is_finished() {
        sender.join().unwrap_or(0)
    } else {
        0
    };
    Ok(TunnelStats { sent, received })
}
