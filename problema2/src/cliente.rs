//! El cliente de eco: interactivo, por tubería (flujo binario) o por UDP.
//!
//! - Interactivo (stdin es una terminal): pide `Mensaje: `, envía la línea y muestra el eco,
//!   comprobando que sea igual a lo enviado (`el eco no coincide` si no). Un servidor escrito
//!   como el esqueleto del taller devuelve un solo `recv(1024)` y cierra la conexión: en ese
//!   caso el cliente lo dice una vez y vuelve a conectar para cada línea.
//! - Tubería (`cat fichero | cliente > copia`): un hilo envía stdin al servidor mientras el
//!   principal escribe el eco en stdout; al acabar stdin se cierra la mitad de escritura y se
//!   espera el resto del eco. Enviar y recibir a la vez es imprescindible: si enviáramos todo
//!   antes de leer, con un fichero grande ambos buffers se llenarían y nadie avanzaría. Si el
//!   servidor cierra o corta antes de devolverlo todo, el error dice cuánto volvió.
//! - UDP: cada línea es un datagrama; si la respuesta no llega a tiempo, es un error.
//!
//! Las dos copias del modo tubería pasan por un buffer nuestro ([`copy_through`]) y no por
//! `io::copy`: en Linux, `io::copy` de un socket a la tubería de stdout usa `splice(2)`, que
//! se queda esperando datos del socket con la tubería tomada; un programa que lee nuestra
//! salida y escribe nuestra entrada desde un solo hilo (el `communicate` de Python) se
//! bloquea en esa lectura, deja de escribirnos y nadie avanza (issue 16, punto 4).

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::cli::ConnectError;
use common::net::{describe_io_error, is_disconnect, is_timeout};

use crate::servidor::MAX_DATAGRAM;

/// Tamaño del buffer de cada sentido del modo tubería: 64 KiB, como el del servidor.
pub const COPY_BUFFER: usize = 64 * 1024;

/// Cuánto esperamos al hilo emisor, cuando el eco acaba antes de tiempo, para saber cuántos
/// bytes llegó a enviar.
const SENDER_GRACE: Duration = Duration::from_millis(500);

/// Aviso (una sola vez por sesión) de que el servidor cierra tras cada eco.
pub const RECONNECT_NOTE: &str =
    "(el servidor cerró la conexión tras el eco anterior: se vuelve a conectar para cada mensaje)";

/// Lo que puede fallar en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Fallo de red.
    #[error("{}", describe_io_error(.0))]
    Io(#[from] io::Error),
    /// No se pudo conectar (o volver a conectar) con el servidor.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// El servidor cerró sin devolver el eco de una línea, en una conexión recién abierta.
    #[error("el servidor cerró la conexión sin devolver el eco")]
    Closed,
    /// El flujo terminó antes de que volviera todo lo enviado.
    #[error("{end} antes de devolver todo el eco: volvieron {received} de {sent} bytes enviados")]
    Incomplete {
        /// Cómo terminó.
        end: StreamEnd,
        /// Bytes de eco recibidos.
        received: u64,
        /// Bytes enviados hasta ese momento.
        sent: u64,
    },
    /// Algún eco interactivo fue distinto de lo enviado.
    #[error("{0} eco(s) no coincidieron con lo enviado")]
    EchoMismatch(usize),
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

/// Cómo terminó antes de tiempo el flujo de eco.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamEnd {
    /// Fin de flujo ordenado (FIN) del servidor.
    #[error("el servidor cerró la conexión")]
    Closed,
    /// El servidor cortó la conexión (RST), por ejemplo al cerrar con datos sin leer.
    #[error("el servidor cortó la conexión")]
    Reset,
    /// No llegó nada durante el tiempo de espera de lectura.
    #[error("se agotó el tiempo de espera")]
    TimedOut,
}

/// Copia de `from` a `to` con un buffer propio de [`COPY_BUFFER`] bytes hasta el fin de
/// `from`, sumando en `counter` lo escrito. A diferencia de `io::copy`, nunca usa `splice(2)`
/// (véase el módulo).
///
/// # Errores
/// El primer error de lectura o escritura (se reintenta `Interrupted`).
pub fn copy_through(
    mut from: impl Read,
    mut to: impl Write,
    counter: &AtomicU64,
) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(buf.get(..n).unwrap_or_default())?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Envía todo `input` por `stream` y escribe el eco en `output`, a la vez. Devuelve los
/// bytes (enviados, recibidos).
///
/// El envío va en un hilo propio; si el servidor cierra o corta antes de devolverlo todo, se
/// vuelve sin esperarlo (puede estar esperando más entrada, que ya no serviría de nada).
///
/// # Errores
/// [`ClientError::Incomplete`] si el eco termina antes de tiempo (dice cuánto volvió), o el
/// fallo de E/S de la entrada o la salida.
pub fn stream_tcp(
    stream: &TcpStream,
    input: impl Read + Send + 'static,
    mut output: impl Write,
) -> Result<(u64, u64), ClientError> {
    let sender = stream.try_clone()?;
    let sent = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let sent = Arc::clone(&sent);
        thread::Builder::new()
            .name("cliente-envio".into())
            .spawn(move || {
                let result = copy_through(input, &sender, &sent);
                let ok = result.is_ok();
                // Avisamos antes del medio cierre: el fin de flujo que provoca llega después.
                let _ = done_tx.send(result);
                if ok {
                    let _ = sender.shutdown(NetShutdown::Write);
                }
            })?;
    }
    let received = AtomicU64::new(0);
    let end = match copy_through(stream, &mut output, &received) {
        Ok(()) => StreamEnd::Closed,
        Err(e) if is_timeout(&e) => StreamEnd::TimedOut,
        Err(e) if is_disconnect(&e) && e.kind() != io::ErrorKind::BrokenPipe => StreamEnd::Reset,
        // Un fallo al escribir en `output` (stdout cerrado, disco lleno...).
        Err(e) => return Err(ClientError::Io(e)),
    };
    output.flush()?;
    let received = received.load(Ordering::Relaxed);
    let sender_result = match done_rx.try_recv() {
        Ok(result) => Some(result),
        // El eco acabó con el envío a medias. Cortamos también nuestro lado para que una
        // escritura pendiente falle enseguida, y damos al emisor un momento para contar lo
        // que llegó a enviar (si espera más entrada no lo esperamos: ya no volvería).
        Err(_) => {
            let _ = stream.shutdown(NetShutdown::Both);
            done_rx.recv_timeout(SENDER_GRACE).ok()
        }
    };
    let sent = sent.load(Ordering::Relaxed);
    match (end, sender_result) {
        // La entrada falló (no la red): ese es el error que importa.
        (_, Some(Err(e))) if !is_disconnect(&e) => Err(ClientError::Io(e)),
        (StreamEnd::Closed, Some(Ok(()))) if received >= sent => Ok((sent, received)),
        (end, _) => Err(ClientError::Incomplete {
            end,
            received,
            sent,
        }),
    }
}

/// El modo tubería del binario: [`stream_tcp`] con la entrada y la salida estándar del
/// proceso. Es una función de la biblioteca para que las pruebas la ejecuten en un proceso
/// hijo con tuberías reales (donde aparecía el bloqueo de `splice`).
///
/// # Errores
/// Los de [`stream_tcp`].
pub fn stream_stdio(stream: &TcpStream) -> Result<(u64, u64), ClientError> {
    stream_tcp(stream, io::stdin(), io::stdout().lock())
}

/// Sesión interactiva: por cada línea de `input` muestra `Mensaje: `, la envía y escribe el
/// eco en `output` como `Eco: ...`. Termina al acabar `input`.
///
/// `connect` abre una conexión: se llama al empezar y cada vez que el servidor cerró la
/// anterior tras devolver un eco (los servidores del esqueleto del taller cierran después de
/// cada uno); la primera vez que pasa se avisa con [`RECONNECT_NOTE`]. Cada eco se compara con
/// lo enviado; si difiere se muestran los dos y la sesión sigue, pero termina con
/// [`ClientError::EchoMismatch`].
///
/// # Errores
/// Fallos de red o de conexión, [`ClientError::Closed`] si una conexión nueva se cierra sin
/// eco, o [`ClientError::EchoMismatch`] al final si algún eco no coincidió.
pub fn interactive(
    mut connect: impl FnMut() -> Result<TcpStream, ClientError>,
    mut input: impl BufRead,
    mut output: impl Write,
) -> Result<(), ClientError> {
    let mut conn = Some(connect()?);
    // ¿Ha devuelto ya algún eco la conexión actual? Si se cierra después, es que el servidor
    // cierra tras cada eco; si se cierra antes del primero, es un error.
    let mut conn_used = false;
    let mut noted = false;
    let mut mismatches = 0;
    let mut line = String::new();
    loop {
        write!(output, "Mensaje: ")?;
        output.flush()?;
        line.clear();
        if input.read_line(&mut line)? == 0 {
            writeln!(output)?;
            break;
        }
        let msg = line.trim_end_matches(['\r', '\n']);
        let sent = format!("{msg}\n").into_bytes();
        let echo = loop {
            let stream = match conn.take() {
                Some(s) => s,
                None => {
                    conn_used = false;
                    connect()?
                }
            };
            match send_line(&stream, &sent)? {
                Some(echo) => {
                    conn = Some(stream);
                    break echo;
                }
                None if conn_used => {
                    if !noted {
                        writeln!(output, "{RECONNECT_NOTE}")?;
                        noted = true;
                    }
                }
                None => return Err(ClientError::Closed),
            }
        };
        conn_used = true;
        let shown = String::from_utf8_lossy(echo.strip_suffix(b"\n").unwrap_or(&echo));
        writeln!(output, "Eco: {shown}")?;
        if echo != sent {
            mismatches += 1;
            writeln!(output, "{}", mismatch_note(&sent, &echo))?;
        }
    }
    if mismatches > 0 {
        return Err(ClientError::EchoMismatch(mismatches));
    }
    Ok(())
}

/// Envía `sent` y lee hasta `sent.len()` bytes de eco (menos si el servidor cierra antes).
/// `None` si la conexión ya estaba cerrada: no se pudo enviar o no volvió ni un byte.
fn send_line(stream: &TcpStream, sent: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
    let mut w = stream;
    match w.write_all(sent) {
        Ok(()) => {}
        Err(e) if is_disconnect(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut echo = vec![0u8; sent.len()];
    let mut got = 0;
    let mut r = stream;
    while let Some(rest) = echo.get_mut(got..).filter(|rest| !rest.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_disconnect(&e) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if got == 0 {
        return Ok(None);
    }
    echo.truncate(got);
    Ok(Some(echo))
}

/// La línea que explica en qué difiere un eco de lo enviado (sin los `\n` finales).
///
/// ```
/// use problema2::cliente::mismatch_note;
/// assert_eq!(
///     mismatch_note(b"hecho\n", b"HECHO\n"),
///     "el eco no coincide: se envió «hecho» y volvió «HECHO»"
/// );
/// assert_eq!(
///     mismatch_note(b"hola\n", b"ho"),
///     "el eco no coincide: se envió «hola» (5 bytes) y volvió «ho» (2 bytes)"
/// );
/// ```
pub fn mismatch_note(sent: &[u8], echo: &[u8]) -> String {
    let show = |b: &[u8]| String::from_utf8_lossy(b.strip_suffix(b"\n").unwrap_or(b)).into_owned();
    if sent.len() == echo.len() {
        format!(
            "el eco no coincide: se envió «{}» y volvió «{}»",
            show(sent),
            show(echo)
        )
    } else {
        format!(
            "el eco no coincide: se envió «{}» ({} bytes) y volvió «{}» ({} bytes)",
            show(sent),
            sent.len(),
            show(echo),
            echo.len()
        )
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
