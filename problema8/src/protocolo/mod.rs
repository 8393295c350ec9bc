//! El protocolo del tres en raya, sin sockets: órdenes, mensajes del servidor, tablero,
//! detección de victoria y tablas, y el rival perfecto (minimax).
//!
//! Todo aquí es puro: cada regla se prueba sin red, sin hilos y sin registro. Una línea del
//! cliente es una orden (`PLAY`, `MOVE 5`, ...) y una línea del servidor es un mensaje cuya
//! primera palabra es su clave (`MOVED`, `WIN`, ...). [`parse_command`] y
//! [`ServerMessage::parse`] son los analizadores; [`Command::encode`] y
//! [`ServerMessage::encode`] sus inversos (`parse(encode(x)) == x` es una prueba de
//! propiedades).
//!
//! El tablero viaja como 9 caracteres (`X`, `O` o `.`) leídos por filas: la casilla 1 es la
//! esquina superior izquierda y la 9 la inferior derecha, como en el teclado de un teléfono.
//!
//! Está repartido en partes que se leen por separado:
//! - [`board`]: fichas, tablero, jugadas y resultado;
//! - [`minimax`]: el rival perfecto;
//! - [`command`]: las órdenes del cliente y su analizador;
//! - [`message`]: los mensajes del servidor, sus códigos de error y su analizador;
//! - [`help`]: el texto de `HELP`.

use std::time::Duration;

pub mod board;
pub mod command;
pub mod help;
pub mod message;
pub mod minimax;

pub use board::*;
pub use command::*;
pub use help::*;
pub use message::*;
pub use minimax::*;

pub use common::conn::parse_duration;

/// Puerto por omisión del problema 8.
pub const DEFAULT_PORT: u16 = 8008;

/// Longitud máxima de una línea del cliente: la orden más larga (`NAME` con nombre y token)
/// cabe de sobra en 256 bytes, y un tope pequeño impide que miles de clientes agoten memoria.
pub const DEFAULT_MAX_LINE: usize = 256;

/// Longitud máxima de un nombre de jugador o de un código de partida privada.
pub const MAX_NAME_LEN: usize = 16;

/// Longitud del token de reconexión (caracteres hexadecimales).
pub const TOKEN_LEN: usize = 16;

/// Plazo por omisión para volver tras una desconexión antes de perder por abandono: corto
/// para que el rival no espere mucho y suficiente para reconectar tras un corte breve.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Tiempo sin recibir una orden completa tras el que se cierra una conexión (total: un goteo
/// de bytes no lo renueva): esperar rival o mirar una
/// partida es parte del protocolo, así que el tope es largo (una hora).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Mensajes pendientes por cliente antes de considerarlo demasiado lento: una partida entera
/// son unos 20 mensajes, así que 256 solo se llenan si el cliente no lee.
pub const DEFAULT_OUTBOX: usize = 256;

/// Órdenes por segundo que admite una conexión de forma sostenida: una persona no llega a 5
/// y un bot que juega sin pausa contra la máquina ronda las 100; por encima es una inundación.
pub const DEFAULT_RATE_LIMIT: f64 = 200.0;

/// Ráfaga de órdenes admitida por encima del ritmo sostenido.
pub const DEFAULT_RATE_BURST: u32 = 400;

/// Nombre reservado del rival máquina.
pub const CPU_NAME: &str = "CPU";

#[cfg(test)]
mod tests;
