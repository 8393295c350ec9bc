//! `cliente` del problema 7: una petición a través del proxy, o un túnel CONNECT con la
//! entrada y la salida estándar. Toda la lógica está en la biblioteca.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use problema7::cliente::{self, Request};
use problema7::servidor::access::Credentials;

/// Cliente del proxy: pide una URL a través de él, o abre un túnel CONNECT.
///
/// `cliente URL` pide la URL a través del proxy e imprime
/// estado, cabeceras y cuerpo; `cliente --connect HOST:PUERTO` abre un túnel y conecta con él
/// la entrada y la salida estándar.
#[derive(Parser, Debug)]
#[command(name = "problema7", version)]
pub(crate) struct Cli {
    /// URL completa (http://host:puerto/ruta)
    #[arg(required_unless_present = "connect")]
    url: Option<String>,
    /// Dirección del proxy
    #[arg(long, default_value = "127.0.0.1:8007", value_name = "HOST:PUERTO")]
    proxy: String,
    /// Método HTTP
    #[arg(
        short = 'X',
        long = "request",
        value_name = "MÉTODO",
        default_value = "GET"
    )]
    method: String,
    /// Cuerpo de la petición
    #[arg(short = 'd', long = "data", value_name = "DATOS")]
    data: Option<String>,
    /// Abre un túnel CONNECT a HOST:PUERTO y lo conecta con stdin/stdout
    #[arg(long, value_name = "HOST:PUERTO", conflicts_with = "url")]
    connect: Option<String>,
    /// Credenciales para el proxy (Proxy-Authorization: Basic)
    #[arg(long, value_name = "USUARIO:CONTRASEÑA")]
    auth: Option<Credentials>,
    /// Segundos de espera para conectar y para cada respuesta
    #[arg(long, value_name = "SEGUNDOS", default_value_t = common::cli::DEFAULT_CLIENT_TIMEOUT_SECS)]
    timeout: u64,
}

pub(crate) fn main() {
    common::init_logging();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = common::ayuda::parse::<Cli>();
    let timeout = Duration::from_secs(cli.timeout).max(Duration::from_millis(1));
    if let Some(target) = &cli.connect {
        cliente::tunnel(
            &cli.proxy,
            target,
            cli.auth.as_ref(),
            timeout,
            io::stdin(),
            io::stdout(),
        )
        .with_context(|| format!("túnel a {target}"))?;
        return Ok(());
    }
    let url = cli.url.context("falta la URL")?;
    let method = if cli.data.is_some() && cli.method == "GET" {
        "POST".to_string()
    } else {
        cli.method
    };
    let req = Request {
        url,
        method,
        body: cli.data.map(String::into_bytes),
        auth: cli.auth,
    };
    let mut out = io::stdout().lock();
    cliente::fetch(&cli.proxy, &req, timeout, &mut out)?;
    out.flush()?;
    Ok(())
}
