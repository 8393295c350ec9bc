//! Cómo termina un cliente: el mismo código de salida y el mismo mensaje de error en los nueve.
//!
//! | Código | Significado |
//! |---|---|
//! | 0 | todo bien |
//! | 1 | el servidor respondió con un error (`404`, `ERR ...`, `-ERR ...`) o lo pedido no se pudo hacer (un fichero local que no existe) |
//! | 2 | la línea de órdenes no es válida (lo decide [`crate::ayuda`]) |
//! | 3 | no se pudo conectar con el servidor |
//! | 4 | la conexión se cortó o dejó de responder a mitad de la conversación |
//!
//! Un cliente devuelve `Result<(), Failure>` y su `main` termina con [`finish`], que escribe
//! `error: <motivo>` en stderr (en español: nunca el texto en inglés del sistema) y sale con
//! el código. Una salida estándar cerrada (`cliente ... | head`) no es un error de red: quien
//! la cerró ya tiene lo que quería, y el cliente termina en silencio ([`Failure::stdout`]).

use std::io::{self, Write};

use crate::cli::ConnectError;
use crate::net::describe_io_error;

/// Los códigos de salida de todo cliente (véase la tabla del módulo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: todo bien.
    Success = 0,
    /// 1: el servidor respondió con un error, o lo pedido no se pudo hacer.
    Refused = 1,
    /// 2: la línea de órdenes no es válida.
    Usage = 2,
    /// 3: no se pudo conectar con el servidor.
    Connect = 3,
    /// 4: la conexión se cortó o dejó de responder a mitad de la conversación.
    Network = 4,
}

impl Exit {
    /// El número que ve el intérprete de órdenes (`$?`).
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Por qué terminó mal un cliente: el código de salida y el motivo, ya en español.
#[derive(Debug)]
pub struct Failure {
    /// El código con el que saldrá el proceso.
    pub exit: Exit,
    /// El motivo, sin el prefijo `error:` (lo pone [`finish`]); vacío = salir en silencio.
    pub message: String,
}

impl Failure {
    /// El servidor respondió con un error, o lo pedido no se pudo hacer (código 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Refused,
            message: message.into(),
        }
    }

    /// No se pudo conectar (código 3).
    pub fn connect(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Connect,
            message: message.into(),
        }
    }

    /// La conexión se cortó o dejó de responder (código 4).
    pub fn network(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Network,
            message: message.into(),
        }
    }

    /// Un error de E/S con el socket a mitad de la conversación, con lo que se estaba
    /// haciendo: `Failure::io("leyendo la respuesta", &e)` da
    /// `leyendo la respuesta: se agotó el tiempo de espera` (código 4).
    pub fn io(doing: &str, e: &io::Error) -> Self {
        Self::network(format!("{doing}: {}", describe_io_error(e)))
    }

    /// Un error al escribir en la salida estándar. Si quien leía la cerró (`| head`), el
    /// cliente termina en silencio con 0; cualquier otro fallo (disco lleno) es código 1.
    pub fn stdout(e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Self {
                exit: Exit::Success,
                message: String::new(),
            }
        } else {
            Self::refused(format!(
                "no se pudo escribir en la salida estándar: {}",
                describe_io_error(e)
            ))
        }
    }
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        Self::connect(e.to_string())
    }
}

/// Termina el proceso de un cliente: vacía stdout, escribe `error: <motivo>` si hace falta y
/// sale con el código de [`Exit`].
pub fn finish(result: Result<(), Failure>) -> ! {
    let flushed = io::stdout().flush();
    let failure = match (result, flushed) {
        (Err(failure), _) => failure,
        (Ok(()), Err(e)) => Failure::stdout(&e),
        (Ok(()), Ok(())) => std::process::exit(Exit::Success.code()),
    };
    if !failure.message.is_empty() {
        eprintln!("error: {}", failure.message);
    }
    std::process::exit(failure.exit.code())
}

/// Escribe una línea en la salida estándar sin el pánico de `println!` cuando se ha cerrado.
///
/// # Errores
/// [`Failure::stdout`]: silencio si quien leía cerró la tubería.
pub fn say(line: impl std::fmt::Display) -> Result<(), Failure> {
    writeln!(io::stdout().lock(), "{line}").map_err(|e| Failure::stdout(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_stdout_is_a_quiet_success() {
        let f = Failure::stdout(&io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(f.exit, Exit::Success);
        assert!(f.message.is_empty());
        let g = Failure::stdout(&io::Error::from(io::ErrorKind::StorageFull));
        assert_eq!(g.exit, Exit::Refused);
    }

    #[test]
    fn socket_errors_are_network_failures_in_spanish() {
        let f = Failure::io(
            "leyendo la respuesta",
            &io::Error::from(io::ErrorKind::ConnectionReset),
        );
        assert_eq!(f.exit.code(), 4);
        assert_eq!(
            f.message,
            "leyendo la respuesta: el otro extremo reinició la conexión"
        );
    }

    #[test]
    fn codes_are_the_documented_ones() {
        let codes: Vec<i32> = [
            Exit::Success,
            Exit::Refused,
            Exit::Usage,
            Exit::Connect,
            Exit::Network,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4]);
    }
}
