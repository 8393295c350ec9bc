//! El protocolo entre nodos (JSON lines sobre TCP) y las conexiones salientes a cada par.
//!
//! Cada nodo escucha a sus pares en `--peer-port`. Una conexión entre pares lleva peticiones
//! numeradas (`id`) y respuestas con el mismo `id`, una por línea; el que pregunta puede tener
//! muchas en vuelo por la misma conexión (un hilo lector reparte las respuestas a quien
//! espera cada `id`), así que cincuenta clientes escribiendo a la vez no necesitan cincuenta
//! conexiones por par. Las lecturas, que preguntan a un solo par, van además por conexiones
//! propias de cada hilo de cliente ([`DirectLinks`]).
//!
//! Peticiones (`op`): `write` (que el par aplique esta versión si es más nueva), `read` (la
//! versión que tiene el par de esta clave), `digest` (el resumen de todo su contenido y de cada
//! uno de sus 256 cubos) y `pull` (una página de entradas a partir de una clave, quizá solo de
//! un cubo, para ponerse al día). Las claves y valores son bytes arbitrarios: en JSON viajan
//! como cadenas en las que cada carácter es un byte (U+0000..U+00FF, "Latin-1"), de modo que
//! el texto ASCII se lee tal cual en la línea.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Write};
use std::net::{Shutdown as NetShutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::cli::connect_with_timeout;
use common::jsonl::{encode_json_line, read_json_line};
use common::lock;
use common::sync::wait_timeout;
use serde::{Deserialize, Serialize};

use super::almacen::{Entry, Version};

/// Cuánto esperamos a conectar con un par.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Tras un fallo de conexión, cuánto tiempo damos el par por caído sin volver a intentarlo
/// (así una escritura no paga un intento de conexión fallido cada vez).
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);

/// Bytes como cadena JSON de caracteres U+0000..U+00FF.
pub mod latin1 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Serializa los bytes.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_string(bytes))
    }

    /// Deserializa los bytes; falla si hay un carácter por encima de U+00FF.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        from_str(&s).ok_or_else(|| D::Error::custom("carácter fuera de U+0000..U+00FF"))
    }

    /// Los bytes como cadena.
    pub fn to_string(bytes: &[u8]) -> String {
        bytes.iter().map(|&b| char::from(b)).collect()
    }

    /// La cadena como bytes, si todos sus caracteres caben en un byte.
    pub fn from_str(s: &str) -> Option<Vec<u8>> {
        s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
    }
}

/// Como [`latin1`], para un `Option` (nulo en JSON).
pub mod latin1_opt {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Serializa el valor o `null`.
    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => super::latin1::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializa el valor o `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<std::borrow::Cow<str>>::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => super::latin1::from_str(&s)
                .map(Some)
                .ok_or_else(|| D::Error::custom("carácter fuera de U+0000..U+00FF")),
        }
    }
}

/// Una petición de un nodo a otro.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRequest {
    /// Número de la petición, que la respuesta repite.
    pub id: u64,
    /// Qué se pide.
    #[serde(flatten)]
    pub op: Op,
}

/// Las operaciones entre nodos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Que el par guarde (de forma duradera) esta versión de la clave si es más nueva que la
    /// suya.
    Write {
        /// La clave.
        #[serde(with = "latin1")]
        key: Vec<u8>,
        /// El valor, o `null` para un `DEL`.
        #[serde(with = "latin1_opt")]
        value: Option<Vec<u8>>,
        /// Su versión.
        version: Version,
    },
    /// La entrada que tiene el par de esta clave.
    Read {
        /// La clave.
        #[serde(with = "latin1")]
        key: Vec<u8>,
    },
    /// El resumen del contenido del par.
    Digest,
    /// Entradas del par con clave mayor que `after` (todas si es `null`), como mucho `limit`.
    Pull {
        /// La última clave de la página anterior.
        #[serde(with = "latin1_opt")]
        after: Option<Vec<u8>>,
        /// Máximo de entradas.
        limit: usize,
        /// Solo las claves de este cubo del resumen (todas si falta).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<u16>,
    },
}

/// Una respuesta, con el `id` de su petición.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerResponse {
    /// El `id` de la petición.
    pub id: u64,
    /// La respuesta.
    #[serde(flatten)]
    pub reply: Reply,
}

/// Una entrada tal como viaja entre nodos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    /// La clave.
    #[serde(with = "latin1")]
    pub key: Vec<u8>,
    /// El valor, o `null` si es una lápida.
    #[serde(with = "latin1_opt")]
    pub value: Option<Vec<u8>>,
    /// Su versión.
    pub version: Version,
}

impl WireEntry {
    /// Separa la clave y la entrada del almacén.
    pub fn into_parts(self) -> (Vec<u8>, Entry) {
        (
            self.key,
            Entry {
                value: self.value,
                version: self.version,
            },
        )
    }
}

/// Las respuestas entre nodos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// La escritura está guardada (o ya la teníamos). `had_value`: había un valor antes.
    Written {
        /// ¿Había un valor vivo antes?
        had_value: bool,
    },
    /// Teníamos una versión mayor de esa clave: la escritura no se cuenta como confirmada.
    Stale {
        /// La versión que tenemos.
        version: Version,
    },
    /// La entrada pedida (`null` en ambos campos si no la tenemos).
    Entry {
        /// El valor (o `null`: no existe o está borrada).
        #[serde(with = "latin1_opt")]
        value: Option<Vec<u8>>,
        /// Su versión (`null` si nunca la vimos).
        version: Option<Version>,
    },
    /// El resumen del contenido.
    Digest {
        /// El resumen (XOR de un hash por entrada).
        digest: u64,
        /// Entradas, lápidas incluidas.
        entries: u64,
        /// Reloj de Lamport.
        clock: u64,
        /// El resumen de cada uno de los 256 cubos de claves.
        #[serde(default)]
        buckets: Vec<u64>,
    },
    /// Una página de entradas.
    Entries {
        /// Las entradas, en orden de clave.
        entries: Vec<WireEntry>,
        /// ¿Quedan más?
        more: bool,
    },
    /// No se pudo atender (por ejemplo, fallo del disco).
    Error {
        /// El motivo.
        message: String,
    },
}

impl Reply {
    /// El nombre de la respuesta tal como viaja (`"reply":"entry"`), para los mensajes de
    /// error: nunca el nombre del tipo de Rust (issue 18).
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Written { .. } => "written",
            Reply::Stale { .. } => "stale",
            Reply::Entry { .. } => "entry",
            Reply::Digest { .. } => "digest",
            Reply::Entries { .. } => "entries",
            Reply::Error { .. } => "error",
        }
    }
}

/// Lo que recibe quien espera respuestas de varios pares: una por par (`None` mientras no
/// llega; `Err` si la conexión falló).
pub type Answers = Vec<Option<Result<Reply, String>>>;

/// El buzón de una operación repartida a varios pares.
#[derive(Debug)]
pub struct Collector {
    answers: Mutex<Answers>,
    cond: Condvar,
}

impl Collector {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(vec![None; n]),
            cond: Condvar::new(),
        })
    }

    fn deliver(&self, index: usize, answer: Result<Reply, String>) {
        let mut answers = lock(&self.answers);
        if let Some(slot) = answers.get_mut(index) {
            if slot.is_none() {
                *slot = Some(answer);
            }
        }
        self.cond.notify_all();
    }

    /// Espera hasta que `done` diga que basta, hasta que respondan todos o hasta `deadline`.
    /// Devuelve una copia de lo recibido.
    pub fn wait(&self, deadline: Instant, done: impl Fn(&Answers) -> bool) -> Answers {
        let mut answers = lock(&self.answers);
        loop {
            if done(&answers) || answers.iter().all(Option::is_some) {
                return answers.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return answers.clone();
            }
            answers = wait_timeout(&self.cond, answers, deadline - now).0;
        }
    }
}

/// Una llamada en vuelo: al soltarla se olvidan sus `id` pendientes (las respuestas tardías
/// se descartan).
pub struct Call {
    /// El buzón de respuestas.
    pub collector: Arc<Collector>,
    registered: Vec<(Arc<Conn>, u64)>,
}

impl Drop for Call {
    fn drop(&mut self) {
        for (conn, id) in &self.registered {
            lock(&conn.pending).remove(id);
        }
    }
}

/// Una conexión viva con un par.
pub struct Conn {
    writer: Mutex<TcpStream>,
    pending: Mutex<HashMap<u64, (Arc<Collector>, usize)>>,
    alive: AtomicBool,
}

impl Conn {
    fn fail_all(&self, why: &str) {
        self.alive.store(false, Ordering::SeqCst);
        let pending: Vec<_> = lock(&self.pending).drain().map(|(_, v)| v).collect();
        for (collector, index) in pending {
            collector.deliver(index, Err(why.to_string()));
        }
    }

    fn close(&self) {
        let _ = lock(&self.writer).shutdown(NetShutdown::Both);
        self.fail_all("conexión cerrada");
    }
}

/// Un par conocido: su dirección y, si la hay, la conexión abierta con él.
pub struct PeerLink {
    /// Cómo lo llamamos (el id del registro o la dirección de `--peer`).
    pub name: String,
    addr: Mutex<String>,
    conn: Mutex<Option<Arc<Conn>>>,
    last_failure: Mutex<Option<Instant>>,
    max_line: usize,
    io_timeout: Duration,
}

impl PeerLink {
    /// La dirección entre pares.
    pub fn addr(&self) -> String {
        lock(&self.addr).clone()
    }

    /// ¿Hay una conexión viva o, al menos, no falló hace poco?
    pub fn looks_reachable(&self) -> bool {
        if lock(&self.conn)
            .as_ref()
            .is_some_and(|c| c.alive.load(Ordering::SeqCst))
        {
            return true;
        }
        !lock(&self.last_failure).is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF)
    }

    /// ¿Podemos hablar con él ahora? Reutiliza la conexión o intenta abrirla (salvo si falló
    /// hace menos de [`RECONNECT_BACKOFF`]).
    pub fn try_connect(&self) -> bool {
        self.connection().is_ok()
    }

    /// ¿Hay ahora mismo una conexión abierta?
    pub fn is_connected(&self) -> bool {
        lock(&self.conn)
            .as_ref()
            .is_some_and(|c| c.alive.load(Ordering::SeqCst))
    }

    fn connection(&self) -> Result<Arc<Conn>, String> {
        let mut slot = lock(&self.conn);
        if let Some(c) = slot.as_ref() {
            if c.alive.load(Ordering::SeqCst) {
                return Ok(Arc::clone(c));
            }
        }
        if lock(&self.last_failure).is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF) {
            return Err("par caído (reintento en breve)".into());
        }
        let addr = self.addr();
        let stream = match connect_with_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                *lock(&self.last_failure) = Some(Instant::now());
                return Err(format!(
                    "no se pudo conectar a {addr}: {}",
                    common::net::describe_io_error(&e)
                ));
            }
        };
        let _ = stream.set_nodelay(true);
        // Sin tiempo de espera de lectura: la conexión se queda abierta esperando respuestas;
        // un par muerto se detecta por el error del socket o por el plazo de cada operación.
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(Some(self.io_timeout));
        let reader = stream.try_clone().map_err(|e| e.to_string())?;
        let conn = Arc::new(Conn {
            writer: Mutex::new(stream),
            pending: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
        });
        let for_reader = Arc::clone(&conn);
        let max_line = self.max_line;
        let name = self.name.clone();
        thread::Builder::new()
            .name(format!("par-{name}"))
            .spawn(move || read_replies(reader, for_reader, max_line, name))
            .map_err(|e| e.to_string())?;
        *lock(&self.last_failure) = None;
        log::info!("conectado al par {} ({addr})", self.name);
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    fn close(&self) {
        if let Some(c) = lock(&self.conn).take() {
            c.close();
        }
    }
}

fn read_replies(stream: TcpStream, conn: Arc<Conn>, max_line: usize, name: String) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let why = loop {
        match read_json_line::<PeerResponse>(&mut reader, max_line) {
            Ok(Some(resp)) => {
                let waiter = lock(&conn.pending).remove(&resp.id);
                if let Some((collector, index)) = waiter {
                    collector.deliver(index, Ok(resp.reply));
                }
            }
            Ok(None) => break "el par cerró la conexión".to_string(),
            Err(e) => break format!("error leyendo del par: {e}"),
        }
    };
    if conn.alive.load(Ordering::SeqCst) {
        log::warn!("par {name}: {why}");
    }
    conn.fail_all(&why);
}

/// Conexiones propias de un hilo de cliente con cada par, para lecturas síncronas.
///
/// Una lectura (`GET`) pregunta a un solo par. Por la conexión compartida, la respuesta
/// despierta primero al hilo lector y este al hilo que espera; por una conexión propia, el
/// hilo escribe la pregunta y lee él mismo la respuesta: un despertar menos por lectura. Cada
/// conexión lleva una pregunta cada vez; si algo falla o tarda, se cierra (una respuesta
/// tardía nunca se confunde con la de la pregunta siguiente) y quien llama usa la conexión
/// compartida. Se cierran al soltar la estructura, cuando el cliente se va.
#[derive(Default)]
pub struct DirectLinks {
    conns: HashMap<String, DirectConn>,
    next_id: u64,
}

struct DirectConn {
    addr: String,
    reader: BufReader<TcpStream>,
}

impl DirectLinks {
    /// Sin conexiones todavía: se abren la primera vez que hacen falta.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pregunta `op` a `link` por la conexión propia y espera la respuesta como mucho
    /// `timeout`.
    ///
    /// # Errores
    /// El motivo en texto si el par parece caído, no se pudo conectar, enviar o leer, o la
    /// respuesta no es la de esta pregunta. La conexión queda cerrada en todos esos casos.
    pub fn ask(
        &mut self,
        link: &PeerLink,
        op: &Op,
        timeout: Duration,
        max_line: usize,
    ) -> Result<Reply, String> {
        let deadline = Instant::now() + timeout;
        let reused = self.conns.contains_key(&link.name);
        let mut result = self.try_ask(link, op, timeout, max_line);
        if result.is_err() {
            self.conns.remove(&link.name);
            // Una conexión guardada puede estar rota sin que lo sepamos (el par renació): se
            // prueba una vez con una nueva.
            if reused {
                let left = deadline.saturating_duration_since(Instant::now());
                result = self.try_ask(link, op, left, max_line);
                if result.is_err() {
                    self.conns.remove(&link.name);
                }
            }
        }
        result
    }

    fn try_ask(
        &mut self,
        link: &PeerLink,
        op: &Op,
        timeout: Duration,
        max_line: usize,
    ) -> Result<Reply, String> {
        if timeout.is_zero() {
            return Err("sin tiempo para preguntar".into());
        }
        let addr = link.addr();
        if self.conns.get(&link.name).map_or(true, |c| c.addr != addr) {
            // Si el par se dio por caído hace poco, no pagamos un intento de conexión.
            if !link.looks_reachable() {
                return Err("par caído (reintento en breve)".into());
            }
            let stream = connect_with_timeout(&addr, CONNECT_TIMEOUT.min(timeout))
                .map_err(|e| common::net::describe_io_error(&e))?;
            let _ = stream.set_nodelay(true);
            self.conns.insert(
                link.name.clone(),
                DirectConn {
                    addr,
                    reader: BufReader::with_capacity(16 * 1024, stream),
                },
            );
        }
        let conn = self
            .conns
            .get_mut(&link.name)
            .ok_or_else(|| "conexión perdida".to_string())?;
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let line =
            encode_json_line(&PeerRequest { id, op: op.clone() }).map_err(|e| e.to_string())?;
        let stream = conn.reader.get_mut();
        stream
            .set_write_timeout(Some(timeout))
            .and_then(|()| stream.set_read_timeout(Some(timeout)))
            .and_then(|()| stream.write_all(&line))
            .map_err(|e| e.to_string())?;
        match read_json_line::<PeerResponse>(&mut conn.reader, max_line) {
            Ok(Some(resp)) if resp.id == id => Ok(resp.reply),
            Ok(Some(_)) => Err("respuesta a otra pregunta".into()),
            Ok(None) => Err("el par cerró la conexión".into()),
            Err(e) => Err(format!("error leyendo del par: {e}")),
        }
    }
}

/// Los pares conocidos de un nodo.
pub struct Peers {
    links: Mutex<BTreeMap<String, Arc<PeerLink>>>,
    next_id: AtomicU64,
    max_line: usize,
    io_timeout: Duration,
}

impl Peers {
    /// Sin pares todavía.
    pub fn new(max_line: usize, io_timeout: Duration) -> Self {
        Self {
            links: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            max_line,
            io_timeout,
        }
    }

    /// Añade un par o actualiza su dirección. Si ya había uno con esa dirección bajo otro
    /// nombre (un `--peer` que luego aparece en el registro), se queda el que había.
    pub fn upsert(&self, name: &str, addr: &str) {
        let mut links = lock(&self.links);
        if let Some(link) = links.get(name) {
            if link.addr() != addr {
                log::info!("par {name}: nueva dirección {addr}");
                *lock(&link.addr) = addr.to_string();
                link.close();
            }
            return;
        }
        if links.values().any(|l| l.addr() == addr) {
            return;
        }
        log::info!("nuevo par {name} en {addr}");
        links.insert(
            name.to_string(),
            Arc::new(PeerLink {
                name: name.to_string(),
                addr: Mutex::new(addr.to_string()),
                conn: Mutex::new(None),
                last_failure: Mutex::new(None),
                max_line: self.max_line,
                io_timeout: self.io_timeout,
            }),
        );
    }

    /// Los pares, en orden de nombre.
    pub fn snapshot(&self) -> Vec<Arc<PeerLink>> {
        lock(&self.links).values().cloned().collect()
    }

    /// Cuántos pares hay.
    pub fn len(&self) -> usize {
        lock(&self.links).len()
    }

    /// ¿No hay pares?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Envía `op` a cada par de `links` sin esperar. Las respuestas llegan al
    /// [`Collector`] de la [`Call`] devuelta, en la posición de cada par; un par al que no se
    /// pudo enviar recibe enseguida un `Err`.
    pub fn send(&self, links: &[Arc<PeerLink>], op: &Op) -> Call {
        let collector = Collector::new(links.len());
        let mut call = Call {
            collector: Arc::clone(&collector),
            registered: Vec::with_capacity(links.len()),
        };
        for (index, link) in links.iter().enumerate() {
            let conn = match link.connection() {
                Ok(c) => c,
                Err(e) => {
                    collector.deliver(index, Err(e));
                    continue;
                }
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let line = match encode_json_line(&PeerRequest { id, op: op.clone() }) {
                Ok(l) => l,
                Err(e) => {
                    collector.deliver(index, Err(e.to_string()));
                    continue;
                }
            };
            // Se apunta antes de escribir: la respuesta podría llegar antes de volver.
            lock(&conn.pending).insert(id, (Arc::clone(&collector), index));
            call.registered.push((Arc::clone(&conn), id));
            let written = {
                let mut w = lock(&conn.writer);
                w.write_all(&line)
            };
            if let Err(e) = written {
                log::warn!("par {}: no se pudo enviar: {e}", link.name);
                conn.close();
            }
        }
        call
    }

    /// Una petición a un solo par, esperando como mucho `timeout`.
    ///
    /// # Errores
    /// El motivo en texto si no se pudo enviar, se perdió la conexión o no hubo respuesta.
    pub fn ask(&self, link: &Arc<PeerLink>, op: &Op, timeout: Duration) -> Result<Reply, String> {
        let call = self.send(std::slice::from_ref(link), op);
        let answers = call.collector.wait(Instant::now() + timeout, |_| false);
        match answers.into_iter().next().flatten() {
            Some(answer) => answer,
            None => Err(format!("el par {} no respondió a tiempo", link.name)),
        }
    }

    /// Cierra todas las conexiones (al apagar).
    pub fn close_all(&self) {
        for link in self.snapshot() {
            link.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_have_the_documented_shape() {
        let req = PeerRequest {
            id: 7,
            op: Op::Write {
                key: b"k\xff".to_vec(),
                value: None,
                version: Version {
                    counter: 3,
                    node: "n1".into(),
                },
            },
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(
            line,
            r#"{"id":7,"op":"write","key":"kÿ","value":null,"version":{"counter":3,"node":"n1"}}"#
        );
        assert_eq!(serde_json::from_str::<PeerRequest>(&line).unwrap(), req);
        let resp = PeerResponse {
            id: 7,
            reply: Reply::Written { had_value: false },
        };
        let line = serde_json::to_string(&resp).unwrap();
        assert_eq!(line, r#"{"id":7,"reply":"written","had_value":false}"#);
        assert_eq!(serde_json::from_str::<PeerResponse>(&line).unwrap(), resp);
        let digest = r#"{"id":1,"op":"digest"}"#;
        assert_eq!(
            serde_json::from_str::<PeerRequest>(digest).unwrap().op,
            Op::Digest
        );
    }

    #[test]
    fn characters_above_one_byte_are_rejected() {
        let bad = r#"{"id":1,"op":"read","key":"€"}"#;
        assert!(serde_json::from_str::<PeerRequest>(bad).is_err());
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(latin1::from_str(&latin1::to_string(&all)), Some(all));
    }
}
