//! El cliente del chat con salas: el mismo que el del chat de una sala (problema 3).
//!
//! El cliente no necesita saber nada de salas: envía el nombre (si se pasó `--name`) y cada
//! línea que escribe el usuario, y muestra cada línea que llega, con un hilo lector y otro
//! para el teclado. Las órdenes (`/join`, `/msg`...) viajan como cualquier otra línea y las
//! interpreta el servidor. Por eso se reutiliza tal cual [`problema3::cliente`] en lugar de
//! escribir una segunda copia: véase allí cómo termina (`/quit`, fin de la entrada o cierre
//! del servidor).
//!
//! Lo único propio es [`session`], que traduce cómo terminó la sesión al código de salida de
//! `common::exit`, mirando lo que se mostró ([`Watched`]): si la salida estándar se cerró
//! (`cliente | head`) o si el servidor nos echó con una línea `ERROR ...`.

use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use common::exit::Failure;
use common::sync::lock;

pub use problema3::cliente::{run, ClientError, Outcome, GOODBYE_WAIT, MAX_INCOMING_LINE};

/// Lo que se guarda de la última línea mostrada: basta para reconocer un `ERROR ...` y
/// citarlo en el mensaje final.
const LAST_LINE_BYTES: usize = 512;

/// Una salida que recuerda la última línea mostrada y si quien leía la cerró. El hilo lector
/// del cliente escribe en ella; [`session`] la consulta al terminar.
#[derive(Debug)]
pub struct Watched<W> {
    inner: W,
    seen: Arc<Mutex<Seen>>,
}

/// Lo que vio [`Watched`].
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// La última línea completa mostrada (sin `\n`; cortada a [`LAST_LINE_BYTES`]).
    pub last_line: String,
    /// La línea en curso, aún sin `\n`.
    partial: Vec<u8>,
    /// ¿Se cerró la salida (`BrokenPipe`)?
    pub closed: bool,
}

impl<W: Write> Watched<W> {
    /// Envuelve `inner`; el segundo valor permite consultar lo visto desde otro hilo.
    pub fn new(inner: W) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let watched = Self {
            inner,
            seen: Arc::clone(&seen),
        };
        (watched, seen)
    }

    fn note<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::BrokenPipe) {
            lock(&self.seen).closed = true;
        }
        result
    }
}

impl<W: Write> Write for Watched<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        if let Ok(n) = &result {
            let mut seen = lock(&self.seen);
            for &byte in buf.get(..*n).unwrap_or_default() {
                if byte == b'\n' {
                    seen.last_line = String::from_utf8_lossy(&seen.partial).into_owned();
                    seen.partial.clear();
                } else if seen.partial.len() < LAST_LINE_BYTES {
                    seen.partial.push(byte);
                }
            }
        }
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// Una sesión de chat entera, con el código de salida de `common::exit`:
/// - 0: el usuario salió (`/quit`, fin de la entrada), el servidor avisó de que se apagaba
///   (`servidor cerrándose`), o se cerró la salida estándar (`cliente | head`);
/// - 1: el servidor nos echó tras una línea `ERROR ...` (servidor lleno, demasiados nombres
///   rechazados, sin nombre a tiempo, inundación);
/// - 4: el servidor cerró sin avisar, o falló el socket.
///
/// # Errores
/// [`Failure`] con el código y el motivo en español.
pub fn session<I, O>(
    stream: TcpStream,
    name: Option<&str>,
    input: I,
    output: O,
) -> Result<(), Failure>
where
    I: BufRead + Send + 'static,
    O: Write + Send + 'static,
{
    let (output, seen) = Watched::new(output);
    let outcome = run(stream, name, input, output);
    let seen = lock(&seen).clone();
    if seen.closed {
        return Ok(());
    }
    match outcome {
        Ok(Outcome::Quit) => Ok(()),
        Ok(Outcome::ServerClosed { announced: true }) => {
            let _ = writeln!(io::stderr(), "el servidor se ha apagado; hasta pronto");
            Ok(())
        }
        Ok(Outcome::ServerClosed { announced: false }) if seen.last_line.starts_with("ERROR ") => {
            Err(Failure::refused(format!(
                "el servidor cerró la conexión tras «{}»",
                seen.last_line
            )))
        }
        Ok(Outcome::ServerClosed { announced: false }) => {
            Err(Failure::network("el servidor cerró la conexión sin avisar"))
        }
        Err(ClientError::Io(e)) => Err(Failure::io("conversando con el servidor", &e)),
        Err(e) => Err(Failure::network(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_output_remembers_the_last_whole_line() {
        let (mut out, seen) = Watched::new(Vec::new());
        write!(out, "hola\nERROR servidor lleno").unwrap();
        assert_eq!(lock(&seen).last_line, "hola");
        writeln!(out).unwrap();
        assert_eq!(lock(&seen).last_line, "ERROR servidor lleno");
        assert!(!lock(&seen).closed);
    }

    #[test]
    fn watched_output_notes_a_closed_pipe() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (mut out, seen) = Watched::new(Closed);
        assert!(writeln!(out, "x").is_err());
        assert!(lock(&seen).closed);
    }

    #[test]
    fn a_long_line_is_kept_only_up_to_the_bound() {
        let (mut out, seen) = Watched::new(Vec::new());
        writeln!(out, "{}", "x".repeat(10_000)).unwrap();
        assert_eq!(lock(&seen).last_line.len(), LAST_LINE_BYTES);
    }
}
