//! El cliente del proxy: una petición HTTP a través del proxy, o un túnel `CONNECT` que
//! conecta la entrada y la salida estándar con un destino.
//!
//! - [`fetch`]: envía `MÉTODO http://host/ruta HTTP/1.1` al proxy y escribe en `out` la línea
//!   de estado, las cabeceras, una línea vacía y el cuerpo (ya sin la codificación `chunked`).
//! - [`tunnel`]: pide `CONNECT host:puerto`, y si el proxy contesta 200, copia `input` hacia
//!   el destino y lo que llega del destino hacia `output`. Al acabarse `input` se cierra solo
//!   nuestra mitad de escritura (medio cierre): la respuesta del destino sigue llegando.
//!
//! Las respuestas se leen con `common::http`, el mismo analizador que usa el proxy.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::thread;
use std::time::Duration;

use common::cli::connect_with_timeout;
use common::http::{self, BodyReader, ChunkLimits, HttpError, Limits, Target};
use common::net::describe_io_error;

use crate::servidor::access::Credentials;

/// Lo que puede fallar en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// La URL no es `http://host[:puerto]/ruta`.
    #[error("URL no válida `{url}`: {why}")]
    BadUrl {
        /// La URL dada.
        url: String,
        /// El motivo.
        why: String,
    },
    /// No se pudo conectar con el proxy.
    #[error("no se pudo conectar al proxy {addr}: {reason}. ¿Está en marcha? Pruebe `cargo run -p problema7 --bin servidor`")]
    Connect {
        /// La dirección del proxy.
        addr: String,
        /// El motivo, en español.
        reason: String,
    },
    /// Error de red durante la petición.
    #[error("error de red: {0}")]
    Io(#[from] io::Error),
    /// El proxy o el origen respondieron algo que no es HTTP válido.
    #[error("respuesta HTTP no válida: {0}")]
    Http(#[from] HttpError),
    /// El proxy cerró sin responder.
    #[error("el proxy cerró la conexión sin responder")]
    NoResponse,
    /// El proxy no abrió el túnel.
    #[error("el proxy no abrió el túnel: {status} {reason}")]
    TunnelRefused {
        /// Código recibido.
        status: u16,
        /// Frase de estado.
        reason: String,
    },
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

fn connect(proxy: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    connect_with_timeout(proxy, timeout).map_err(|e| ClientError::Connect {
        addr: proxy.to_string(),
        reason: describe_io_error(&e),
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
) -> Result<u16, ClientError> {
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
    (&stream).write_all(&bytes)?;

    let mut reader = BufReader::new(&stream);
    let response = http::read_response_head(&mut reader, &Limits::default())?
        .ok_or(ClientError::NoResponse)?;
    let mut head_out = Vec::new();
    response.encode(&mut head_out);
    out.write_all(&head_out)?;
    let kind = http::response_body_kind(&req.method, response.status, &response.headers)?;
    let mut body = BodyReader::new(&mut reader, kind, ChunkLimits::default());
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match HttpError::from_io(&e) {
                    Some(_) => ClientError::Http(HttpError::UnexpectedEof),
                    None => ClientError::Io(e),
                })
            }
        };
        out.write_all(buf.get(..n).unwrap_or_default())?;
    }
    out.flush()?;
    Ok(response.status)
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
    (&stream).write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let response = http::read_response_head(&mut reader, &Limits::default())?
        .ok_or(ClientError::NoResponse)?;
    if response.status != 200 {
        return Err(ClientError::TunnelRefused {
            status: response.status,
            reason: response.reason,
        });
    }
    // Dentro del túnel no hay respuestas que esperar: sin tiempo de espera de lectura.
    stream.set_read_timeout(None)?;

    let writer = stream.try_clone()?;
    let sender = thread::Builder::new()
        .name("cliente-tunel-envio".into())
        .spawn(move || -> u64 {
            let mut input = input;
            let mut to = &writer;
            let sent = io::copy(&mut input, &mut to).unwrap_or(0);
            let _ = writer.shutdown(NetShutdown::Write);
            sent
        })?;

    let mut received = 0u64;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        output.write_all(buf.get(..n).unwrap_or_default())?;
        output.flush()?;
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
