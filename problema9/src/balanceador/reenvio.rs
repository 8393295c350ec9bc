//! El camino de cada cliente: elegir servidor, conectar (reintentando en otro si falla) y
//! reenviar bytes en ambos sentidos con [`common::relay::relay`].
//!
//! Solo se reintenta antes de que pase ningún byte: si la conexión con el servidor falla,
//! el cliente aún no ha enviado nada a nadie y puede ir a otro. Una vez conectado, el
//! cliente queda unido a ese servidor; si el servidor muere, el cliente se cierra (nunca se
//! le cambia de servidor a mitad de conversación, que rompería cualquier protocolo).

use std::io::{Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpStream};
use std::time::Duration;

use common::relay::relay;

use super::backends::Backends;
use super::salud::connect;

/// Lo que recibe un cliente cuando no hay ningún servidor arriba. Vale como línea de texto
/// para telnet y como error RESP (`-ERR ...`) para `redis-cli`.
pub const NO_BACKEND_REPLY: &[u8] = b"-ERR no hay servidores disponibles\r\n";

/// Lo que recibe un cliente rechazado por el tope de conexiones.
pub const FULL_REPLY: &[u8] = b"-ERR balanceador lleno, pruebe m\xc3\xa1s tarde\r\n";

/// Cuánto esperamos, tras rechazar a un cliente, a que cierre él (para que lo que nos
/// envió sin leer no convierta nuestro cierre en un reset que borre el mensaje de rechazo).
const LINGER: Duration = Duration::from_millis(200);

/// Tiempos del reenvío.
#[derive(Debug, Clone, Copy)]
pub struct RelayTimeouts {
    /// Plazo para conectar con un servidor antes de probar otro.
    pub connect: Duration,
    /// Inactividad (en ambos sentidos) tras la que se corta un túnel; `None` = sin límite.
    pub idle: Option<Duration>,
}

/// Atiende a un cliente de principio a fin.
pub fn handle_client(client: TcpStream, peer: SocketAddr, backends: &Backends, t: RelayTimeouts) {
    let mut tried = Vec::new();
    loop {
        let Some((target, lease)) = backends.pick(&tried) else {
            log::warn!("cliente {peer}: no hay servidores disponibles");
            refuse(client, NO_BACKEND_REPLY);
            return;
        };
        let server = match connect(&target.addr, t.connect) {
            Ok(s) => s,
            Err(reason) => {
                log::warn!(
                    "cliente {peer}: no se pudo conectar con {} ({}): {reason}; se prueba otro",
                    target.id,
                    target.addr
                );
                drop(lease);
                backends.record(
                    target.key,
                    false,
                    format!("fallo al conectar un cliente: {reason}"),
                );
                tried.push(target.key);
                continue;
            }
        };
        // Sin Nagle en ningún lado: el balanceador no debe añadir esperas a mensajes cortos.
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        lease.attach(&client, &server);
        log::info!("cliente {peer} -> {} ({})", target.id, target.addr);
        match relay(client, server, t.idle) {
            Ok(stats) => log::info!(
                "cliente {peer} <- {}: fin ({} bytes enviados, {} recibidos)",
                target.id,
                stats.a_to_b,
                stats.b_to_a
            ),
            Err(e) => log::error!("cliente {peer}: no se pudo reenviar: {e}"),
        }
        return;
    }
}

/// Envía `reply` al cliente y cierra con cortesía.
pub fn refuse(mut client: TcpStream, reply: &[u8]) {
    let _ = client.set_write_timeout(Some(LINGER));
    let _ = client.write_all(reply);
    let _ = client.shutdown(NetShutdown::Write);
    // Leemos (y tiramos) lo que el cliente ya hubiera enviado, un momento como mucho.
    let _ = client.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 4096];
    let mut budget: usize = 64 * 1024;
    while budget > 0 {
        match client.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}
