//! La barra de progreso de las transferencias de los clientes, y el formato de tamaños,
//! velocidades y segundos de los nueve programas (`4,8 MiB`, `13,4 KiB/s`, `2,5 s`: coma
//! decimal, unidades binarias).
//!
//! La barra es de `indicatif`, no hecha a mano: al redibujar borra la línea entera (una a mano
//! que escribe `\r` y un texto más corto que el anterior deja restos como `(975,9 MiB/s))`),
//! se recorta al ancho de la terminal, se redibuja como mucho 20 veces por segundo aunque se
//! la avise en cada `read` y sigue moviéndose (la velocidad baja) si la transferencia se para.
//!
//! Solo se dibuja si stderr es una terminal: en un script, en un fichero de registro o en una
//! prueba, una línea que se reescribe con `\r` es basura. Entonces [`Bar`] no escribe nada.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Bytes en unidades binarias con un decimal y coma decimal: `999 B`, `1,5 KiB`, `4,8 MiB`.
///
/// ```
/// use common::progress::format_bytes;
/// assert_eq!(format_bytes(999), "999 B");
/// assert_eq!(format_bytes(5_000_000), "4,8 MiB");
/// ```
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // 1023,95 KiB se escribiría `1024,0 KiB`: a partir de ahí, ya es la unidad siguiente.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let unit = UNITS.get(unit).unwrap_or(&"EiB");
    format!("{value:.1} {unit}").replace('.', ",")
}

/// Una duración en segundos con un decimal y coma decimal, como los tamaños: `2,5 s`.
///
/// ```
/// use std::time::Duration;
/// use common::progress::format_seconds;
/// assert_eq!(format_seconds(Duration::from_millis(2500)), "2,5 s");
/// ```
pub fn format_seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64()).replace('.', ",")
}

/// Una velocidad en bytes por segundo, con el formato de [`format_bytes`]: `13,4 KiB/s`.
///
/// ```
/// use common::progress::format_rate;
/// assert_eq!(format_rate(13_700.0), "13,4 KiB/s");
/// ```
pub fn format_rate(bytes_per_sec: f64) -> String {
    // `as` satura: un valor negativo o NaN da 0 y uno infinito, el máximo.
    format!("{}/s", format_bytes(bytes_per_sec as u64))
}

/// Cada cuánto se redibuja la barra aunque no lleguen bytes: así una transferencia parada se
/// ve parada (la velocidad baja) en vez de congelada en su último valor.
const TICK: Duration = Duration::from_millis(250);

/// La barra de progreso de una transferencia, en stderr si es una terminal.
///
/// Se crea con su etiqueta antes de saber el tamaño ([`Bar::new`]), se arranca cuando se
/// sabe ([`Bar::start`]), se avisa del avance ([`Bar::set`] o [`Bar::add`]) y se cierra con
/// [`Bar::finish`], que deja la última línea a la vista. Una barra oculta ([`Bar::hidden`],
/// o cualquiera si stderr no es una terminal) acepta las mismas llamadas y no escribe nada.
#[derive(Debug)]
pub struct Bar {
    label: String,
    visible: bool,
    bar: ProgressBar,
}

impl Bar {
    /// Una barra con una etiqueta (`descargando a.bin`), visible solo si stderr es una terminal.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            visible: std::io::stderr().is_terminal(),
            bar: ProgressBar::hidden(),
        }
    }

    /// Una barra que nunca dibuja nada (pruebas, o un cliente que no quiere barra).
    pub fn hidden() -> Self {
        Self {
            label: String::new(),
            visible: false,
            bar: ProgressBar::hidden(),
        }
    }

    /// Empieza la transferencia: `total` bytes si se saben (`None`: un cuerpo sin longitud
    /// conocida, y se muestran solo los bytes y la velocidad), de los que ya se tenían
    /// `already` (una reanudación: no cuentan para la velocidad).
    pub fn start(&mut self, total: Option<u64>, already: u64) {
        if !self.visible {
            return;
        }
        self.bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
            .with_style(style(total.is_some(), already))
            .with_message(self.label.clone())
            .with_position(already);
        self.bar.enable_steady_tick(TICK);
    }

    /// Ya van `done` bytes (contando los que ya se tenían).
    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Han llegado `n` bytes más.
    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }

    /// La transferencia terminó (bien o mal): la barra se dibuja por última vez, tal como
    /// está, y se queda en la terminal. (`ProgressBar::finish` la llevaría al 100 % aunque la
    /// transferencia se hubiera cortado: por eso `abandon`.)
    pub fn finish(&self) {
        if self.bar.is_hidden() || self.bar.is_finished() {
            return;
        }
        self.bar.abandon();
        // `indicatif` deja el cursor al final de la línea de la barra: sin este salto, el
        // mensaje siguiente (o el indicador del intérprete de órdenes) seguiría en ella.
        let _ = writeln!(std::io::stderr());
    }
}

/// Una barra que se suelta sin [`Bar::finish`] (un `?` a mitad de la transferencia) se queda
/// como estaba, con su salto de línea: el mensaje de error sale debajo, no encima.
impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

/// El aspecto de la barra: `a.bin [######------]  50%  2,4 MiB / 4,8 MiB  13,4 MiB/s`, o sin
/// tamaño total, `a.bin 2,4 MiB  13,4 MiB/s`. Las cifras las escribe [`format_bytes`] (las de
/// `indicatif` llevan punto decimal); la velocidad es la media desde [`Bar::start`] sin
/// contar los `already` bytes que ya se tenían.
fn style(known_total: bool, already: u64) -> ProgressStyle {
    let template = if known_total {
        "{msg} [{bar:24}] {percent:>3}%  {hecho} / {total}  {ritmo}"
    } else {
        "{msg} {hecho}  {ritmo}"
    };
    // La plantilla es fija y válida: el respaldo no se usa nunca.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#-")
        .with_key("hecho", |s: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = w.write_str(&format_bytes(s.pos()));
        })
        .with_key("total", |s: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = w.write_str(&format_bytes(s.len().unwrap_or(0)));
        })
        .with_key("ritmo", move |s: &ProgressState, w: &mut dyn fmt::Write| {
            let secs = s.elapsed().as_secs_f64();
            let moved = s.pos().saturating_sub(already) as f64;
            let rate = if secs > 0.001 { moved / secs } else { 0.0 };
            let _ = w.write_str(&format_rate(rate));
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[test]
    fn sizes_use_a_decimal_comma_and_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1,0 KiB");
        assert_eq!(format_bytes(1536), "1,5 KiB");
        assert_eq!(format_bytes(13_722), "13,4 KiB");
        assert_eq!(format_bytes(5_000_000), "4,8 MiB");
        assert_eq!(format_bytes(1 << 30), "1,0 GiB");
        assert_eq!(format_bytes(5 << 30), "5,0 GiB");
        assert_eq!(format_bytes(u64::MAX), "16,0 EiB");
    }

    #[test]
    fn a_size_that_would_round_to_1024_takes_the_next_unit() {
        assert_eq!(format_bytes(1024 * 1024 - 1), "1,0 MiB");
        assert_eq!(format_bytes(1023 * 1024), "1023,0 KiB");
    }

    #[test]
    fn rates_have_the_same_format_and_survive_nonsense() {
        assert_eq!(format_rate(13_722.0), "13,4 KiB/s");
        assert_eq!(format_rate(0.0), "0 B/s");
        assert_eq!(format_rate(-5.0), "0 B/s");
        assert_eq!(format_rate(f64::NAN), "0 B/s");
    }

    #[test]
    fn a_hidden_bar_accepts_every_call() {
        let mut bar = Bar::hidden();
        bar.start(Some(10), 2);
        bar.add(3);
        bar.set(10);
        bar.finish();
        bar.finish();
    }

    /// Una terminal de mentira que guarda lo que se escribe en ella, línea a línea.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Dibuja en una terminal de mentira una barra de `total` bytes (o sin total) con la
    /// etiqueta `label`, la lleva a `position` y devuelve su última línea con texto (tras cada
    /// una, `indicatif` escribe espacios para borrar restos de una línea anterior más larga).
    fn draw(label: &'static str, total: Option<u64>, position: u64) -> String {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            total,
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        )
        .with_style(style(total.is_some(), 0))
        .with_message(label);
        bar.set_position(position);
        bar.abandon();
        let lines = screen.0.lock().map(|l| l.clone()).unwrap_or_default();
        lines
            .into_iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
    }

    #[test]
    fn the_bar_line_uses_the_same_number_format() {
        let last = draw("descargando a.bin", Some(2048), 1024);
        assert!(
            last.starts_with(
                "descargando a.bin [############------------]  50%  1,0 KiB / 2,0 KiB  "
            ),
            "{last}"
        );
        assert!(last.ends_with("/s"), "{last}");
    }

    #[test]
    fn without_a_total_the_bar_shows_bytes_and_rate() {
        let last = draw("/x", None, 5_000_000);
        assert!(last.starts_with("/x 4,8 MiB  "), "{last}");
    }
}
