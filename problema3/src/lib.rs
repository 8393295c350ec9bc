//! Problema 3: un chat de una sola sala para muchos clientes, un hilo por cliente.
//!
//! El protocolo, en cinco líneas: al conectar, el servidor pide un nombre
//! (`Introduce tu nombre:`); el cliente lo envía y, si es válido y está libre, recibe
//! `ya estás conectado!` mientras los demás reciben `NOMBRE se ha unido al Chat.`; cada línea
//! que envía llega a todos los demás como `NOMBRE: texto`; `/quit` (o cerrar) lo saca y los
//! demás reciben `NOMBRE ha abandonado el Chat.`. Los errores son líneas `ERROR motivo`.
//!
//! Dónde mirar: el texto exacto de cada mensaje y la validación de nombres están en
//! [`protocolo`] (funciones puras); la sala, la difusión con una cola acotada por cliente y
//! los límites, en [`servidor`]; el cliente de dos hilos (socket y teclado), en [`cliente`].

pub mod cliente;
pub mod protocolo;
pub mod servidor;

pub use cliente::{ClientError, Outcome};
pub use protocolo::{validate_name, NameError, MAX_NAME_CHARS};
pub use servidor::{run, ServerConfig, ServerError};

/// Puerto por omisión del problema 3.
pub const DEFAULT_PORT: u16 = 8003;
