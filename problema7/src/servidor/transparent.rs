//! El modo transparente (`--transparent`): a dónde va una petición de un cliente que no sabe
//! que habla con un proxy.
//!
//! Ese cliente envía lo que enviaría al origen (`GET /ruta` con `Host: origen`), porque es la
//! red, no él, quien llevó su conexión al proxy:
//!
//! ```text
//! cliente ──connect(origen:80)──▶ núcleo (iptables REDIRECT) ──▶ proxy ──▶ origen:80
//! ```
//!
//! El destino sale, por este orden, de:
//! 1. la dirección original de la conexión, si el núcleo la redirigió (`SO_ORIGINAL_DST`,
//!    que guarda el seguimiento de conexiones de netfilter; la leemos con `socket2`, que ya
//!    usa el espacio de trabajo y la ofrece sin `unsafe`, para IPv4 y para IPv6);
//! 2. si no, la cabecera `Host`.
//!
//! Si las dos existen y no coinciden, gana la dirección original: fiarse solo de `Host` es la
//! falsificación de cabecera que Squid tuvo que corregir (CVE-2009-0801): un cliente podría
//! llegar a un destino que la red nunca envió al proxy. La discrepancia se registra y se
//! cuenta (`transparent_host_mismatch` en las estadísticas).
//!
//! Lo que un proxy transparente no puede hacer: pedir credenciales (el cliente no sabe que
//! hay un proxy, así que nunca contestará a un 407: `--auth` con `--transparent` se rechaza
//! al arrancar) ni atender `CONNECT` en una conexión redirigida (el cliente habla TLS
//! directamente, no pide un túnel).

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};

use common::http::{RequestHead, Target};

use super::access::effective_destination;
use crate::protocolo::Origin;

/// La dirección a la que el cliente quiso conectarse, si el núcleo redirigió la conexión al
/// proxy. `None` si no se redirigió (la dirección original es la del propio proxy) o si no
/// se puede saber (sin seguimiento de conexiones, o fuera de Linux).
pub(crate) fn original_destination(stream: &TcpStream) -> Option<SocketAddr> {
    let local = stream.local_addr().ok()?;
    let original = query_original_dst(stream)?;
    (effective_destination(original) != effective_destination(local)).then_some(original)
}

#[cfg(target_os = "linux")]
fn query_original_dst(stream: &TcpStream) -> Option<SocketAddr> {
    let socket = socket2::SockRef::from(stream);
    // Un socket IPv6 puede llevar una conexión IPv4 (dirección `::ffff:a.b.c.d`): se prueban
    // las dos opciones.
    let addr = socket
        .original_dst()
        .or_else(|_| socket.original_dst_ipv6())
        .ok()?;
    addr.as_socket()
}

#[cfg(not(target_os = "linux"))]
fn query_original_dst(_stream: &TcpStream) -> Option<SocketAddr> {
    None
}

/// El `host:puerto` de la cabecera `Host` (puerto 80 si no lo lleva), si es válido.
///
/// ```
/// use problema7::protocolo::Origin;
/// use problema7::servidor::transparent::host_authority;
/// assert_eq!(host_authority("A.org"), Some(Origin::new("a.org", 80)));
/// assert_eq!(host_authority("[::1]:8080"), Some(Origin::new("::1", 8080)));
/// assert_eq!(host_authority("a b/c"), None);
/// ```
pub fn host_authority(host: &str) -> Option<Origin> {
    match Target::parse("GET", &format!("http://{}/", host.trim())) {
        Ok(Target::Absolute {
            host,
            port,
            path_and_query,
            ..
        }) if path_and_query == "/" && !host.is_empty() => Some(Origin::new(&host, port)),
        _ => None,
    }
}

/// A dónde va una petición en modo transparente.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Al origen dado. `mismatch` lleva el `Host` si no coincidía con la dirección original.
    Origin {
        origin: Origin,
        mismatch: Option<String>,
    },
    /// Sin redirección y sin un `Host` válido no hay a dónde ir (400).
    Unknown,
}

/// Decide el destino de `head` en una conexión cuya dirección original es `original`.
pub(crate) fn destination(original: Option<SocketAddr>, head: &RequestHead) -> Destination {
    let host = head.headers.get("host");
    let claimed = host.and_then(host_authority);
    match original {
        Some(addr) => {
            let origin = Origin::new(&addr.ip().to_string(), addr.port());
            let agrees = claimed.as_ref().is_some_and(|c| same_place(c, addr));
            let mismatch = match host {
                Some(h) if !agrees => Some(h.to_string()),
                _ => None,
            };
            Destination::Origin { origin, mismatch }
        }
        None => match claimed {
            Some(origin) => Destination::Origin {
                origin,
                mismatch: None,
            },
            None => Destination::Unknown,
        },
    }
}

/// ¿Nombra `claimed` (el `Host`) la dirección `addr`? El puerto debe ser el mismo, y el host
/// o es esa IP o es un nombre que resuelve (entre otras) a ella.
fn same_place(claimed: &Origin, addr: SocketAddr) -> bool {
    if claimed.port != addr.port() {
        return false;
    }
    let want = effective_destination(addr).ip();
    if let Ok(ip) = claimed.host.parse::<IpAddr>() {
        return effective_destination(SocketAddr::new(ip, 0)).ip() == want;
    }
    match (claimed.host.as_str(), claimed.port).to_socket_addrs() {
        Ok(mut addrs) => addrs.any(|a| effective_destination(a).ip() == want),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::http::{Headers, Version};

    fn head(host: Option<&str>) -> RequestHead {
        let mut headers = Headers::new();
        if let Some(h) = host {
            headers.push("Host", h);
        }
        RequestHead {
            method: "GET".into(),
            target: "/a".into(),
            version: Version::Http11,
            headers,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn host_gives_the_destination_when_not_redirected() {
        assert_eq!(
            destination(None, &head(Some("127.0.0.1:8004"))),
            Destination::Origin {
                origin: Origin::new("127.0.0.1", 8004),
                mismatch: None
            }
        );
        assert_eq!(
            destination(None, &head(Some("[::1]"))),
            Destination::Origin {
                origin: Origin::new("::1", 80),
                mismatch: None
            }
        );
        for bad in [
            None,
            Some(""),
            Some("a b"),
            Some("a/b"),
            Some("u@h"),
            Some("h:x"),
        ] {
            assert_eq!(
                destination(None, &head(bad)),
                Destination::Unknown,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_original_address_wins_over_a_forged_host() {
        let original = Some(addr("127.0.0.2:80"));
        let expected = Origin::new("127.0.0.2", 80);
        for (host, mismatch) in [
            (Some("127.0.0.2"), None),
            (Some("127.0.0.2:80"), None),
            (None, None),
            (Some("127.0.0.3"), Some("127.0.0.3")),
            (Some("127.0.0.2:81"), Some("127.0.0.2:81")),
            (Some("basura basura"), Some("basura basura")),
        ] {
            assert_eq!(
                destination(original, &head(host)),
                Destination::Origin {
                    origin: expected.clone(),
                    mismatch: mismatch.map(str::to_string)
                },
                "{host:?}"
            );
        }
    }
}
