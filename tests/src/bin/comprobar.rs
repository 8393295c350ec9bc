//! `comprobar`: comprueba por fuera el servidor de un problema (el nuestro o el suyo, en el
//! lenguaje que sea). Las comprobaciones están en `tests::comprobar`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tests::comprobar::{self, Level, Options};

/// Comprueba por fuera (caja negra) el servidor de un problema del taller: se conecta como uno
/// o varios clientes, habla su protocolo y escribe una línea por comprobación (✓/✗, qué envió,
/// qué esperaba, qué llegó y una pista). Termina con código 1 si alguna falla.
///
/// Ejemplo: cargo run -p tests --bin comprobar -- problema3 --addr 127.0.0.1:8003
#[derive(Parser)]
#[command(version, about)]
pub(crate) struct Args {
    /// Problema a comprobar: problema1 ... problema9 (o solo el número)
    #[arg(value_name = "PROBLEMA")]
    problema: String,
    /// Dirección del servidor, IP:PUERTO (solo loopback: 127.0.0.0/8 o ::1); por omisión,
    /// 127.0.0.1:800N
    #[arg(long, value_name = "IP:PUERTO")]
    addr: Option<String>,
    /// taller: lo que pide el enunciado; completo: todo el protocolo del README
    #[arg(long, value_enum, default_value_t = Nivel::Taller, value_name = "NIVEL")]
    nivel: Nivel,
    /// Segundos de espera de cada respuesta antes de darla por perdida
    #[arg(long, default_value_t = 5, value_name = "SEGUNDOS")]
    espera: u64,
    /// Plazo de inactividad con el que arrancó el servidor, en segundos (su --timeout,
    /// --idle-timeout o --handshake-timeout); sin él se usa el del README y, si pasa de 15 s,
    /// esa comprobación se salta
    #[arg(long, value_name = "SEGUNDOS")]
    plazo: Option<u64>,
    /// problema4: directorio local que sirve el servidor (para comparar bytes)
    #[arg(long, default_value = ".", value_name = "DIRECTORIO")]
    dir: PathBuf,
    /// problema4: un fichero que sirve el servidor, como ruta dentro de --dir (por omisión, el
    /// primero que haya)
    #[arg(long, value_name = "RUTA")]
    fichero: Option<String>,
    /// problema7: puerto local del origen que arranca comprobar (0 = uno libre); para CONNECT,
    /// el proxy debe admitirlo (--connect-ports)
    #[arg(long, default_value_t = 0, value_name = "PUERTO")]
    puerto_origen: u16,
    /// problema9: puerto de control del balanceador, IP:PUERTO (registro y caída de un nodo)
    #[arg(long, value_name = "IP:PUERTO")]
    control: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Nivel {
    Taller,
    Completo,
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("comprobar: {e}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<bool, comprobar::ComprobarError> {
    let args: Args = common::ayuda::parse();
    let problem = comprobar::parse_problem(&args.problema)?;
    let addr = args
        .addr
        .unwrap_or_else(|| format!("127.0.0.1:800{problem}"));
    let level = match args.nivel {
        Nivel::Taller => Level::Taller,
        Nivel::Completo => Level::Completo,
    };
    let mut opts = Options::new(problem, comprobar::parse_addr(&addr)?, level);
    opts.timeout = Duration::from_secs(args.espera.max(1));
    opts.server_idle = args.plazo.map(Duration::from_secs);
    opts.dir = Some(args.dir);
    opts.file = args.fichero;
    opts.origin_port = args.puerto_origen;
    opts.control = args
        .control
        .as_deref()
        .map(comprobar::parse_addr)
        .transpose()?;
    let summary = comprobar::run(&opts, &mut std::io::stdout().lock())?;
    Ok(summary.failed == 0)
}
