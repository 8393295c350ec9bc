//! El registro de servidores de fondo y la estrategia de reparto.
//!
//! Todo el estado compartido del balanceador vive aquí, detrás de un único `Mutex`
//! ([`Backends`] es un `Arc` barato de clonar, como el `Db` de mini-redis): la lista de
//! servidores (estáticos y registrados), su salud, sus conexiones activas y el cursor del
//! reparto. El cerrojo se toma solo para cada cambio; conectar, comprobar y reenviar bytes
//! ocurre siempre fuera de él.
//!
//! Cada cliente reenviado tiene un [`Lease`]: mientras vive cuenta como conexión activa de
//! su servidor (lo que usa `least-connections`), y guarda un clon del socket hacia el
//! servidor para poder cortarlo si este cae. Al soltarlo, la cuenta baja.
//!
//! La salud sigue la semántica de HAProxy: un servidor arriba pasa a caído tras `fall`
//! fallos seguidos, y uno caído vuelve tras `rise` aciertos seguidos. Una conexión de
//! cliente fallida cuenta como un fallo más.

use std::collections::{BTreeMap, HashMap};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ayuda::plural;
use common::lock;

use crate::registro::{BackendInfo, BackendState, BackendStatus, Origin};

/// Cómo se elige servidor para cada cliente nuevo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Strategy {
    /// Por turnos entre los servidores arriba.
    #[default]
    RoundRobin,
    /// El que tenga menos conexiones activas (a igualdad, por turnos).
    LeastConnections,
}

/// Por qué se rechazó un registro.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// El identificador es el de un servidor estático.
    #[error("el identificador {id} es el de un servidor estático")]
    StaticId {
        /// El identificador pedido.
        id: String,
    },
    /// No cabe ninguno más.
    #[error("ya hay {max} servidores de fondo, el máximo (--max-backends)")]
    Full {
        /// El límite.
        max: usize,
    },
    /// La dirección no tiene la forma `HOST:PUERTO`.
    #[error("{0}")]
    BadAddr(String),
    /// El identificador está vacío o es demasiado largo.
    #[error("el identificador debe tener entre 1 y {max} caracteres")]
    BadId {
        /// El límite.
        max: usize,
    },
}

/// Longitud máxima de un identificador de servidor registrado.
pub const MAX_ID_CHARS: usize = 128;

/// Comprueba que `addr` tenga la forma `HOST:PUERTO` (o `[IPv6]:PUERTO`), sin resolverla.
///
/// # Errores
/// Un mensaje en español que dice qué falta.
///
/// ```
/// use problema9::balanceador::backends::validate_addr;
/// assert!(validate_addr("127.0.0.1:8002").is_ok());
/// assert!(validate_addr("[::1]:80").is_ok());
/// assert!(validate_addr("localhost").is_err());
/// assert!(validate_addr("h:0").is_err());
/// ```
pub fn validate_addr(addr: &str) -> Result<(), String> {
    let bad = || format!("dirección no válida «{addr}»: se esperaba HOST:PUERTO");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host_ok = !host.is_empty()
        && !host.chars().any(char::is_whitespace)
        && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
    if port == 0 || !host_ok {
        return Err(bad());
    }
    Ok(())
}

/// Un servidor de fondo tal como lo guarda el registro.
struct Backend {
    /// Clave interna única: un registro nuevo con el mismo `id` es otro servidor.
    key: u64,
    id: String,
    addr: String,
    origin: Origin,
    meta: BTreeMap<String, String>,
    up: bool,
    /// Fallos seguidos (si está arriba) o aciertos seguidos (si está caído).
    streak: u32,
    last_check: String,
    last_heartbeat: Instant,
    total: u64,
    /// Los dos sockets (cliente y servidor) de cada cliente activo, por número de conexión
    /// (vacío mientras aún se está conectando), para cortarlos si el servidor cae.
    sessions: HashMap<u64, Vec<TcpStream>>,
}

impl Backend {
    fn status(&self) -> BackendStatus {
        BackendStatus {
            id: self.id.clone(),
            addr: self.addr.clone(),
            state: if self.up {
                BackendState::Up
            } else {
                BackendState::Down
            },
            origin: self.origin,
            active: self.sessions.len() as u64,
            total: self.total,
            last_check: self.last_check.clone(),
            meta: self.meta.clone(),
        }
    }
}

/// Un servidor elegido para un cliente: dirección a la que conectar y clave para informar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Clave interna del servidor.
    pub key: u64,
    /// Su identificador, para los mensajes.
    pub id: String,
    /// Su dirección.
    pub addr: String,
}

/// Parámetros del registro.
#[derive(Debug, Clone)]
pub struct BackendsConfig {
    /// Estrategia de reparto.
    pub strategy: Strategy,
    /// Tiempo sin latido tras el que caduca un servidor registrado.
    pub ttl: Duration,
    /// Fallos seguidos que lo dan por caído.
    pub fall: u32,
    /// Aciertos seguidos que lo dan por vuelto.
    pub rise: u32,
    /// Máximo de servidores (estáticos más registrados).
    pub max_backends: usize,
}

#[derive(Default)]
struct State {
    backends: Vec<Backend>,
    next_key: u64,
    next_session: u64,
    /// Posición de la que parte la siguiente búsqueda por turnos.
    cursor: usize,
}

struct Inner {
    config: BackendsConfig,
    state: Mutex<State>,
}

/// El registro compartido de servidores de fondo. Clonarlo es barato.
#[derive(Clone)]
pub struct Backends {
    inner: Arc<Inner>,
}

impl Backends {
    /// Un registro con los servidores estáticos `statics` (todos arriba al empezar, como en
    /// HAProxy: la primera comprobación fallida empieza a contar hacia `fall`).
    pub fn new(config: BackendsConfig, statics: &[String]) -> Self {
        let mut state = State::default();
        let now = Instant::now();
        for addr in statics {
            state.next_key += 1;
            state.backends.push(Backend {
                key: state.next_key,
                id: addr.clone(),
                addr: addr.clone(),
                origin: Origin::Static,
                meta: BTreeMap::new(),
                up: true,
                streak: 0,
                last_check: "sin comprobar".to_string(),
                last_heartbeat: now,
                total: 0,
                sessions: HashMap::new(),
            });
        }
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
            }),
        }
    }

    /// Tiempo sin latido tras el que caduca un registro.
    pub fn ttl(&self) -> Duration {
        self.inner.config.ttl
    }

    /// Bloquea el estado tras quitar los registros caducados. Así la caducidad es exacta sin
    /// depender de un temporizador: quien mira el registro nunca ve uno caducado.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = lock(&self.inner.state);
        let ttl = self.inner.config.ttl;
        let now = Instant::now();
        state.backends.retain(|b| {
            let expired = b.origin == Origin::Registered
                && now.saturating_duration_since(b.last_heartbeat) > ttl;
            if expired {
                log::warn!(
                    "{} ({}) caducó: sin latido en {} ms; se retira",
                    b.id,
                    b.addr,
                    ttl.as_millis()
                );
            }
            !expired
        });
        state
    }

    /// Alta o renovación de un servidor registrado. Si el `id` ya estaba registrado se
    /// actualizan su dirección y metadatos y cuenta como latido; su salud se conserva salvo
    /// que cambie la dirección (entonces es otro servidor y empieza arriba).
    ///
    /// # Errores
    /// [`RegisterError`] si el `id` choca con un estático, no es válido, la dirección está
    /// mal formada o no caben más.
    pub fn register(
        &self,
        id: &str,
        addr: &str,
        meta: BTreeMap<String, String>,
    ) -> Result<(), RegisterError> {
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
            return Err(RegisterError::BadId { max: MAX_ID_CHARS });
        }
        validate_addr(addr).map_err(RegisterError::BadAddr)?;
        let mut state = self.state();
        let now = Instant::now();
        if let Some(b) = state.backends.iter_mut().find(|b| b.id == id) {
            if b.origin == Origin::Static {
                return Err(RegisterError::StaticId { id: id.to_string() });
            }
            if b.addr != addr {
                log::info!("{id} cambia de dirección: {} -> {addr}", b.addr);
                b.addr = addr.to_string();
                b.up = true;
                b.streak = 0;
                b.last_check = "sin comprobar".to_string();
            }
            b.meta = meta;
            b.last_heartbeat = now;
            return Ok(());
        }
        if state.backends.len() >= self.inner.config.max_backends {
            return Err(RegisterError::Full {
                max: self.inner.config.max_backends,
            });
        }
        state.next_key += 1;
        let key = state.next_key;
        state.backends.push(Backend {
            key,
            id: id.to_string(),
            addr: addr.to_string(),
            origin: Origin::Registered,
            meta,
            up: true,
            streak: 0,
            last_check: "sin comprobar".to_string(),
            last_heartbeat: now,
            total: 0,
            sessions: HashMap::new(),
        });
        log::info!("{id} registrado en {addr}");
        Ok(())
    }

    /// Renueva el registro de `id`. Devuelve `false` si no se conoce (hay que registrarse).
    pub fn heartbeat(&self, id: &str) -> bool {
        let mut state = self.state();
        match state
            .backends
            .iter_mut()
            .find(|b| b.id == id && b.origin == Origin::Registered)
        {
            Some(b) => {
                b.last_heartbeat = Instant::now();
                true
            }
            None => false,
        }
    }

    /// Baja de un servidor registrado. Sus clientes en curso siguen hasta que terminen.
    /// Devuelve `false` si no se conocía.
    pub fn deregister(&self, id: &str) -> bool {
        let mut state = self.state();
        let before = state.backends.len();
        state
            .backends
            .retain(|b| !(b.id == id && b.origin == Origin::Registered));
        let removed = state.backends.len() != before;
        if removed {
            log::info!("{id} se dio de baja");
        }
        removed
    }

    /// La tabla de estado, en el orden de reparto.
    pub fn status(&self) -> Vec<BackendStatus> {
        self.state().backends.iter().map(Backend::status).collect()
    }

    /// La lista de miembros.
    pub fn members(&self) -> Vec<BackendInfo> {
        self.state()
            .backends
            .iter()
            .map(|b| BackendInfo {
                id: b.id.clone(),
                addr: b.addr.clone(),
                meta: b.meta.clone(),
                up: b.up,
            })
            .collect()
    }

    /// Todos los servidores, para comprobar su salud.
    pub fn targets(&self) -> Vec<Target> {
        self.state()
            .backends
            .iter()
            .map(|b| Target {
                key: b.key,
                id: b.id.clone(),
                addr: b.addr.clone(),
            })
            .collect()
    }

    /// Elige un servidor arriba para un cliente nuevo, sin repetir los de `tried` (claves de
    /// los que ya fallaron con este cliente). `None` si no queda ninguno.
    ///
    /// La elección ya cuenta al cliente como activo en ese servidor (con `least-connections`
    /// dos clientes simultáneos no eligen el mismo por no verse), y el [`Lease`] devuelto lo
    /// descuenta al soltarse.
    pub fn pick(&self, tried: &[u64]) -> Option<(Target, Lease)> {
        let mut state = self.state();
        let n = state.backends.len();
        if n == 0 {
            return None;
        }
        let start = state.cursor % n;
        let candidates = (0..n).map(|i| (start + i) % n).filter(|&i| {
            state
                .backends
                .get(i)
                .is_some_and(|b| b.up && !tried.contains(&b.key))
        });
        let chosen = match self.inner.config.strategy {
            Strategy::RoundRobin => candidates.into_iter().next(),
            // `min_by_key` se queda con el primero de los empatados: el que toca por turno.
            Strategy::LeastConnections => candidates.min_by_key(|&i| {
                state
                    .backends
                    .get(i)
                    .map_or(usize::MAX, |b| b.sessions.len())
            }),
        }?;
        state.cursor = chosen + 1;
        state.next_session += 1;
        let session = state.next_session;
        let b = state.backends.get_mut(chosen)?;
        // Reservamos el hueco ya; el socket real se guarda en `Lease::attach`.
        b.sessions.insert(session, Vec::new());
        let target = Target {
            key: b.key,
            id: b.id.clone(),
            addr: b.addr.clone(),
        };
        Some((
            target.clone(),
            Lease {
                backends: self.clone(),
                key: target.key,
                session,
            },
        ))
    }

    /// Apunta el resultado de una comprobación (o de una conexión de cliente) y aplica
    /// `fall`/`rise`. Al pasar a caído se cortan sus clientes en curso: un servidor que no
    /// responde a las comprobaciones no va a terminar sus respuestas.
    pub fn record(&self, key: u64, ok: bool, detail: String) {
        let (fall, rise) = (self.inner.config.fall.max(1), self.inner.config.rise.max(1));
        let mut to_cut = Vec::new();
        {
            let mut state = self.state();
            let Some(b) = state.backends.iter_mut().find(|b| b.key == key) else {
                return;
            };
            b.last_check = detail;
            if b.up == ok {
                // Sigue como estaba: se reinicia la racha contraria.
                b.streak = 0;
            } else {
                b.streak += 1;
                let limit = if b.up { fall } else { rise };
                if b.streak >= limit {
                    b.up = !b.up;
                    b.streak = 0;
                    if b.up {
                        log::info!("{} ({}) vuelve a estar arriba", b.id, b.addr);
                    } else {
                        log::warn!(
                            "{} ({}) caído tras {}: {}; {}",
                            b.id,
                            b.addr,
                            plural(fall, "fallo", "fallos"),
                            b.last_check,
                            plural(b.sessions.len(), "cliente cortado", "clientes cortados")
                        );
                        to_cut = b
                            .sessions
                            .values()
                            .flatten()
                            .filter_map(|s| s.try_clone().ok())
                            .collect();
                    }
                }
            }
        }
        for s in to_cut {
            let _ = s.shutdown(NetShutdown::Both);
        }
    }

    fn attach(&self, key: u64, session: u64, streams: Vec<TcpStream>) {
        let mut state = lock(&self.inner.state);
        if let Some(b) = state.backends.iter_mut().find(|b| b.key == key) {
            if let Some(slot) = b.sessions.get_mut(&session) {
                *slot = streams;
                b.total += 1;
            }
        }
    }

    fn release(&self, key: u64, session: u64) {
        let mut state = lock(&self.inner.state);
        if let Some(b) = state.backends.iter_mut().find(|b| b.key == key) {
            b.sessions.remove(&session);
        }
    }
}

/// Un cliente contado como activo en un servidor. Al soltarlo deja de contar.
pub struct Lease {
    backends: Backends,
    key: u64,
    session: u64,
}

impl Lease {
    /// Guarda clones de los sockets del cliente y del servidor ya conectados (para poder
    /// cortarlos si el servidor cae) y cuenta la conexión en el total.
    pub fn attach(&self, client: &TcpStream, server: &TcpStream) {
        let streams = [client, server]
            .iter()
            .filter_map(|s| s.try_clone().ok())
            .collect();
        self.backends.attach(self.key, self.session, streams);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.backends.release(self.key, self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(strategy: Strategy, statics: &[&str]) -> Backends {
        let statics: Vec<String> = statics.iter().map(|s| s.to_string()).collect();
        Backends::new(
            BackendsConfig {
                strategy,
                ttl: Duration::from_secs(60),
                fall: 2,
                rise: 2,
                max_backends: 4,
            },
            &statics,
        )
    }

    fn pick_id(b: &Backends) -> Option<String> {
        b.pick(&[]).map(|(t, _lease)| t.id)
    }

    #[test]
    fn round_robin_skips_backends_that_are_down() {
        let b = registry(Strategy::RoundRobin, &["h:1", "h:2", "h:3"]);
        let key2 = b.targets()[1].key;
        b.record(key2, false, "fallo".into());
        // Un fallo no basta con fall = 2.
        assert_eq!(b.status()[1].state, BackendState::Up);
        b.record(key2, false, "fallo".into());
        assert_eq!(b.status()[1].state, BackendState::Down);
        let picks: Vec<String> = (0..4).filter_map(|_| pick_id(&b)).collect();
        assert_eq!(picks, ["h:1", "h:3", "h:1", "h:3"]);
        // Vuelve tras dos aciertos seguidos; un fallo en medio reinicia la cuenta.
        b.record(key2, true, "ok".into());
        b.record(key2, false, "fallo".into());
        b.record(key2, true, "ok".into());
        assert_eq!(b.status()[1].state, BackendState::Down);
        b.record(key2, true, "ok".into());
        assert_eq!(b.status()[1].state, BackendState::Up);
        assert_eq!(b.status()[1].last_check, "ok");
    }

    #[test]
    fn least_connections_counts_leases_until_dropped() {
        let b = registry(Strategy::LeastConnections, &["h:1", "h:2"]);
        let (t1, l1) = b.pick(&[]).unwrap();
        let (t2, _l2) = b.pick(&[]).unwrap();
        let (t3, _l3) = b.pick(&[]).unwrap();
        assert_eq!(
            (t1.id.as_str(), t2.id.as_str(), t3.id.as_str()),
            ("h:1", "h:2", "h:1")
        );
        drop(l1);
        // h:1 y h:2 tienen una cada uno: empate, por turnos le toca a h:2.
        assert_eq!(b.status()[0].active, 1);
        let (t4, _l4) = b.pick(&[]).unwrap();
        assert_eq!(t4.id, "h:2");
        let (t5, _l5) = b.pick(&[]).unwrap();
        assert_eq!(t5.id, "h:1");
    }

    #[test]
    fn pick_avoids_already_tried_backends_and_gives_up_when_none_left() {
        let b = registry(Strategy::RoundRobin, &["h:1", "h:2"]);
        let keys: Vec<u64> = b.targets().iter().map(|t| t.key).collect();
        let (t, _l) = b.pick(&keys[..1]).unwrap();
        assert_eq!(t.key, keys[1]);
        assert!(b.pick(&keys).is_none());
        assert!(registry(Strategy::RoundRobin, &[]).pick(&[]).is_none());
    }

    #[test]
    fn registration_rules() {
        let b = registry(Strategy::RoundRobin, &["h:1"]);
        assert_eq!(
            b.register("h:1", "h:9", BTreeMap::new()),
            Err(RegisterError::StaticId { id: "h:1".into() })
        );
        assert!(matches!(
            b.register("n", "sin-puerto", BTreeMap::new()),
            Err(RegisterError::BadAddr(_))
        ));
        assert_eq!(
            b.register("", "h:2", BTreeMap::new()),
            Err(RegisterError::BadId { max: MAX_ID_CHARS })
        );
        for id in ["a", "b", "c"] {
            b.register(id, "h:2", BTreeMap::new()).unwrap();
        }
        assert_eq!(
            b.register("d", "h:2", BTreeMap::new()),
            Err(RegisterError::Full { max: 4 })
        );
        // Renovar uno existente no cuenta como nuevo.
        b.register("a", "h:3", BTreeMap::new()).unwrap();
        assert_eq!(b.status()[1].addr, "h:3");
        assert!(b.heartbeat("a"));
        assert!(!b.heartbeat("h:1"), "un estático no late");
        assert!(b.deregister("a"));
        assert!(!b.deregister("a"));
        assert!(!b.deregister("h:1"), "un estático no se da de baja");
    }

    #[test]
    fn registered_backends_expire_without_heartbeat() {
        let b = Backends::new(
            BackendsConfig {
                strategy: Strategy::RoundRobin,
                ttl: Duration::from_millis(20),
                fall: 1,
                rise: 1,
                max_backends: 4,
            },
            &["h:1".to_string()],
        );
        b.register("n", "h:2", BTreeMap::new()).unwrap();
        assert_eq!(b.members().len(), 2);
        std::thread::sleep(Duration::from_millis(40));
        let ids: Vec<String> = b.members().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["h:1"], "el estático no caduca");
        assert!(!b.heartbeat("n"));
    }
}
