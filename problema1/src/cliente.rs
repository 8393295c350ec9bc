//! El cliente del problema 1: conecta, envía una línea, imprime la respuesta.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};

use common::net::describe_io_error;

/// Longitud máxima de la respuesta que aceptamos (el servidor responde una línea corta).
pub const MAX_REPLY: usize = 128 * 1024;

/// Lo que puede fallar en el intercambio.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// El mensaje contiene un salto de línea: el protocolo es de una sola línea.
    #[error("el mensaje no puede contener saltos de línea")]
    Multiline,
    /// Fallo al enviar o recibir.
    #[error("{}", describe_io_error(.0))]
    Io(#[from] io::Error),
    /// El servidor cerró sin responder.
    #[error("el servidor cerró la conexión sin responder")]
    NoReply,
    /// El servidor respondió con un error.
    #[error("el servidor respondió con un error: {0}")]
    Server(String),
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
    w.write_all(format!("{message}\n").as_bytes())?;
    // Medio cierre: el servidor sabe que no enviaremos más.
    stream.shutdown(NetShutdown::Write)?;
    let mut reader = BufReader::new(stream.take(MAX_REPLY as u64));
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(ClientError::NoReply);
    }
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.starts_with("ERROR") {
        return Err(ClientError::Server(line));
    }
    Ok(line)
}
