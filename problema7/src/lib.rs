//! Problema 7: un proxy HTTP/1.1 explícito e inverso, con túneles `CONNECT`, reescritura de
//! cabeceras, registro de accesos y estadísticas en vivo.
//!
//! El protocolo en cinco líneas: el cliente pide `GET http://host:puerto/ruta HTTP/1.1` (forma
//! absoluta); el proxy abre (o reutiliza) una conexión con `host:puerto`, envía
//! `GET /ruta HTTP/1.1` con las cabeceras reescritas y devuelve la respuesta tal cual llega.
//! Con `CONNECT host:443` el proxy contesta `200` y copia bytes en ambos sentidos (HTTPS). Con
//! `--upstream` atiende peticiones normales (`GET /ruta`) enviándolas a un único servidor.
//! `GET http://proxy.local/stats` devuelve los contadores en JSON.
//!
//! Dónde mirar: el análisis HTTP es el compartido de `common::http`; lo propio del proxy sin
//! sockets está en [`protocolo`]; cada tarea del servidor tiene su módulo en [`servidor`]
//! (`forward`, `tunnel`, `rewrite`, `access`, `pool`, `stats`, `access_log`); el cliente de
//! línea de órdenes en [`cliente`].

pub mod cliente;
pub mod protocolo;
pub mod servidor;

pub use servidor::{run, run_with_stats, ServerConfig, ServerError};
