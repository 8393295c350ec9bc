//! Lo que comparten los nueve problemas del taller, y nada específico de ninguno.
//!
//! Cada módulo tiene un único trabajo y documenta el límite que impone:
//! - [`conn`]: cómo atender una conexión: plazo total, dónde termina un mensaje (salto de
//!   línea, medio cierre o pausa), el bucle de una sesión de líneas, el cierre con espera y
//!   las duraciones de la línea de órdenes.
//! - [`fds`]: el límite de descriptores del proceso (se sube al duro al arrancar) y cuántas
//!   conexiones caben.
//! - [`line`]: lectura de líneas con un máximo de bytes (una línea infinita es un error,
//!   no una reserva de gigabytes).
//! - [`frame`]: tramas con prefijo de longitud (`u32` big-endian) y tamaño máximo.
//! - [`jsonl`]: mensajes JSON, uno por línea, sobre `serde`.
//! - [`parsed`]: el resultado de un analizador incremental ("completo" o "faltan bytes").
//! - [`ayuda`]: la ayuda, la versión y los errores de la línea de órdenes en español.
//! - [`exit`]: cómo termina un cliente: los códigos de salida (0, 1, 2, 3, 4) y `error: ...`.
//! - [`cli`]: los argumentos compartidos (`--host`, `--port`, `--max-connections`, ...).
//! - [`logging`]: la inicialización única de `env_logger` (`info` por defecto).
//! - [`shutdown`]: la señal de apagado (Ctrl-C, SIGTERM o `trigger()` en los tests).
//! - [`server`]: el bucle de aceptación con un hilo por conexión y un tope de conexiones.
//! - [`relay`]: el reenvío de bytes en ambos sentidos con medio cierre (túneles, balanceador).
//! - [`outbox`]: la cola de salida acotada de cada cliente, con su hilo escritor (chat,
//!   espectadores): un cliente lento no frena a los demás.
//! - [`sendfile`]: enviar un trozo de fichero por un socket con `sendfile(2)` (servidor HTTP,
//!   transferencia de ficheros).
//! - [`net`]: utilidades de sockets: mensajes de error en español, tiempos de espera.
//! - [`sync`]: bloqueo de `Mutex` que se recupera del envenenamiento.
//! - [`http`]: mensajes HTTP/1.1 (cabeceras, cuerpos `Content-Length` y `chunked`) con
//!   límites, para el servidor de ficheros y el proxy.
//! - [`rate`]: limitador de ritmo por cubo de fichas (contra inundaciones de mensajes).
//! - [`progress`]: la barra de progreso de los clientes y el formato de tamaños (`4,8 MiB`).

pub mod ayuda;
pub mod cli;
pub mod conn;
pub mod exit;
pub mod fds;
pub mod frame;
pub mod http;
pub mod jsonl;
pub mod line;
pub mod logging;
pub mod net;
pub mod outbox;
pub mod parsed;
pub mod progress;
pub mod rate;
pub mod relay;
pub mod sendfile;
pub mod server;
pub mod shutdown;
pub mod sync;

pub use cli::{ClientArgs, ServerArgs};
pub use logging::init_logging;
pub use parsed::Parsed;
pub use server::{serve, serve_shared, ServeConfig};
pub use shutdown::Shutdown;
pub use sync::lock;
