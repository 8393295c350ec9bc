//! El vocabulario que comparten los módulos que atienden una conexión de cliente: la
//! conexión misma ([`Client`]), lo que queda tras cada petición ([`Outcome`], [`Next`]), la
//! conexión al origen que se guarda para la siguiente ([`Sticky`]) y los tamaños de buffer.
//!
//! Es un módulo hoja: no usa `conexion`, `forward`, `tunnel` ni `upstream`, y todos ellos lo
//! usan a él. Así cada uno se puede leer sin dar la vuelta a los demás.
//!
//! Tiempos de espera del cliente (con el lector de plazo total de `common::conn`): mientras
//! se espera la cabecera de una petición, el plazo es **total** ([`Client::start_head`]): la
//! cabecera entera tiene que llegar en `--client-timeout`. Con un plazo por lectura, un
//! cliente que envía un byte cada pocos segundos (*slowloris*) ocuparía una plaza para
//! siempre. Durante el cuerpo el plazo es por lectura, para que una subida grande y lenta
//! pero viva no se corte.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::conn::{linger_close, DeadlineReader, Linger, Within};
use common::http::Version;

use super::pool::UpstreamConn;
use super::transparent::original_destination;
use super::Proxy;
use crate::protocolo::simple_response;

/// Tamaño de los buffers de lectura y escritura con el cliente.
pub(crate) const CLIENT_BUFFER: usize = 16 * 1024;

/// Tamaño del buffer de copia de cuerpos y del de lectura de cada conexión al origen.
pub const BODY_BUFFER: usize = 32 * 1024;

/// Qué hacer con la conexión tras una petición.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Seguir leyendo peticiones.
    KeepAlive,
    /// Cerrar la conexión.
    Close,
}

/// Cómo llegó una petición al proxy, y por tanto qué reglas se le aplican.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Proxy explícito: forma absoluta (`GET http://host/x`) o `CONNECT`. Pasa por `--auth`
    /// y `--block`, y `Host` se cambia por el del destino.
    Forward,
    /// Proxy inverso (`--upstream`): forma de origen hacia el único servidor configurado.
    Reverse,
    /// Proxy transparente (`--transparent`): forma de origen de un cliente que no sabe que
    /// hay un proxy. Pasa por `--block`; `Host` queda como lo envió el cliente.
    Transparent,
}

/// Lo que se anota al terminar una petición.
pub(crate) struct Outcome {
    /// El código enviado al cliente (0 si no llegó a enviarse ninguno).
    pub(crate) status: u16,
    /// Si la conexión sigue.
    pub(crate) next: Next,
    /// Bytes del cliente al destino por un túnel (no pasan por nuestros buffers).
    pub(crate) tunnel_in: u64,
    /// Bytes del destino al cliente por un túnel.
    pub(crate) tunnel_out: u64,
}

impl Outcome {
    /// Respuesta enviada; la conexión sigue o se cierra según `next`.
    pub(crate) fn new(status: u16, next: Next) -> Self {
        Self {
            status,
            next,
            tunnel_in: 0,
            tunnel_out: 0,
        }
    }

    /// Respuesta enviada (o intentada) y la conexión se cierra.
    pub(crate) fn close(status: u16) -> Self {
        Self::new(status, Next::Close)
    }
}

/// La conexión al origen que esta conexión de cliente usó la última vez, para la siguiente
/// petición al mismo origen.
pub(crate) struct Sticky {
    pub(crate) key: String,
    pub(crate) conn: UpstreamConn,
    pub(crate) last_used: Instant,
}

/// El socket del cliente para leer: cuenta los bytes (registro y estadísticas) y aplica el
/// plazo de lectura con el lector de plazo total de `common::conn`: total mientras se espera
/// una cabecera, por lectura (`per_read`) durante un cuerpo.
pub(crate) struct ClientReader {
    inner: DeadlineReader<TcpStream>,
    pub(crate) bytes: u64,
    /// Espera máxima de cada lectura cuando no hay plazo total.
    per_read: Duration,
}

impl Read for ClientReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let quiet = match self.inner.deadline() {
            Some(_) => None,
            None => Some(self.per_read),
        };
        match self.inner.read_within(buf, quiet)? {
            Within::Read(n) => {
                self.bytes += n as u64;
                Ok(n)
            }
            Within::Quiet => Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

/// El socket del cliente para escribir, contando los bytes.
pub(crate) struct Counted {
    pub(crate) stream: TcpStream,
    pub(crate) bytes: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Todo lo de una conexión de cliente.
pub(crate) struct Client<'a> {
    pub(crate) proxy: &'a Proxy,
    pub(crate) peer: SocketAddr,
    /// El socket original (para los túneles y para cerrar).
    pub(crate) stream: TcpStream,
    pub(crate) reader: BufReader<ClientReader>,
    pub(crate) writer: BufWriter<Counted>,
    pub(crate) upstream: Option<Sticky>,
    /// El proxy contestó con un error y va a cerrar: hay que hacerlo con cortesía.
    pub(crate) failed: bool,
    /// Buffer de copia de cuerpos, reservado una vez por conexión.
    pub(crate) buf: Vec<u8>,
    /// Con `--transparent`, la dirección a la que iba la conexión si el núcleo la redirigió
    /// al proxy (`SO_ORIGINAL_DST`).
    pub(crate) original_dst: Option<SocketAddr>,
}

impl<'a> Client<'a> {
    /// Prepara los buffers y los tiempos de espera del socket del cliente.
    ///
    /// # Errores
    /// Los de las llamadas al sistema que configuran el socket.
    pub(crate) fn new(proxy: &'a Proxy, stream: TcpStream, peer: SocketAddr) -> io::Result<Self> {
        let timeout = proxy.config.client_timeout.max(Duration::from_millis(1));
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        // Sin Nagle: cabecera y cuerpo salen en cuanto los escribimos (las escrituras ya van
        // agrupadas por el `BufWriter`).
        stream.set_nodelay(true)?;
        let original_dst = if proxy.config.transparent {
            original_destination(&stream)
        } else {
            None
        };
        let reader = ClientReader {
            inner: DeadlineReader::new(stream.try_clone()?),
            bytes: 0,
            per_read: timeout,
        };
        let writer = Counted {
            stream: stream.try_clone()?,
            bytes: 0,
        };
        Ok(Client {
            proxy,
            peer,
            stream,
            reader: BufReader::with_capacity(CLIENT_BUFFER, reader),
            writer: BufWriter::with_capacity(CLIENT_BUFFER, writer),
            upstream: None,
            failed: false,
            buf: vec![0u8; BODY_BUFFER],
            original_dst,
        })
    }

    /// Empieza la espera de una cabecera: desde ahora tiene `--client-timeout` en total.
    pub(crate) fn start_head(&mut self) {
        let timeout = self.proxy.config.client_timeout;
        self.reader.get_mut().inner.expire_in(Some(timeout));
    }

    /// La cabecera llegó: el cuerpo vuelve al plazo por lectura.
    pub(crate) fn end_head(&mut self) {
        self.reader.get_mut().inner.set_deadline(None);
    }

    /// Bytes recibidos del cliente hasta ahora.
    pub(crate) fn bytes_in(&self) -> u64 {
        self.reader.get_ref().bytes
    }

    /// Bytes enviados al cliente hasta ahora.
    pub(crate) fn bytes_out(&self) -> u64 {
        self.writer.get_ref().bytes
    }

    /// Envía una respuesta de error generada por el proxy (con `Date`, RFC 9110 §6.6.1) y
    /// marca la conexión para cerrarse.
    pub(crate) fn fail(&mut self, status: u16, extra: &[(&str, &str)], body: &str) -> Outcome {
        self.failed = true;
        let date = now_http_date();
        let mut all = Vec::with_capacity(extra.len() + 1);
        all.push(("Date", date.as_str()));
        all.extend_from_slice(extra);
        let bytes = simple_response(status, &all, body, true);
        let _ = self
            .writer
            .write_all(&bytes)
            .and_then(|()| self.writer.flush());
        Outcome::close(status)
    }

    /// Devuelve al almacén común la conexión al origen guardada, si la hay.
    pub(crate) fn release_upstream(&mut self) {
        if let Some(sticky) = self.upstream.take() {
            self.proxy.pool.put(&sticky.key, sticky.conn);
        }
    }

    /// Cierra la conexión; tras un error del proxy, con cortesía (el cierre con espera de
    /// `common::conn`: que el RST de lo que el cliente aún enviaba no borre nuestra respuesta).
    pub(crate) fn close(mut self) {
        self.release_upstream();
        if self.failed {
            linger_close(&self.stream, Linger::DEFAULT);
        }
        let _ = self.stream.shutdown(NetShutdown::Both);
    }
}

/// La fecha de ahora en el formato de HTTP, para la cabecera `Date`.
pub(crate) fn now_http_date() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now())
}

/// La cabecera `Connection` (con su CRLF) que dice al cliente si la conexión sigue, o nada si
/// es lo que su versión supone por omisión.
pub(crate) fn connection_header(version: Version, keep_alive: bool) -> &'static str {
    match (version, keep_alive) {
        (Version::Http11, true) => "",
        (Version::Http10, true) => "Connection: keep-alive\r\n",
        (_, false) => "Connection: close\r\n",
    }
}
