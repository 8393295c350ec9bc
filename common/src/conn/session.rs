//! La sesión de líneas: el bucle de lectura que comparten los servidores de texto (chat,
//! salas, tres en raya).
//!
//! Cada vuelta da un [`Event`]: un mensaje ya admitido (acotado, UTF-8, no vacío, dentro del
//! ritmo), un rechazo que el servidor traduce a su línea de error y tras el que la conexión
//! sigue, o el final de la sesión con su causa. Lo que cambia de un servidor a otro (plazos,
//! pausa, ritmo, cuántos avisos antes de expulsar) es configuración, no otra copia del bucle.

use std::time::{Duration, Instant};

use super::deadline::TimedSource;
use super::message::{Ending, MessageError, MessageReader, MessageRule};
use crate::rate::TokenBucket;

/// El límite de ritmo de una sesión.
#[derive(Debug, Clone, Copy)]
pub struct RateRule {
    /// Mensajes por segundo sostenidos.
    pub per_sec: f64,
    /// Ráfaga admitida de golpe.
    pub burst: u32,
    /// Mensajes rechazados seguidos tras los que se expulsa (`None`: nunca, solo se avisa).
    pub strikes: Option<u32>,
    /// Mensajes que no gastan ritmo, según sus bytes: en el chat, `/quit` (despedirse se
    /// atiende siempre, también en plena inundación). [`RateRule::NOTHING_EXEMPT`] si todos
    /// cuentan.
    pub exempt: fn(&[u8]) -> bool,
}

impl RateRule {
    /// Para [`RateRule::exempt`]: todo mensaje gasta ritmo.
    pub const NOTHING_EXEMPT: fn(&[u8]) -> bool = |_| false;
}

/// Lo que pasó en una vuelta de la sesión.
#[derive(Debug)]
pub enum Event {
    /// Un mensaje admitido: ni vacío ni solo espacios (salvo con `skip_blank(false)`), UTF-8 válido y dentro del ritmo.
    Message {
        /// El texto, sin terminador.
        text: String,
        /// Cómo terminó (para los registros).
        ending: Ending,
    },
    /// Un mensaje rechazado; el servidor contesta con su error y la sesión sigue.
    Rejected(Rejection),
    /// La sesión termina.
    End(EndReason),
}

/// Por qué se rechazó un mensaje.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// Pasaba del máximo de bytes (su resto ya se descartó).
    #[error("línea demasiado larga: el máximo es {max} bytes")]
    TooLong {
        /// El máximo.
        max: usize,
    },
    /// No era UTF-8.
    #[error("la línea no es texto UTF-8 válido")]
    InvalidUtf8,
    /// Llegó por encima del ritmo permitido; se ignoró.
    #[error("demasiados mensajes: el máximo es {per_sec} por segundo")]
    RateLimited {
        /// El ritmo sostenido permitido.
        per_sec: f64,
    },
}

/// Por qué terminó la sesión.
#[derive(Debug, thiserror::Error)]
pub enum EndReason {
    /// El otro extremo cerró (o el apagado cerró nuestra lectura).
    #[error("el cliente cerró la conexión")]
    Closed,
    /// Venció el plazo total.
    #[error("se agotó el tiempo de espera")]
    TimedOut,
    /// Demasiados mensajes rechazados seguidos por ritmo.
    #[error("inundación de mensajes")]
    Flood,
    /// Un mensaje demasiado largo sin final a la vista.
    #[error("línea de más de {max} bytes sin final")]
    TooLong {
        /// El máximo.
        max: usize,
    },
    /// Error del socket.
    #[error("error de lectura: {}", crate::net::describe_io_error(.0))]
    Failed(std::io::Error),
}

/// El bucle de lectura de una conexión de texto.
#[derive(Debug)]
pub struct LineSession<S> {
    reader: MessageReader<S>,
    rate: Option<(RateRule, TokenBucket)>,
    strikes: u32,
    skip_blank: bool,
    buf: Vec<u8>,
}

impl<S: TimedSource> LineSession<S> {
    /// Sesión sobre `source` con la regla de mensajes dada, sin plazo ni ritmo.
    pub fn new(source: S, rule: MessageRule) -> Self {
        Self {
            reader: MessageReader::new(source, rule),
            rate: None,
            strikes: 0,
            skip_blank: true,
            buf: Vec::new(),
        }
    }

    /// Fija el instante tras el que la sesión termina con [`EndReason::TimedOut`] (`None`:
    /// sin plazo, p. ej. tras el saludo, cuando estar callado es parte del protocolo).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.reader.set_deadline(deadline);
    }

    /// Fija el plazo a `timeout` desde ahora (`None`: sin plazo).
    pub fn expire_in(&mut self, timeout: Option<Duration>) {
        self.reader.expire_in(timeout);
    }

    /// Cambia el plazo de cada mensaje desde su primer byte (véase
    /// [`MessageRule::message_timeout`]).
    pub fn set_message_timeout(&mut self, timeout: Option<Duration>) {
        self.reader.set_message_timeout(timeout);
    }

    /// ¿Se saltan en silencio los mensajes vacíos o de espacios? (Sí por omisión; un saludo
    /// que quiere contestar "el nombre no puede estar vacío" los pide.)
    pub fn skip_blank(&mut self, skip: bool) {
        self.skip_blank = skip;
    }

    /// Empieza (o quita, con `None`) el límite de ritmo, con el cubo lleno.
    pub fn limit_rate(&mut self, rule: Option<RateRule>) {
        self.rate = rule.map(|r| (r, TokenBucket::new(r.per_sec, r.burst)));
        self.strikes = 0;
    }

    /// El origen de los bytes.
    pub fn get_ref(&self) -> &S {
        self.reader.get_ref()
    }

    /// Lee hasta el siguiente evento.
    pub fn next_event(&mut self) -> Event {
        loop {
            let ending = match self.reader.next_message(&mut self.buf) {
                Ok(Some(ending)) => ending,
                Ok(None) => return Event::End(EndReason::Closed),
                Err(MessageError::TooLong { max, resynced }) => {
                    return if resynced {
                        Event::Rejected(Rejection::TooLong { max })
                    } else {
                        Event::End(EndReason::TooLong { max })
                    };
                }
                Err(MessageError::TimedOut) => return Event::End(EndReason::TimedOut),
                Err(MessageError::Io(e)) => return Event::End(EndReason::Failed(e)),
            };
            // Un mensaje vacío o de espacios no es nada: ni se contesta ni gasta ritmo.
            if self.skip_blank && self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Some((rule, bucket)) = self.rate.as_mut().filter(|(r, _)| !(r.exempt)(&self.buf))
            {
                if !bucket.try_take(Instant::now()) {
                    self.strikes = self.strikes.saturating_add(1);
                    if rule.strikes.is_some_and(|max| self.strikes >= max) {
                        return Event::End(EndReason::Flood);
                    }
                    return Event::Rejected(Rejection::RateLimited {
                        per_sec: rule.per_sec,
                    });
                }
                self.strikes = 0;
            }
            return match String::from_utf8(std::mem::take(&mut self.buf)) {
                Ok(text) => Event::Message { text, ending },
                Err(_) => Event::Rejected(Rejection::InvalidUtf8),
            };
        }
    }

    /// ¿Cuántos mensajes seguidos se han rechazado por ritmo?
    pub fn strikes(&self) -> u32 {
        self.strikes
    }
}

#[cfg(test)]
mod tests {
    use super::super::deadline::fake::{Fake, Step};
    use super::*;

    fn session(fake: &Fake, max: usize) -> LineSession<&Fake> {
        LineSession::new(
            fake,
            MessageRule {
                pause: None,
                ..MessageRule::new(max)
            },
        )
    }

    fn text(e: Event) -> String {
        match e {
            Event::Message { text, .. } => text,
            other => panic!("se esperaba un mensaje: {other:?}"),
        }
    }

    #[test]
    fn blank_lines_are_skipped_and_invalid_utf8_is_rejected() {
        let fake = Fake::new([Step::Bytes(b"\n  \r\n\xff\nhola\n".to_vec())]);
        let mut s = session(&fake, 100);
        assert!(matches!(
            s.next_event(),
            Event::Rejected(Rejection::InvalidUtf8)
        ));
        assert_eq!(text(s.next_event()), "hola");
        assert!(matches!(s.next_event(), Event::End(EndReason::Closed)));
    }

    #[test]
    fn rate_limit_rejects_then_kicks_after_strikes() {
        let fake = Fake::new([Step::Bytes(b"1\n2\n3\n4\n5\n".to_vec())]);
        let mut s = session(&fake, 100);
        s.limit_rate(Some(RateRule {
            per_sec: 0.001,
            burst: 2,
            strikes: Some(2),
            exempt: RateRule::NOTHING_EXEMPT,
        }));
        assert_eq!(text(s.next_event()), "1");
        assert_eq!(text(s.next_event()), "2");
        assert!(matches!(
            s.next_event(),
            Event::Rejected(Rejection::RateLimited { .. })
        ));
        assert!(matches!(s.next_event(), Event::End(EndReason::Flood)));
    }

    #[test]
    fn rate_limit_without_strikes_only_warns() {
        let fake = Fake::new([Step::Bytes(b"1\n2\n3\n".to_vec())]);
        let mut s = session(&fake, 100);
        s.limit_rate(Some(RateRule {
            per_sec: 0.001,
            burst: 1,
            strikes: None,
            exempt: RateRule::NOTHING_EXEMPT,
        }));
        assert_eq!(text(s.next_event()), "1");
        assert!(matches!(s.next_event(), Event::Rejected(_)));
        assert!(matches!(s.next_event(), Event::Rejected(_)));
        assert!(matches!(s.next_event(), Event::End(EndReason::Closed)));
    }

    #[test]
    fn exempt_messages_pass_a_full_rate_limit_and_cost_nothing() {
        let fake = Fake::new([Step::Bytes(b"1\n2\n/quit\n3\n".to_vec())]);
        let mut s = session(&fake, 100);
        s.limit_rate(Some(RateRule {
            per_sec: 0.001,
            burst: 1,
            strikes: Some(5),
            exempt: |m| m == b"/quit",
        }));
        assert_eq!(text(s.next_event()), "1");
        assert!(matches!(s.next_event(), Event::Rejected(_)));
        assert_eq!(text(s.next_event()), "/quit");
        assert!(matches!(s.next_event(), Event::Rejected(_)));
        assert_eq!(s.strikes(), 2, "la exenta no reinicia los avisos");
    }

    #[test]
    fn too_long_is_rejected_and_the_session_goes_on() {
        let fake = Fake::new([Step::Bytes(b"demasiado largo\nok\n".to_vec())]);
        let mut s = session(&fake, 4);
        assert!(matches!(
            s.next_event(),
            Event::Rejected(Rejection::TooLong { max: 4 })
        ));
        assert_eq!(text(s.next_event()), "ok");
    }

    #[test]
    fn deadline_ends_the_session() {
        let fake = Fake::new([Step::Silence(Duration::from_secs(5))]);
        let mut s = session(&fake, 4);
        s.expire_in(Some(Duration::from_millis(30)));
        assert!(matches!(s.next_event(), Event::End(EndReason::TimedOut)));
    }
}
