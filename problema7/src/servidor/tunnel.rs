//! Túneles `CONNECT` (RFC 9110 §9.3.6): el cliente pide `CONNECT host:443`, el proxy abre
//! una conexión TCP con ese destino, contesta `200` y desde ese momento copia bytes en los dos
//! sentidos sin mirarlos (así pasa HTTPS: el proxy ve solo bytes cifrados).
//!
//! Solo se permiten los puertos de `--connect-ports` (por omisión, 443): sin esa regla el
//! proxy serviría para llegar a cualquier servicio interno (SMTP para spam, SSH...). La copia
//! es la de `common::relay`: un hilo por sentido, buffer fijo, medio cierre propagado (si el
//! cliente termina de enviar, el destino recibe fin de flujo y aún puede contestar) y cierre
//! por inactividad (`--tunnel-idle`).

use std::io::{BufRead, Write};
use std::time::Instant;

use common::relay::relay;

use super::client::{Client, Next, Outcome};
use super::upstream::{connect_upstream, fail_upstream};
use crate::protocolo::Origin;

/// La respuesta que abre el túnel.
pub const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection Established\r\n\r\n";

/// Atiende un `CONNECT` a `origin`: comprueba el puerto, conecta, contesta y copia hasta que
/// los dos lados cierren. La conexión del cliente termina con el túnel.
pub(crate) fn open(client: &mut Client<'_>, origin: &Origin) -> Outcome {
    let proxy = client.proxy;
    let peer = client.peer;
    if !proxy.config.connect_ports.contains(&origin.port) {
        log::warn!("{peer}: CONNECT a un puerto no permitido: {origin}");
        return client.fail(
            403,
            &[],
            &format!(
                "CONNECT al puerto {} no permitido (véase --connect-ports)\n",
                origin.port
            ),
        );
    }
    let upstream = match connect_upstream(proxy, origin) {
        Ok(s) => s,
        Err(failure) => return fail_upstream(client, origin, failure),
    };
    // Lo que el cliente ya hubiera enviado tras la petición (algunos clientes mandan el
    // saludo TLS sin esperar al 200) está en nuestro buffer: va primero al destino.
    let early = client.reader.buffer().to_vec();
    let sent = client
        .writer
        .write_all(ESTABLISHED)
        .and_then(|()| client.writer.flush())
        .and_then(|()| (&upstream).write_all(&early));
    if let Err(e) = sent {
        log::debug!("{peer}: el túnel a {origin} no llegó a abrirse: {e}");
        return Outcome::close(200);
    }
    let n = early.len();
    client.reader.consume(n);
    log::debug!("{peer}: túnel abierto hacia {origin}");

    let started = Instant::now();
    let _active = proxy.stats.tunnel();
    let client_stream = match client.stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            log::error!("{peer}: no se pudo duplicar el socket para el túnel: {e}");
            return Outcome::close(200);
        }
    };
    let result = relay(client_stream, upstream, Some(proxy.config.tunnel_idle));
    let stats = result.unwrap_or_else(|e| {
        log::error!("{peer}: no se pudo iniciar la copia del túnel: {e}");
        Default::default()
    });
    log::debug!(
        "{peer}: túnel hacia {origin} cerrado tras {} ms",
        started.elapsed().as_millis()
    );
    // La línea del registro de accesos la escribe el llamante, con estos bytes sumados.
    Outcome {
        status: 200,
        next: Next::Close,
        tunnel_in: stats.a_to_b,
        tunnel_out: stats.b_to_a,
    }
}
