//! El cliente de eco: interactivo, por tubería (flujo binario) o por UDP.
//!
//! - Interactivo (stdin es una terminal): pide `Mensaje: `, envía la línea y muestra el eco.
//! - Tubería (`cat fichero | cliente > copia`): un hilo envía stdin al servidor mientras el
//!   principal escribe el eco en stdout; al acabar stdin se cierra la mitad de escritura y se
//!   espera el resto del eco. Enviar y recibir a la vez es imprescindible: si enviáramos todo
//!   antes de leer, con un fichero grande ambos buffers se llenarían y nadie avanzaría.
//! - UDP: cada línea es un datagrama; si la respuesta no llega a tiempo, es un error.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

use common::net::{describe_io_error, is_timeout};

use crate::servidor::MAX_DATAGRAM;

/// Lo que puede fallar en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Fallo de red.
    #[error("{}", describe_io_error(.0))]
    Io(#[from] io::Error),
    /// El servidor cerró antes de devolver todo el eco.
    #[error("el servidor cerró la conexión antes de devolver todo el eco")]
    Closed,
    /// No llegó la respuesta UDP a tiempo.
    #[error("no llegó la respuesta UDP en {} s (¿está el servidor en marcha? UDP no avisa si nadie escucha)", .0.as_secs_f32())]
    UdpTimeout(Duration),
    /// El datagrama no cabe en UDP.
    #[error("el mensaje ocupa {0} bytes y un datagrama UDP admite como mucho {MAX_DATAGRAM}")]
    TooLarge(usize),
    /// La respuesta UDP no coincide con lo enviado.
    #[error("la respuesta UDP no coincide con lo enviado")]
    Mismatch,
}

/// Envía todo `input` por `stream` y escribe el eco en `output`, a la vez. Devuelve los
/// bytes (enviados, recibidos).
///
/// # Errores
/// Fallos de red, o [`ClientError::Closed`] si el eco recibido es más corto que lo enviado.
pub fn stream_tcp(
    stream: &TcpStream,
    mut input: impl Read + Send,
    mut output: impl Write,
) -> Result<(u64, u64), ClientError> {
    let sender = stream.try_clone()?;
    thread::scope(|scope| {
        let sending = scope.spawn(move || -> io::Result<u64> {
            let mut w = &sender;
            let sent = io::copy(&mut input, &mut w)?;
            sender.shutdown(NetShutdown::Write)?;
            Ok(sent)
        });
        let mut r = stream;
        let received = io::copy(&mut r, &mut output);
        output.flush()?;
        let sent = match sending.join() {
            Ok(r) => r?,
            Err(_) => return Err(ClientError::Io(io::Error::other("el hilo emisor falló"))),
        };
        let received = received?;
        if received < sent {
            return Err(ClientError::Closed);
        }
        Ok((sent, received))
    })
}

/// Sesión interactiva: por cada línea de `input` muestra `Mensaje: `, la envía y escribe el
/// eco en `output` como `Eco: ...`. Termina al acabar `input`.
///
/// # Errores
/// Fallos de red o [`ClientError::Closed`] si el servidor cierra.
pub fn interactive(
    stream: &TcpStream,
    mut input: impl BufRead,
    mut output: impl Write,
) -> Result<(), ClientError> {
    let mut line = String::new();
    loop {
        write!(output, "Mensaje: ")?;
        output.flush()?;
        line.clear();
        if input.read_line(&mut line)? == 0 {
            writeln!(output)?;
            return Ok(());
        }
        let msg = line.trim_end_matches(['\r', '\n']);
        let mut w = stream;
        w.write_all(format!("{msg}\n").as_bytes())?;
        let mut echo = vec![0u8; msg.len() + 1];
        let mut r = stream;
        r.read_exact(&mut echo).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ClientError::Closed
            } else {
                ClientError::Io(e)
            }
        })?;
        echo.pop();
        writeln!(output, "Eco: {}", String::from_utf8_lossy(&echo))?;
    }
}

/// Envía un datagrama a `server` y espera el eco durante `timeout`.
///
/// # Errores
/// [`ClientError::TooLarge`], [`ClientError::UdpTimeout`] si no llega respuesta, o
/// [`ClientError::Mismatch`] si la respuesta es distinta.
pub fn udp_exchange(
    socket: &UdpSocket,
    server: SocketAddr,
    msg: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    if msg.len() > MAX_DATAGRAM {
        return Err(ClientError::TooLarge(msg.len()));
    }
    socket.set_read_timeout(Some(timeout))?;
    socket.send_to(msg, server)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf) {
            // Ignoramos datagramas de otros remitentes.
            Ok((_, from)) if from != server => continue,
            Ok((n, _)) => {
                let got = buf.get(..n).unwrap_or_default().to_vec();
                if got != msg {
                    return Err(ClientError::Mismatch);
                }
                return Ok(got);
            }
            Err(e) if is_timeout(&e) => return Err(ClientError::UdpTimeout(timeout)),
            // Linux informa así del ICMP "puerto inalcanzable": nadie escucha.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(ClientError::Io(e))
            }
            Err(e) => return Err(ClientError::Io(e)),
        }
    }
}

/// Sesión UDP: cada línea de `input` es un datagrama; se escribe el eco en `output`. Con
/// `prompt`, muestra `Mensaje: ` antes de cada línea.
///
/// # Errores
/// Los de [`udp_exchange`].
pub fn udp_session(
    socket: &UdpSocket,
    server: SocketAddr,
    mut input: impl BufRead,
    mut output: impl Write,
    timeout: Duration,
    prompt: bool,
) -> Result<(), ClientError> {
    let mut line = String::new();
    loop {
        if prompt {
            write!(output, "Mensaje: ")?;
            output.flush()?;
        }
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let msg = line.trim_end_matches(['\r', '\n']);
        let echo = udp_exchange(socket, server, msg.as_bytes(), timeout)?;
        if prompt {
            writeln!(output, "Eco: {}", String::from_utf8_lossy(&echo))?;
        } else {
            writeln!(output, "{}", String::from_utf8_lossy(&echo))?;
        }
    }
}
