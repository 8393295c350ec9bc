//! Dónde termina un mensaje: un salto de línea, el medio cierre del otro extremo o una pausa.
//!
//! `nc`, `telnet` y nuestros clientes terminan cada mensaje en `\n`. Los programas del taller
//! en Python hacen `sendall(mensaje.encode())` **sin** `\n` y sin cerrar, y se quedan
//! esperando en `recv(1024)`: un servidor que solo entendiera líneas esperaría para siempre.
//! La regla que sigue cada servidor que lee mensajes de texto:
//!
//! 1. un `\n` (o `\r\n`) termina el mensaje **en el acto**: a quien envía líneas no se le
//!    añade ninguna espera;
//! 2. el medio cierre del otro extremo (fin del flujo) termina lo que hubiera pendiente;
//! 3. bytes sin `\n` seguidos de [`DEFAULT_PAUSE`] (200 ms) de silencio son un mensaje.
//!
//! 200 ms es mucho más de lo que tarda en llegar el resto de un mensaje que el núcleo partió en
//! varios segmentos por loopback o por una red local (microsegundos a pocos ms) y poco para
//! una persona que espera la respuesta. La pausa se puede cambiar (o quitar, `None`) en
//! [`MessageRule`].
//!
//! La pausa no debilita ningún límite: el plazo total del lector ([`super::DeadlineReader`])
//! sigue contando (un goteo de bytes se corta al vencer), un mensaje sigue teniendo su máximo
//! de bytes, y un mensaje cortado por una pausa es un mensaje más para el limitador de ritmo.

use std::io;
use std::time::{Duration, Instant};

use super::deadline::{DeadlineReader, TimedSource, Within};

/// Silencio tras el que unos bytes sin `\n` forman un mensaje: 200 ms.
pub const DEFAULT_PAUSE: Duration = Duration::from_millis(200);

/// Bytes que como mucho se descartan del resto de un mensaje demasiado largo buscando dónde
/// acaba: quien envía más de 1 MiB sin salto de línea ni pausa no es un cliente de texto.
pub const DEFAULT_MAX_DISCARD: u64 = 1024 * 1024;

/// Cómo se delimitan y acotan los mensajes de una conexión.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRule {
    /// Bytes máximos de un mensaje (sin contar el terminador).
    pub max_bytes: usize,
    /// Silencio que termina un mensaje sin `\n` (`None`: solo `\n` o el medio cierre).
    pub pause: Option<Duration>,
    /// Bytes que como mucho se descartan tras un mensaje demasiado largo.
    pub max_discard: u64,
    /// Tiempo total que puede tardar en llegar un mensaje desde su primer byte (`None`: sin
    /// límite). Sirve donde esperar callado está permitido (un chat) pero un mensaje que
    /// gotea byte a byte no debe retener la conexión.
    pub message_timeout: Option<Duration>,
}

impl MessageRule {
    /// Líneas de como mucho `max_bytes`, con la pausa por omisión y sin plazo por mensaje.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            pause: Some(DEFAULT_PAUSE),
            max_discard: DEFAULT_MAX_DISCARD,
            message_timeout: None,
        }
    }
}

/// Qué terminó un mensaje (para los registros: "llegó sin salto de línea").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Un `\n` o `\r\n`.
    Newline,
    /// Un silencio de la duración de la pausa.
    Pause,
    /// El otro extremo cerró su escritura.
    HalfClose,
}

impl Ending {
    /// La explicación en español, para los registros.
    pub fn describe(self) -> &'static str {
        match self {
            Ending::Newline => "con salto de línea",
            Ending::Pause => "sin salto de línea, terminado por una pausa",
            Ending::HalfClose => "sin salto de línea, terminado por el cierre del cliente",
        }
    }
}

/// Lo que puede fallar al leer un mensaje.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// El mensaje pasaba del máximo. Se ha descartado su resto; `resynced` dice si se encontró
    /// dónde acababa (se puede seguir leyendo) o se agotó el presupuesto de descarte (hay que
    /// cerrar).
    #[error("línea demasiado larga: el máximo es {max} bytes")]
    TooLong {
        /// El límite que se superó.
        max: usize,
        /// ¿Se encontró el final del mensaje?
        resynced: bool,
    },
    /// Venció el plazo total (el de la conexión o el del mensaje).
    #[error("se agotó el tiempo de espera")]
    TimedOut,
    /// Error del socket.
    #[error("error de lectura: {}", crate::net::describe_io_error(.0))]
    Io(io::Error),
}

impl From<io::Error> for MessageError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::TimedOut {
            MessageError::TimedOut
        } else {
            MessageError::Io(e)
        }
    }
}

/// Tamaño de cada lectura del socket.
const CHUNK: usize = 4096;

/// Lee mensajes de `source` según una [`MessageRule`], dentro del plazo total que se le fije.
#[derive(Debug)]
pub struct MessageReader<S> {
    reader: DeadlineReader<S>,
    rule: MessageRule,
    /// Bytes recibidos y aún no entregados.
    pending: Vec<u8>,
    /// Cuántos bytes de `pending` ya se miraron sin encontrar `\n`.
    scanned: usize,
    /// El plazo fijado desde fuera (el del mensaje se calcula a partir de él).
    deadline: Option<Instant>,
    eof: bool,
}

impl<S: TimedSource> MessageReader<S> {
    /// Lector de mensajes sobre `source`, sin plazo.
    pub fn new(source: S, rule: MessageRule) -> Self {
        Self {
            reader: DeadlineReader::new(source),
            rule,
            pending: Vec::new(),
            scanned: 0,
            deadline: None,
            eof: false,
        }
    }

    /// La regla en uso.
    pub fn rule(&self) -> &MessageRule {
        &self.rule
    }

    /// Fija el instante tras el que toda lectura falla con [`MessageError::TimedOut`]
    /// (`None`: sin plazo). Los bytes ya recibidos se conservan.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.reader.set_deadline(deadline);
    }

    /// Cambia el plazo de cada mensaje desde su primer byte (vale desde el próximo mensaje).
    pub fn set_message_timeout(&mut self, timeout: Option<Duration>) {
        self.rule.message_timeout = timeout;
    }

    /// Fija el plazo a `timeout` desde ahora (`None`: sin plazo).
    pub fn expire_in(&mut self, timeout: Option<Duration>) {
        self.set_deadline(timeout.map(|t| Instant::now() + t));
    }

    /// El origen de los bytes.
    pub fn get_ref(&self) -> &S {
        self.reader.get_ref()
    }

    /// Lee el siguiente mensaje en `out` (que se vacía antes), sin terminador.
    ///
    /// Devuelve `Ok(None)` si el otro extremo cerró sin nada pendiente.
    ///
    /// # Errores
    /// [`MessageError::TooLong`] (ya descartado el resto), [`MessageError::TimedOut`] y
    /// [`MessageError::Io`].
    pub fn next_message(&mut self, out: &mut Vec<u8>) -> Result<Option<Ending>, MessageError> {
        out.clear();
        let max = self.rule.max_bytes;
        loop {
            if let Some(pos) = find_newline(&self.pending, self.scanned) {
                let mut line = self.pending.get(..pos).unwrap_or_default();
                if let Some(stripped) = line.strip_suffix(b"\r") {
                    line = stripped;
                }
                let too_long = line.len() > max;
                if !too_long {
                    out.extend_from_slice(line);
                }
                self.take(pos + 1);
                return if too_long {
                    Err(MessageError::TooLong {
                        max,
                        resynced: true,
                    })
                } else {
                    Ok(Some(Ending::Newline))
                };
            }
            self.scanned = self.pending.len();
            // `max + 1` admite el `\r` de un `\r\n` que aún no ha llegado entero.
            if self.pending.len() > max.saturating_add(1) {
                return Err(self.discard_rest());
            }
            if self.eof {
                return self.finish_at_eof(out);
            }
            match self.fill()? {
                Within::Read(0) => self.eof = true,
                Within::Read(_) => {}
                Within::Quiet => {
                    let ending = Ending::Pause;
                    return self.deliver_pending(out, ending);
                }
            }
        }
    }

    /// Lee una vez del socket, con la pausa si hay un mensaje a medias.
    fn fill(&mut self) -> Result<Within, MessageError> {
        let starting = self.pending.is_empty();
        let quiet = if starting { None } else { self.rule.pause };
        let mut chunk = [0u8; CHUNK];
        let got = self.reader.read_within(&mut chunk, quiet)?;
        if let Within::Read(n) = got {
            if starting && n > 0 {
                self.arm_message_timeout();
            }
            self.pending
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        Ok(got)
    }

    /// Con el primer byte de un mensaje empieza su plazo propio, si lo tiene.
    fn arm_message_timeout(&mut self) {
        if let Some(t) = self.rule.message_timeout {
            let own = Instant::now() + t;
            let d = self.deadline.map_or(own, |d| d.min(own));
            self.reader.set_deadline(Some(d));
        }
    }

    fn finish_at_eof(&mut self, out: &mut Vec<u8>) -> Result<Option<Ending>, MessageError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        self.deliver_pending(out, Ending::HalfClose)
    }

    /// Entrega como mensaje todo lo pendiente (no hay `\n` en ello).
    fn deliver_pending(
        &mut self,
        out: &mut Vec<u8>,
        ending: Ending,
    ) -> Result<Option<Ending>, MessageError> {
        let max = self.rule.max_bytes;
        let mut msg = self.pending.as_slice();
        if let Some(stripped) = msg.strip_suffix(b"\r") {
            msg = stripped;
        }
        if msg.len() > max {
            self.take(self.pending.len());
            return Err(MessageError::TooLong {
                max,
                resynced: true,
            });
        }
        out.extend_from_slice(msg);
        self.take(self.pending.len());
        Ok(Some(ending))
    }

    /// Tira el resto de un mensaje demasiado largo hasta su final (`\n`, pausa o cierre),
    /// como mucho `max_discard` bytes y sin pasar del plazo.
    fn discard_rest(&mut self) -> MessageError {
        let max = self.rule.max_bytes;
        let mut discarded = self.pending.len() as u64;
        self.take(self.pending.len());
        let resynced = loop {
            if discarded > self.rule.max_discard {
                break false;
            }
            if self.eof {
                break true;
            }
            // Con bytes de por medio, la pausa también cierra el mensaje largo.
            let mut chunk = [0u8; CHUNK];
            match self.reader.read_within(&mut chunk, self.rule.pause) {
                Ok(Within::Read(0)) => self.eof = true,
                Ok(Within::Read(n)) => {
                    let got = chunk.get(..n).unwrap_or_default();
                    if let Some(pos) = got.iter().position(|&b| b == b'\n') {
                        self.pending
                            .extend_from_slice(got.get(pos + 1..).unwrap_or_default());
                        self.restart();
                        break true;
                    }
                    discarded = discarded.saturating_add(n as u64);
                }
                Ok(Within::Quiet) => break true,
                Err(e) => return e.into(),
            }
        };
        MessageError::TooLong { max, resynced }
    }

    /// Quita los primeros `n` bytes pendientes (un mensaje entregado o descartado) y prepara
    /// el plazo del siguiente.
    fn take(&mut self, n: usize) {
        self.pending.drain(..n.min(self.pending.len()));
        self.restart();
    }

    /// Empieza un mensaje: vuelve al plazo de fuera y, si ya hay bytes del siguiente, arranca
    /// su plazo propio.
    fn restart(&mut self) {
        self.scanned = 0;
        self.reader.set_deadline(self.deadline);
        if !self.pending.is_empty() {
            self.arm_message_timeout();
        }
    }
}

fn find_newline(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::super::deadline::fake::{Fake, Step};
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn bytes(b: &[u8]) -> Step {
        Step::Bytes(b.to_vec())
    }

    fn rule(max: usize, pause: Option<Duration>) -> MessageRule {
        MessageRule {
            pause,
            ..MessageRule::new(max)
        }
    }

    fn all(fake: &Fake, rule: MessageRule) -> Vec<Result<(String, Ending), String>> {
        let mut r = MessageReader::new(fake, rule);
        let mut out = Vec::new();
        let mut got = Vec::new();
        loop {
            match r.next_message(&mut out) {
                Ok(Some(e)) => got.push(Ok((String::from_utf8_lossy(&out).into_owned(), e))),
                Ok(None) => break,
                Err(e) => {
                    let fatal = !matches!(e, MessageError::TooLong { resynced: true, .. });
                    got.push(Err(e.to_string()));
                    if fatal {
                        break;
                    }
                }
            }
        }
        got
    }

    fn ok(s: &str, e: Ending) -> Result<(String, Ending), String> {
        Ok((s.to_string(), e))
    }

    #[test]
    fn newline_ends_a_message_at_once_without_waiting_for_the_pause() {
        let fake = Fake::new([bytes(b"hola\r\nadios\n"), Step::Silence(400 * MS)]);
        let mut r = MessageReader::new(&fake, rule(100, Some(Duration::from_secs(10))));
        let mut out = Vec::new();
        let started = Instant::now();
        assert_eq!(r.next_message(&mut out).unwrap(), Some(Ending::Newline));
        assert_eq!(out, b"hola");
        assert_eq!(r.next_message(&mut out).unwrap(), Some(Ending::Newline));
        assert_eq!(out, b"adios");
        assert!(started.elapsed() < 100 * MS);
    }

    #[test]
    fn bytes_then_silence_make_a_message() {
        let fake = Fake::new([
            bytes(b"Mun"),
            Step::Silence(10 * MS),
            bytes(b"do!"),
            Step::Silence(300 * MS),
            bytes(b"otra\n"),
        ]);
        assert_eq!(
            all(&fake, rule(100, Some(100 * MS))),
            vec![ok("Mundo!", Ending::Pause), ok("otra", Ending::Newline)]
        );
    }

    #[test]
    fn half_close_ends_the_pending_message() {
        let fake = Fake::new([bytes(b"a\nfin"), Step::Eof]);
        assert_eq!(
            all(&fake, rule(100, None)),
            vec![ok("a", Ending::Newline), ok("fin", Ending::HalfClose)]
        );
    }

    #[test]
    fn without_pause_silence_does_not_end_a_message() {
        let fake = Fake::new([bytes(b"ho"), Step::Silence(150 * MS), bytes(b"la\n")]);
        assert_eq!(
            all(&fake, rule(100, None)),
            vec![ok("hola", Ending::Newline)]
        );
    }

    #[test]
    fn limit_exactly_at_and_one_past_the_edge() {
        for ending in [&b"\n"[..], b"\r\n"] {
            let mut input = b"abcd".to_vec();
            input.extend_from_slice(ending);
            input.extend_from_slice(b"abcde");
            input.extend_from_slice(ending);
            input.extend_from_slice(b"ok\n");
            let fake = Fake::new([Step::Bytes(input)]);
            assert_eq!(
                all(&fake, rule(4, None)),
                vec![
                    ok("abcd", Ending::Newline),
                    Err("línea demasiado larga: el máximo es 4 bytes".into()),
                    ok("ok", Ending::Newline)
                ]
            );
        }
    }

    #[test]
    fn a_long_message_is_discarded_up_to_its_end_and_reading_goes_on() {
        let fake = Fake::new([
            Step::Bytes(vec![b'x'; 10_000]),
            Step::Bytes(vec![b'y'; 10_000]),
            bytes(b"z\nsigue\n"),
        ]);
        assert_eq!(
            all(&fake, rule(100, None)),
            vec![
                Err("línea demasiado larga: el máximo es 100 bytes".into()),
                ok("sigue", Ending::Newline)
            ]
        );
    }

    #[test]
    fn a_long_message_without_end_exhausts_the_discard_budget() {
        let fake = Fake::new([Step::Bytes(vec![b'x'; 100_000])]);
        let mut r = MessageReader::new(
            &fake,
            MessageRule {
                max_discard: 1000,
                ..rule(10, None)
            },
        );
        let e = r.next_message(&mut Vec::new()).unwrap_err();
        assert!(matches!(
            e,
            MessageError::TooLong {
                max: 10,
                resynced: false
            }
        ));
    }

    #[test]
    fn a_pause_cut_message_still_has_its_maximum() {
        let fake = Fake::new([bytes(b"abcdef"), Step::Silence(200 * MS), bytes(b"ok\n")]);
        assert_eq!(
            all(&fake, rule(4, Some(50 * MS))),
            vec![
                Err("línea demasiado larga: el máximo es 4 bytes".into()),
                ok("ok", Ending::Newline)
            ]
        );
    }

    #[test]
    fn a_trickle_faster_than_the_pause_is_cut_at_the_total_deadline() {
        // Un byte cada 40 ms con una pausa de 100 ms: ningún mensaje termina, y el plazo
        // total de 300 ms lo corta igual.
        let steps = (0..100).flat_map(|_| [Step::Silence(40 * MS), bytes(b"x")]);
        let fake = Fake::new(steps);
        let mut r = MessageReader::new(&fake, rule(1000, Some(100 * MS)));
        r.expire_in(Some(300 * MS));
        let started = Instant::now();
        let e = r.next_message(&mut Vec::new()).unwrap_err();
        assert!(matches!(e, MessageError::TimedOut), "{e:?}");
        assert!(started.elapsed() < 2000 * MS);
    }

    #[test]
    fn the_message_timeout_starts_at_the_first_byte() {
        // Callado 300 ms (permitido), luego un goteo que no acaba: se corta a los 200 ms.
        let mut steps = vec![Step::Silence(300 * MS)];
        steps.extend((0..100).flat_map(|_| [bytes(b"x"), Step::Silence(30 * MS)]));
        let fake = Fake::new(steps);
        let mut r = MessageReader::new(
            &fake,
            MessageRule {
                message_timeout: Some(200 * MS),
                ..rule(1000, Some(100 * MS))
            },
        );
        let started = Instant::now();
        let e = r.next_message(&mut Vec::new()).unwrap_err();
        assert!(matches!(e, MessageError::TimedOut), "{e:?}");
        let took = started.elapsed();
        assert!(took >= 500 * MS, "{took:?}");
    }

    #[test]
    fn the_deadline_set_between_messages_keeps_pending_bytes() {
        let fake = Fake::new([bytes(b"uno\ndos\n")]);
        let mut r = MessageReader::new(&fake, rule(100, None));
        let mut out = Vec::new();
        r.expire_in(Some(Duration::from_secs(5)));
        r.next_message(&mut out).unwrap();
        r.set_deadline(None);
        assert_eq!(r.next_message(&mut out).unwrap(), Some(Ending::Newline));
        assert_eq!(out, b"dos");
    }

    proptest::proptest! {
        #[test]
        fn never_returns_more_than_max_nor_a_newline(
            chunks in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec![b'a', b'\r', b'\n']), 0..40),
                0..10),
            max in 0usize..16,
        ) {
            let fake = Fake::new(chunks.into_iter().map(Step::Bytes));
            let mut r = MessageReader::new(&fake, rule(max, None));
            let mut out = Vec::new();
            loop {
                match r.next_message(&mut out) {
                    Ok(Some(_)) => {
                        proptest::prop_assert!(out.len() <= max);
                        proptest::prop_assert!(!out.contains(&b'\n'));
                    }
                    Ok(None) => break,
                    Err(MessageError::TooLong { resynced: true, .. }) => {}
                    Err(e) => proptest::prop_assert!(false, "{e}"),
                }
            }
        }
    }
}
