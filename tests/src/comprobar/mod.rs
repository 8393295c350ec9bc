//! `comprobar`: comprueba por fuera (caja negra) el servidor de cualquiera de los nueve problemas,
//! esté escrito en Rust, en Python o en lo que sea.
//!
//! Se conecta como uno o varios clientes, habla el protocolo del problema y escribe una línea
//! por comprobación: ✓ o ✗, qué envió, qué esperaba, qué llegó y, si ayuda, una pista. Al final,
//! `N pasadas, N falladas`. Hay dos niveles:
//!
//! - `taller`: solo lo que pide el enunciado del taller, tolerante con la redacción y el
//!   encuadre donde el enunciado no los fija (un servidor esqueleto que responde a un único
//!   `recv(1024)` sin `\n` y cierra tras cada mensaje también pasa).
//! - `completo`: todo el protocolo documentado en el `README.md` de cada problema, con sus
//!   límites, la entrada mala y los clientes lentos.
//!
//! Toda lectura tiene un plazo ([`Options::timeout`]): un servidor colgado es una comprobación
//! fallida, nunca un `comprobar` colgado. Solo habla con direcciones de loopback
//! (127.0.0.0/8 y ::1): es la norma de este proyecto.
//!
//! Cada problema tiene su módulo (`problema1` ... `problema9`), que se lee de arriba abajo como
//! la lista de lo que significa "correcto" para ese servidor; [`conexion`] es el cliente con
//! plazos que usan todos.

pub mod conexion;
mod problema1;
mod problema2;
mod problema3;
mod problema4;
mod problema5;
mod problema6;
mod problema7;
mod problema8;
mod problema9;

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use conexion::{show, Conn, Failure};

/// Plazo por omisión de cada lectura.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Cuánto se espera como mucho a que un servidor corte a un cliente inactivo: por encima de
/// esto la comprobación se salta y dice cómo acortar el plazo del servidor.
pub const MAX_IDLE_WAIT: Duration = Duration::from_secs(15);

/// Qué se comprueba.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Lo que pide el enunciado del taller, tolerante con la redacción.
    Taller,
    /// Todo el protocolo documentado, con límites y entrada hostil.
    Completo,
}

/// Lo que `comprobar` necesita saber del servidor.
#[derive(Clone, Debug)]
pub struct Options {
    /// Problema (1 a 9).
    pub problem: u8,
    /// Dirección del servidor (solo loopback).
    pub addr: SocketAddr,
    /// Nivel de exigencia.
    pub level: Level,
    /// Plazo de cada lectura.
    pub timeout: Duration,
    /// El plazo de inactividad con el que se arrancó el servidor (su `--timeout`,
    /// `--idle-timeout` o `--handshake-timeout`); si falta se usa el del README y, si es largo,
    /// la comprobación de inactividad se salta.
    pub server_idle: Option<Duration>,
    /// problema4: directorio local que sirve el servidor (para comparar bytes).
    pub dir: Option<PathBuf>,
    /// problema4: ruta, dentro de `dir`, de un fichero que el servidor sirve.
    pub file: Option<String>,
    /// problema7: puerto local del origen que arranca `comprobar` (0 = uno libre). El proxy
    /// debe admitirlo en `CONNECT` (`--connect-ports`).
    pub origin_port: u16,
    /// problema9: puerto de control del balanceador (registro y estado).
    pub control: Option<SocketAddr>,
}

impl Options {
    /// Opciones por omisión para `problem` en `addr`.
    pub fn new(problem: u8, addr: SocketAddr, level: Level) -> Self {
        Self {
            problem,
            addr,
            level,
            timeout: DEFAULT_TIMEOUT,
            server_idle: None,
            dir: None,
            file: None,
            origin_port: 0,
            control: None,
        }
    }
}

/// Por qué `comprobar` no puede ni empezar.
#[derive(Debug, thiserror::Error)]
pub enum ComprobarError {
    /// La dirección no es de loopback.
    #[error(
        "la dirección {0} no es de loopback: comprobar solo habla con 127.0.0.0/8 y ::1 \
         (norma de este proyecto: ninguna prueba sale de la máquina). Arranque su servidor \
         en 127.0.0.1 y use --addr 127.0.0.1:PUERTO"
    )]
    NotLoopback(IpAddr),
    /// La dirección no se entiende.
    #[error("dirección no válida `{0}`: escriba IP:PUERTO, por ejemplo 127.0.0.1:8003")]
    BadAddr(String),
    /// El problema no existe.
    #[error("no hay problema `{0}`: elija de problema1 a problema9 (o solo el número)")]
    BadProblem(String),
    /// Falta una opción que ese problema necesita.
    #[error("{0}")]
    Missing(String),
    /// No se pudo escribir el informe.
    #[error("no se pudo escribir el informe: {0}")]
    Output(#[from] std::io::Error),
}

/// Entiende `problema3`, `3` o `p3`.
pub fn parse_problem(s: &str) -> Result<u8, ComprobarError> {
    let digits = s
        .trim()
        .trim_start_matches("problema")
        .trim_start_matches('p');
    match digits.parse::<u8>() {
        Ok(n @ 1..=9) => Ok(n),
        _ => Err(ComprobarError::BadProblem(s.to_string())),
    }
}

/// Entiende `IP:PUERTO` (y `localhost:PUERTO`) sin consultar DNS, y rechaza lo que no sea
/// loopback.
pub fn parse_addr(s: &str) -> Result<SocketAddr, ComprobarError> {
    let s = s.trim();
    let addr: SocketAddr = match s.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| ComprobarError::BadAddr(s.to_string()))?,
        None => s
            .parse()
            .map_err(|_| ComprobarError::BadAddr(s.to_string()))?,
    };
    ensure_loopback(addr.ip())?;
    Ok(addr)
}

/// Falla si `ip` no es de loopback.
pub fn ensure_loopback(ip: IpAddr) -> Result<(), ComprobarError> {
    if ip.is_loopback() {
        Ok(())
    } else {
        Err(ComprobarError::NotLoopback(ip))
    }
}

/// El recuento final.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Comprobaciones superadas.
    pub passed: usize,
    /// Comprobaciones fallidas.
    pub failed: usize,
    /// Fallos ya conocidos de nuestros servidores (anotados, no cuentan como fallo).
    pub known: usize,
    /// Comprobaciones que no se pudieron hacer (y por qué se dijo en su línea).
    pub skipped: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} pasadas, {} falladas", self.passed, self.failed)?;
        if self.known > 0 {
            write!(f, ", {} fallos conocidos", self.known)?;
        }
        if self.skipped > 0 {
            write!(f, ", {} saltadas", self.skipped)?;
        }
        Ok(())
    }
}

/// Lo que describe una comprobación: qué se envía y qué se espera.
pub struct Step<'s> {
    /// Nombre corto de la comprobación.
    pub name: &'s str,
    /// Lo que se envía (legible).
    pub sent: &'s str,
    /// Lo que se espera (legible).
    pub expected: &'s str,
}

/// Lleva la cuenta y escribe una línea por comprobación.
pub struct Checker<'o> {
    out: &'o mut dyn Write,
    summary: Summary,
    /// Las opciones con que se ejecuta.
    pub opts: Options,
}

impl<'o> Checker<'o> {
    /// Un informe vacío que escribe en `out`.
    pub fn new(opts: Options, out: &'o mut dyn Write) -> Self {
        Self {
            out,
            summary: Summary::default(),
            opts,
        }
    }

    /// ¿Se comprueba el protocolo completo?
    pub fn completo(&self) -> bool {
        self.opts.level == Level::Completo
    }

    /// Ejecuta una comprobación: `run` devuelve lo que llegó si fue bien, o el fallo.
    pub fn check(&mut self, step: Step<'_>, run: impl FnOnce() -> Result<String, Failure>) -> bool {
        match run() {
            Ok(got) => {
                self.summary.passed += 1;
                self.line(&format!(
                    "✓ {}: envié {}; esperaba {}; llegó {}",
                    step.name, step.sent, step.expected, got
                ));
                true
            }
            Err(f) => {
                self.summary.failed += 1;
                self.line(&format!(
                    "✗ {}: envié {}; esperaba {}; llegó {}",
                    step.name, step.sent, step.expected, f.got
                ));
                if let Some(hint) = f.hint {
                    self.line(&format!("    pista: {hint}"));
                }
                false
            }
        }
    }

    /// Como [`Checker::check`], para un fallo ya conocido de nuestro servidor: si falla, se
    /// anota con `note` y no cuenta como fallo; si pasa, cuenta como pasada y lo dice.
    pub fn known_failure(
        &mut self,
        step: Step<'_>,
        note: &str,
        run: impl FnOnce() -> Result<String, Failure>,
    ) {
        match run() {
            Ok(got) => {
                self.summary.passed += 1;
                self.line(&format!(
                    "✓ {}: envié {}; esperaba {}; llegó {} (era un fallo conocido: {note}; ya está arreglado, quite la marca)",
                    step.name, step.sent, step.expected, got
                ));
            }
            Err(f) => {
                self.summary.known += 1;
                self.line(&format!(
                    "⚠ {}: envié {}; esperaba {}; llegó {}",
                    step.name, step.sent, step.expected, f.got
                ));
                self.line(&format!("    fallo conocido: {note}"));
            }
        }
    }

    /// Anota una comprobación que no se puede hacer, y por qué.
    pub fn skip(&mut self, name: &str, why: &str) {
        self.summary.skipped += 1;
        self.line(&format!("– {name}: saltada: {why}"));
    }

    /// Una línea de texto libre (títulos de sección).
    pub fn note(&mut self, text: &str) {
        self.line(text);
    }

    /// El plazo de inactividad del servidor a esperar, o `None` (y la comprobación saltada)
    /// si el del README es demasiado largo y no se dio `--plazo`.
    pub fn idle_wait(
        &mut self,
        name: &str,
        readme_default: Duration,
        flag: &str,
    ) -> Option<Duration> {
        let wait = self.opts.server_idle.unwrap_or(readme_default);
        if wait <= MAX_IDLE_WAIT {
            return Some(wait);
        }
        self.skip(
            name,
            &format!(
                "el plazo del servidor es de {} s; arránquelo con `{flag}` y pase `--plazo 2` a comprobar",
                wait.as_secs()
            ),
        );
        None
    }

    fn line(&mut self, text: &str) {
        // Si la salida falla (tubería cerrada), el recuento sigue valiendo.
        let _ = writeln!(self.out, "{text}");
    }

    /// El recuento hasta ahora.
    pub fn summary(&self) -> Summary {
        self.summary
    }
}

/// Comprueba el servidor descrito en `opts`, escribe el informe en `out` (una línea por
/// comprobación y el recuento) y devuelve el recuento.
///
/// # Errores
/// Si la dirección no es de loopback o falta una opción que el problema necesita; los fallos
/// del servidor no son errores, son comprobaciones falladas.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Summary, ComprobarError> {
    ensure_loopback(opts.addr.ip())?;
    if let Some(control) = opts.control {
        ensure_loopback(control.ip())?;
    }
    let level = match opts.level {
        Level::Taller => "taller",
        Level::Completo => "completo",
    };
    writeln!(
        out,
        "comprobar problema{} en {} (nivel {level})",
        opts.problem, opts.addr
    )?;
    let mut ch = Checker::new(opts.clone(), out);
    match opts.problem {
        1 => problema1::run(&mut ch),
        2 => problema2::run(&mut ch),
        3 => problema3::run(&mut ch),
        4 => problema4::run(&mut ch)?,
        5 => problema5::run(&mut ch),
        6 => problema6::run(&mut ch),
        7 => problema7::run(&mut ch),
        8 => problema8::run(&mut ch),
        9 => problema9::run(&mut ch),
        n => return Err(ComprobarError::BadProblem(n.to_string())),
    }
    let summary = ch.summary();
    writeln!(out, "{summary}")?;
    Ok(summary)
}
