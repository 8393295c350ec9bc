//! El protocolo de control del balanceador (JSON lines) y un cliente de registro.
//!
//! Por el puerto de control (8019 por omisión) viajan mensajes JSON, uno por línea, con un
//! campo `type` que dice qué son: los servidores de fondo se registran (`register`), dan
//! señales de vida (`heartbeat`) y se despiden (`deregister`); cualquiera puede pedir el
//! estado (`status`) o la lista de miembros (`members`). Una línea de texto `STATUS` (para
//! teclear en telnet) devuelve la misma tabla que imprime `cliente status`.
//!
//! Aquí están los tipos de esos mensajes (sin sockets), las funciones de consulta
//! ([`status`], [`members`]) y [`Registrar`], el hilo que mantiene a un nodo registrado:
//! se registra, late cada cierto tiempo, se vuelve a registrar si el balanceador lo olvidó
//! o se reinició, y se da de baja al parar. Cada línea leída está acotada: las peticiones
//! por [`MAX_CONTROL_LINE`] y las respuestas por [`MAX_CONTROL_REPLY`].

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::cli::connect_with_timeout;
use common::jsonl::{encode_json_line, read_json_line, JsonLineError};
use common::line::LineError;
use common::net::describe_io_error;
use common::Shutdown;
use serde::{Deserialize, Serialize};

/// Longitud máxima de una línea del protocolo de control: 64 KiB. Un registro con sus
/// metadatos cabe de sobra, y un cliente hostil no puede hacernos reservar más.
pub const MAX_CONTROL_LINE: usize = 64 * 1024;

/// Longitud máxima de una respuesta que leen [`status`], [`members`] y [`Registrar`]: 32 MiB.
/// Las peticiones están acotadas a [`MAX_CONTROL_LINE`], pero una respuesta `status` lleva
/// todos los servidores con sus metadatos (hasta `--max-backends` por 64 KiB), así que su
/// límite es mayor; sigue acotado para que un servidor hostil no nos agote la memoria.
pub const MAX_CONTROL_REPLY: usize = 32 * 1024 * 1024;

/// Tiempo máximo de cada petición del [`Registrar`] (conectar, enviar, recibir respuesta).
pub const REGISTRAR_TIMEOUT: Duration = Duration::from_secs(3);

/// Una petición al puerto de control.
///
/// En el cable es un objeto JSON en una línea con el campo `type`, por ejemplo
/// `{"type":"heartbeat","id":"n1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlRequest {
    /// Alta (o nueva alta) de un servidor de fondo con su dirección para clientes.
    Register {
        /// Identificador único del servidor dentro del balanceador.
        id: String,
        /// Dirección `HOST:PUERTO` a la que el balanceador enviará los clientes.
        addr: String,
        /// Metadatos libres (por ejemplo, el puerto entre nodos del almacén replicado).
        #[serde(default)]
        meta: BTreeMap<String, String>,
    },
    /// Señal de vida: sin ella durante `--ttl` el registro caduca.
    Heartbeat {
        /// El identificador con el que se registró.
        id: String,
    },
    /// Baja voluntaria (al apagarse el nodo).
    Deregister {
        /// El identificador con el que se registró.
        id: String,
    },
    /// La tabla de estado de todos los servidores de fondo.
    Status,
    /// La lista de miembros (para que los nodos conozcan a sus pares).
    Members,
}

/// La respuesta del balanceador a una [`ControlRequest`], también una línea JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlReply {
    /// Alta aceptada; `ttl_ms` dice cuánto puede pasar sin latido antes de caducar.
    Registered {
        /// El identificador registrado.
        id: String,
        /// Milisegundos sin latido tras los que el registro caduca.
        ttl_ms: u64,
    },
    /// Latido o baja aceptados.
    Ok,
    /// El balanceador no conoce ese identificador (caducó, o el balanceador se reinició):
    /// quien late debe volver a registrarse.
    Unknown {
        /// El identificador desconocido.
        id: String,
    },
    /// El estado de cada servidor de fondo.
    Status {
        /// Una fila por servidor, en el orden en que el balanceador los reparte.
        backends: Vec<BackendStatus>,
    },
    /// Los miembros conocidos.
    Members {
        /// Uno por servidor de fondo.
        members: Vec<BackendInfo>,
    },
    /// La petición no se pudo atender; `message` dice por qué, en español.
    Error {
        /// El motivo.
        message: String,
    },
}

/// ¿Está el servidor de fondo en condiciones de recibir clientes?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendState {
    /// Recibe clientes nuevos.
    Up,
    /// Falló `--fall` comprobaciones seguidas: no recibe clientes hasta `--rise` aciertos.
    Down,
}

impl BackendState {
    /// El nombre en el protocolo (`up` / `down`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Up => "up",
            BackendState::Down => "down",
        }
    }
}

/// Cómo llegó el servidor de fondo al balanceador.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Dado con `--backend` al arrancar; no caduca.
    Static,
    /// Registrado por el puerto de control; caduca sin latidos.
    Registered,
}

impl Origin {
    /// El nombre en el protocolo (`static` / `registered`).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Static => "static",
            Origin::Registered => "registered",
        }
    }
}

/// Una fila de la tabla de estado.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendStatus {
    /// Identificador (para los estáticos, su dirección).
    pub id: String,
    /// Dirección `HOST:PUERTO` a la que se envían los clientes.
    pub addr: String,
    /// Arriba o caído.
    pub state: BackendState,
    /// Estático o registrado.
    pub origin: Origin,
    /// Conexiones de clientes reenviadas ahora mismo.
    pub active: u64,
    /// Conexiones de clientes reenviadas desde que se conoce este servidor.
    pub total: u64,
    /// Resultado de la última comprobación de salud (o de la última conexión fallida).
    pub last_check: String,
    /// Metadatos del registro.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

/// Un miembro del grupo, tal como lo ven los nodos que buscan a sus pares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// Identificador.
    pub id: String,
    /// Dirección para clientes.
    pub addr: String,
    /// Metadatos del registro.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// ¿Está arriba según las comprobaciones de salud?
    pub up: bool,
}

/// Lo que puede fallar al hablar con el puerto de control.
#[derive(Debug, thiserror::Error)]
pub enum RegistroError {
    /// No se pudo conectar con el balanceador.
    #[error("no se pudo conectar al puerto de control {addr}: {reason}. ¿Está el balanceador en marcha? Pruebe `cargo run -p problema9 --bin servidor` (la demostración: balanceador y tres nodos) o `cargo run -p problema9 --bin servidor -- balanceador`")]
    Connect {
        /// La dirección de control.
        addr: String,
        /// El motivo, en español.
        reason: String,
    },
    /// Falló el envío o la lectura de la respuesta.
    #[error(
        "error hablando con el balanceador en {addr}: {}",
        describe_line_error(.source)
    )]
    Io {
        /// La dirección de control.
        addr: String,
        /// El error de E/S o de JSON.
        #[source]
        source: JsonLineError,
    },
    /// El balanceador cerró la conexión sin responder.
    #[error("el balanceador en {addr} cerró la conexión sin responder")]
    Closed {
        /// La dirección de control.
        addr: String,
    },
    /// El balanceador respondió con un error.
    #[error("el balanceador rechazó la petición: {message}")]
    Rejected {
        /// Su mensaje.
        message: String,
    },
    /// Una respuesta de otro tipo del esperado.
    #[error(
        "respuesta inesperada del balanceador: {}",
        serde_json::to_string(.reply).unwrap_or_default()
    )]
    Unexpected {
        /// Lo que llegó.
        reply: Box<ControlReply>,
    },
}

/// El motivo de un fallo de la línea de control, en español: el `Display` de un error de
/// E/S trae el texto del sistema en inglés («Connection reset by peer (os error 104)»).
fn describe_line_error(e: &JsonLineError) -> String {
    match e {
        JsonLineError::Line(LineError::Io(io)) | JsonLineError::Io(io) => describe_io_error(io),
        other => other.to_string(),
    }
}

/// Una conexión abierta con el puerto de control, para varias peticiones seguidas.
struct ControlConn {
    addr: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl ControlConn {
    fn open(addr: &str, timeout: Duration) -> Result<Self, RegistroError> {
        let stream = connect_with_timeout(addr, timeout).map_err(|e| RegistroError::Connect {
            addr: addr.to_string(),
            reason: describe_io_error(&e),
        })?;
        let _ = stream.set_nodelay(true);
        let writer = stream.try_clone().map_err(|e| RegistroError::Io {
            addr: addr.to_string(),
            source: JsonLineError::Io(e),
        })?;
        Ok(Self {
            addr: addr.to_string(),
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn request(&mut self, req: &ControlRequest) -> Result<ControlReply, RegistroError> {
        let io_err = |addr: &str, source: JsonLineError| RegistroError::Io {
            addr: addr.to_string(),
            source,
        };
        let bytes = encode_json_line(req).map_err(|e| io_err(&self.addr, e.into()))?;
        self.writer
            .write_all(&bytes)
            .map_err(|e| io_err(&self.addr, e.into()))?;
        match read_json_line::<ControlReply>(&mut self.reader, MAX_CONTROL_REPLY) {
            Ok(Some(ControlReply::Error { message })) => Err(RegistroError::Rejected { message }),
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(RegistroError::Closed {
                addr: self.addr.clone(),
            }),
            Err(e) => Err(io_err(&self.addr, e)),
        }
    }
}

/// Envía una sola petición por una conexión nueva y devuelve la respuesta.
///
/// # Errores
/// [`RegistroError`] si no se puede conectar, si la conexión falla, o si el balanceador
/// responde con un error.
pub fn request(
    control_addr: &str,
    req: &ControlRequest,
    timeout: Duration,
) -> Result<ControlReply, RegistroError> {
    ControlConn::open(control_addr, timeout)?.request(req)
}

/// Pide la tabla de estado al balanceador.
///
/// # Errores
/// Los de [`request`], y [`RegistroError::Unexpected`] si la respuesta no es un estado.
pub fn status(control_addr: &str, timeout: Duration) -> Result<Vec<BackendStatus>, RegistroError> {
    match request(control_addr, &ControlRequest::Status, timeout)? {
        ControlReply::Status { backends } => Ok(backends),
        other => Err(RegistroError::Unexpected {
            reply: Box::new(other),
        }),
    }
}

/// Pide la lista de miembros al balanceador (así descubren los nodos a sus pares).
///
/// # Errores
/// Los de [`request`], y [`RegistroError::Unexpected`] si la respuesta no es una lista.
pub fn members(control_addr: &str, timeout: Duration) -> Result<Vec<BackendInfo>, RegistroError> {
    match request(control_addr, &ControlRequest::Members, timeout)? {
        ControlReply::Members { members } => Ok(members),
        other => Err(RegistroError::Unexpected {
            reply: Box::new(other),
        }),
    }
}

/// Da formato de tabla de texto al estado, con columnas alineadas y una fila por servidor.
///
/// ```
/// use problema9::registro::format_status_table;
/// assert_eq!(format_status_table(&[]), "no hay servidores de fondo\n");
/// ```
pub fn format_status_table(backends: &[BackendStatus]) -> String {
    if backends.is_empty() {
        return "no hay servidores de fondo\n".to_string();
    }
    let header = [
        "ID",
        "DIRECCIÓN",
        "ESTADO",
        "ORIGEN",
        "ACTIVAS",
        "TOTAL",
        "ÚLTIMA COMPROBACIÓN",
    ];
    let rows: Vec<[String; 7]> = backends
        .iter()
        .map(|b| {
            [
                b.id.clone(),
                b.addr.clone(),
                b.state.as_str().to_string(),
                b.origin.as_str().to_string(),
                b.active.to_string(),
                b.total.to_string(),
                b.last_check.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[&str]| {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter()).enumerate() {
            line.push_str(cell);
            if i + 1 < cells.len() {
                let pad = w.saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat(' ').take(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        push_row(&cells);
    }
    out
}

/// Mantiene registrado a un servidor de fondo desde un hilo propio.
///
/// El hilo se registra, envía un latido cada `heartbeat_every`, y se vuelve a registrar si
/// el balanceador responde que no lo conoce (caducó, o el balanceador se reinició) o si la
/// conexión se cae. Al llamar a [`Registrar::stop`], al soltarlo o al dispararse el
/// `shutdown` que recibió, envía la baja (`deregister`) y termina. Los fallos no son
/// fatales: se registran en el log y se reintenta en el siguiente latido.
#[derive(Debug)]
pub struct Registrar {
    stop: Shutdown,
    registered: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Registrar {
    /// Arranca el hilo de registro de `id` (con dirección para clientes `addr`) frente al
    /// puerto de control `control_addr`.
    ///
    /// Conviene que `heartbeat_every` sea un tercio del `--ttl` del balanceador o menos, para
    /// que un latido perdido no haga caducar el registro.
    pub fn start(
        control_addr: String,
        id: String,
        addr: String,
        meta: BTreeMap<String, String>,
        heartbeat_every: Duration,
        shutdown: Shutdown,
    ) -> Registrar {
        let stop = Shutdown::new();
        let stop_on_shutdown = stop.clone();
        shutdown.on_trigger(move || stop_on_shutdown.trigger());
        let registered = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            control_addr,
            id,
            addr,
            meta,
            every: heartbeat_every.max(Duration::from_millis(10)),
            stop: stop.clone(),
            registered: Arc::clone(&registered),
        };
        let name = format!("registro-{}", worker.id);
        let handle = match thread::Builder::new()
            .name(name)
            .spawn(move || worker.run())
        {
            Ok(h) => Some(h),
            Err(e) => {
                log::error!("no se pudo crear el hilo de registro: {e}");
                None
            }
        };
        Registrar {
            stop,
            registered,
            handle,
        }
    }

    /// ¿Aceptó el balanceador el último registro o latido?
    pub fn is_registered(&self) -> bool {
        self.registered.load(Ordering::SeqCst)
    }

    /// Envía la baja y espera a que el hilo termine.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.trigger();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// El estado del hilo de registro.
struct Worker {
    control_addr: String,
    id: String,
    addr: String,
    meta: BTreeMap<String, String>,
    every: Duration,
    stop: Shutdown,
    registered: Arc<AtomicBool>,
}

impl Worker {
    fn run(self) {
        let timeout = REGISTRAR_TIMEOUT.min(self.every.max(Duration::from_millis(200)) * 2);
        let mut conn: Option<ControlConn> = None;
        // Para no repetir el mismo aviso en cada latido mientras dura una caída.
        let mut warned = false;
        while !self.stop.is_triggered() {
            let reused = conn.is_some();
            let mut result = self.beat(&mut conn, timeout);
            if result.is_err() && reused {
                // La conexión guardada pudo cerrarse por inactividad o por un reinicio del
                // balanceador: se prueba una vez más con una conexión nueva antes de avisar.
                conn = None;
                result = self.beat(&mut conn, timeout);
            }
            match result {
                Ok(()) => warned = false,
                Err(e) => {
                    conn = None;
                    self.registered.store(false, Ordering::SeqCst);
                    if !warned {
                        log::warn!("registro de {}: {e}; se reintentará", self.id);
                        warned = true;
                    }
                }
            }
            self.stop.wait_timeout(self.every);
        }
        // Baja de cortesía; si el balanceador no está, el registro caducará solo.
        let deregister = ControlRequest::Deregister {
            id: self.id.clone(),
        };
        let result = match conn.as_mut() {
            Some(c) => c.request(&deregister),
            None => request(&self.control_addr, &deregister, timeout),
        };
        match result {
            Ok(_) => log::info!("{} dado de baja en {}", self.id, self.control_addr),
            Err(e) => log::debug!("baja de {} no enviada: {e}", self.id),
        }
        self.registered.store(false, Ordering::SeqCst);
    }

    /// Un paso: registrarse si hace falta, o latir (y volver a registrarse si nos olvidó).
    fn beat(&self, conn: &mut Option<ControlConn>, timeout: Duration) -> Result<(), RegistroError> {
        let c = match conn {
            Some(c) => c,
            None => {
                self.registered.store(false, Ordering::SeqCst);
                conn.insert(ControlConn::open(&self.control_addr, timeout)?)
            }
        };
        if self.registered.load(Ordering::SeqCst) {
            let reply = c.request(&ControlRequest::Heartbeat {
                id: self.id.clone(),
            })?;
            match reply {
                ControlReply::Ok => return Ok(()),
                ControlReply::Unknown { .. } => {
                    log::info!(
                        "el balanceador {} olvidó a {}: nuevo registro",
                        self.control_addr,
                        self.id
                    );
                    self.registered.store(false, Ordering::SeqCst);
                }
                other => {
                    return Err(RegistroError::Unexpected {
                        reply: Box::new(other),
                    })
                }
            }
        }
        let reply = c.request(&ControlRequest::Register {
            id: self.id.clone(),
            addr: self.addr.clone(),
            meta: self.meta.clone(),
        })?;
        match reply {
            ControlReply::Registered { ttl_ms, .. } => {
                self.registered.store(true, Ordering::SeqCst);
                log::info!(
                    "{} registrado en {} como {} (caduca tras {ttl_ms} ms sin latido)",
                    self.id,
                    self.control_addr,
                    self.addr
                );
                if Duration::from_millis(ttl_ms) < self.every * 2 {
                    log::warn!(
                        "el latido de {} (cada {} ms) es lento para un ttl de {ttl_ms} ms",
                        self.id,
                        self.every.as_millis()
                    );
                }
                Ok(())
            }
            other => Err(RegistroError::Unexpected {
                reply: Box::new(other),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_wire_form() {
        let mut meta = BTreeMap::new();
        meta.insert("peer".to_string(), "127.0.0.1:9100".to_string());
        let reg = ControlRequest::Register {
            id: "n1".into(),
            addr: "127.0.0.1:9001".into(),
            meta,
        };
        assert_eq!(
            serde_json::to_string(&reg).unwrap(),
            r#"{"type":"register","id":"n1","addr":"127.0.0.1:9001","meta":{"peer":"127.0.0.1:9100"}}"#
        );
        assert_eq!(
            serde_json::to_string(&ControlRequest::Status).unwrap(),
            r#"{"type":"status"}"#
        );
        assert_eq!(
            serde_json::to_string(&ControlReply::Ok).unwrap(),
            r#"{"type":"ok"}"#
        );
    }

    #[test]
    fn register_without_meta_is_accepted() {
        let req: ControlRequest =
            serde_json::from_str(r#"{"type":"register","id":"a","addr":"h:1"}"#).unwrap();
        assert_eq!(
            req,
            ControlRequest::Register {
                id: "a".into(),
                addr: "h:1".into(),
                meta: BTreeMap::new()
            }
        );
    }

    #[test]
    fn round_trip_of_every_reply() {
        let replies = vec![
            ControlReply::Registered {
                id: "a".into(),
                ttl_ms: 10,
            },
            ControlReply::Ok,
            ControlReply::Unknown { id: "a".into() },
            ControlReply::Status {
                backends: vec![BackendStatus {
                    id: "a".into(),
                    addr: "h:1".into(),
                    state: BackendState::Down,
                    origin: Origin::Registered,
                    active: 1,
                    total: 2,
                    last_check: "conexión rechazada".into(),
                    meta: BTreeMap::new(),
                }],
            },
            ControlReply::Members {
                members: vec![BackendInfo {
                    id: "a".into(),
                    addr: "h:1".into(),
                    meta: BTreeMap::new(),
                    up: true,
                }],
            },
            ControlReply::Error {
                message: "no".into(),
            },
        ];
        for r in replies {
            let line = encode_json_line(&r).unwrap();
            let back: ControlReply = read_json_line(&mut &line[..], MAX_CONTROL_LINE)
                .unwrap()
                .unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn table_aligns_columns_with_accented_headers() {
        let row = |id: &str, state| BackendStatus {
            id: id.into(),
            addr: "127.0.0.1:9001".into(),
            state,
            origin: Origin::Static,
            active: 3,
            total: 12,
            last_check: "ok".into(),
            meta: BTreeMap::new(),
        };
        let table = format_status_table(&[
            row("n1", BackendState::Up),
            row("nodo-2", BackendState::Down),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("ID      DIRECCIÓN       ESTADO"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("n1      127.0.0.1:9001  up      static"),
            "{table}"
        );
        assert!(
            lines[2].starts_with("nodo-2  127.0.0.1:9001  down    static"),
            "{table}"
        );
        assert!(lines[2].ends_with("ok"));
    }
}
