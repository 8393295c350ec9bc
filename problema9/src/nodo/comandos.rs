//! El servidor RESP de un nodo: lee órdenes (RESP2 o en línea), las ejecuta y responde.
//!
//! Cada conexión es un hilo. Las órdenes encadenadas (pipelining) se atienden en orden y sus
//! respuestas salen juntas. Un error de protocolo (un bulk que pasa del límite, una longitud
//! que no es un número) se responde con `-ERR Protocol error: ...` y se cierra la conexión,
//! como hace Redis: tras él no se sabe dónde empieza la orden siguiente.
//!
//! Los mensajes de error que también da Redis (orden desconocida, número de argumentos,
//! sintaxis) se dejan en su inglés original para que las herramientas y quien conozca Redis
//! los reconozcan; los propios del almacén replicado (`NOQUORUM`, `LOADING`) van en español.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Instant;

use common::conn::{linger_close, DeadlineReader, Linger, Within};
use common::lock;
use common::net::{is_disconnect, is_timeout};
use common::Parsed;

use super::pares::DirectLinks;
use super::replicacion::QuorumError;
use super::Node;
use crate::resp::{encode, parse_command, Value};

/// Bytes leídos del socket de una vez.
const READ_CHUNK: usize = 16 * 1024;

/// El cierre tras un error o un `QUIT`: lo que el cliente aún envíe se tira (acotado) para
/// que el núcleo no responda con un RST que borre nuestra última respuesta.
const LINGER: Linger = Linger::DEFAULT;

/// Atiende a un cliente RESP hasta que cierre, se calle demasiado o falle el protocolo.
///
/// Dos plazos (issue 16): entre órdenes, el silencio máximo es `idle_timeout` (se renueva con
/// cada orden entera); una orden empezada debe llegar **entera** antes de
/// [`NodeConfig::command_deadline`](super::NodeConfig::command_deadline) contado desde su
/// primer byte, aunque siga llegando byte a byte (*slowloris*). Si no llega, se responde
/// `-ERR la orden no llegó entera ...` y se cierra.
pub fn serve_client(node: &Node, stream: TcpStream, peer: SocketAddr) {
    log::debug!("nodo {}: cliente {peer} conectado", node.id);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(node.config.idle_timeout));
    let idle = node.config.idle_timeout;
    let command_deadline = node.config.command_deadline();
    let limits = node.config.limits;
    // Lo más que puede ocupar una orden a medias antes de que el analizador la rechace.
    let max_buffer = limits
        .max_command
        .saturating_add(limits.max_line)
        .saturating_add(limits.max_array.saturating_mul(32));
    let mut reader = DeadlineReader::new(&stream);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut direct = DirectLinks::new();
    // Cuándo empezó a llegar la orden a medias que hay en `buf` (`None`: no hay ninguna).
    let mut pending_since: Option<Instant> = None;
    loop {
        // Ejecuta todas las órdenes completas que ya hay en el buffer.
        let mut start = 0;
        let mut close = false;
        loop {
            match parse_command(buf.get(start..).unwrap_or_default(), &limits) {
                Ok(Parsed::Complete { value, consumed }) => {
                    start += consumed;
                    if value.is_empty() {
                        continue;
                    }
                    let (reply, quit) = execute(node, &value, &mut direct);
                    encode(&reply, &mut out);
                    if quit {
                        close = true;
                        break;
                    }
                }
                Ok(Parsed::Incomplete) => break,
                Err(e) => {
                    log::warn!("nodo {}: cliente {peer}: error de protocolo: {e}", node.id);
                    encode(&Value::error(format!("ERR Protocol error: {e}")), &mut out);
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..start);
        // Lo que queda es una orden a medias: si acaba de completarse otra, lo que queda llegó
        // en la última lectura y su plazo empieza ahora; si no, sigue el que tenía.
        pending_since = match (buf.is_empty(), start > 0, pending_since) {
            (true, _, _) => None,
            (false, false, Some(since)) => Some(since),
            (false, _, _) => Some(Instant::now()),
        };
        if !out.is_empty() {
            if let Err(e) = (&stream).write_all(&out) {
                log::debug!(
                    "nodo {}: cliente {peer}: no se pudo responder: {e}",
                    node.id
                );
                return;
            }
            out.clear();
        }
        if close {
            linger_close(&stream, LINGER);
            return;
        }
        if buf.len() > max_buffer {
            // No debería pasar: el analizador rechaza antes. Es la última red de seguridad.
            let _ = (&stream).write_all(b"-ERR Protocol error: orden demasiado grande\r\n");
            linger_close(&stream, LINGER);
            return;
        }
        // Sin orden a medias, se espera como mucho `idle` de silencio; con ella, hasta su plazo.
        reader.set_deadline(pending_since.map(|since| since + command_deadline));
        let quiet = pending_since.is_none().then_some(idle);
        match reader.read_within(&mut chunk, quiet) {
            Ok(Within::Read(0)) => break,
            Ok(Within::Read(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Ok(Within::Quiet) => {
                log::info!("nodo {}: cliente {peer} inactivo: se cierra", node.id);
                return;
            }
            Err(e) if is_timeout(&e) => {
                log::info!(
                    "nodo {}: cliente {peer}: la orden no llegó entera en {} ms: se cierra",
                    node.id,
                    command_deadline.as_millis()
                );
                let reply = format!(
                    "-ERR la orden no llegó entera en {} ms: se cierra la conexión\r\n",
                    command_deadline.as_millis()
                );
                let _ = (&stream).write_all(reply.as_bytes());
                linger_close(&stream, LINGER);
                return;
            }
            Err(e) if is_disconnect(&e) => break,
            Err(e) => {
                log::debug!("nodo {}: cliente {peer}: {e}", node.id);
                break;
            }
        }
    }
    log::debug!("nodo {}: cliente {peer} desconectado", node.id);
}

fn wrong_args(name: &str) -> Value {
    Value::error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

fn quorum_error(e: QuorumError) -> Value {
    match e {
        QuorumError::NoQuorum { .. } => Value::error(format!(
            "NOQUORUM {e}; la operación no se ha confirmado (una escritura pudo o no surtir efecto)"
        )),
        QuorumError::Loading => Value::error(format!("LOADING {e}")),
        QuorumError::Wal(_) => Value::error(format!("ERR {e}")),
    }
}

const LOADING: &str = "LOADING el nodo se está poniendo al día con sus pares";

/// Ejecuta una orden. Devuelve la respuesta y si hay que cerrar la conexión (`QUIT`).
///
/// `direct` son las conexiones propias del hilo con los pares para las lecturas (véase
/// [`DirectLinks`]).
pub fn execute(node: &Node, args: &[Vec<u8>], direct: &mut DirectLinks) -> (Value, bool) {
    let Some((name, rest)) = args.split_first() else {
        return (Value::error("ERR empty command"), false);
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let needs_data = matches!(
        name.as_str(),
        "PING" | "SET" | "GET" | "DEL" | "EXISTS" | "KEYS" | "DBSIZE"
    );
    if needs_data && !node.is_caught_up() {
        return (Value::error(LOADING), false);
    }
    let reply = match (name.as_str(), rest) {
        ("QUIT", _) => return (Value::ok(), true),
        ("PING", []) => Value::Simple("PONG".into()),
        ("PING", [msg]) => Value::bulk(msg.clone()),
        ("ECHO", [msg]) => Value::bulk(msg.clone()),
        ("INFO", [] | [_]) => Value::bulk(info(node, rest.first().map(Vec::as_slice))),
        ("COMMAND", _) => command(rest),
        ("CONFIG", _) => config(rest),
        ("CLIENT", _) => client(rest),
        ("SELECT", [db]) if db.as_slice() == b"0" => Value::ok(),
        ("SELECT", [_]) => Value::error("ERR DB index is out of range"),
        ("HELLO", _) => Value::error("NOPROTO sorry, this protocol version is not supported"),
        ("AUTH", _) => {
            Value::error("ERR AUTH no está soportado: este servidor no tiene contraseña")
        }
        ("SET", [key, value]) => {
            match node.coordinate_write(key, Some(value.clone()), Some(&mut *direct)) {
                Ok(_) => Value::ok(),
                Err(e) => quorum_error(e),
            }
        }
        ("SET", [_, _, ..]) => Value::error("ERR syntax error (opciones de SET no soportadas)"),
        ("GET", [key]) => match node.coordinate_read(key, Some(&mut *direct)) {
            Ok(Some(entry)) => entry.value.map_or(Value::Null, Value::Bulk),
            Ok(None) => Value::Null,
            Err(e) => quorum_error(e),
        },
        ("DEL", [_, ..]) => {
            let mut removed = 0;
            for key in rest {
                match node.coordinate_write(key, None, Some(&mut *direct)) {
                    Ok(true) => removed += 1,
                    Ok(false) => {}
                    Err(e) => return (quorum_error(e), false),
                }
            }
            Value::Integer(removed)
        }
        ("EXISTS", [_, ..]) => {
            let mut found = 0;
            for key in rest {
                match node.coordinate_read(key, Some(&mut *direct)) {
                    Ok(Some(e)) if e.value.is_some() => found += 1,
                    Ok(_) => {}
                    Err(e) => return (quorum_error(e), false),
                }
            }
            Value::Integer(found)
        }
        ("KEYS", [pattern]) => Value::Array(
            lock(&node.store)
                .keys(pattern)
                .into_iter()
                .map(Value::Bulk)
                .collect(),
        ),
        ("DBSIZE", []) => Value::Integer(lock(&node.store).len() as i64),
        (
            "ECHO" | "INFO" | "SELECT" | "SET" | "GET" | "DEL" | "EXISTS" | "KEYS" | "DBSIZE"
            | "PING",
            _,
        ) => wrong_args(&name),
        _ => Value::error(unknown_command(&name, rest)),
    };
    (reply, false)
}

fn unknown_command(name: &str, rest: &[Vec<u8>]) -> String {
    let shown: Vec<String> = rest
        .iter()
        .take(8)
        .map(|a| {
            format!(
                "'{}'",
                String::from_utf8_lossy(a.get(..a.len().min(64)).unwrap_or_default())
            )
        })
        .collect();
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        name.get(..name.len().min(64)).unwrap_or(name),
        shown.join(" ")
    )
}

/// `COMMAND`, `COMMAND DOCS`, `COMMAND COUNT`: `redis-cli` los pide al arrancar para sus
/// pistas; una lista vacía le basta.
fn command(rest: &[Vec<u8>]) -> Value {
    match rest.first().map(|s| s.to_ascii_uppercase()) {
        Some(sub) if sub == b"COUNT" => Value::Integer(COMMANDS.len() as i64),
        _ => Value::Array(Vec::new()),
    }
}

/// Las órdenes que entiende un nodo (para `COMMAND COUNT` y el README).
pub const COMMANDS: &[&str] = &[
    "PING", "ECHO", "SET", "GET", "DEL", "EXISTS", "KEYS", "DBSIZE", "INFO", "COMMAND", "CONFIG",
    "CLIENT", "SELECT", "QUIT",
];

/// `CONFIG GET`: `redis-benchmark` pregunta por `save` y `appendonly` al arrancar.
fn config(rest: &[Vec<u8>]) -> Value {
    match rest {
        [sub, param] if sub.eq_ignore_ascii_case(b"GET") => {
            let name = param.to_ascii_lowercase();
            let value: Option<&[u8]> = match name.as_slice() {
                b"save" => Some(b""),
                b"appendonly" => Some(b"no"),
                b"databases" => Some(b"1"),
                _ => None,
            };
            match value {
                Some(v) => Value::Array(vec![Value::bulk(name.clone()), Value::bulk(v)]),
                None => Value::Array(Vec::new()),
            }
        }
        _ => Value::error("ERR CONFIG: solo se admite CONFIG GET <parámetro>"),
    }
}

/// `CLIENT SETNAME`, `CLIENT SETINFO`...: se aceptan sin más.
fn client(rest: &[Vec<u8>]) -> Value {
    match rest.first().map(|s| s.to_ascii_uppercase()) {
        Some(sub) if sub == b"GETNAME" => Value::Null,
        Some(sub) if sub == b"ID" => Value::Integer(1),
        Some(_) => Value::ok(),
        None => wrong_args("client"),
    }
}

/// El texto de `INFO`: secciones `server`, `replication`, `cluster` y `keyspace`, en el
/// formato `campo:valor` de Redis (lo lee `cliente status`).
pub fn info(node: &Node, section: Option<&[u8]>) -> Vec<u8> {
    let section = section.map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
    let wants = |name: &str| {
        section.as_deref().map_or(true, |s| {
            s == name || s == "all" || s == "everything" || s == "default"
        })
    };
    let (links, cluster, need) = node.quorum_view();
    let (keys, entries, clock, digest) = {
        let s = lock(&node.store);
        (s.len(), s.entries(), s.clock(), s.digest())
    };
    let mut out = String::new();
    if wants("server") {
        out.push_str("# Server\r\n");
        out.push_str("redis_version:7.0.0\r\n");
        out.push_str("p9_node:problema9\r\n");
        out.push_str(&format!("node_id:{}\r\n", node.id));
        out.push_str(&format!("tcp_port:{}\r\n", node.client_addr().port()));
        out.push_str(&format!("peer_addr:{}\r\n", node.peer_addr()));
        out.push_str(&format!("fsync:{}\r\n", node.config.fsync));
        out.push_str("\r\n");
    }
    if wants("replication") {
        out.push_str("# Replication\r\n");
        out.push_str("role:replica-multimaestro\r\n");
        out.push_str(&format!("caught_up:{}\r\n", u8::from(node.is_caught_up())));
        out.push_str(&format!("lamport_clock:{clock}\r\n"));
        out.push_str(&format!("digest:{digest:016x}\r\n"));
        out.push_str(&format!(
            "wal_records_recovered:{}\r\n",
            node.recovery().records
        ));
        out.push_str(&format!(
            "wal_discarded_bytes:{}\r\n",
            node.recovery().discarded_bytes
        ));
        let s = &node.stats;
        out.push_str(&format!(
            "writes_acked:{}\r\n",
            s.writes.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "reads_quorum:{}\r\n",
            s.reads.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "refused:{}\r\n",
            s.refused.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "read_repairs:{}\r\n",
            s.repairs.load(Ordering::Relaxed)
        ));
        out.push_str(&format!("pulled:{}\r\n", s.pulled.load(Ordering::Relaxed)));
        out.push_str("\r\n");
    }
    if wants("cluster") {
        out.push_str("# Cluster\r\n");
        out.push_str(&format!("cluster_size:{cluster}\r\n"));
        out.push_str(&format!("quorum:{need}\r\n"));
        let connected = links.iter().filter(|l| l.is_connected()).count();
        out.push_str(&format!("peers_connected:{connected}\r\n"));
        for (i, l) in links.iter().enumerate() {
            out.push_str(&format!(
                "peer{i}:name={},addr={},state={}\r\n",
                l.name,
                l.addr(),
                if l.is_connected() {
                    "connected"
                } else if l.looks_reachable() {
                    "idle"
                } else {
                    "down"
                }
            ));
        }
        out.push_str("\r\n");
    }
    if wants("keyspace") {
        out.push_str("# Keyspace\r\n");
        out.push_str(&format!("db0:keys={keys},entries={entries}\r\n"));
    }
    out.into_bytes()
}
