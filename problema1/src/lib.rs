//! Problema 1: el intercambio TCP más básico.
//!
//! El cliente se conecta, envía un mensaje (una línea), el servidor responde con una línea
//! que demuestra que lo recibió, y ambos cierran. El servidor sigue atendiendo al siguiente
//! cliente (o termina tras el primero con `--once`, como en el ejercicio original).
//!
//! ```text
//! cliente -> servidor:  hola servidor\n
//! servidor -> cliente:  recibido (13 bytes): hola servidor\n
//! (el servidor cierra la conexión)
//! ```
//!
//! El formato de la respuesta está en [`protocolo`]; el ciclo de vida del socket (`bind` en el
//! binario; el bucle de `accept`, `read`, `write` y `close` en [`servidor`]), escrito a mano y
//! sin ayudas de `common` que lo escondan; el cliente en [`cliente`].

pub mod cliente;
pub mod protocolo;
pub mod servidor;

pub use servidor::{run, ServerConfig, ServerError};

/// Puerto por omisión del problema 1.
pub const DEFAULT_PORT: u16 = 8001;
