//! El servidor del problema 1: acepta, lee un mensaje, responde y cierra.
//!
//! Cada conexión se atiende en su hilo (mediante [`common::serve`]), con un tiempo **total**
//! para que el cliente envíe su mensaje: un cliente que se conecta y no dice nada (o lo dice
//! byte a byte) no ocupa un hilo para siempre. El mensaje termina en un salto de línea, en el
//! medio cierre del cliente o tras una pausa (`pause`, 200 ms por omisión): el cliente del
//! taller envía `Mundo!` sin `\n` y espera la respuesta sin cerrar (véase
//! [`common::conn::message`]). Con `once`, el servidor atiende una sola conexión y termina.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::conn::{linger_close, Linger, MessageError, MessageReader, MessageRule};
use common::{serve, ServeConfig, Shutdown};

use crate::protocolo::{reply, timed_out, too_long, DEFAULT_MAX_MESSAGE, DEFAULT_TIMEOUT};

/// Configuración del servidor.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Longitud máxima del mensaje del cliente, en bytes.
    pub max_message: usize,
    /// Tiempo máximo (total) para recibir el mensaje y para enviar la respuesta.
    pub timeout: Duration,
    /// Silencio que termina un mensaje sin salto de línea (`None`: solo `\n` o el cierre).
    pub pause: Option<Duration>,
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
            pause: Some(common::conn::DEFAULT_PAUSE),
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

/// Atiende una conexión: un mensaje de ida, una línea de vuelta, cierre.
fn handle(stream: TcpStream, peer: SocketAddr, config: &ServerConfig) {
    log::info!("{peer}: conectado");
    let _ = stream.set_write_timeout(Some(config.timeout));
    let rule = MessageRule {
        pause: config.pause,
        ..MessageRule::new(config.max_message)
    };
    let mut reader = MessageReader::new(&stream, rule);
    reader.expire_in(Some(config.timeout));
    let mut buf = Vec::new();
    let answer = match reader.next_message(&mut buf) {
        Ok(Some(ending)) => {
            log::info!(
                "{peer}: mensaje de {} bytes ({})",
                buf.len(),
                ending.describe()
            );
            log::debug!("{peer}: {:?}", String::from_utf8_lossy(&buf));
            Some(reply(&buf))
        }
        Ok(None) => {
            log::info!("{peer}: cerró sin enviar nada");
            None
        }
        Err(MessageError::TooLong { max, .. }) => {
            log::warn!("{peer}: mensaje de más de {max} bytes");
            Some(too_long(max))
        }
        Err(MessageError::TimedOut) => {
            log::warn!("{peer}: ningún mensaje completo en {:?}", config.timeout);
            Some(timed_out(config.timeout))
        }
        Err(MessageError::Io(e)) => {
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
    // Lo que el cliente siga enviando no debe convertir nuestro cierre en un RST que borre la
    // respuesta antes de que la lea.
    linger_close(&stream, LINGER);
    log::info!("{peer}: desconectado");
}

/// El cierre con espera del problema 1: una respuesta corta, así que medio segundo basta.
const LINGER: Linger = Linger {
    max_bytes: 64 * 1024,
    max_time: Duration::from_millis(500),
};
