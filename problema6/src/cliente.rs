//! El cliente del chat con salas: el mismo que el del chat de una sala (problema 3).
//!
//! El cliente no necesita saber nada de salas: envía el nombre (si se pasó `--name`) y cada
//! línea que escribe el usuario, y muestra cada línea que llega, con un hilo lector y otro
//! para el teclado. Las órdenes (`/join`, `/msg`...) viajan como cualquier otra línea y las
//! interpreta el servidor. Por eso se reutiliza tal cual [`problema3::cliente`] en lugar de
//! escribir una segunda copia: véase allí cómo termina (`/quit`, fin de la entrada o cierre
//! del servidor) y con qué código de salida ([`conclude`]).

pub use problema3::cliente::{
    conclude, run, ClientError, Outcome, GOODBYE_WAIT, MAX_INCOMING_LINE,
};
