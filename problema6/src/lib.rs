//! Problema 6: un chat con salas, mensajes privados y salas que sobreviven a un reinicio.
//!
//! El protocolo, en cinco líneas: al conectar, el servidor pide un nombre
//! (`Introduce tu nombre:`); con uno válido y libre se recibe `ya estás conectado!` y se
//! entra en la sala `general`, viendo sus últimos 20 mensajes. Cada línea normal llega a los
//! demás de la misma sala como `NOMBRE: texto`; las líneas que empiezan por `/` son órdenes
//! (`/create`, `/join`, `/leave`, `/rooms`, `/users`, `/msg`, `/nick`, `/topic`, `/help`,
//! `/quit`). Los errores son líneas `ERROR motivo`.
//!
//! Dónde mirar: el análisis de órdenes y el texto de cada mensaje están en [`protocolo`]
//! (funciones puras; lo común con el chat de una sala se reutiliza del problema 3); el bucle
//! de aceptación y el hilo de cada cliente en [`servidor`] y [`servidor::connection`]; el
//! estado compartido (salas, usuarios, historial) y su único cerrojo en [`servidor::rooms`];
//! el fichero de salas en [`servidor::persistence`]; el cliente en [`cliente`].

pub mod cliente;
pub mod protocolo;
pub mod servidor;

pub use servidor::persistence::RoomInfo;
pub use servidor::{run, ServerConfig, ServerError};

/// Puerto por omisión del problema 6.
pub const DEFAULT_PORT: u16 = 8006;
