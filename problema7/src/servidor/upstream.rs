//! Las conexiones con el origen: abrirlas (con tiempo de espera y sin bucles hacia el propio
//! proxy), reutilizarlas y contar al cliente por qué no se pudo (502, 504, 508).
//!
//! Orden de búsqueda de una conexión ([`acquire`]): la que esta misma conexión de cliente usó
//! en su petición anterior (sin comprobarla si lleva menos de un segundo en reposo), una en
//! reposo del almacén común ([`super::pool`], comprobada), o una nueva.

use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use common::net::{describe_io_error, is_timeout};

use super::access::{canonical, destination_allowed, effective_destination};
use super::client::{Client, Outcome, BODY_BUFFER};
use super::pool::{is_alive, UpstreamConn};
use super::stats::add;
use super::Proxy;
use crate::protocolo::Origin;

/// Una conexión guardada por la propia conexión de cliente se reutiliza sin comprobarla si
/// lleva menos de esto en reposo (comprobarla cuesta tres llamadas al sistema).
const STICKY_FRESH: Duration = Duration::from_secs(1);

/// Por qué no se pudo abrir la conexión con el origen.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// El nombre no resuelve.
    Resolve(io::Error),
    /// Nadie contestó a tiempo (504).
    Timeout,
    /// Conexión rechazada u otro error (502).
    Refused(io::Error),
    /// El destino es el propio proxy: reenviar crearía un bucle.
    Loop,
    /// Ninguna de las direcciones del destino está permitida (`--allow-dest`/`--deny-dest`).
    Denied(SocketAddr),
}

/// Abre una conexión TCP con `origin` probando cada dirección a la que resuelve y que la
/// política de destinos permite, con el tiempo de espera del origen para conectar, leer y
/// escribir.
pub(crate) fn connect_upstream(
    proxy: &Proxy,
    origin: &Origin,
) -> Result<TcpStream, ConnectFailure> {
    let addrs = allowed_addresses(proxy, origin)?;
    let timeout = proxy.config.upstream_timeout.max(Duration::from_millis(1));
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let ready = stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)))
                    .and_then(|()| stream.set_nodelay(true));
                match ready {
                    Ok(()) => {
                        add(&proxy.stats.upstream_connects, 1);
                        return Ok(stream);
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if is_timeout(&e) => ConnectFailure::Timeout,
        Some(e) => ConnectFailure::Refused(e),
        None => ConnectFailure::Timeout,
    })
}

/// Resuelve `origin` y devuelve las direcciones (ya en su forma efectiva) a las que se puede
/// conectar: ninguna puede ser el propio proxy (bucle) y deben pasar la política de destinos.
/// Todo se decide antes de intentar ninguna conexión.
fn allowed_addresses(proxy: &Proxy, origin: &Origin) -> Result<Vec<SocketAddr>, ConnectFailure> {
    let addrs: Vec<SocketAddr> = (origin.host.as_str(), origin.port)
        .to_socket_addrs()
        .map_err(ConnectFailure::Resolve)?
        .map(effective_destination)
        .collect();
    let Some(&first) = addrs.first() else {
        return Err(ConnectFailure::Resolve(io::Error::new(
            io::ErrorKind::NotFound,
            "el nombre no resuelve a ninguna dirección",
        )));
    };
    if addrs.iter().any(|a| is_self(*a, proxy.local)) {
        return Err(ConnectFailure::Loop);
    }
    let config = &proxy.config;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| destination_allowed(a.ip(), &config.allow_dest, &config.deny_dest))
        .collect();
    if allowed.is_empty() {
        return Err(ConnectFailure::Denied(first));
    }
    Ok(allowed)
}

/// ¿Es `addr` (en su forma efectiva) la dirección en la que escucha el propio proxy?
pub(crate) fn is_self(addr: SocketAddr, local: SocketAddr) -> bool {
    let local_ip = canonical(local.ip());
    addr.port() == local.port()
        && (addr.ip() == local_ip || (local_ip.is_unspecified() && addr.ip().is_loopback()))
}

/// Contesta al cliente el fallo de conexión con el origen (502, 504 o 508).
pub(crate) fn fail_upstream(
    client: &mut Client<'_>,
    origin: &Origin,
    failure: ConnectFailure,
) -> Outcome {
    let peer = client.peer;
    if !matches!(failure, ConnectFailure::Loop | ConnectFailure::Denied(_)) {
        add(&client.proxy.stats.upstream_errors, 1);
    }
    match failure {
        ConnectFailure::Timeout => {
            log::warn!("{peer}: el origen {origin} no contestó a tiempo: 504");
            client.fail(
                504,
                &[],
                &format!("el origen {origin} no contestó a tiempo\n"),
            )
        }
        ConnectFailure::Resolve(e) => {
            log::warn!("{peer}: no se pudo resolver {}: {e}", origin.host);
            client.fail(
                502,
                &[],
                &format!("no se pudo resolver el nombre {}\n", origin.host),
            )
        }
        ConnectFailure::Refused(e) => {
            let why = describe_io_error(&e);
            log::warn!("{peer}: no se pudo conectar con {origin}: {why}");
            client.fail(
                502,
                &[],
                &format!("no se pudo conectar con el origen {origin}: {why}\n"),
            )
        }
        ConnectFailure::Loop => {
            log::warn!("{peer}: petición al propio proxy ({origin}): bucle evitado");
            client.fail(
                508,
                &[],
                "la petición apunta al propio proxy: se evita el bucle\n",
            )
        }
        ConnectFailure::Denied(addr) => {
            log::warn!(
                "{peer}: destino {origin} ({}) fuera de la política de destinos: 403",
                addr.ip()
            );
            client.fail(
                403,
                &[],
                &format!(
                    "el destino {origin} ({}) no está permitido en este proxy (véase \
                     --allow-dest y --deny-dest del servidor)\n",
                    addr.ip()
                ),
            )
        }
    }
}

/// Consigue una conexión con el origen: la guardada por esta conexión de cliente, una en
/// reposo del almacén común o una nueva. Devuelve también si es reutilizada.
pub(crate) fn acquire(
    client: &mut Client<'_>,
    key: &str,
    origin: &Origin,
) -> Result<(UpstreamConn, bool), ConnectFailure> {
    let proxy = client.proxy;
    if let Some(sticky) = client.upstream.take() {
        if sticky.key == key {
            if sticky.last_used.elapsed() < STICKY_FRESH || is_alive(sticky.conn.get_ref()) {
                add(&proxy.stats.upstream_reused, 1);
                return Ok((sticky.conn, true));
            }
        } else {
            proxy.pool.put(&sticky.key, sticky.conn);
        }
    }
    if let Some(conn) = proxy.pool.take(key) {
        add(&proxy.stats.upstream_reused, 1);
        return Ok((conn, true));
    }
    let stream = connect_upstream(proxy, origin)?;
    Ok((BufReader::with_capacity(BODY_BUFFER, stream), false))
}
