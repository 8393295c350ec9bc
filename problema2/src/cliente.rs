//! El cliente de eco: interactivo, por tubería (flujo binario) o por UDP.
//!
//! - Interactivo (stdin es una terminal): pide `Mensaje: `, envía la línea y muestra el eco,
//!   comprobando que sea igual a lo enviado (`el eco no coincide` si no). Un servidor escrito
//!   como el esqueleto del taller devuelve un solo `recv(1024)` y cierra la conexión: en ese
//!   caso el cliente lo dice una vez y vuelve a conectar para cada línea. Mientras el usuario
//!   piensa, el cliente vigila la conexión: si el servidor la cierra (y no se puede abrir
//!   otra), lo dice en el acto, sin esperar a la próxima línea.
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
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::cli::ConnectError;
use common::exit::{Exit, Failure};
use common::net::{describe_io_error, is_disconnect, is_timeout};

use crate::servidor::MAX_DATAGRAM;

/// Tamaño del buffer de cada sentido del modo tubería: 64 KiB, como el del servidor.
pub const COPY_BUFFER: usize = 64 * 1024;

/// Cuánto esperamos al hilo emisor, cuando el eco acaba antes de tiempo, para saber cuántos
/// bytes llegó a enviar.
const SENDER_GRACE: Duration = Duration::from_millis(500);

/// Cada cuánto mira la sesión interactiva, mientras espera una línea, si el servidor cerró.
pub const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Aviso (una sola vez por sesión) de que el servidor cierra tras cada eco.
pub const RECONNECT_NOTE: &str =
    "(el servidor cerró la conexión tras el eco anterior: se vuelve a conectar para cada mensaje)";

/// Lo que puede fallar en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Fallo de red.
    #[error("{}", describe_io_error(.0))]
    Io(#[from] io::Error),
    /// Fallo al leer la entrada (stdin).
    #[error("leyendo la entrada: {}", describe_io_error(.0))]
    Input(io::Error),
    /// Fallo al escribir la salida (stdout); si quien leía la cerró, no es un error de red.
    #[error("escribiendo la salida: {}", describe_io_error(.0))]
    Output(io::Error),
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
    /// Volvió todo lo enviado, pero el flujo terminó antes que la entrada (modo tubería).
    #[error(
        "{end} antes de que terminara la entrada (había devuelto los {echoed} bytes enviados)"
    )]
    InputCut {
        /// Cómo terminó.
        end: StreamEnd,
        /// Bytes enviados, y devueltos.
        echoed: u64,
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

impl From<ClientError> for Failure {
    /// El código de salida de cada fallo: 1 si el eco no es lo enviado o lo pedido no se
    /// puede hacer, 3 si no se pudo conectar (o nadie escucha en el puerto UDP), 4 si la
    /// conexión se cortó o dejó de responder; una salida cerrada (`| head`) es un éxito
    /// silencioso.
    fn from(e: ClientError) -> Self {
        let exit = match &e {
            ClientError::Output(io) => return Failure::stdout(io),
            ClientError::Connect(_) => Exit::Connect,
            ClientError::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => Exit::Connect,
            ClientError::EchoMismatch(_)
            | ClientError::Mismatch
            | ClientError::TooLarge(_)
            | ClientError::Input(_) => Exit::Refused,
            ClientError::Io(_)
            | ClientError::Closed
            | ClientError::Incomplete { .. }
            | ClientError::InputCut { .. }
            | ClientError::UdpTimeout(_) => Exit::Network,
        };
        Failure {
            exit,
            message: e.to_string(),
        }
    }
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

/// Qué lado falló en [`copy_through`].
#[derive(Debug)]
pub enum CopyError {
    /// Falló la lectura de `from`.
    Read(io::Error),
    /// Falló la escritura en `to`.
    Write(io::Error),
}

/// Copia de `from` a `to` con un buffer propio de [`COPY_BUFFER`] bytes hasta el fin de
/// `from`, sumando en `counter` lo escrito. A diferencia de `io::copy`, nunca usa `splice(2)`
/// (véase el módulo).
///
/// # Errores
/// El primer error de lectura o escritura, diciendo cuál (se reintenta `Interrupted`).
pub fn copy_through(
    mut from: impl Read,
    mut to: impl Write,
    counter: &AtomicU64,
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(buf.get(..n).unwrap_or_default())
            .map_err(CopyError::Write)?;
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
        Err(CopyError::Read(e)) if is_timeout(&e) => StreamEnd::TimedOut,
        Err(CopyError::Read(e)) if is_disconnect(&e) => StreamEnd::Reset,
        Err(CopyError::Read(e)) => return Err(ClientError::Io(e)),
        // Un fallo al escribir en `output` (stdout cerrado, disco lleno...).
        Err(CopyError::Write(e)) => return Err(ClientError::Output(e)),
    };
    output.flush().map_err(ClientError::Output)?;
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
        (_, Some(Err(CopyError::Read(e)))) => Err(ClientError::Input(e)),
        (StreamEnd::Closed, Some(Ok(()))) if received >= sent => Ok((sent, received)),
        // Volvió todo lo enviado, pero la entrada seguía abierta (el servidor se apagó
        // mientras no llegaba nada nuevo): no se perdió nada, pero la copia no está completa.
        (end, None) if received >= sent => Err(ClientError::InputCut {
            end,
            echoed: received,
        }),
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

/// Cómo terminó, sin error, una sesión interactiva.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Se acabó la entrada (Ctrl-D).
    InputEnded,
    /// El servidor cerró la conexión mientras el usuario callaba, sin ningún eco pendiente
    /// (y no se pudo abrir otra): se apagó, o cierra a quien lleva mucho tiempo callado.
    ServerClosed,
}

/// Sesión interactiva: por cada línea de `input` muestra `Mensaje: `, la envía y escribe el
/// eco en `output` como `Eco: ...`. Termina al acabar `input`, o en cuanto el servidor cierra
/// la conexión mientras se espera una línea.
///
/// `input` se lee en un hilo propio, para que la espera de la siguiente línea no impida ver
/// que el servidor se fue: mientras tanto se mira la conexión cada [`WATCH_EVERY`]. `connect`
/// abre una conexión: se llama al empezar y cada vez que el servidor cerró la anterior tras
/// devolver un eco (los servidores del esqueleto del taller cierran después de cada uno); la
/// primera vez que pasa se avisa con [`RECONNECT_NOTE`]. Si la conexión se cierra sin haber
/// devuelto nada, o no se puede abrir otra, la sesión termina con
/// [`SessionEnd::ServerClosed`]. Cada eco se compara con lo enviado; si difiere se muestran
/// los dos y la sesión sigue, pero termina con [`ClientError::EchoMismatch`].
///
/// # Errores
/// Fallos de red o de conexión, [`ClientError::Closed`] si una conexión nueva se cierra sin
/// eco tras enviarle una línea, [`ClientError::Incomplete`] si el eco de una línea se corta a
/// medias, o [`ClientError::EchoMismatch`] al final si algún eco no coincidió.
pub fn interactive(
    mut connect: impl FnMut() -> Result<TcpStream, ClientError>,
    input: impl BufRead + Send + 'static,
    mut output: impl Write,
) -> Result<SessionEnd, ClientError> {
    let mut conn = Some(connect()?);
    let lines = read_lines_in_thread(input)?;
    // ¿Ha devuelto ya algún eco la conexión actual? Si se cierra después, es que el servidor
    // cierra tras cada eco; si se cierra antes del primero, es que se ha ido.
    let mut conn_used = false;
    let mut noted = false;
    let mut reconnected = false;
    let mut mismatches = 0;
    let mut prompt = true;
    let ended = loop {
        if prompt {
            write!(output, "Mensaje: ").map_err(ClientError::Output)?;
            output.flush().map_err(ClientError::Output)?;
        }
        prompt = true;
        let line = match wait_for_line(&lines, conn.as_ref())? {
            Waited::Line(line) => line,
            Waited::InputEnded => break SessionEnd::InputEnded,
            Waited::ServerClosed => {
                // Un servidor del taller cierra tras cada eco: si abre otra conexión, seguimos.
                let again = if conn_used { connect().ok() } else { None };
                let Some(stream) = again else {
                    break SessionEnd::ServerClosed;
                };
                // El aviso espera al primer eco de la conexión nueva: un servidor que se está
                // apagando aún puede aceptarla (en la cola del núcleo) y cerrarla sin más.
                reconnected = true;
                conn = Some(stream);
                conn_used = false;
                // El `Mensaje: ` ya está en pantalla: se sigue esperando la misma línea.
                prompt = false;
                continue;
            }
        };
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
                None if conn_used => reconnected = true,
                None => return Err(ClientError::Closed),
            }
        };
        if reconnected && !noted {
            writeln!(output, "{RECONNECT_NOTE}").map_err(ClientError::Output)?;
            noted = true;
        }
        reconnected = false;
        conn_used = true;
        let shown = String::from_utf8_lossy(echo.strip_suffix(b"\n").unwrap_or(&echo));
        writeln!(output, "Eco: {shown}").map_err(ClientError::Output)?;
        if echo != sent {
            mismatches += 1;
            writeln!(output, "{}", mismatch_note(&sent, &echo)).map_err(ClientError::Output)?;
        }
    };
    writeln!(output).map_err(ClientError::Output)?;
    if mismatches > 0 {
        return Err(ClientError::EchoMismatch(mismatches));
    }
    Ok(ended)
}

/// Lo que llega del hilo que lee la entrada.
enum Input {
    Line(String),
    End,
    Failed(io::Error),
}

/// Lee `input` línea a línea en un hilo propio y entrega cada una por el canal devuelto.
fn read_lines_in_thread(mut input: impl BufRead + Send + 'static) -> io::Result<Receiver<Input>> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("cliente-teclado".into())
        .spawn(move || loop {
            let mut line = String::new();
            let event = match input.read_line(&mut line) {
                Ok(0) => Input::End,
                Ok(_) => Input::Line(line),
                Err(e) => Input::Failed(e),
            };
            let last = !matches!(event, Input::Line(_));
            // Si nadie escucha ya (la sesión terminó), este hilo tampoco tiene nada que hacer.
            if tx.send(event).is_err() || last {
                return;
            }
        })?;
    Ok(rx)
}

/// Lo que pasó mientras se esperaba una línea.
enum Waited {
    Line(String),
    InputEnded,
    ServerClosed,
}

/// Espera la siguiente línea del usuario mirando, cada [`WATCH_EVERY`], si el servidor cerró
/// la conexión `conn` (si la hay).
fn wait_for_line(lines: &Receiver<Input>, conn: Option<&TcpStream>) -> Result<Waited, ClientError> {
    loop {
        match lines.recv_timeout(WATCH_EVERY) {
            Ok(Input::Line(line)) => return Ok(Waited::Line(line)),
            Ok(Input::End) | Err(RecvTimeoutError::Disconnected) => return Ok(Waited::InputEnded),
            Ok(Input::Failed(e)) => return Err(ClientError::Input(e)),
            Err(RecvTimeoutError::Timeout) => {
                if conn.is_some_and(server_closed) {
                    return Ok(Waited::ServerClosed);
                }
            }
        }
    }
}

/// ¿Cerró el servidor la conexión? Se mira sin esperar y sin consumir nada: un `peek` no
/// bloqueante devuelve 0 bytes tras su FIN, o el error de su RST.
fn server_closed(conn: &TcpStream) -> bool {
    if conn.set_nonblocking(true).is_err() {
        return false;
    }
    let peeked = conn.peek(&mut [0u8; 1]);
    let _ = conn.set_nonblocking(false);
    match peeked {
        Ok(0) => true,
        // Bytes que nadie pidió: los verá el próximo eco (y dirá que no coincide).
        Ok(_) => false,
        Err(e) => !is_timeout(&e) && e.kind() != io::ErrorKind::Interrupted,
    }
}

/// Envía `sent` y lee `sent.len()` bytes de eco. `None` si la conexión ya estaba cerrada: no
/// se pudo enviar o no volvió ni un byte.
///
/// # Errores
/// [`ClientError::Incomplete`] si el servidor cierra con el eco a medias; los de la red.
fn send_line(stream: &TcpStream, sent: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
    let mut w = stream;
    match w.write_all(sent) {
        Ok(()) => {}
        Err(e) if is_disconnect(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut echo = vec![0u8; sent.len()];
    let mut got = 0;
    let mut end = StreamEnd::Closed;
    let mut r = stream;
    while let Some(rest) = echo.get_mut(got..).filter(|rest| !rest.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_disconnect(&e) => {
                end = StreamEnd::Reset;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if got == 0 {
        return Ok(None);
    }
    if got < sent.len() {
        return Err(ClientError::Incomplete {
            end,
            received: got as u64,
            sent: sent.len() as u64,
        });
    }
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
            write!(output, "Mensaje: ").map_err(ClientError::Output)?;
            output.flush().map_err(ClientError::Output)?;
        }
        line.clear();
        if input.read_line(&mut line).map_err(ClientError::Input)? == 0 {
            return Ok(());
        }
        let msg = line.trim_end_matches(['\r', '\n']);
        let echo = udp_exchange(socket, server, msg.as_bytes(), timeout)?;
        if prompt {
            writeln!(output, "Eco: {}", String::from_utf8_lossy(&echo))
        } else {
            writeln!(output, "{}", String::from_utf8_lossy(&echo))
        }
        .map_err(ClientError::Output)?;
    }
}
