//! Problema 4: un servidor HTTP/1.1 de ficheros estáticos y un cliente, sobre `std::net`.
//!
//! El servidor sirve un directorio (`--dir`) a navegadores, `curl` o `wget`: `GET` y `HEAD`,
//! conexiones persistentes y *pipelining*, HTTP/1.0, tipos MIME, peticiones condicionales
//! (304/412), rangos de bytes (206, también `multipart/byteranges`, y 416), listados de
//! directorio y errores con una pequeña página HTML. Nada fuera de `--dir` es accesible, y los
//! ficheros ocultos (`.git/`) tampoco salvo con `--hidden`.
//!
//! ```text
//! cliente -> servidor:  GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n
//! servidor -> cliente:  HTTP/1.1 200 OK\r\nContent-Length: 42\r\n...\r\n\r\n<42 bytes>
//! (la conexión sigue abierta para la siguiente petición)
//! ```
//!
//! El análisis de mensajes HTTP es el de [`common::http`] (compartido con el proxy del
//! problema 7); las reglas propias de servir ficheros (rutas seguras, MIME, rangos, listados)
//! están en [`protocolo`]; las conexiones y respuestas en [`servidor`]; el cliente en
//! [`cliente`].

pub mod cliente;
pub mod protocolo;
pub mod servidor;

pub use servidor::{run, Server, ServerConfig, ServerError};

/// Puerto por omisión del problema 4.
pub const DEFAULT_PORT: u16 = 8004;
