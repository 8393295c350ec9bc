//! El cliente de `comprobar`: un socket TCP con plazo en cada lectura y un buffer propio, que
//! convierte cada problema del servidor (no conecta, no responde, cierra, responde otra cosa)
//! en un [`Failure`] con lo que llegó y una pista, en vez de en un pánico o una espera eterna.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Pausa que da por terminado un mensaje sin `\n` (un servidor que responde con un `send` sin
/// terminador, como el esqueleto del taller).
pub const MESSAGE_PAUSE: Duration = Duration::from_millis(300);

/// Lo más que se guarda de lo recibido al esperar algo (para no crecer sin fin si el servidor
/// inunda).
pub const MAX_KEEP: usize = 64 * 1024 * 1024;

/// Una comprobación fallida: lo que llegó (legible) y, si ayuda, una pista.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Lo que llegó en lugar de lo esperado.
    pub got: String,
    /// Qué mirar para arreglarlo.
    pub hint: Option<String>,
}

impl Failure {
    /// Un fallo sin pista.
    pub fn new(got: impl Into<String>) -> Self {
        Self {
            got: got.into(),
            hint: None,
        }
    }

    /// Un fallo con pista.
    pub fn hint(got: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            got: got.into(),
            hint: Some(hint.into()),
        }
    }

    /// Añade (o sustituye) la pista.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Bytes en forma legible y acotada: `"hola\n"`, con `…(N bytes)` si son muchos.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{:?}…({} bytes)", text, bytes.len())
    } else {
        format!("{text:?}")
    }
}

/// Una conexión con plazos.
pub struct Conn {
    stream: TcpStream,
    /// Recibido y aún no consumido.
    pending: Vec<u8>,
    /// El servidor cerró su escritura (se leyó fin de flujo).
    eof: bool,
    timeout: Duration,
    addr: SocketAddr,
}

impl Conn {
    /// Conecta con `addr` con plazo `timeout` para conectar y para cada espera.
    pub fn open(addr: SocketAddr, timeout: Duration) -> Result<Self, Failure> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
            Failure::hint(
                format!("no se pudo conectar a {addr}: {e}"),
                "¿está el servidor en marcha y escuchando en esa dirección y puerto?",
            )
        })?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|e| Failure::new(format!("no se pudo configurar el socket: {e}")))?;
        Ok(Self {
            stream,
            pending: Vec::new(),
            eof: false,
            timeout,
            addr,
        })
    }

    /// La dirección del servidor.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// El socket (para lo que no cubren estos métodos).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Envía `bytes` enteros.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.stream.write_all(bytes).map_err(|e| {
            if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut {
                Failure::hint(
                    format!("el servidor no leyó lo enviado en {:?}", self.timeout),
                    "el servidor debe leer lo que le llega aunque esté ocupado escribiendo",
                )
            } else {
                Failure::new(format!(
                    "la conexión se cortó al enviar ({e}); recibido antes: {}",
                    show(&self.pending)
                ))
            }
        })
    }

    /// Envía una línea de texto con `\n`.
    pub fn send_line(&mut self, line: &str) -> Result<(), Failure> {
        self.send(format!("{line}\n").as_bytes())
    }

    /// Cierra la mitad de escritura (el servidor lee fin de flujo).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(NetShutdown::Write);
    }

    /// Lee lo que haya hasta `deadline`: `Ok(true)` si llegó algo, `Ok(false)` si venció el
    /// plazo o el servidor cerró.
    fn fill(&mut self, deadline: Instant) -> Result<bool, Failure> {
        if self.eof {
            return Ok(false);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let wait = (deadline - now).max(Duration::from_millis(1));
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                if self.pending.len() + n > MAX_KEEP {
                    return Err(Failure::new(format!(
                        "más de {MAX_KEEP} bytes sin lo esperado"
                    )));
                }
                self.pending
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                Ok(false)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            Err(_) => {
                // Reset: para quien lee es como un cierre.
                self.eof = true;
                Ok(false)
            }
        }
    }

    fn nothing(&self, what: &str) -> Failure {
        if self.eof {
            Failure::new(format!(
                "el servidor cerró la conexión sin enviar {what} (recibido: {})",
                show(&self.pending)
            ))
        } else {
            Failure::hint(
                format!(
                    "nada en {:?} esperando {what} (recibido: {})",
                    self.timeout,
                    show(&self.pending)
                ),
                "¿el servidor respondió sin el `\\n` final, o se quedó esperando más datos?",
            )
        }
    }

    /// Una línea completa (sin `\n` ni `\r`), con el plazo de la conexión.
    pub fn line(&mut self) -> Result<String, Failure> {
        self.line_within(self.timeout)
    }

    /// Una línea completa con plazo `wait`.
    pub fn line_within(&mut self, wait: Duration) -> Result<String, Failure> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=pos).collect();
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if !self.fill(deadline)? && (self.eof || Instant::now() >= deadline) {
                return Err(self.nothing("una línea"));
            }
        }
    }

    /// Lee líneas hasta una que cumpla `pred` (y la devuelve); las anteriores se descartan.
    pub fn line_where(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, Failure> {
        let deadline = Instant::now() + self.timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.line_within(left) {
                Ok(l) if pred(&l) => return Ok(l),
                Ok(l) => seen.push(l),
                Err(f) => {
                    return Err(Failure::new(format!(
                        "no llegó {what}; llegaron {seen:?} ({})",
                        f.got
                    )))
                }
            }
        }
    }

    /// Un listado: lee hasta la línea de cabecera `PREFIJO<n>SUFIJO` (`FILES 3`, `Salas (3):`)
    /// y después sus `n` líneas. Devuelve la cabecera y las líneas.
    pub fn listing(
        &mut self,
        prefix: &str,
        suffix: &str,
    ) -> Result<(String, Vec<String>), Failure> {
        let count = |l: &str| -> Option<usize> {
            l.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
        };
        let head = self.line_where(&format!("`{prefix}N{suffix}`"), |l| count(l).is_some())?;
        let n = count(&head).unwrap_or(0);
        let mut lines = Vec::new();
        for _ in 0..n.min(100_000) {
            lines.push(self.line()?);
        }
        Ok((head, lines))
    }

    /// Un "mensaje" tolerante: espera el primer byte con el plazo de la conexión y luego lee
    /// hasta un `\n` final, una pausa de [`MESSAGE_PAUSE`] o el cierre. Sirve para servidores
    /// que responden con o sin `\n`.
    pub fn message(&mut self) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + self.timeout;
        while self.pending.is_empty() {
            if !self.fill(deadline)? && (self.eof || Instant::now() >= deadline) {
                return Err(self.nothing("una respuesta"));
            }
        }
        loop {
            if self.pending.last() == Some(&b'\n') {
                break;
            }
            if !self.fill(Instant::now() + MESSAGE_PAUSE)? {
                break;
            }
        }
        Ok(std::mem::take(&mut self.pending))
    }

    /// Todo lo que llegue durante `wait` (sin fallar si no llega nada).
    pub fn collect_for(&mut self, wait: Duration) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && !self.eof {
            self.fill(deadline)?;
        }
        Ok(std::mem::take(&mut self.pending))
    }

    /// Lee hasta tener en el buffer algo que contenga `needle` y devuelve todo lo recibido.
    pub fn until_contains(&mut self, needle: &[u8]) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if contains(&self.pending, needle) {
                return Ok(std::mem::take(&mut self.pending));
            }
            if !self.fill(deadline)? && (self.eof || Instant::now() >= deadline) {
                return Err(self.nothing(&show(needle)));
            }
        }
    }

    /// Lee hasta `needle` incluido y devuelve lo leído hasta ahí; lo que venga detrás queda
    /// en el buffer para la siguiente lectura.
    pub fn through(&mut self, needle: &[u8]) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(pos) = self
                .pending
                .windows(needle.len().max(1))
                .position(|w| w == needle)
            {
                return Ok(self.pending.drain(..pos + needle.len()).collect());
            }
            if !self.fill(deadline)? && (self.eof || Instant::now() >= deadline) {
                return Err(self.nothing(&show(needle)));
            }
        }
    }

    /// Exactamente `n` bytes.
    pub fn exact(&mut self, n: usize) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + self.timeout;
        while self.pending.len() < n {
            if !self.fill(deadline)? && (self.eof || Instant::now() >= deadline) {
                let why = if self.eof { "cerró" } else { "se calló" };
                return Err(Failure::new(format!(
                    "el servidor {why} tras {} de {n} bytes: {}",
                    self.pending.len(),
                    show(&self.pending)
                )));
            }
        }
        Ok(self.pending.drain(..n).collect())
    }

    /// Lee hasta que el servidor cierre (con plazo `wait`) y devuelve lo recibido.
    pub fn until_closed(&mut self, wait: Duration) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + wait;
        while !self.eof {
            if !self.fill(deadline)? && Instant::now() >= deadline {
                return Err(Failure::hint(
                    format!(
                        "la conexión seguía abierta tras {wait:?} (recibido: {})",
                        show(&self.pending)
                    ),
                    "el servidor debe cerrar la conexión en ese caso",
                ));
            }
        }
        Ok(std::mem::take(&mut self.pending))
    }

    /// Otro manejador del mismo socket, para escribir desde otro hilo mientras este lee.
    pub fn writer(&self) -> Result<TcpStream, Failure> {
        self.stream
            .try_clone()
            .map_err(|e| Failure::new(format!("no se pudo duplicar el socket: {e}")))
    }

    /// ¿Cerró ya el servidor (se leyó fin de flujo)?
    pub fn is_closed(&self) -> bool {
        self.eof
    }

    /// Lo recibido y aún no consumido.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

/// ¿Contiene `hay` la secuencia `needle`?
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
