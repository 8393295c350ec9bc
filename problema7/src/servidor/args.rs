//! Las opciones de línea de órdenes del servidor y su traducción a [`ServerConfig`].
//!
//! Viven en la biblioteca (y no en `src/bin/servidor.rs`) para que las pruebas comprueben
//! los valores por omisión y los errores de cada opción sin lanzar un proceso.

use std::path::PathBuf;
use std::time::Duration;

use common::http::{Limits, Target};

use super::access::{Credentials, Network};
use super::rewrite::{is_header_name, AddHeader, HeaderRules};
use super::ServerConfig;
use crate::protocolo::{self, Origin};

/// Las opciones propias del proxy (las comunes, `--host`, `--port` y `--max-connections`,
/// vienen de `common::ServerArgs`).
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Modo inverso: envía las peticiones normales (GET /ruta) a este servidor HOST:PUERTO
    #[arg(long, value_name = "HOST:PUERTO")]
    pub upstream: Option<String>,
    /// Modo transparente: atiende GET /ruta de clientes redirigidos por la red (iptables
    /// REDIRECT) hacia su destino original, o hacia su Host si no fueron redirigidos
    #[arg(long)]
    pub transparent: bool,
    /// Puertos permitidos para CONNECT, separados por comas
    #[arg(long, value_name = "PUERTOS", value_delimiter = ',', default_values_t = protocolo::DEFAULT_CONNECT_PORTS.to_vec())]
    pub connect_ports: Vec<u16>,
    /// Dominio bloqueado (también sus subdominios); se puede repetir
    #[arg(long, value_name = "DOMINIO")]
    pub block: Vec<String>,
    /// Exige estas credenciales en Proxy-Authorization (Basic)
    #[arg(long, value_name = "USUARIO:CONTRASEÑA")]
    pub auth: Option<Credentials>,
    /// Redes de clientes permitidas (CIDR); se puede repetir. Por omisión, solo loopback
    #[arg(long, value_name = "RED")]
    pub allow: Vec<Network>,
    /// Redes de destino permitidas (CIDR), tras resolver el nombre; se puede repetir. Por
    /// omisión, solo loopback: para salir a Internet, --allow-dest 0.0.0.0/0 --allow-dest ::/0
    #[arg(long, value_name = "RED")]
    pub allow_dest: Vec<Network>,
    /// Redes de destino prohibidas (CIDR), ganan a --allow-dest; se puede repetir
    #[arg(long, value_name = "RED")]
    pub deny_dest: Vec<Network>,
    /// Seudónimo del proxy en Via; una petición que ya lo trae es un bucle (508)
    #[arg(long, value_name = "NOMBRE", default_value = protocolo::VIA_PSEUDONYM)]
    pub via_name: String,
    /// Cabecera añadida a cada petición reenviada ("Nombre: valor"); se puede repetir
    #[arg(long, value_name = "CABECERA")]
    pub add_header: Vec<AddHeader>,
    /// Cabecera quitada de cada petición reenviada; se puede repetir
    #[arg(long, value_name = "NOMBRE")]
    pub remove_header: Vec<String>,
    /// Puerto adicional que solo sirve las estadísticas en JSON
    #[arg(long, value_name = "PUERTO")]
    pub stats_port: Option<u16>,
    /// Segundos de espera a un cliente (también en reposo entre peticiones)
    #[arg(long, value_name = "SEGUNDOS", default_value_t = protocolo::DEFAULT_CLIENT_TIMEOUT.as_secs())]
    pub client_timeout: u64,
    /// Segundos de espera al origen, al conectar y por cada lectura (504 al agotarse)
    #[arg(long, value_name = "SEGUNDOS", default_value_t = protocolo::DEFAULT_UPSTREAM_TIMEOUT.as_secs())]
    pub upstream_timeout: u64,
    /// Segundos sin tráfico tras los que se cierra un túnel CONNECT
    #[arg(long, value_name = "SEGUNDOS", default_value_t = protocolo::DEFAULT_TUNNEL_IDLE.as_secs())]
    pub tunnel_idle: u64,
    /// Conexiones en reposo guardadas por origen para reutilizarlas (0 = ninguna)
    #[arg(long, value_name = "N", default_value_t = protocolo::DEFAULT_POOL_PER_ORIGIN)]
    pub pool_per_origin: usize,
    /// Longitud máxima de la línea de petición o de estado, en bytes (414 al pasarla)
    #[arg(long, value_name = "BYTES", default_value_t = common::http::DEFAULT_MAX_START_LINE)]
    pub max_request_line: usize,
    /// Bytes máximos de todas las cabeceras de un mensaje (431 al pasarlos)
    #[arg(long, value_name = "BYTES", default_value_t = common::http::DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// Número máximo de cabeceras de un mensaje (431 al pasarlo)
    #[arg(long, value_name = "N", default_value_t = common::http::DEFAULT_MAX_HEADERS)]
    pub max_headers: usize,
    /// Fichero al que añadir el registro de accesos (por omisión, stderr)
    #[arg(long, value_name = "FICHERO")]
    pub access_log: Option<PathBuf>,
}

/// Una opción con un valor que no se puede usar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// `--upstream` no es `HOST:PUERTO`.
    #[error("--upstream {0}: use HOST:PUERTO, por ejemplo 127.0.0.1:8004")]
    Upstream(String),
    /// Dos opciones que no se pueden combinar.
    #[error("{0}")]
    Conflict(&'static str),
    /// `--remove-header` no es un nombre de cabecera.
    #[error("--remove-header {0:?}: no es un nombre de cabecera válido")]
    RemoveHeader(String),
}

fn secs(s: u64) -> Duration {
    // Cero significaría "sin límite" para un socket: lo convertimos en el mínimo posible.
    Duration::from_secs(s).max(Duration::from_millis(1))
}

impl ProxyArgs {
    /// La configuración del servidor que piden estas opciones; `max_connections` viene de
    /// las opciones comunes.
    ///
    /// # Errores
    /// [`ArgsError`] si `--upstream` o `--remove-header` no son válidos.
    pub fn to_config(&self, max_connections: usize) -> Result<ServerConfig, ArgsError> {
        let upstream = match &self.upstream {
            Some(u) => match Target::parse("CONNECT", u) {
                Ok(Target::Authority { host, port }) => Some(Origin::new(&host, port)),
                _ => return Err(ArgsError::Upstream(u.clone())),
            },
            None => None,
        };
        if self.transparent && self.auth.is_some() {
            return Err(ArgsError::Conflict(super::TRANSPARENT_WITH_AUTH));
        }
        if self.transparent && upstream.is_some() {
            return Err(ArgsError::Conflict(super::TRANSPARENT_WITH_UPSTREAM));
        }
        if let Some(bad) = self.remove_header.iter().find(|n| !is_header_name(n)) {
            return Err(ArgsError::RemoveHeader(bad.clone()));
        }
        let defaults = ServerConfig::default();
        Ok(ServerConfig {
            upstream,
            transparent: self.transparent,
            connect_ports: self.connect_ports.clone(),
            block: self.block.clone(),
            auth: self.auth.clone(),
            allow: if self.allow.is_empty() {
                defaults.allow.clone()
            } else {
                self.allow.clone()
            },
            allow_dest: if self.allow_dest.is_empty() {
                defaults.allow_dest.clone()
            } else {
                self.allow_dest.clone()
            },
            deny_dest: self.deny_dest.clone(),
            via_name: self.via_name.clone(),
            rules: HeaderRules {
                remove: self.remove_header.clone(),
                add: self.add_header.clone(),
            },
            max_connections,
            limits: Limits {
                max_start_line: self.max_request_line,
                max_header_bytes: self.max_header_bytes,
                max_headers: self.max_headers,
            },
            client_timeout: secs(self.client_timeout),
            upstream_timeout: secs(self.upstream_timeout),
            tunnel_idle: secs(self.tunnel_idle),
            pool_per_origin: self.pool_per_origin,
            access_log: self.access_log.clone(),
            ..defaults
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProxyArgs,
    }

    fn config(argv: &[&str]) -> Result<ServerConfig, ArgsError> {
        let mut all = vec!["servidor"];
        all.extend_from_slice(argv);
        Cli::try_parse_from(all).unwrap().args.to_config(10)
    }

    #[test]
    fn defaults_match_the_library_defaults() {
        let c = config(&[]).unwrap();
        let d = ServerConfig::default();
        assert_eq!(c.connect_ports, [443]);
        assert_eq!(c.allow, d.allow);
        assert_eq!(c.allow_dest, d.allow_dest);
        assert!(c.deny_dest.is_empty());
        assert_eq!(c.via_name, d.via_name);
        assert_eq!(c.limits, d.limits);
        assert_eq!(c.client_timeout, d.client_timeout);
        assert_eq!(c.upstream_timeout, d.upstream_timeout);
        assert_eq!(c.tunnel_idle, d.tunnel_idle);
        assert_eq!(c.pool_per_origin, d.pool_per_origin);
        assert_eq!(c.max_connections, 10);
        assert!(c.upstream.is_none() && c.auth.is_none());
    }

    #[test]
    fn every_option_reaches_the_config() {
        let c = config(&[
            "--upstream",
            "LOCALHOST:8004",
            "--connect-ports",
            "443,8443",
            "--block",
            "a.org",
            "--auth",
            "ana:x",
            "--allow",
            "10.0.0.0/8",
            "--allow-dest",
            "0.0.0.0/0",
            "--deny-dest",
            "10.0.0.0/8",
            "--via-name",
            "segundo",
            "--add-header",
            "X-A: 1",
            "--remove-header",
            "Cookie",
            "--client-timeout",
            "0",
            "--max-headers",
            "7",
        ])
        .unwrap();
        assert_eq!(c.upstream, Some(Origin::new("localhost", 8004)));
        assert_eq!(c.connect_ports, [443, 8443]);
        assert_eq!(c.block, ["a.org"]);
        assert_eq!(c.auth.map(|a| a.user), Some("ana".to_string()));
        assert_eq!(c.allow, vec!["10.0.0.0/8".parse::<Network>().unwrap()]);
        assert_eq!(c.allow_dest, vec!["0.0.0.0/0".parse::<Network>().unwrap()]);
        assert_eq!(c.deny_dest, vec!["10.0.0.0/8".parse::<Network>().unwrap()]);
        assert_eq!(c.via_name, "segundo");
        assert_eq!(c.rules.add.len(), 1);
        assert_eq!(c.rules.remove, ["Cookie"]);
        assert_eq!(c.client_timeout, Duration::from_millis(1));
        assert_eq!(c.limits.max_headers, 7);
    }

    #[test]
    fn bad_values_are_rejected_with_the_option_name() {
        assert_eq!(
            config(&["--upstream", "sin-puerto"]).unwrap_err(),
            ArgsError::Upstream("sin-puerto".into())
        );
        assert_eq!(
            config(&["--remove-header", "con espacio"]).unwrap_err(),
            ArgsError::RemoveHeader("con espacio".into())
        );
        assert_eq!(
            config(&["--transparent", "--auth", "ana:x"]).unwrap_err(),
            ArgsError::Conflict(crate::servidor::TRANSPARENT_WITH_AUTH)
        );
        assert_eq!(
            config(&["--transparent", "--upstream", "127.0.0.1:1"]).unwrap_err(),
            ArgsError::Conflict(crate::servidor::TRANSPARENT_WITH_UPSTREAM)
        );
        assert!(config(&["--transparent"]).unwrap().transparent);
        for bad in [
            &["--auth", "sin-dos-puntos"][..],
            &["--allow", "10.0.0.0/40"],
            &["--add-header", "sin valor"],
            &["--connect-ports", "x"],
        ] {
            let mut all = vec!["servidor"];
            all.extend_from_slice(bad);
            assert!(Cli::try_parse_from(all).is_err(), "{bad:?}");
        }
    }
}
