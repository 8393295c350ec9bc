//! Control de acceso: quién puede usar el proxy y a dónde.
//!
//! Tres reglas, todas funciones puras para poder probarlas sin sockets:
//! - [`Network`] y [`is_allowed`]: solo los clientes de las redes de `--allow` (por omisión,
//!   loopback) reciben servicio; un proxy abierto a Internet acaba usado para spam y ataques.
//! - [`Credentials`] y [`check_proxy_auth`]: con `--auth USER:PASS`, cada petición debe
//!   traer `Proxy-Authorization: Basic ...` (RFC 9110 §11.7.1, esquema Basic de RFC 7617).
//! - [`is_blocked`]: los dominios de `--block` (y sus subdominios) reciben 403.
//! - [`destination_allowed`]: a qué direcciones puede conectarse el proxy (`--allow-dest`,
//!   `--deny-dest`; por omisión, solo loopback). Se comprueba con la dirección ya resuelta, así
//!   un nombre que resuelve a una red interna no se cuela (un proxy sin esta regla es un
//!   trampolín hacia la red en la que vive: SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use base64::Engine;

/// Una red en notación CIDR (`10.0.0.0/8`, `::1/128`); una dirección sola es una red de un
/// único host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

/// Una red de `--allow` mal escrita.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("red no válida `{0}`: use DIRECCIÓN o DIRECCIÓN/PREFIJO, por ejemplo 10.0.0.0/8 o ::1")]
pub struct NetworkError(pub String);

impl Network {
    /// Las redes de loopback (`127.0.0.0/8` y `::1/128`): el valor por omisión de `--allow`.
    pub fn loopback() -> Vec<Network> {
        vec![
            Network {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            Network {
                addr: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                prefix: 128,
            },
        ]
    }

    /// ¿Pertenece `ip` a esta red? Una IPv4 escrita como IPv6 (`::ffff:127.0.0.1`, lo que
    /// da un socket de doble pila) se compara como IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || NetworkError(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Network { addr, prefix })
    }
}

/// La forma canónica de una dirección: una IPv4 escrita como IPv6 (`::ffff:127.0.0.1`)
/// vuelve a ser IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// ¿Coinciden los `prefix` primeros bits de `a` y `b`?
fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a.get(..full) != b.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(full), b.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

/// La dirección a la que de verdad llega una conexión a `addr`: la forma canónica, y la
/// dirección sin especificar (`0.0.0.0`, `::`), que en Linux conecta con la propia máquina,
/// como loopback. Así `0.0.0.0:PUERTO` no escapa ni a la detección de bucles ni a la política
/// de destinos.
///
/// ```
/// use problema7::servidor::access::effective_destination;
/// let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
/// assert_eq!(effective_destination(a("0.0.0.0:80")), a("127.0.0.1:80"));
/// assert_eq!(effective_destination(a("[::ffff:10.0.0.1]:80")), a("10.0.0.1:80"));
/// assert_eq!(effective_destination(a("[::]:80")), a("[::1]:80"));
/// ```
pub fn effective_destination(addr: SocketAddr) -> SocketAddr {
    let ip = match canonical(addr.ip()) {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// ¿Puede el proxy conectarse a `ip`? Debe estar en alguna red de `allow` y en ninguna de
/// `deny` (la prohibición gana).
///
/// ```
/// use problema7::servidor::access::{destination_allowed, Network};
/// let deny = ["127.0.0.2".parse::<Network>().unwrap()];
/// let ip = |s: &str| s.parse().unwrap();
/// assert!(destination_allowed(ip("127.0.0.1"), &Network::loopback(), &deny));
/// assert!(!destination_allowed(ip("127.0.0.2"), &Network::loopback(), &deny));
/// assert!(!destination_allowed(ip("192.0.2.1"), &Network::loopback(), &[]));
/// ```
pub fn destination_allowed(ip: IpAddr, allow: &[Network], deny: &[Network]) -> bool {
    is_allowed(ip, allow) && !deny.iter().any(|n| n.contains(ip))
}

/// ¿Está `ip` en alguna de las redes permitidas?
pub fn is_allowed(ip: IpAddr, allow: &[Network]) -> bool {
    allow.iter().any(|n| n.contains(ip))
}

/// Usuario y contraseña de `--auth USER:PASS`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Nombre de usuario (sin `:`).
    pub user: String,
    /// Contraseña (puede contener `:`).
    pub pass: String,
}

impl std::fmt::Debug for Credentials {
    // La contraseña no debe acabar en un registro por accidente.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("pass", &"***")
            .finish()
    }
}

/// Un `--auth` mal escrito.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credenciales no válidas: use USUARIO:CONTRASEÑA, con un usuario no vacío")]
pub struct CredentialsError;

impl FromStr for Credentials {
    type Err = CredentialsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((user, pass)) if !user.is_empty() => Ok(Credentials {
                user: user.to_string(),
                pass: pass.to_string(),
            }),
            _ => Err(CredentialsError),
        }
    }
}

impl Credentials {
    /// El valor de `Proxy-Authorization` que envía un cliente con estas credenciales.
    ///
    /// ```
    /// use problema7::servidor::access::Credentials;
    /// let c: Credentials = "ana:secreta".parse().unwrap();
    /// assert_eq!(c.header_value(), "Basic YW5hOnNlY3JldGE=");
    /// ```
    pub fn header_value(&self) -> String {
        let raw = format!("{}:{}", self.user, self.pass);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// ¿Trae `value` (la cabecera `Proxy-Authorization`, si vino) las credenciales `expected`?
///
/// El esquema `Basic` no distingue mayúsculas; la comparación recorre siempre todos los bytes
/// para no revelar por el tiempo de respuesta cuántos acertó el atacante.
pub fn check_proxy_auth(value: Option<&[u8]>, expected: &Credentials) -> bool {
    let Some(value) = value else {
        return false;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
        return false;
    };
    let wanted = format!("{}:{}", expected.user, expected.pass);
    constant_time_eq(&decoded, wanted.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// ¿Está `host` bloqueado por la lista `block`? Un dominio bloquea también sus subdominios
/// (`ejemplo.org` bloquea `www.ejemplo.org`, no `otroejemplo.org`); sin distinguir
/// mayúsculas y sin el punto final de un nombre absoluto (`ejemplo.org.`).
pub fn is_blocked(host: &str, block: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    block.iter().any(|domain| {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            return false;
        }
        host == domain
            || (host.len() > domain.len()
                && host.ends_with(&domain)
                && host.as_bytes().get(host.len() - domain.len() - 1) == Some(&b'.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_match_by_prefix() {
        let n: Network = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains(ip("10.1.200.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        let odd: Network = "192.168.0.128/25".parse().unwrap();
        assert!(odd.contains(ip("192.168.0.200")));
        assert!(!odd.contains(ip("192.168.0.127")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(!all.contains(ip("::2")));
        let host: Network = "::1".parse().unwrap();
        assert!(host.contains(ip("::1")));
        assert!(!host.contains(ip("::2")));
    }

    #[test]
    fn loopback_is_allowed_by_default_and_mapped_ipv4_counts() {
        let allow = Network::loopback();
        assert!(is_allowed(ip("127.0.0.1"), &allow));
        assert!(is_allowed(ip("127.9.9.9"), &allow));
        assert!(is_allowed(ip("::1"), &allow));
        assert!(is_allowed(ip("::ffff:127.0.0.1"), &allow));
        assert!(!is_allowed(ip("192.168.1.1"), &allow));
        assert!(!is_allowed(ip("127.0.0.1"), &[]));
    }

    #[test]
    fn bad_networks_are_rejected() {
        for s in [
            "",
            "10.0.0.0/33",
            "::1/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "ejemplo",
        ] {
            assert!(s.parse::<Network>().is_err(), "{s}");
        }
    }

    #[test]
    fn basic_credentials_are_checked() {
        let c: Credentials = "ana:se:creta".parse().unwrap();
        assert_eq!(c.pass, "se:creta");
        let good = c.header_value();
        assert!(check_proxy_auth(Some(good.as_bytes()), &c));
        let lower = good.replacen("Basic", "basic", 1);
        assert!(check_proxy_auth(Some(lower.as_bytes()), &c));
        let other: Credentials = "ana:otra".parse().unwrap();
        assert!(!check_proxy_auth(Some(other.header_value().as_bytes()), &c));
        assert!(!check_proxy_auth(None, &c));
        assert!(!check_proxy_auth(Some(b"Basic"), &c));
        assert!(!check_proxy_auth(Some(b"Basic !!!"), &c));
        assert!(!check_proxy_auth(Some(b"Bearer YW5hOnNlOmNyZXRh"), &c));
        assert!(!check_proxy_auth(Some(b"\xff\xfe"), &c));
        assert!(":x".parse::<Credentials>().is_err());
        assert!("sin-dos-puntos".parse::<Credentials>().is_err());
        assert!(!format!("{c:?}").contains("creta"));
    }

    #[test]
    fn blocking_covers_subdomains_only() {
        let block = vec!["ejemplo.org".to_string()];
        assert!(is_blocked("ejemplo.org", &block));
        assert!(is_blocked("WWW.Ejemplo.org.", &block));
        assert!(!is_blocked("otroejemplo.org", &block));
        assert!(!is_blocked("ejemplo.org.es", &block));
        assert!(!is_blocked("x", &[String::new()]));
    }

    proptest! {
        #[test]
        fn network_parsing_never_panics(s in "\\PC{0,30}") {
            let _ = s.parse::<Network>();
        }

        #[test]
        fn auth_check_never_panics(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let c = Credentials { user: "a".into(), pass: "b".into() };
            let _ = check_proxy_auth(Some(&v), &c);
        }
    }
}
