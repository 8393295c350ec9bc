//! El cliente del chat: un hilo envía lo que escribe el usuario y el principal muestra lo que
//! llega del servidor.
//!
//! El servidor pide el nombre con `Introduce tu nombre:`; si se pasó `name`, el cliente lo
//! envía solo al conectar (y si no, el usuario lo teclea como cualquier otra línea). Cuando
//! la entrada se acaba (Ctrl-D o fin del fichero) se envía `/quit`. La función vuelve cuando
//! el servidor cierra la conexión, y dice si fue porque nos despedimos o no.
//!
//! Cada línea del servidor se lee con un máximo ([`MAX_SERVER_LINE`]): un servidor roto no
//! puede hacer crecer la memoria del cliente sin límite.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::line::{discard_line, read_line, LineError};

/// Máximo de bytes de una línea del servidor (más que cualquier línea que envíe el nuestro).
pub const MAX_SERVER_LINE: usize = 64 * 1024;

/// Cómo terminó la sesión.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Enviamos `/quit` (o se acabó la entrada) y el servidor cerró, como debe.
    Quit,
    /// El servidor cerró sin que nos despidiéramos (se apagó o nos expulsó).
    ServerClosed,
}

/// Lo que puede fallar en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Error al leer del servidor o al escribir en la salida.
    #[error("error de E/S: {0}")]
    Io(#[from] io::Error),
    /// No se pudo crear el hilo que envía la entrada.
    #[error("no se pudo crear el hilo de entrada: {0}")]
    Thread(io::Error),
}

/// Conversa con el servidor por `stream`: envía `name` (si lo hay) y cada línea de `input`,
/// y escribe en `output` cada línea que llega, hasta que el servidor cierre.
///
/// # Errores
/// [`ClientError`] si falla la lectura del socket (que no sea un cierre) o la salida.
pub fn run<R, W>(
    stream: TcpStream,
    input: R,
    output: &mut W,
    name: Option<&str>,
) -> Result<Ending, ClientError>
where
    R: BufRead + Send + 'static,
    W: Write,
{
    // En un chat es normal pasar mucho tiempo sin recibir nada.
    stream.set_read_timeout(None)?;
    let quitting = Arc::new(AtomicBool::new(false));
    let writer = stream.try_clone()?;
    let first = name.map(str::to_string);
    let flag = Arc::clone(&quitting);
    thread::Builder::new()
        .name("problema6-entrada".into())
        .spawn(move || send_input(writer, input, first, &flag))
        .map_err(ClientError::Thread)?;

    let mut reader = BufReader::new(&stream);
    let mut buf = Vec::new();
    loop {
        match read_line(&mut reader, &mut buf, MAX_SERVER_LINE) {
            Ok(true) => {
                output.write_all(&buf)?;
                output.write_all(b"\n")?;
                output.flush()?;
            }
            Ok(false) => break,
            Err(LineError::TooLong { .. }) => {
                writeln!(output, "[línea del servidor demasiado larga: se omite]")?;
                if !discard_line(&mut reader, u64::MAX)? {
                    break;
                }
            }
            Err(LineError::Io(e)) if common::net::is_disconnect(&e) => break,
            Err(LineError::Io(e)) => return Err(e.into()),
            Err(LineError::InvalidUtf8) => {}
        }
    }
    let _ = stream.shutdown(NetShutdown::Both);
    Ok(if quitting.load(Ordering::SeqCst) {
        Ending::Quit
    } else {
        Ending::ServerClosed
    })
}

/// El hilo de entrada: el nombre, cada línea del usuario y `/quit` al final de la entrada.
fn send_input(
    mut stream: TcpStream,
    mut input: impl BufRead,
    name: Option<String>,
    quitting: &AtomicBool,
) {
    if let Some(name) = name {
        if writeln!(stream, "{name}").is_err() {
            return;
        }
    }
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = line.trim_end_matches(['\n', '\r']);
                if is_quit(text) {
                    quitting.store(true, Ordering::SeqCst);
                }
                if writeln!(stream, "{text}").is_err() {
                    return;
                }
                if quitting.load(Ordering::SeqCst) {
                    return;
                }
            }
        }
    }
    quitting.store(true, Ordering::SeqCst);
    let _ = writeln!(stream, "/quit");
}

fn is_quit(text: &str) -> bool {
    let t = text.trim();
    t.eq_ignore_ascii_case("/quit") || t == "/adios" || t == "/adiós"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn sends_name_and_lines_then_quit_and_prints_what_arrives() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut r = BufReader::new(&s);
            let mut got = Vec::new();
            for _ in 0..3 {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                got.push(l);
            }
            (&s).write_all(b"ya est\xc3\xa1s conectado!\nadi\xc3\xb3s\n")
                .unwrap();
            got
        });
        let stream = TcpStream::connect(addr).unwrap();
        let mut out = Vec::new();
        let ending = run(stream, &b"hola\n"[..], &mut out, Some("ana")).unwrap();
        assert_eq!(server.join().unwrap(), ["ana\n", "hola\n", "/quit\n"]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ya estás conectado!\nadiós\n"
        );
        assert_eq!(ending, Ending::Quit);
    }
}
