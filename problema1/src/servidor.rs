//! El servidor del problema 1: acepta, lee una línea, responde y cierra.
//!
//! Cada conexión se atiende en su hilo (mediante [`common::serve`]), con un tiempo máximo para
//! que el cliente envíe su mensaje: un cliente que se conecta y no dice nada no ocupa un hilo
//! para siempre. Con `once`, el servidor atiende una sola conexión y termina.

use std::io::{BufReader, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::line::{read_line, LineError};
use common::{serve, ServeConfig, Shutdown};

use crate::protocolo::{reply, timed_out, too_long, DEFAULT_MAX_MESSAGE, DEFAULT_TIMEOUT};

/// Configuración del servidor.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Longitud máxima del mensaje del cliente, en bytes.
    pub max_message: usize,
    /// Tiempo máximo para recibir el mensaje y para enviar la respuesta.
    pub timeout: Duration,
    /// Máximo de conexiones simultáneas.
    pub max_connections: usize,
    /// Atender una sola conexión y terminar.
    pub once: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_message: DEFAULT_MAX_MESSAGE,
            timeout: DEFAULT_TIMEOUT,
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            once: false,
        }
    }
}

/// Errores del servidor.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Fallo del socket de escucha.
    #[error("error del socket de escucha: {0}")]
    Io(#[from] std::io::Error),
}

/// Atiende conexiones en `listener` hasta que se dispare `shutdown` (o tras la primera, con
/// `once`).
///
/// # Errores
/// Solo los del socket de escucha; los de cada cliente se registran y no paran el servidor.
pub fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let mut serve_config = ServeConfig::new("problema1");
    serve_config.max_connections = if config.once {
        1
    } else {
        config.max_connections
    };
    serve_config.refusal = b"ERROR servidor ocupado, pruebe m\xc3\xa1s tarde\n".to_vec();
    let s = shutdown.clone();
    serve(listener, serve_config, shutdown, move |stream, peer| {
        handle(stream, peer, &config);
        if config.once {
            log::info!("--once: primera conexión atendida, terminamos");
            s.trigger();
        }
    })?;
    Ok(())
}

/// Atiende una conexión: una línea de ida, una de vuelta, cierre.
fn handle(stream: TcpStream, peer: SocketAddr, config: &ServerConfig) {
    log::info!("{peer}: conectado");
    let _ = stream.set_read_timeout(Some(config.timeout));
    let _ = stream.set_write_timeout(Some(config.timeout));
    let mut reader = BufReader::new(&stream);
    let mut buf = Vec::new();
    let answer = match read_line(&mut reader, &mut buf, config.max_message) {
        Ok(true) => {
            log::info!("{peer}: mensaje de {} bytes", buf.len());
            log::debug!("{peer}: {:?}", String::from_utf8_lossy(&buf));
            Some(reply(&buf))
        }
        Ok(false) => {
            log::info!("{peer}: cerró sin enviar nada");
            None
        }
        Err(LineError::TooLong { max }) => {
            log::warn!("{peer}: mensaje de más de {max} bytes");
            Some(too_long(max))
        }
        Err(e) if e.is_timeout() => {
            log::warn!("{peer}: no envió nada en {:?}", config.timeout);
            Some(timed_out(config.timeout))
        }
        Err(e) => {
            log::warn!("{peer}: error de lectura: {e}");
            None
        }
    };
    if let Some(line) = answer {
        let mut w = &stream;
        if let Err(e) = w.write_all(format!("{line}\n").as_bytes()) {
            log::warn!("{peer}: no se pudo enviar la respuesta: {e}");
        }
    }
    let _ = stream.shutdown(NetShutdown::Both);
    log::info!("{peer}: desconectado");
}
