//! El resultado de un analizador incremental.
//!
//! Un analizador que recibe bytes de la red puede encontrarse con un mensaje a medias: eso
//! no es un error, solo significa "faltan bytes". Igual que `httparse::Status::Partial` o
//! `frame::Error::Incomplete` de mini-redis, lo distinguimos con un tipo propio.

/// Lo que devuelve un analizador puro sobre un buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// El mensaje está completo y ocupaba los primeros `consumed` bytes del buffer.
    Complete {
        /// El valor analizado.
        value: T,
        /// Cuántos bytes del principio del buffer formaban el mensaje.
        consumed: usize,
    },
    /// El buffer no contiene aún un mensaje completo: hay que leer más.
    Incomplete,
}

impl<T> Parsed<T> {
    /// Transforma el valor de un resultado completo y deja igual el incompleto.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        match self {
            Parsed::Complete { value, consumed } => Parsed::Complete {
                value: f(value),
                consumed,
            },
            Parsed::Incomplete => Parsed::Incomplete,
        }
    }
}
