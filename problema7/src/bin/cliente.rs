//! `cliente` del problema 7: una petición a través del proxy, o un túnel CONNECT con la
//! entrada y la salida estándar. Toda la lógica está en la biblioteca; aquí, la línea de
//! órdenes y el código de salida (`common::exit`).

use std::io;

use clap::Parser;
use common::exit::Failure;
use problema7::cliente::{self, Request};
use problema7::protocolo::DEFAULT_PORT;
use problema7::servidor::access::Credentials;

/// Cliente del proxy: pide una URL a través de él, o abre un túnel CONNECT.
///
/// `cliente URL` pide la URL a través del proxy e imprime
/// estado, cabeceras y cuerpo; `cliente --connect HOST:PUERTO` abre un túnel y conecta con él
/// la entrada y la salida estándar.
#[derive(Parser, Debug)]
#[command(
    name = "problema7",
    version,
    mut_arg("host", |a| a.help("Dirección del proxy")),
    mut_arg("port", |a| common::ayuda::default_port(a.help("Puerto del proxy"), DEFAULT_PORT))
)]
pub(crate) struct Cli {
    /// URL completa (http://host:puerto/ruta)
    #[arg(required_unless_present = "connect")]
    url: Option<String>,
    #[command(flatten)]
    client: common::ClientArgs,
    /// El proxy en una sola opción: lo mismo que --host HOST --port PUERTO
    #[arg(long, value_name = "HOST:PUERTO", conflicts_with_all = ["host", "port"])]
    proxy: Option<String>,
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
}

pub(crate) fn main() {
    common::init_logging();
    common::exit::finish(run(common::ayuda::parse::<Cli>()));
}

/// 0 con una respuesta 1xx-3xx o un túnel que terminó bien; 1 con 4xx/5xx o un túnel
/// rechazado; los demás códigos, los de [`cliente::ClientError`].
fn run(cli: Cli) -> Result<(), Failure> {
    let proxy = cli
        .proxy
        .clone()
        .unwrap_or_else(|| cli.client.addr(DEFAULT_PORT));
    let timeout = cli.client.timeout();
    if let Some(target) = &cli.connect {
        let auth = cli.auth.as_ref();
        cliente::tunnel(&proxy, target, auth, timeout, io::stdin(), io::stdout())?;
        return Ok(());
    }
    // `required_unless_present = "connect"`: sin --connect, clap exige la URL.
    let url = cli.url.unwrap_or_default();
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
    let response = cliente::fetch(&proxy, &req, timeout, &mut io::stdout().lock())?;
    if response.status >= 400 {
        return Err(Failure::refused(format!(
            "la respuesta fue {} {}",
            response.status, response.reason
        )));
    }
    Ok(())
}
