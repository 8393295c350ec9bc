//! Problema 5: transferencia de ficheros (`UPLOAD`, `DOWNLOAD`, `LIST`, `DELETE`, `QUIT`) que
//! nunca pierde ni corrompe un byte.
//!
//! El protocolo en cinco líneas: el cliente envía una línea de orden de texto; el servidor
//! contesta con una línea (`READY`, `STORED`, `DATA`, `FILES`, `DELETED`, `BYE` o
//! `ERROR <código> <mensaje>`); cuando una orden lleva un fichero, tras la línea viajan
//! exactamente los bytes anunciados, sin escapar nada. Cada fichero va con su SHA-256, y
//! una transferencia cortada se reanuda desde un offset sin repetir lo ya enviado.
//!
//! Dónde mirar: el análisis y la codificación de las líneas están en [`protocolo`]; el
//! directorio de almacenamiento (nombres seguros, temporales, `rename` atómico, cuota,
//! parciales para reanudar) en [`servidor::almacen`]; las conexiones en [`servidor`]; el
//! cliente, con una función por orden, en [`cliente`] (su barra de progreso es la de
//! `common::progress`). El SHA-256 se calcula en un hilo aparte mientras se copia ([`resumen`]).

pub mod cliente;
pub mod protocolo;
pub mod resumen;
pub mod servidor;

pub use cliente::{Client, ClientError};
pub use protocolo::{Command, Digest, ErrorCode, ListEntry, Reply, DEFAULT_PORT};
pub use servidor::{run, ServerConfig, ServerError, Store};
