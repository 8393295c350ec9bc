//! Lo propio del proxy sobre HTTP, sin sockets: a dónde conectarse y las respuestas que
//! genera el propio proxy.
//!
//! El análisis de las cabeceras, del destino y del cuerpo HTTP es el de [`common::http`]
//! (compartido con el servidor del problema 4: un solo analizador); aquí solo está lo que un
//! proxy añade encima:
//! - [`Origin`]: a qué `host:puerto` hay que conectarse, sacado del destino de la petición
//!   (`http://host:puerto/ruta` o, con `CONNECT`, `host:puerto`).
//! - [`simple_response`]: las respuestas de error del propio proxy (400, 403, 407, 502...).
//!
//! Las constantes `DEFAULT_*` son los valores por omisión de los límites, con su motivo.

use std::fmt;
use std::time::Duration;

/// Puerto por omisión del proxy.
pub const DEFAULT_PORT: u16 = 8007;

/// Nombre de host reservado para la página de estadísticas: `GET http://proxy.local/stats`
/// no sale del proxy, lo contesta él mismo.
pub const STATS_HOST: &str = "proxy.local";

/// Ruta de las estadísticas.
pub const STATS_PATH: &str = "/stats";

/// Lo que el proxy añade en `Via` (RFC 9110 §7.6.3): versión del protocolo recibido y un
/// seudónimo, no el nombre real de la máquina.
pub const VIA_PSEUDONYM: &str = "taller-proxy";

/// Espera máxima de una petición de un cliente (también en reposo entre peticiones de una
/// conexión persistente): 30 s, para que los clientes dormidos no acaparen hilos.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Espera máxima al origen (conectar y cada lectura): 30 s; pasado ese tiempo el cliente
/// recibe un 504.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Un túnel `CONNECT` sin tráfico en ningún sentido se cierra tras 5 minutos.
pub const DEFAULT_TUNNEL_IDLE: Duration = Duration::from_secs(300);

/// Conexiones en reposo que se guardan por origen para reutilizarlas: 32, suficientes para
/// que 64 clientes persistentes contra un mismo origen apenas abran conexiones nuevas.
pub const DEFAULT_POOL_PER_ORIGIN: usize = 32;

/// Una conexión guardada más de 30 s sin uso se descarta (los orígenes suelen cerrar antes
/// las conexiones en reposo, nginx a los 75 s).
pub const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(30);

/// Puertos permitidos por omisión para `CONNECT`: solo HTTPS, para no ser un túnel a
/// cualquier servicio (SMTP, SSH...).
pub const DEFAULT_CONNECT_PORTS: &[u16] = &[443];

/// A dónde conectarse: un host (nombre, IPv4 o IPv6 sin corchetes) y un puerto.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Nombre o dirección, en minúsculas y sin corchetes.
    pub host: String,
    /// Puerto TCP.
    pub port: u16,
}

impl Origin {
    /// Un origen con el host en minúsculas (los nombres DNS no distinguen mayúsculas: así
    /// `A.org` y `a.org` comparten conexiones y reglas de bloqueo).
    pub fn new(host: &str, port: u16) -> Self {
        Self {
            host: host.to_ascii_lowercase(),
            port,
        }
    }

    /// La autoridad para la cabecera `Host`: sin el puerto si es el 80 de HTTP.
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            bracket(&self.host)
        } else {
            self.to_string()
        }
    }
}

impl fmt::Display for Origin {
    /// `host:puerto`, con corchetes si el host es IPv6 (`[::1]:8080`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", bracket(&self.host), self.port)
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Una respuesta completa generada por el proxy: línea de estado, `Content-Type`,
/// `Content-Length`, las cabeceras `extra` (pares nombre, valor), `Connection: close` si
/// `close`, y `body` (texto para personas, en español, terminado en salto de línea).
///
/// ```
/// use problema7::protocolo::simple_response;
/// let r = simple_response(403, &[], "host bloqueado\n", true);
/// assert!(r.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
/// assert!(r.ends_with(b"\r\n\r\nhost bloqueado\n"));
/// ```
pub fn simple_response(status: u16, extra: &[(&str, &str)], body: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    local_response(
        status,
        "text/plain; charset=utf-8",
        extra,
        body.as_bytes(),
        connection,
    )
}

/// Como [`simple_response`], con otro tipo de contenido, un cuerpo cualquiera y la cabecera
/// `connection` ya escrita (con su CRLF, o vacía).
pub fn local_response(
    status: u16,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    connection: &str,
) -> Vec<u8> {
    let reason = match status {
        508 => "Loop Detected",
        _ => common::http::reason_phrase(status),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in extra {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(connection);
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(host: &str, port: u16) -> Origin {
        Origin {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn host_header_omits_default_port() {
        assert_eq!(origin("a.b", 80).host_header(), "a.b");
        assert_eq!(origin("a.b", 81).host_header(), "a.b:81");
        assert_eq!(origin("::1", 80).host_header(), "[::1]");
        assert_eq!(origin("::1", 8080).to_string(), "[::1]:8080");
    }
}
