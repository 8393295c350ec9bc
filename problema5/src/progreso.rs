//! La barra de progreso de las transferencias del cliente.
//!
//! El cliente avisa del avance a través del rasgo [`Progress`]; el binario usa [`Bar`] solo
//! si stderr es una terminal (en un script o en un fichero de registro una barra que se
//! redibuja con `\r` es basura), y las pruebas usan [`NoProgress`].

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Recibe el avance de una transferencia.
pub trait Progress {
    /// Empieza una transferencia de `total` bytes de la que ya se tenían `already`.
    fn start(&mut self, total: u64, already: u64);
    /// Ya van `done` bytes de `total` (contando los que ya se tenían).
    fn update(&mut self, done: u64);
    /// La transferencia terminó (bien o mal): borrar o cerrar la barra.
    fn finish(&mut self);
}

/// No muestra nada.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _total: u64, _already: u64) {}
    fn update(&mut self, _done: u64) {}
    fn finish(&mut self) {}
}

/// Cada cuánto se redibuja la barra como mucho: más a menudo no se lee y cuesta escrituras.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Barra de progreso en stderr: porcentaje, bytes y velocidad.
#[derive(Debug)]
pub struct Bar {
    label: String,
    total: u64,
    already: u64,
    done: u64,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Bar {
    /// Una barra con una etiqueta (por ejemplo, el nombre del fichero).
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            total: 0,
            already: 0,
            done: 0,
            started: Instant::now(),
            last_draw: None,
        }
    }

    /// Una [`Bar`] si stderr es una terminal; si no, [`NoProgress`].
    pub fn if_terminal(label: impl Into<String>) -> Box<dyn Progress> {
        if std::io::stderr().is_terminal() {
            Box::new(Bar::new(label))
        } else {
            Box::new(NoProgress)
        }
    }

    fn draw(&mut self) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let moved = self.done.saturating_sub(self.already) as f64;
        let rate = if elapsed > 0.0 { moved / elapsed } else { 0.0 };
        let line = render(&self.label, self.done, self.total, rate);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.last_draw = Some(Instant::now());
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64, already: u64) {
        self.total = total;
        self.already = already;
        self.done = already;
        self.started = Instant::now();
        self.draw();
    }

    fn update(&mut self, done: u64) {
        self.done = done;
        if self.last_draw.map_or(true, |t| t.elapsed() >= REDRAW_EVERY) {
            self.draw();
        }
    }

    fn finish(&mut self) {
        self.draw();
        let _ = writeln!(std::io::stderr());
    }
}

/// El texto de la barra: `nombre [#####-----]  50%  5,0 MiB / 10,0 MiB  2,5 MiB/s`.
///
/// ```
/// use problema5::progreso::render;
/// let s = render("a.bin", 512, 1024, 1024.0);
/// assert!(s.contains(" 50%"), "{s}");
/// assert!(s.contains("512 B / 1,0 KiB"), "{s}");
/// ```
pub fn render(label: &str, done: u64, total: u64, bytes_per_sec: f64) -> String {
    const WIDTH: u64 = 24;
    let fraction = if total == 0 {
        1.0
    } else {
        done.min(total) as f64 / total as f64
    };
    let filled = ((fraction * WIDTH as f64) as u64).min(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '-' })
        .collect();
    format!(
        "{label} [{bar}] {:3.0}%  {} / {}  {}/s",
        fraction * 100.0,
        format_bytes(done),
        format_bytes(total),
        format_bytes(bytes_per_sec as u64)
    )
}

/// Bytes en unidades binarias legibles, con coma decimal: `1,5 MiB`.
///
/// ```
/// use problema5::progreso::format_bytes;
/// assert_eq!(format_bytes(999), "999 B");
/// assert_eq!(format_bytes(1536 * 1024), "1,5 MiB");
/// ```
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1} {}", UNITS.get(unit).unwrap_or(&"PiB"));
    text.replace('.', ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_transfer_is_complete() {
        assert!(render("x", 0, 0, 0.0).contains("100%"));
    }

    #[test]
    fn units_grow_with_size() {
        assert_eq!(format_bytes(1024), "1,0 KiB");
        assert_eq!(format_bytes(1 << 30), "1,0 GiB");
        assert_eq!(format_bytes(u64::MAX), "16384,0 PiB");
    }
}
