//! El balanceador TCP: reparte clientes entre servidores de fondo sanos.
//!
//! Escucha en dos puertos: el de clientes (8009), cuyas conexiones reenvía byte a byte a un
//! servidor de fondo elegido por turnos o por menos conexiones, y el de control (8019), por
//! el que los nodos se registran y cualquiera consulta el estado. No entiende el protocolo
//! de aplicación: sirve delante de cualquier servicio TCP.
//!
//! Cada módulo tiene un trabajo: [`backends`] guarda los servidores, su salud y el reparto;
//! [`salud`] hace las comprobaciones periódicas; [`control`] atiende el puerto de control;
//! [`reenvio`] lleva a cada cliente a su servidor. [`run`] los pone en marcha juntos.

pub mod backends;
pub mod control;
pub mod reenvio;
pub mod salud;

use std::io;
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use common::cli::{host_port, BindError};
use common::{serve, ServeConfig, Shutdown};

pub use backends::{validate_addr, Backends, BackendsConfig, Strategy};
pub use reenvio::{FULL_REPLY, NO_BACKEND_REPLY};
pub use salud::CheckKind;

/// Puerto por omisión para los clientes.
pub const DEFAULT_PORT: u16 = 8009;
/// Puerto por omisión del protocolo de control.
pub const DEFAULT_CONTROL_PORT: u16 = 8019;
/// Tiempo sin latido tras el que caduca un servidor registrado: 10 s, tres latidos de un
/// nodo que late cada 3 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
/// Intervalo entre comprobaciones de salud: 2 s, el `inter` por omisión de HAProxy.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// Plazo de cada comprobación de salud.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Fallos seguidos para dar un servidor por caído (el `fall` por omisión de HAProxy).
pub const DEFAULT_FALL: u32 = 3;
/// Aciertos seguidos para darlo por vuelto (el `rise` por omisión de HAProxy).
pub const DEFAULT_RISE: u32 = 2;
/// Plazo para conectar con un servidor de fondo antes de probar otro.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Inactividad tras la que se corta un túnel de cliente: 5 minutos, para que una sesión de
/// telnet abandonada no ocupe dos hilos para siempre.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Inactividad tras la que se cierra una conexión de control (los nodos laten mucho antes).
pub const DEFAULT_CONTROL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Máximo de servidores de fondo (estáticos más registrados): acota la memoria ante un
/// registro hostil.
pub const DEFAULT_MAX_BACKENDS: usize = 256;
/// Máximo de conexiones de control simultáneas.
pub const DEFAULT_MAX_CONTROL_CONNECTIONS: usize = 128;

pub use common::conn::parse_duration;

/// Los argumentos de `servidor balanceador`.
#[derive(clap::Args, Debug, Clone)]
pub struct BalancerArgs {
    /// Dirección y puerto de los clientes (por omisión 8009) y tope de conexiones
    #[command(flatten)]
    pub server: common::ServerArgs,
    /// Puerto del protocolo de control (registro de nodos y STATUS), en el mismo --host
    #[arg(long, value_name = "PUERTO", default_value_t = DEFAULT_CONTROL_PORT)]
    pub control_port: u16,
    /// Servidor de fondo estático HOST:PUERTO (se puede repetir)
    #[arg(long = "backend", value_name = "HOST:PUERTO", value_parser = parse_backend)]
    pub backends: Vec<String>,
    /// Cómo se elige servidor para cada cliente nuevo
    #[arg(long, value_name = "ESTRATEGIA", value_enum, default_value_t = Strategy::RoundRobin)]
    pub strategy: Strategy,
    /// Tiempo sin latido tras el que se retira un servidor registrado (500ms, 10s, 10)
    #[arg(long, value_name = "DURACIÓN", default_value = "10s", value_parser = parse_duration)]
    pub ttl: Duration,
    /// Intervalo entre comprobaciones de salud
    #[arg(long, value_name = "DURACIÓN", default_value = "2s", value_parser = parse_duration)]
    pub check_interval: Duration,
    /// Plazo de cada comprobación de salud
    #[arg(long, value_name = "DURACIÓN", default_value = "1s", value_parser = parse_duration)]
    pub check_timeout: Duration,
    /// Fallos seguidos que dan un servidor por caído
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FALL, value_parser = clap::value_parser!(u32).range(1..))]
    pub fall: u32,
    /// Aciertos seguidos que lo dan por vuelto
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RISE, value_parser = clap::value_parser!(u32).range(1..))]
    pub rise: u32,
    /// Tipo de comprobación: tcp (aceptar la conexión) o ping (PING -> +PONG, para nodos RESP)
    #[arg(long, value_name = "TIPO", value_enum, default_value_t = CheckKind::Tcp)]
    pub check: CheckKind,
    /// Plazo para conectar con un servidor de fondo antes de probar otro
    #[arg(long, value_name = "DURACIÓN", default_value = "3s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Inactividad tras la que se corta un cliente (0 = sin límite)
    #[arg(long, value_name = "DURACIÓN", default_value = "300s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Máximo de servidores de fondo (estáticos más registrados)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BACKENDS)]
    pub max_backends: usize,
}

fn parse_backend(text: &str) -> Result<String, String> {
    validate_addr(text).map(|()| text.to_string())
}

impl BalancerArgs {
    /// La configuración que corresponde a estos argumentos.
    pub fn config(&self) -> BalancerConfig {
        BalancerConfig {
            backends: self.backends.clone(),
            strategy: self.strategy,
            ttl: self.ttl,
            check_interval: self.check_interval,
            check_timeout: self.check_timeout,
            fall: self.fall,
            rise: self.rise,
            check: self.check,
            connect_timeout: self.connect_timeout,
            idle_timeout: (!self.idle_timeout.is_zero()).then_some(self.idle_timeout),
            max_connections: self.server.max_connections,
            max_backends: self.max_backends,
            ..BalancerConfig::default()
        }
    }

    /// La dirección del puerto de control (`--host:--control-port`).
    pub fn control_addr(&self) -> String {
        host_port(&self.server.host, self.control_port)
    }

    /// Abre los dos puertos: primero el de clientes, después el de control.
    ///
    /// # Errores
    /// [`BindError`] con la dirección que no se pudo abrir y el motivo.
    pub fn bind(&self) -> Result<(TcpListener, TcpListener), BindError> {
        let clients = self.server.listen(DEFAULT_PORT)?;
        let control =
            TcpListener::bind((self.server.host.as_str(), self.control_port)).map_err(|e| {
                BindError {
                    addr: self.control_addr(),
                    reason: common::net::describe_io_error(&e),
                }
            })?;
        Ok((clients, control))
    }
}

/// Todo lo que ajusta el balanceador, con sus valores por omisión.
#[derive(Debug, Clone)]
pub struct BalancerConfig {
    /// Servidores estáticos `HOST:PUERTO`.
    pub backends: Vec<String>,
    /// Estrategia de reparto.
    pub strategy: Strategy,
    /// Tiempo sin latido tras el que caduca un registrado.
    pub ttl: Duration,
    /// Intervalo entre comprobaciones de salud.
    pub check_interval: Duration,
    /// Plazo de cada comprobación.
    pub check_timeout: Duration,
    /// Fallos seguidos para caer.
    pub fall: u32,
    /// Aciertos seguidos para volver.
    pub rise: u32,
    /// Tipo de comprobación.
    pub check: CheckKind,
    /// Plazo para conectar con un servidor de fondo.
    pub connect_timeout: Duration,
    /// Inactividad tras la que se corta un cliente (`None` = sin límite).
    pub idle_timeout: Option<Duration>,
    /// Plazo total para que llegue entera cada línea de control, desde la respuesta anterior
    /// (callada o a medias, al pasarlo se cierra la conexión).
    pub control_idle_timeout: Duration,
    /// Tope de clientes simultáneos.
    pub max_connections: usize,
    /// Tope de conexiones de control simultáneas.
    pub max_control_connections: usize,
    /// Máximo de servidores de fondo.
    pub max_backends: usize,
    /// Espera máxima a que terminen los clientes al apagar.
    pub drain_timeout: Duration,
}

impl Default for BalancerConfig {
    fn default() -> Self {
        Self {
            backends: Vec::new(),
            strategy: Strategy::RoundRobin,
            ttl: DEFAULT_TTL,
            check_interval: DEFAULT_CHECK_INTERVAL,
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            fall: DEFAULT_FALL,
            rise: DEFAULT_RISE,
            check: CheckKind::Tcp,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            control_idle_timeout: DEFAULT_CONTROL_IDLE_TIMEOUT,
            max_connections: common::cli::DEFAULT_MAX_CONNECTIONS,
            max_control_connections: DEFAULT_MAX_CONTROL_CONNECTIONS,
            max_backends: DEFAULT_MAX_BACKENDS,
            drain_timeout: common::server::DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// Lo que puede impedir que el balanceador funcione.
#[derive(Debug, thiserror::Error)]
pub enum BalancerError {
    /// Un `--backend` con una dirección mal formada.
    #[error("{0}")]
    BadBackend(String),
    /// Más servidores estáticos que `max_backends`.
    #[error("hay {count} servidores estáticos y el máximo es {max} (--max-backends)")]
    TooManyBackends {
        /// Cuántos se dieron.
        count: usize,
        /// El límite.
        max: usize,
    },
    /// No se pudo crear un hilo del balanceador.
    #[error("no se pudo crear el hilo {name}: {source}")]
    Spawn {
        /// Qué hilo.
        name: String,
        /// El motivo.
        #[source]
        source: io::Error,
    },
    /// Falló un bucle de aceptación (no se pudo consultar su dirección).
    #[error("error en el puerto {which}: {source}")]
    Serve {
        /// `clientes` o `control`.
        which: &'static str,
        /// El motivo.
        #[source]
        source: io::Error,
    },
}

/// Pone en marcha el balanceador: clientes por `clients`, control por `control`, hasta que
/// se dispare `shutdown`; entonces deja de aceptar en ambos puertos, drena los clientes en
/// curso (cierra su lado de lectura, como todo servidor del taller) y vuelve.
///
/// # Errores
/// [`BalancerError`] si la configuración no es válida o no se pueden crear los hilos.
pub fn run(
    clients: TcpListener,
    control: TcpListener,
    config: BalancerConfig,
    shutdown: Shutdown,
) -> Result<(), BalancerError> {
    for addr in &config.backends {
        validate_addr(addr).map_err(BalancerError::BadBackend)?;
    }
    if config.backends.len() > config.max_backends {
        return Err(BalancerError::TooManyBackends {
            count: config.backends.len(),
            max: config.max_backends,
        });
    }
    let backends = Backends::new(
        BackendsConfig {
            strategy: config.strategy,
            ttl: config.ttl,
            fall: config.fall,
            rise: config.rise,
            max_backends: config.max_backends,
        },
        &config.backends,
    );
    log::info!(
        "balanceador: {}, reparto {}, comprobación {} cada {} ms",
        common::ayuda::plural(
            config.backends.len(),
            "servidor estático",
            "servidores estáticos"
        ),
        match config.strategy {
            Strategy::RoundRobin => "por turnos",
            Strategy::LeastConnections => "al de menos conexiones",
        },
        match config.check {
            CheckKind::Tcp => "por conexión TCP",
            CheckKind::Ping => "por PING",
        },
        config.check_interval.as_millis()
    );

    let spawn_err = |name: &str| {
        let name = name.to_string();
        move |source| BalancerError::Spawn { name, source }
    };

    let checks = {
        let (b, s) = (backends.clone(), shutdown.clone());
        let (kind, every, timeout) = (config.check, config.check_interval, config.check_timeout);
        thread::Builder::new()
            .name("problema9-salud".to_string())
            .spawn(move || salud::run_checks(b, kind, every, timeout, s))
            .map_err(spawn_err("problema9-salud"))?
    };

    let control_thread = {
        let b = backends.clone();
        let idle = config.control_idle_timeout;
        let serve_config = ServeConfig {
            name: "problema9-control".to_string(),
            max_connections: config.max_control_connections,
            refusal: control::FULL_CONTROL_REPLY.to_vec(),
            drain_timeout: config.drain_timeout,
        };
        let s = shutdown.clone();
        let spawned = thread::Builder::new()
            .name("problema9-control".to_string())
            .spawn(move || {
                serve(control, serve_config, s, move |stream, peer| {
                    control::handle_control(stream, peer, &b, idle)
                })
            });
        match spawned {
            Ok(t) => t,
            Err(e) => {
                shutdown.trigger();
                let _ = checks.join();
                return Err(spawn_err("problema9-control")(e));
            }
        }
    };

    let timeouts = reenvio::RelayTimeouts {
        connect: config.connect_timeout,
        idle: config.idle_timeout,
    };
    let serve_config = ServeConfig {
        name: "problema9-balanceador".to_string(),
        max_connections: config.max_connections,
        refusal: FULL_REPLY.to_vec(),
        drain_timeout: config.drain_timeout,
    };
    let b = backends.clone();
    let served = serve(
        clients,
        serve_config,
        shutdown.clone(),
        move |stream, peer| reenvio::handle_client(stream, peer, &b, timeouts),
    );
    // Si el bucle de clientes terminó por un error, el resto también debe parar.
    shutdown.trigger();
    let control_result = control_thread.join();
    let _ = checks.join();
    served.map_err(|source| BalancerError::Serve {
        which: "clientes",
        source,
    })?;
    match control_result {
        Ok(Ok(())) => {}
        Ok(Err(source)) => {
            return Err(BalancerError::Serve {
                which: "control",
                source,
            })
        }
        Err(_) => log::error!("el hilo de control terminó con un pánico"),
    }
    log::info!("balanceador detenido");
    Ok(())
}
