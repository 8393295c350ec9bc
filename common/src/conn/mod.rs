//! Cómo atender una conexión: plazos totales, dónde termina un mensaje, el bucle de una
//! sesión de texto y el cierre con espera. Un solo sitio para aprenderlo (y para arreglarlo).
//!
//! - [`deadline`]: **plazo total**. `set_read_timeout` limita cada lectura por separado, así
//!   que quien envía un byte cada pocos segundos retiene la conexión para siempre
//!   (*slowloris*). Una cabecera, un nombre o una línea deben llegar antes de un instante
//!   fijo; [`DeadlineReader`] ajusta el tiempo del socket a lo que queda hasta él.
//! - [`message`]: **dónde termina un mensaje**: un `\n`, el medio cierre o una **pausa** de
//!   [`DEFAULT_PAUSE`] (los programas del taller envían sin `\n` y esperan respuesta). El `\n`
//!   sigue entregando en el acto; la pausa no alarga plazos ni límites.
//! - [`session`]: el bucle de una sesión de líneas (chat, salas, tres en raya): acota, valida
//!   UTF-8, salta líneas vacías y aplica el ritmo; cada servidor solo traduce los eventos a
//!   su protocolo.
//! - [`linger`]: **cierre con espera**. Cerrar con bytes del cliente sin leer hace que el
//!   núcleo envíe un RST que puede borrar nuestra última respuesta antes de que la lea; por
//!   eso se cierra la escritura, se tira lo que llegue (acotado) y luego se cierra.
//! - [`duration`]: la gramática de duraciones de la línea de órdenes (`1.5s`, `250ms`, `2m`).

pub mod deadline;
pub mod duration;
pub mod linger;
pub mod message;
pub mod session;

pub use deadline::{DeadlineReader, TimedSource, Within};
pub use duration::parse_duration;
pub use linger::{linger_close, Linger};
pub use message::{
    Ending, MessageError, MessageReader, MessageRule, DEFAULT_MAX_DISCARD, DEFAULT_PAUSE,
};
pub use session::{EndReason, Event, LineSession, RateRule, Rejection};
