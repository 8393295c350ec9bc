//! El servidor de eco: un hilo por cliente TCP y un hilo para todos los datagramas UDP.
//!
//! El eco TCP copia con un buffer fijo de [`ECHO_BUFFER`] bytes: la memoria por cliente no
//! depende de cuánto envíe. Escribimos todo lo leído antes de volver a leer, así que un
//! cliente que envía sin leer llena su propio buffer de recepción, nuestro `write` se queda
//! esperando y deja de leerle: el control de flujo de TCP lo frena a él y a nadie más. Si
//! esa espera pasa de `timeout`, se le cierra la conexión.

use std::io::{self, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

use common::net::{connectable, is_timeout};
use common::{serve, ServeConfig, Shutdown};

/// Tamaño del buffer de eco TCP: 64 KiB, suficiente para acercarse al límite del loopback.
pub const ECHO_BUFFER: usize = 64 * 1024;

/// Tamaño máximo de un datagrama UDP (65.535 menos cabeceras IP y UDP).
pub const MAX_DATAGRAM: usize = 65_507;

/// Tiempo de inactividad por omisión tras el que se cierra una conexión TCP: 5 minutos,
/// holgado para una sesión interactiva con `nc` pero finito.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Configuración del servidor de eco.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Máximo de conexiones TCP simultáneas.
    pub max_connections: usize,
    /// Inactividad máxima de un cliente TCP (sin enviar nada, o sin leer lo que le enviamos).
    pub idle_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Errores del servidor.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Fallo de un socket de escucha.
    #[error("error del socket de escucha: {0}")]
    Io(#[from] io::Error),
}

/// Sirve eco por `tcp` y por `udp` hasta que se dispare `shutdown`.
///
/// Los dos sockets ya vienen abiertos (normalmente en el mismo puerto): así el binario elige
/// la dirección y las pruebas usan el puerto 0.
///
/// # Errores
/// Los de los sockets de escucha; los de cada cliente se registran y no paran el servidor.
pub fn run(
    tcp: TcpListener,
    udp: UdpSocket,
    config: ServerConfig,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let udp_thread = {
        let shutdown = shutdown.clone();
        thread::Builder::new()
            .name("problema2-udp".into())
            .spawn(move || serve_udp(udp, &shutdown))?
    };
    let mut serve_config = ServeConfig::new("problema2");
    serve_config.max_connections = config.max_connections;
    let idle = config.idle_timeout;
    let tcp_result = serve(tcp, serve_config, shutdown.clone(), move |stream, peer| {
        echo_tcp(stream, peer, idle)
    });
    // Si el bucle TCP terminó por un error, el hilo UDP también debe acabar.
    shutdown.trigger();
    let udp_result = udp_thread
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("el hilo UDP entró en pánico")));
    tcp_result?;
    udp_result?;
    Ok(())
}

/// Eco de una conexión TCP hasta que el cliente cierre su escritura (o falle).
fn echo_tcp(stream: TcpStream, peer: SocketAddr, idle: Duration) {
    log::info!("{peer}: conectado (TCP)");
    let _ = stream.set_read_timeout(Some(idle));
    let _ = stream.set_write_timeout(Some(idle));
    let mut buf = vec![0u8; ECHO_BUFFER];
    let mut total: u64 = 0;
    let mut r = &stream;
    let mut w = &stream;
    let outcome = loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break "fin",
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => break "inactivo",
            Err(e) => {
                log::debug!("{peer}: error de lectura: {e}");
                break "error de lectura";
            }
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if let Err(e) = w.write_all(chunk) {
            log::debug!("{peer}: error de escritura: {e}");
            break if is_timeout(&e) {
                "no lee lo que le enviamos"
            } else {
                "error de escritura"
            };
        }
        total += n as u64;
    };
    // Tras el medio cierre del cliente ya le devolvimos todo: cerramos nuestra mitad.
    let _ = stream.shutdown(NetShutdown::Both);
    log::info!("{peer}: desconectado ({outcome}, {total} bytes de eco)");
}

/// Eco UDP: cada datagrama vuelve a su remitente.
fn serve_udp(socket: UdpSocket, shutdown: &Shutdown) -> io::Result<()> {
    let local = socket.local_addr()?;
    // Para despertar el `recv_from` bloqueado, nos enviamos un datagrama vacío.
    shutdown.on_trigger(move || {
        let bind = if local.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        if let Ok(s) = UdpSocket::bind(bind) {
            let _ = s.send_to(&[], connectable(local));
        }
    });
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !shutdown.is_triggered() {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(pair) => pair,
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => continue,
            // En Linux un ICMP "puerto inalcanzable" de un envío anterior puede aparecer aquí.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        if shutdown.is_triggered() {
            break;
        }
        log::debug!("{peer}: datagrama de {n} bytes (UDP)");
        if let Err(e) = socket.send_to(buf.get(..n).unwrap_or_default(), peer) {
            log::warn!("{peer}: no se pudo devolver el datagrama: {e}");
        }
    }
    log::info!("[problema2] UDP cerrado");
    Ok(())
}
