//! `servidor` del problema 7: el proxy HTTP. Toda la lógica está en la biblioteca.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use problema7::protocolo::{self, Origin};
use problema7::servidor::access::{Credentials, Network};
use problema7::servidor::rewrite::{is_header_name, AddHeader, HeaderRules};
use problema7::ServerConfig;

/// Proxy HTTP/1.1: reenvío (forma absoluta), túneles CONNECT, modo inverso (--upstream),
/// reescritura de cabeceras, registro de accesos y estadísticas en GET http://proxy.local/stats.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    server: common::ServerArgs,
    /// Modo inverso: envía las peticiones normales (GET /ruta) a este servidor HOST:PUERTO
    #[arg(long, value_name = "HOST:PUERTO")]
    upstream: Option<String>,
    /// Puertos permitidos para CONNECT, separados por comas
    #[arg(long, value_delimiter = ',', default_values_t = protocolo::DEFAULT_CONNECT_PORTS.to_vec())]
    connect_ports: Vec<u16>,
    /// Dominio bloqueado (también sus subdominios); se puede repetir
    #[arg(long, value_name = "DOMINIO")]
    block: Vec<String>,
    /// Exige estas credenciales en Proxy-Authorization (Basic)
    #[arg(long, value_name = "USUARIO:CONTRASEÑA")]
    auth: Option<Credentials>,
    /// Redes de clientes permitidas (CIDR); se puede repetir. Por omisión, solo loopback
    #[arg(long, value_name = "RED")]
    allow: Vec<Network>,
    /// Cabecera añadida a cada petición reenviada ("Nombre: valor"); se puede repetir
    #[arg(long, value_name = "CABECERA")]
    add_header: Vec<AddHeader>,
    /// Cabecera quitada de cada petición reenviada; se puede repetir
    #[arg(long, value_name = "NOMBRE")]
    remove_header: Vec<String>,
    /// Puerto adicional que solo sirve las estadísticas en JSON
    #[arg(long)]
    stats_port: Option<u16>,
    /// Segundos de espera a un cliente (también en reposo entre peticiones)
    #[arg(long, default_value_t = protocolo::DEFAULT_CLIENT_TIMEOUT.as_secs())]
    client_timeout: u64,
    /// Segundos de espera al origen, al conectar y por cada lectura (504 al agotarse)
    #[arg(long, default_value_t = protocolo::DEFAULT_UPSTREAM_TIMEOUT.as_secs())]
    upstream_timeout: u64,
    /// Segundos sin tráfico tras los que se cierra un túnel CONNECT
    #[arg(long, default_value_t = protocolo::DEFAULT_TUNNEL_IDLE.as_secs())]
    tunnel_idle: u64,
    /// Conexiones en reposo guardadas por origen para reutilizarlas (0 = ninguna)
    #[arg(long, default_value_t = protocolo::DEFAULT_POOL_PER_ORIGIN)]
    pool_per_origin: usize,
    /// Fichero al que añadir el registro de accesos (por omisión, stderr)
    #[arg(long, value_name = "FICHERO")]
    access_log: Option<PathBuf>,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s).max(Duration::from_millis(1))
}

fn main() {
    common::init_logging();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let upstream = match &cli.upstream {
        Some(u) => {
            let t = common::http::Target::parse("CONNECT", u)
                .map_err(|e| anyhow::anyhow!("--upstream {u}: {e}; use HOST:PUERTO"))?;
            match t {
                common::http::Target::Authority { host, port } => Some(Origin::new(&host, port)),
                _ => anyhow::bail!("--upstream {u}: use HOST:PUERTO"),
            }
        }
        None => None,
    };
    if let Some(bad) = cli.remove_header.iter().find(|n| !is_header_name(n)) {
        anyhow::bail!("--remove-header {bad:?}: no es un nombre de cabecera válido");
    }
    let mut config = ServerConfig {
        upstream,
        connect_ports: cli.connect_ports,
        block: cli.block,
        auth: cli.auth,
        rules: HeaderRules {
            remove: cli.remove_header,
            add: cli.add_header,
        },
        max_connections: cli.server.max_connections,
        client_timeout: secs(cli.client_timeout),
        upstream_timeout: secs(cli.upstream_timeout),
        tunnel_idle: secs(cli.tunnel_idle),
        pool_per_origin: cli.pool_per_origin,
        access_log: cli.access_log,
        ..ServerConfig::default()
    };
    if !cli.allow.is_empty() {
        config.allow = cli.allow;
    }
    let listener = cli.server.listen(protocolo::DEFAULT_PORT)?;
    let addr = listener
        .local_addr()
        .context("no se pudo leer la dirección local")?;
    let stats_listener = match cli.stats_port {
        Some(port) => Some(
            std::net::TcpListener::bind((cli.server.host.as_str(), port)).with_context(|| {
                format!("no se pudo escuchar en el puerto de estadísticas {port}")
            })?,
        ),
        None => None,
    };
    println!("escuchando en {addr}");
    if let Some(l) = &stats_listener {
        let a = l
            .local_addr()
            .context("no se pudo leer la dirección local")?;
        println!("estadísticas: escuchando en {a}");
    }
    let shutdown = common::Shutdown::new();
    common::shutdown::install_signal_handler(&shutdown)
        .context("no se pudo instalar el manejador de señales")?;
    problema7::run_with_stats(listener, stats_listener, config, shutdown)?;
    Ok(())
}
