//! Problema 8: un servidor de tres en raya con emparejamiento, espectadores y juego limpio.
//!
//! El protocolo son líneas de texto, jugable con `telnet` o `nc`: el cliente envía órdenes
//! (`NAME ana`, `PLAY`, `MOVE 5`, `LIST`, `WATCH 3`, `REMATCH`, `QUIT`) y el servidor
//! responde y anuncia eventos, un mensaje por línea con la palabra clave primero
//! (`START 1 X bea`, `MOVED 1 X 5 ....X.... O`, `WIN 1 X ana 1,5,9`). El tablero viaja como
//! 9 caracteres y el servidor es la única autoridad sobre él.
//!
//! Dónde mirar: el análisis de órdenes y mensajes, el tablero y el minimax están en
//! [`protocolo`] (puro, sin sockets); el servidor, repartido por trabajos (vestíbulo,
//! partidas, espectadores, clasificación, relojes), en [`servidor`]; el cliente (con su
//! modo bot y su modo espectador) en [`cliente`].

pub mod cliente;
pub mod protocolo;
pub mod servidor;

pub use protocolo::DEFAULT_PORT;
pub use servidor::{run, ServerConfig, ServerError};
