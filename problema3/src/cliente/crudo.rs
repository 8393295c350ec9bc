//! El dialecto del esqueleto del taller: el servidor no pide el nombre ni usa saltos de línea.
//!
//! Un servidor escrito como pide el taller toma su primer `recv(1024)` como el nombre, tal
//! como llegó, lo confirma con `ya estás conectado!` y reenvía cada `recv` siguiente como
//! `nombre: texto`, todo sin `\n`; `/quit` no significa nada para él. Así que aquí:
//! - el nombre y cada mensaje salen sin salto de línea, y entre dos mensajes dejamos al
//!   menos [`PAUSE`], para que su `recv` no los reciba pegados;
//! - el primer mensaje espera a la confirmación del nombre (si no, se juntaría con él);
//! - lo que llega sin `\n` se muestra tras [`PAUSE`] de silencio;
//! - `/quit` no se envía: cerramos nosotros la conexión.
//!
//! Si la primera respuesta resulta ser `Introduce tu nombre:`, el servidor era de los nuestros
//! y solo tardó en hablar: se termina el nombre con `\n` y se sigue en el dialecto de líneas.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::net::{is_disconnect, is_timeout};

use super::{supervise, ClientError, Outcome, Shown, MAX_INCOMING_LINE};
use crate::protocolo::{NAME_PROMPT, QUIT_COMMAND};

/// Silencio tras el que se muestra un texto llegado sin salto de línea, y separación mínima
/// entre dos mensajes enviados. 200 ms: no se nota al leer y basta para que el otro extremo
/// vea dos `recv` en vez de uno.
pub const PAUSE: Duration = Duration::from_millis(200);

/// Cuánto esperamos la confirmación del nombre.
pub const CONFIRM_WAIT: Duration = Duration::from_secs(10);

/// Aviso al usuario que no dio `--name`: este servidor no lo pedirá.
pub const NAME_HINT: &str = "(el servidor no pide el nombre: escriba el suyo)";

/// La sesión con un servidor del taller (véase el módulo).
pub(super) fn run<I, O>(
    stream: TcpStream,
    name: Option<&str>,
    mut input: I,
    mut output: O,
) -> Result<Outcome, ClientError>
where
    I: BufRead + Send + 'static,
    O: Write + Send + 'static,
{
    let name = match name {
        Some(name) => name.to_string(),
        None => {
            writeln!(output, "{NAME_HINT}")
                .and_then(|()| output.flush())
                .map_err(ClientError::Output)?;
            let mut line = String::new();
            if input.read_line(&mut line)? == 0 {
                let _ = stream.shutdown(NetShutdown::Both);
                return Ok(Outcome::Quit);
            }
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let closed = Ok(Outcome::ServerClosed { announced: false });
    match (&stream).write_all(name.as_bytes()) {
        Ok(()) => {}
        Err(e) if is_disconnect(&e) => return closed,
        Err(e) => return Err(e.into()),
    }
    stream.set_read_timeout(Some(CONFIRM_WAIT))?;
    let mut buf = vec![0u8; 1024];
    let n = match (&stream).read(&mut buf) {
        Ok(0) => return closed,
        Ok(n) => n,
        Err(e) if is_timeout(&e) => return Err(ClientError::NoConfirmation(CONFIRM_WAIT)),
        Err(e) if is_disconnect(&e) => return closed,
        Err(e) => return Err(e.into()),
    };
    let first = buf.get(..n).unwrap_or_default();
    if let Some(rest) = first.strip_prefix(NAME_PROMPT.as_bytes()) {
        // Era uno de los nuestros que tardó más de `DETECT_WAIT` en hablar (una máquina muy
        // cargada): terminamos la línea del nombre y seguimos en el dialecto de líneas con lo
        // que vino detrás de la petición.
        log::debug!("el servidor pidió el nombre tarde: es de los nuestros");
        (&stream).write_all(b"\n")?;
        stream.set_read_timeout(None)?;
        let rest = rest.strip_prefix(b"\r").unwrap_or(rest);
        let rest = rest.strip_prefix(b"\n").unwrap_or(rest).to_vec();
        let incoming = io::Cursor::new(rest).chain(stream.try_clone()?);
        return super::lines(&stream, incoming, false, input, output);
    }
    let confirmation = String::from_utf8_lossy(first).into_owned();
    writeln!(output, "{}", confirmation.trim_end_matches(['\r', '\n']))
        .and_then(|()| output.flush())
        .map_err(ClientError::Output)?;
    stream.set_read_timeout(None)?;

    let reader = stream.try_clone()?;
    let writer = stream.try_clone()?;
    supervise(
        &stream,
        move || show_raw(reader, output),
        move |quitting| send_raw(input, writer, quitting),
    )
}

/// Muestra lo que llega: las líneas completas enseguida y el resto tras [`PAUSE`] de
/// silencio (o al llegar a [`MAX_INCOMING_LINE`]). Vuelve al cerrarse la conexión (este
/// servidor no avisa de su apagado) o la salida.
fn show_raw(stream: TcpStream, mut output: impl Write) -> Shown {
    let closed = Shown::ServerClosed { announced: false };
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let wait = (!pending.is_empty()).then_some(PAUSE);
        if stream.set_read_timeout(wait).is_err() {
            return closed;
        }
        let (end, paused) = match (&stream).read(&mut buf) {
            Ok(0) => (true, false),
            Ok(n) => {
                pending.extend_from_slice(buf.get(..n).unwrap_or_default());
                (false, false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => (false, true),
            Err(_) => (true, false),
        };
        // Tras una pausa, al final o al llegar al máximo se muestra todo; si no, hasta el
        // último `\n`.
        let cut = if end || paused || pending.len() >= MAX_INCOMING_LINE {
            pending.len()
        } else {
            pending
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
        };
        let shown: Vec<u8> = pending.drain(..cut).collect();
        if write_lines(&mut output, &shown).is_err() {
            return Shown::OutputClosed;
        }
        if end {
            return closed;
        }
    }
}

/// Escribe `bytes` como líneas (un `\n` al final si no lo traían) y vacía la salida.
fn write_lines(output: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(bytes);
    writeln!(output, "{}", text.strip_suffix('\n').unwrap_or(&text))?;
    output.flush()
}

/// Envía cada línea de `input` sin salto de línea, separadas al menos [`PAUSE`], hasta
/// `/quit` o el fin de la entrada; entonces cierra la escritura: el servidor del taller ve
/// un `recv` vacío, nos saca de la sala y cierra.
fn send_raw(input: impl BufRead, mut writer: TcpStream, quitting: &AtomicBool) {
    let mut last_sent: Option<Instant> = None;
    for line in input.lines() {
        let Ok(line) = line else { break };
        let text = line.trim_end_matches('\r');
        if text.trim() == QUIT_COMMAND {
            break;
        }
        if text.is_empty() {
            continue;
        }
        if let Some(at) = last_sent {
            thread::sleep(PAUSE.saturating_sub(at.elapsed()));
        }
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
        last_sent = Some(Instant::now());
    }
    quitting.store(true, Ordering::SeqCst);
    let _ = writer.shutdown(NetShutdown::Write);
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Cursor, Write};
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    use crate::cliente::{run, DETECT_WAIT};
    use crate::protocolo::{CONNECTED, NAME_PROMPT};
    use crate::Outcome;

    /// Nuestro servidor, en una máquina tan cargada que pide el nombre después de
    /// `DETECT_WAIT`: el cliente lo toma al principio por uno del taller y envía el nombre sin
    /// `\n`, pero al ver la petición lo termina y sigue con líneas.
    #[test]
    fn a_late_name_prompt_switches_back_to_lines() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            thread::sleep(DETECT_WAIT + Duration::from_millis(500));
            (&stream)
                .write_all(format!("{NAME_PROMPT}\n").as_bytes())
                .unwrap();
            let mut reader = BufReader::new(&stream);
            let mut lines = Vec::new();
            for _ in 0..2 {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if lines.is_empty() {
                    (&stream)
                        .write_all(format!("{CONNECTED}\n").as_bytes())
                        .unwrap();
                }
                lines.push(line);
            }
            // Como el nuestro: se cierra cuando el cliente termina (fin de su entrada).
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
            lines
        });
        let stream = std::net::TcpStream::connect(addr).unwrap();
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = SharedOut(output.clone());
        let outcome = run(stream, Some("ana"), Cursor::new("hola\n"), out).unwrap();
        assert_eq!(outcome, Outcome::Quit);
        assert_eq!(server.join().unwrap(), ["ana\n", "hola\n"]);
        let shown = String::from_utf8(output.lock().unwrap().clone()).unwrap();
        assert_eq!(shown, format!("{CONNECTED}\n"));
    }

    struct SharedOut(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for SharedOut {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
