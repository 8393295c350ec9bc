//! Argumentos de línea de órdenes comunes a todos los servidores y clientes.
//!
//! Cada binario los incrusta en su propia estructura de `clap` con `#[command(flatten)]`.
//! El puerto por omisión depende del problema (`800N`), así que aquí es un `Option` y cada
//! binario pasa el suyo a [`ServerArgs::listen`] o [`ClientArgs::connect`], y lo muestra en su
//! ayuda con [`crate::ayuda::default_port`]. Las opciones de cliente son globales: valen antes
//! y después de una orden (`cliente list --port 8005`).

use std::io;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::net::describe_io_error;
use crate::shutdown::{install_signal_handler, Shutdown};

/// Tope de conexiones simultáneas por omisión.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Longitud por omisión de la cola de conexiones pendientes del socket de escucha: 1024.
/// `std` escucha con 128; un cliente que abre cientos de conexiones a la vez (un navegador
/// con muchas pestañas, `wrk -c1000`, mil jugadores que llegan juntos) desborda esa cola, el
/// núcleo descarta los `SYN`/`ACK` sobrantes y esas conexiones esperan la retransmisión
/// (1 s, 2 s, ...). nginx usa 511; el núcleo recorta el valor a `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// Segundos de espera por omisión de un cliente (conexión y respuestas).
pub const DEFAULT_CLIENT_TIMEOUT_SECS: u64 = 10;

/// Argumentos de todo servidor: dónde escuchar y cuántas conexiones admitir.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Dirección en la que escuchar (127.0.0.1: nada se expone a la red si no se pide)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Puerto en el que escuchar (0 = cualquiera libre)
    #[arg(long, value_name = "PUERTO")]
    pub port: Option<u16>,
    /// Máximo de conexiones simultáneas; las demás reciben un rechazo breve
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Conexiones pendientes de aceptar que guarda el núcleo (cola de `listen`)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BACKLOG)]
    pub backlog: u32,
}

/// La opción `--pause` de los servidores de texto: cuánto silencio termina un mensaje que
/// llega sin salto de línea (la regla de [`crate::conn::message`]).
#[derive(clap::Args, Debug, Clone)]
pub struct PauseArgs {
    /// Silencio tras el que unos bytes sin salto de línea forman un mensaje (como envían los
    /// programas del taller en Python); 0 = solo salto de línea o cierre
    #[arg(long, value_name = "DURACIÓN", default_value = "200ms", value_parser = crate::conn::parse_duration)]
    pub pause: Duration,
}

impl PauseArgs {
    /// La pausa para [`crate::conn::MessageRule::pause`] (`None` si es cero).
    pub fn pause(&self) -> Option<Duration> {
        (!self.pause.is_zero()).then_some(self.pause)
    }
}

/// No se pudo abrir el puerto de escucha.
#[derive(Debug, thiserror::Error)]
#[error("no se pudo escuchar en {addr}: {reason}")]
pub struct BindError {
    /// La dirección pedida.
    pub addr: String,
    /// El motivo, en español.
    pub reason: String,
}

/// No se pudo arrancar un servidor (véase [`ServerArgs::start`]).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No se pudo abrir el puerto de escucha.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// No se pudo consultar la dirección real del socket.
    #[error("no se pudo leer la dirección de escucha: {0}")]
    LocalAddr(io::Error),
    /// Ya había otro manejador de señales en el proceso.
    #[error("no se pudo instalar el manejador de Ctrl-C: {0}")]
    Signal(#[from] ctrlc::Error),
}

impl ServerArgs {
    /// Los pasos de arranque de todo servidor de un solo puerto: escucha en `--host:--port`,
    /// imprime en stdout la línea `escuchando en HOST:PUERTO` con la dirección real (útil con
    /// `--port 0`) y conecta Ctrl-C y SIGTERM con la señal de apagado que devuelve.
    ///
    /// # Errores
    /// [`StartError`] si el puerto no se puede abrir o ya hay un manejador de señales.
    pub fn start(&self, default_port: u16) -> Result<(TcpListener, Shutdown), StartError> {
        let listener = self.listen(default_port)?;
        let addr = listener.local_addr().map_err(StartError::LocalAddr)?;
        println!("escuchando en {addr}");
        let shutdown = Shutdown::new();
        install_signal_handler(&shutdown)?;
        Ok((listener, shutdown))
    }

    /// La dirección `host:puerto` efectiva, con `default_port` si no se dio `--port`.
    pub fn addr(&self, default_port: u16) -> String {
        host_port(&self.host, self.port.unwrap_or(default_port))
    }

    /// Abre el socket de escucha.
    ///
    /// # Errores
    /// [`BindError`] con la dirección y el motivo (puerto en uso, dirección inexistente...).
    pub fn listen(&self, default_port: u16) -> Result<TcpListener, BindError> {
        let port = self.port.unwrap_or(default_port);
        let addr = self.addr(default_port);
        let listener = TcpListener::bind((self.host.as_str(), port)).map_err(|e| BindError {
            reason: describe_io_error(&e),
            addr,
        })?;
        set_backlog(&listener, self.backlog);
        Ok(listener)
    }
}

/// Cambia la longitud de la cola de conexiones pendientes de `listener` (ya escuchando: un
/// segundo `listen(2)` solo cambia la cola). Si el sistema no lo permite, se avisa y se sigue
/// con la de `std`.
pub fn set_backlog(listener: &TcpListener, backlog: u32) {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    if let Err(e) = socket2::SockRef::from(listener).listen(backlog) {
        log::warn!("no se pudo agrandar la cola de escucha a {backlog}: {e}");
    }
}

/// Argumentos de todo cliente: a qué servidor conectarse y cuánto esperar.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// Dirección del servidor
    #[arg(long, global = true, default_value = "127.0.0.1")]
    pub host: String,
    /// Puerto del servidor
    #[arg(long, global = true, value_name = "PUERTO")]
    pub port: Option<u16>,
    /// Segundos de espera para conectar y para cada respuesta
    #[arg(long, global = true, value_name = "SEGUNDOS", default_value_t = DEFAULT_CLIENT_TIMEOUT_SECS)]
    pub timeout: u64,
}

/// No se pudo conectar con el servidor.
#[derive(Debug, thiserror::Error)]
#[error("no se pudo conectar a {addr}: {reason}. ¿Está el servidor en marcha? Pruebe `cargo run -p {package} --bin servidor`")]
pub struct ConnectError {
    /// La dirección pedida.
    pub addr: String,
    /// El motivo, en español.
    pub reason: String,
    /// El paquete cuyo servidor se esperaba, para la pista.
    pub package: String,
    /// El error original.
    #[source]
    pub source: io::Error,
}

impl ClientArgs {
    /// La dirección `host:puerto` efectiva.
    pub fn addr(&self, default_port: u16) -> String {
        host_port(&self.host, self.port.unwrap_or(default_port))
    }

    /// El tiempo de espera como `Duration` (al menos un milisegundo: cero significaría "sin límite").
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout).max(Duration::from_millis(1))
    }

    /// Conecta con el servidor y fija los tiempos de espera de lectura y escritura.
    ///
    /// # Errores
    /// [`ConnectError`] con una pista de cómo arrancar el servidor de `package`.
    pub fn connect(&self, default_port: u16, package: &str) -> Result<TcpStream, ConnectError> {
        let addr = self.addr(default_port);
        connect_with_timeout(&addr, self.timeout()).map_err(|source| ConnectError {
            reason: describe_io_error(&source),
            addr,
            package: package.to_string(),
            source,
        })
    }
}

/// Conecta con `addr` (que puede ser un nombre) probando cada dirección con `timeout`, y deja
/// ese mismo tiempo como espera de lectura y escritura del socket.
///
/// # Errores
/// El último error de conexión, o `NotFound` si el nombre no resuelve a ninguna dirección.
pub fn connect_with_timeout(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        "el nombre no resuelve a ninguna dirección",
    );
    for sa in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Une host y puerto, con corchetes para IPv6 (`[::1]:8001`).
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    /// Con la cola de `std` (128), las conexiones que llegan de golpe por encima de 129 sin
    /// que nadie acepte se quedan esperando la retransmisión del `SYN` (1 s); con
    /// `--backlog` (1024 por omisión) entran todas enseguida.
    #[test]
    fn listen_queue_holds_hundreds_of_pending_connections() {
        let cli = Cli::parse_from(["prueba", "--port", "0"]);
        assert_eq!(cli.server.backlog, DEFAULT_BACKLOG);
        let listener = cli.server.listen(8000).expect("escuchar");
        let addr = listener.local_addr().expect("dirección");
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(4096);
        let pending = 300.min(somaxconn);
        let mut clients = Vec::new();
        for i in 0..pending {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(c) => clients.push(c),
                Err(e) => panic!("la conexión {i} de {pending} no entró en la cola: {e}"),
            }
        }
        assert_eq!(clients.len(), pending);
    }

    #[test]
    fn defaults_use_loopback_and_problem_port() {
        let cli = Cli::parse_from(["x"]);
        assert_eq!(cli.server.addr(8001), "127.0.0.1:8001");
        assert_eq!(cli.server.max_connections, DEFAULT_MAX_CONNECTIONS);
        let cli = Cli::parse_from(["x", "--host", "::1", "--port", "0"]);
        assert_eq!(cli.server.addr(8001), "[::1]:0");
    }

    #[test]
    fn connect_refused_gives_a_hint() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let args = ClientArgs {
            host: "127.0.0.1".into(),
            port: Some(port),
            timeout: 2,
        };
        let err = args.connect(8001, "problema1").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("conexión rechazada"), "{msg}");
        assert!(
            msg.contains("cargo run -p problema1 --bin servidor"),
            "{msg}"
        );
    }
}
