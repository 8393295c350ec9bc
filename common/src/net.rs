//! Utilidades de sockets: tiempos de espera y errores de E/S contados en español.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// ¿Es este error el fin de un tiempo de espera de lectura o escritura?
///
/// Según la plataforma, un `set_read_timeout` vencido llega como `WouldBlock` o `TimedOut`.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// ¿Es este error un cierre del otro extremo (reset, tubería rota, fin inesperado)?
pub fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

/// Describe un error de E/S en español, para mensajes dirigidos a personas.
pub fn describe_io_error(e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::ConnectionRefused => "conexión rechazada",
        io::ErrorKind::ConnectionReset => "el otro extremo reinició la conexión",
        io::ErrorKind::ConnectionAborted => "conexión abortada",
        io::ErrorKind::BrokenPipe => "el otro extremo cerró la conexión",
        io::ErrorKind::UnexpectedEof => "la conexión se cerró antes de tiempo",
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "se agotó el tiempo de espera",
        io::ErrorKind::AddrInUse => "la dirección ya está en uso",
        io::ErrorKind::AddrNotAvailable => "la dirección no está disponible en esta máquina",
        io::ErrorKind::PermissionDenied => "permiso denegado",
        io::ErrorKind::NotFound => "no encontrado",
        io::ErrorKind::InvalidInput => "dirección o argumento no válido",
        io::ErrorKind::NetworkUnreachable => "la red no es alcanzable",
        io::ErrorKind::HostUnreachable => "la máquina no es alcanzable",
        io::ErrorKind::NetworkDown => "la red está caída",
        io::ErrorKind::NotConnected => "el socket no está conectado",
        io::ErrorKind::AlreadyExists => "ya existe",
        io::ErrorKind::IsADirectory => "es un directorio",
        io::ErrorKind::NotADirectory => "no es un directorio",
        io::ErrorKind::DirectoryNotEmpty => "el directorio no está vacío",
        io::ErrorKind::ReadOnlyFilesystem => "el sistema de ficheros es de solo lectura",
        io::ErrorKind::StorageFull => "no queda espacio en el disco",
        io::ErrorKind::QuotaExceeded => "se superó la cuota de disco",
        io::ErrorKind::FileTooLarge => "el fichero es demasiado grande",
        io::ErrorKind::WriteZero => "no se pudo escribir nada más",
        io::ErrorKind::Interrupted => "interrumpido",
        io::ErrorKind::OutOfMemory => "no queda memoria",
        io::ErrorKind::InvalidFilename => "nombre de fichero no válido",
        io::ErrorKind::InvalidData if e.get_ref().is_none() => "datos no válidos",
        // Un error con un mensaje propio (`io::Error::new`) ya lo trae en español: los de
        // este proyecto se escriben así. Uno del sistema sin traducción da su número.
        _ => {
            return match (e.get_ref(), e.raw_os_error()) {
                (Some(inner), _) => inner.to_string(),
                (None, Some(code)) => format!("error del sistema (errno {code})"),
                (None, None) => format!("error de E/S ({:?})", e.kind()),
            }
        }
    };
    what.to_string()
}

/// Dirección a la que conectarse para hablar con un socket que escucha en `addr`.
///
/// Un servidor que escucha en `0.0.0.0` o `::` no es un destino válido; en su lugar se usa
/// la dirección de loopback de la misma familia.
pub fn connectable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_is_described_in_spanish() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe_io_error(&e), "conexión rechazada");
        assert!(!is_timeout(&e));
        assert!(is_timeout(&io::Error::from(io::ErrorKind::WouldBlock)));
    }

    /// Ningún error del sistema sale con su texto en inglés (`Broken pipe (os error 32)`).
    #[test]
    fn os_errors_never_reach_a_person_in_english() {
        for code in 1..134 {
            let text = describe_io_error(&io::Error::from_raw_os_error(code));
            assert!(!text.contains("os error"), "errno {code}: {text}");
        }
        let own = io::Error::other("mensaje propio");
        assert_eq!(describe_io_error(&own), "mensaje propio");
    }

    #[test]
    fn unspecified_addresses_become_loopback() {
        let a: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert_eq!(connectable(a), "127.0.0.1:80".parse().unwrap());
        let b: SocketAddr = "[::]:80".parse().unwrap();
        assert_eq!(connectable(b), "[::1]:80".parse().unwrap());
    }
}
