//! Problema 2: servidor de eco (RFC 862) por TCP y por UDP en el mismo puerto.
//!
//! Todo byte que llega vuelve sin cambios: por TCP, como un flujo (binario, de cualquier
//! longitud, con un hilo por cliente); por UDP, cada datagrama vuelve como un datagrama al
//! remitente. Un cliente TCP que cierra su mitad de escritura sigue recibiendo el eco de lo
//! que faltaba, y después el servidor cierra la suya.
//!
//! ```text
//! TCP: cliente -> "hola\n" -> servidor -> "hola\n" -> cliente   (hasta que alguno cierra)
//! UDP: datagrama "hola"  -> servidor -> datagrama "hola" -> mismo remitente
//! ```
//!
//! El servidor (ambos transportes) está en [`servidor`]; el cliente interactivo, por tubería
//! y UDP, en [`cliente`].

pub mod cliente;
pub mod servidor;

pub use servidor::{run, ServerConfig, ServerError};

/// Puerto por omisión del problema 2 (TCP y UDP).
pub const DEFAULT_PORT: u16 = 8002;
