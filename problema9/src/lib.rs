//! Problema 9: en construcción (véase el README del problema).

pub mod balanceador;
pub mod registro;
