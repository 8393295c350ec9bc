//! Problema 3: un chat de una sola sala para muchos clientes, un hilo por cliente.
//!
//! El protocolo, en cinco líneas: al conectar, el servidor pide un nombre
//! (`Introduce tu nombre:`); el cliente lo envía y, si es válido y está libre, recibe
//! `ya estás conectado!` mientras los demás reciben `NOMBRE se ha unido al Chat.`; cada línea
//! que envía llega a todos los demás como `NOMBRE: texto`; `/quit` (o cerrar) lo saca y los
//! demás reciben `NOMBRE ha abandonado el Chat.`. Los errores son líneas `ERROR motivo`.
//!
//! Dónde mirar: el texto exacto de cada mensaje y la validación de nombres están en
//! [`protocolo`] (funciones puras).

pub mod protocolo;

pub use protocolo::{validate_name, NameError, MAX_NAME_CHARS};
