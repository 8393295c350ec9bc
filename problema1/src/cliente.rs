//! El cliente del problema 1: conecta, envía una línea, imprime la respuesta.
//!
//! Cómo termina (los códigos de todo cliente, `common::exit`): 0 si el servidor respondió
//! `recibido ...`; 1 si respondió `ERROR ...` (mensaje demasiado largo, tiempo agotado,
//! servidor ocupado o cerrándose); 2 si el mensaje no es de una línea; 3 si no se pudo
//! conectar; 4 si la conexión se cortó o no llegó respuesta.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};

use common::exit::{Exit, Failure};

/// Longitud máxima de la respuesta que aceptamos (el servidor responde una línea corta).
pub const MAX_REPLY: usize = 128 * 1024;

/// Lo que puede fallar en el intercambio.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// El mensaje contiene un salto de línea: el protocolo es de una sola línea.
    #[error("el mensaje no puede contener saltos de línea")]
    Multiline,
    /// Fallo al enviar el mensaje.
    #[error("enviando el mensaje: {}", common::net::describe_io_error(.0))]
    Send(io::Error),
    /// Fallo al leer la respuesta (incluido el tiempo de espera agotado).
    #[error("leyendo la respuesta: {}", common::net::describe_io_error(.0))]
    Receive(io::Error),
    /// El servidor cerró sin responder.
    #[error("el servidor cerró la conexión sin responder")]
    NoReply,
    /// El servidor respondió con un error.
    #[error("el servidor respondió con un error: {0}")]
    Server(String),
}

impl From<ClientError> for Failure {
    /// El código de salida de cada fallo (véase el módulo).
    fn from(e: ClientError) -> Self {
        let exit = match e {
            ClientError::Multiline => Exit::Usage,
            ClientError::Server(_) => Exit::Refused,
            ClientError::Send(_) | ClientError::Receive(_) | ClientError::NoReply => Exit::Network,
        };
        Failure {
            exit,
            message: e.to_string(),
        }
    }
}

/// Envía `message` por `stream`, cierra la escritura y devuelve la línea de respuesta.
///
/// # Errores
/// [`ClientError`] si el mensaje tiene saltos de línea, si falla la red, si el servidor cierra
/// sin responder o si responde `ERROR ...`.
pub fn exchange(stream: &TcpStream, message: &str) -> Result<String, ClientError> {
    if message.contains('\n') || message.contains('\r') {
        return Err(ClientError::Multiline);
    }
    let mut w = stream;
    w.write_all(format!("{message}\n").as_bytes())
        .map_err(ClientError::Send)?;
    // Medio cierre: el servidor sabe que no enviaremos más. Si el servidor ya cerró, la
    // respuesta (o su falta) lo dirá.
    let _ = stream.shutdown(NetShutdown::Write);
    let mut reader = BufReader::new(stream.take(MAX_REPLY as u64));
    let mut line = Vec::new();
    if reader
        .read_until(b'\n', &mut line)
        .map_err(ClientError::Receive)?
        == 0
    {
        return Err(ClientError::NoReply);
    }
    let line = String::from_utf8_lossy(&line);
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.starts_with("ERROR") {
        return Err(ClientError::Server(line));
    }
    Ok(line)
}
