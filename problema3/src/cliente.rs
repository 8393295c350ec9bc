//! El cliente del chat: un hilo lector muestra lo que llega del servidor mientras otro envía
//! lo que escribe el usuario.
//!
//! Con blocking I/O un solo hilo no puede esperar a la vez al teclado y al socket, por eso
//! hay dos. El hilo principal espera el primero de dos sucesos: "el servidor cerró" (el
//! lector vio el fin del flujo) o "el usuario se fue" (`/quit` o fin de la entrada); en el
//! segundo caso aún espera a que el servidor cierre, para mostrar la despedida.
//!
//! Habla dos dialectos y elige solo, sin opciones ([`detect`]): el nuestro, de líneas, en el
//! que el servidor habla primero (`Introduce tu nombre:`), y el del esqueleto del taller
//! ([`crudo`]), cuyo servidor calla hasta tener el nombre y no usa saltos de línea.
//!
//! [`run`] recibe la entrada y la salida como parámetros, así las pruebas lo manejan sin
//! terminal.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::exit::Failure;
use common::line::read_line;
use common::net::{describe_io_error, is_timeout};

use crate::protocolo;

pub mod crudo;

/// Cuánto esperamos, al conectar, a que el servidor hable primero. El nuestro envía
/// `Introduce tu nombre:` nada más aceptar; uno escrito como el esqueleto del taller no dice
/// nada hasta recibir el nombre. Un segundo deja margen a un servidor cargado y apenas se
/// nota al arrancar contra el del taller.
pub const DETECT_WAIT: Duration = Duration::from_secs(1);

/// El dialecto del servidor, según lo que hace al conectar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// El nuestro: habla primero, líneas terminadas en `\n`.
    Lines,
    /// El del esqueleto del taller: calla hasta tener el nombre; mensajes sin `\n`.
    Workshop,
}

/// Averigua el dialecto del servidor sin consumir nada: si envía algo (o cierra) en
/// [`DETECT_WAIT`], habla primero y es el nuestro; si calla, es el del taller.
///
/// # Errores
/// Si no se puede cambiar el plazo de lectura del socket.
pub fn detect(stream: &TcpStream) -> io::Result<Dialect> {
    stream.set_read_timeout(Some(DETECT_WAIT))?;
    let dialect = match stream.peek(&mut [0u8; 1]) {
        Err(e) if is_timeout(&e) => Dialect::Workshop,
        // Datos, un cierre o un error: lo verá (y lo contará) la sesión de líneas.
        _ => Dialect::Lines,
    };
    stream.set_read_timeout(None)?;
    Ok(dialect)
}

/// Lo que significa `--timeout` en el cliente del chat (problema3 y problema6, que usa este
/// mismo cliente): el mismo texto en su `--help` y en los dos README.
pub const TIMEOUT_HELP: &str = "Segundos de espera para conectar y para cada envío; lo que llega del servidor se espera sin plazo (callar es parte del chat)";

/// Longitud máxima de una línea recibida del servidor: generosa, porque el servidor limita
/// las suyas, pero acotada para que un servidor hostil no nos haga reservar sin fin.
pub const MAX_INCOMING_LINE: usize = 64 * 1024;

/// Cuánto esperamos a que el servidor cierre después de despedirnos.
pub const GOODBYE_WAIT: Duration = Duration::from_secs(5);

/// Cómo terminó la sesión.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// El usuario salió (`/quit` o fin de la entrada).
    Quit,
    /// El servidor cerró la conexión. `announced` dice si antes avisó de que se apagaba.
    ServerClosed {
        /// ¿Llegó `servidor cerrándose` antes del cierre?
        announced: bool,
    },
}

/// Lo que puede fallar en el cliente.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No se pudo preparar el socket o crear un hilo.
    #[error("error de conexión: {}", describe_io_error(.0))]
    Io(#[from] io::Error),
    /// Un servidor del taller no confirmó el nombre a tiempo.
    #[error("el servidor no confirmó el nombre en {} s", .0.as_secs())]
    NoConfirmation(Duration),
    /// El servidor cerró la conexión justo después de una línea `ERROR ...` (servidor lleno,
    /// demasiados intentos de nombre, inundación...): nos dijo que no.
    #[error("el servidor cerró la conexión tras responder: {0}")]
    Refused(String),
    /// No se pudo escribir en la salida (stdout); si quien leía la cerró, no es un error.
    #[error("escribiendo la salida: {}", describe_io_error(.0))]
    Output(io::Error),
}

impl From<ClientError> for Failure {
    /// Un `ERROR ...` antes del cierre es un «no» del servidor (código 1); una salida cerrada
    /// (`| head`) es un éxito silencioso; lo demás, un corte (código 4).
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Output(io) => Failure::stdout(&io),
            ClientError::Refused(_) => Failure::refused(e.to_string()),
            e => Failure::network(e.to_string()),
        }
    }
}

/// Cómo termina el proceso del cliente tras [`run`] (lo comparten problema3 y problema6):
/// 0 si el usuario salió o el servidor avisó de que se apagaba (y entonces se dice en stderr),
/// 1 si el servidor cerró tras un `ERROR ...`, 4 si la conexión se perdió sin aviso.
///
/// # Errores
/// El [`Failure`] con el código y el motivo.
pub fn conclude(result: Result<Outcome, ClientError>) -> Result<(), Failure> {
    match result? {
        Outcome::Quit => Ok(()),
        Outcome::ServerClosed { announced: true } => {
            let _ = writeln!(io::stderr(), "el servidor se ha apagado; hasta pronto");
            Ok(())
        }
        Outcome::ServerClosed { announced: false } => {
            Err(Failure::network("el servidor cerró la conexión"))
        }
    }
}

/// Mensajes de los hilos al hilo principal.
enum Event {
    /// El lector terminó: vio el fin de la conexión o no pudo mostrar más.
    Shown(Shown),
    /// El usuario se despidió (`/quit` o fin de la entrada).
    UserLeft,
}

/// Por qué terminó el hilo que muestra lo que llega.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shown {
    /// El servidor cerró la conexión; `announced` dice si antes avisó de que se apagaba.
    ServerClosed { announced: bool },
    /// El servidor cerró justo después de esta línea `ERROR ...`.
    Refused(String),
    /// La salida se cerró (`cliente | head`): quien leía ya no quiere más; nos vamos.
    OutputClosed,
}

/// Conversa por `stream`: si hay `name`, lo envía como nombre (y no muestra la primera
/// petición de nombre); después envía cada línea de `input` y escribe en `output` cada
/// línea que llega del servidor. Con un servidor del taller ([`Dialect::Workshop`]) envía el
/// nombre y cada mensaje sin salto de línea, espera la confirmación antes del primero y sale
/// con `/quit` cerrando la conexión (véase [`crudo`]).
///
/// # Errores
/// [`ClientError::Io`] si no se puede duplicar el socket o crear los hilos. Que el servidor
/// se vaya no es un error: es [`Outcome::ServerClosed`].
pub fn run<I, O>(
    stream: TcpStream,
    name: Option<&str>,
    input: I,
    output: O,
) -> Result<Outcome, ClientError>
where
    I: BufRead + Send + 'static,
    O: Write + Send + 'static,
{
    if detect(&stream)? == Dialect::Workshop {
        return crudo::run(stream, name, input, output);
    }
    if let Some(name) = name {
        // Si falla, el lector verá el cierre y lo contará.
        let _ = (&stream).write_all(format!("{name}\n").as_bytes());
    }
    let incoming = stream.try_clone()?;
    lines(&stream, incoming, name.is_some(), input, output)
}

/// La sesión en nuestro dialecto, de líneas, ya enviado el nombre si lo había: lo que llega
/// por `incoming` se muestra línea a línea (sin la primera petición de nombre si
/// `skip_prompt`) y cada línea de `input` se envía con su `\n`. Estar callado es parte del
/// chat: `stream` no tiene plazo de lectura (`detect` ya lo quitó).
fn lines<I, O>(
    stream: &TcpStream,
    incoming: impl Read + Send + 'static,
    skip_prompt: bool,
    input: I,
    output: O,
) -> Result<Outcome, ClientError>
where
    I: BufRead + Send + 'static,
    O: Write + Send + 'static,
{
    let writer = stream.try_clone()?;
    supervise(
        stream,
        move || show_incoming(incoming, output, skip_prompt),
        move |quitting| send_input(input, writer, quitting),
    )
}

/// Lanza el hilo lector (`show`, que dice por qué terminó) y el del teclado (`send`, que
/// marca la bandera antes de despedirse), y espera el primero de los dos sucesos; si fue el
/// usuario, aún espera el cierre del servidor [`GOODBYE_WAIT`]. Si se cerró la salida, se
/// corta la conexión y es como si el usuario hubiera salido.
fn supervise<S, K>(stream: &TcpStream, show: S, send: K) -> Result<Outcome, ClientError>
where
    S: FnOnce() -> Shown + Send + 'static,
    K: FnOnce(&AtomicBool) + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let reader_tx = tx.clone();
    thread::Builder::new()
        .name("cliente-lector".into())
        .spawn(move || {
            let _ = reader_tx.send(Event::Shown(show()));
        })?;

    // Se marca antes de enviar `/quit`: así, si el cierre del servidor llega antes que el
    // aviso del hilo del teclado, sabemos igualmente que salió el usuario.
    let quitting = Arc::new(AtomicBool::new(false));
    let quitting_input = Arc::clone(&quitting);
    thread::Builder::new()
        .name("cliente-teclado".into())
        .spawn(move || {
            send(&quitting_input);
            let _ = tx.send(Event::UserLeft);
        })?;

    match rx.recv() {
        Ok(Event::Shown(Shown::OutputClosed)) => {
            let _ = stream.shutdown(NetShutdown::Both);
            Ok(Outcome::Quit)
        }
        Ok(Event::Shown(_)) if quitting.load(Ordering::SeqCst) => Ok(Outcome::Quit),
        Ok(Event::Shown(Shown::ServerClosed { announced })) => {
            Ok(Outcome::ServerClosed { announced })
        }
        Ok(Event::Shown(Shown::Refused(line))) => Err(ClientError::Refused(line)),
        Ok(Event::UserLeft) | Err(_) => {
            // Esperamos a que el servidor cierre para mostrar su despedida, con un plazo.
            if rx.recv_timeout(GOODBYE_WAIT).is_err() {
                let _ = stream.shutdown(NetShutdown::Both);
            }
            Ok(Outcome::Quit)
        }
    }
}

/// Copia las líneas del servidor en `output` hasta el fin de la conexión (o de la salida).
fn show_incoming(incoming: impl Read, mut output: impl Write, mut skip_prompt: bool) -> Shown {
    let mut reader = BufReader::new(incoming);
    let mut buf = Vec::new();
    let mut announced = false;
    // La última línea, si era un `ERROR ...`: si el servidor cierra tras ella, nos rechazó.
    let mut last_error: Option<String> = None;
    loop {
        match read_line(&mut reader, &mut buf, MAX_INCOMING_LINE) {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                return match last_error {
                    Some(line) => Shown::Refused(line),
                    None => Shown::ServerClosed { announced },
                }
            }
        }
        let line = String::from_utf8_lossy(&buf);
        last_error = line.starts_with("ERROR").then(|| line.to_string());
        if skip_prompt && line == protocolo::NAME_PROMPT {
            skip_prompt = false;
            continue;
        }
        if line == protocolo::SHUTTING_DOWN {
            announced = true;
        }
        if writeln!(output, "{line}")
            .and_then(|()| output.flush())
            .is_err()
        {
            return Shown::OutputClosed;
        }
    }
}

/// Envía cada línea de `input` hasta `/quit` o el fin de la entrada; en ese caso cierra el
/// lado de escritura para que el servidor sepa que nos vamos.
fn send_input(input: impl BufRead, mut writer: TcpStream, quitting: &AtomicBool) {
    for line in input.lines() {
        let Ok(line) = line else { break };
        let quit = line.trim() == protocolo::QUIT_COMMAND;
        if quit {
            quitting.store(true, Ordering::SeqCst);
        }
        if writer.write_all(format!("{line}\n").as_bytes()).is_err() || quit {
            return;
        }
    }
    quitting.store(true, Ordering::SeqCst);
    let _ = writer.shutdown(NetShutdown::Write);
}
