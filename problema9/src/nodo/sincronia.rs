//! Ponerse al día y mantenerse al día (antientropía), y conocer a los pares.
//!
//! Al arrancar, un nodo trae todas las entradas de los pares (por páginas de claves, `pull`)
//! hasta haberlo hecho con suficientes como para formar una mayoría con él; solo entonces se
//! marca "al día" y responde `+PONG` (antes, `-LOADING`), que es lo que el balanceador
//! comprueba con `--check ping`. Luego, cada `sync_interval`, compara su resumen (`digest`)
//! con el de cada par y, si difieren, trae las entradas de los cubos de claves que siguen
//! difiriendo de una ronda a la siguiente (véase [`anti_entropy`]): así recupera lo que se
//! perdió durante una partición aunque nadie lo lea.
//!
//! Si hay balanceador (`--balancer`), este hilo mantiene el registro (con la dirección de
//! pares en `meta.peer_addr`) y, si no se dieron pares fijos (`--peer`), relee la lista de
//! miembros para aprender pares nuevos. Un par
//! aprendido no se olvida: el tamaño del clúster, y con él la mayoría, no encoge porque un
//! nodo caiga.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::ayuda::plural;
use common::Shutdown;

use super::Node;
use crate::registro::{self, Registrar};

/// Clave de `meta` en el registro del balanceador con la dirección de pares del nodo.
pub const META_PEER_ADDR: &str = "peer_addr";
/// Pausa entre intentos de ponerse al día.
pub const CATCH_UP_RETRY: Duration = Duration::from_millis(200);

/// El hilo de sincronía de un nodo. Vuelve al dispararse `shutdown`.
pub fn run(node: &Node, shutdown: &Shutdown) {
    let registrar = node.config.balancer.as_ref().map(|control| {
        let mut meta = BTreeMap::new();
        meta.insert(META_PEER_ADDR.to_string(), node.peer_addr().to_string());
        meta.insert("role".to_string(), "nodo".to_string());
        Registrar::start(
            control.clone(),
            node.id.clone(),
            node.client_addr().to_string(),
            meta,
            node.config.heartbeat,
            shutdown.clone(),
        )
    });
    catch_up(node, shutdown);
    let mut pending = Pending::new();
    while !shutdown.wait_timeout(node.config.sync_interval) {
        refresh_members(node);
        anti_entropy(node, shutdown, &mut pending);
    }
    if let Some(r) = registrar {
        r.stop();
    }
}

/// Trae entradas de los pares hasta completar una mayoría con este nodo.
fn catch_up(node: &Node, shutdown: &Shutdown) {
    let mut warned = false;
    while !shutdown.is_triggered() {
        refresh_members(node);
        let (links, cluster, need) = node.quorum_view();
        let mut done = 1;
        for link in &links {
            if done >= need || shutdown.is_triggered() {
                break;
            }
            match node.pull_from(link, None) {
                Ok(n) => {
                    done += 1;
                    node.stats.pulled.fetch_add(n, Ordering::Relaxed);
                    let pulled = plural(n, "entrada traída", "entradas traídas");
                    log::info!("nodo {}: {pulled} de {}", node.id, link.name);
                }
                Err(e) => log::debug!(
                    "nodo {}: no se pudo sincronizar con {}: {e}",
                    node.id,
                    link.name
                ),
            }
        }
        if done >= need {
            node.caught_up.store(true, Ordering::SeqCst);
            log::info!(
                "nodo {}: al día ({done} de {cluster} nodos); atendiendo clientes",
                node.id
            );
            return;
        }
        if !warned {
            log::warn!(
                "nodo {}: esperando a {} para ponerse al día",
                node.id,
                plural(need - done, "par más", "pares más")
            );
            warned = true;
        }
        shutdown.wait_timeout(CATCH_UP_RETRY);
    }
}

/// Rondas seguidas que un cubo puede diferir, cambiando, antes de traerlo de todos modos.
pub const FORCE_PULL_AFTER: u32 = 5;

/// Lo que la antientropía recuerda de la ronda anterior: por par, los cubos que diferían,
/// con los dos resúmenes y cuántas rondas seguidas lleva distinto.
pub type Pending = HashMap<String, HashMap<u16, (u64, u64, u32)>>;

/// Compara resúmenes con cada par y trae los cubos que difieren de verdad.
///
/// Con escrituras en curso casi todos los cubos difieren en cualquier instante (unas ya
/// llegaron aquí y aún no allí), y traerlos todos en cada ronda era copiar el almacén entero
/// cada `sync_interval` por nada. Por eso un cubo se trae cuando difiere **igual** que en la
/// ronda anterior (ninguno de los dos lados lo cambió: la diferencia no es una escritura en
/// vuelo) o cuando lleva [`FORCE_PULL_AFTER`] rondas distinto aunque cambie (un nodo que
/// perdió escrituras en un cubo con tráfico continuo también se repara).
fn anti_entropy(node: &Node, shutdown: &Shutdown, pending: &mut Pending) {
    for link in node.peers.snapshot() {
        if shutdown.is_triggered() {
            return;
        }
        if !link.looks_reachable() {
            continue;
        }
        let diffs = match node.differing_buckets(&link) {
            Ok(b) => b,
            Err(e) => {
                log::debug!("nodo {}: resumen de {}: {e}", node.id, link.name);
                continue;
            }
        };
        let before = pending.remove(&link.name).unwrap_or_default();
        let mut now = HashMap::new();
        let mut to_pull = Vec::new();
        for d in diffs {
            let streak = match before.get(&d.bucket) {
                Some(&(ours, theirs, _)) if (ours, theirs) == (d.ours, d.theirs) => {
                    to_pull.push(d.bucket);
                    continue;
                }
                Some(&(_, _, streak)) => streak + 1,
                None => 1,
            };
            if streak >= FORCE_PULL_AFTER {
                to_pull.push(d.bucket);
            } else {
                now.insert(d.bucket, (d.ours, d.theirs, streak));
            }
        }
        pending.insert(link.name.clone(), now);
        let mut pulled = 0;
        for bucket in to_pull {
            match node.pull_from(&link, Some(bucket)) {
                Ok(n) => pulled += n,
                Err(e) => {
                    log::debug!("nodo {}: antientropía con {}: {e}", node.id, link.name);
                    break;
                }
            }
        }
        if pulled > 0 {
            node.stats.pulled.fetch_add(pulled, Ordering::Relaxed);
            log::info!(
                "nodo {}: antientropía: {} de {}",
                node.id,
                plural(pulled, "entrada", "entradas"),
                link.name
            );
        }
    }
}

/// Aprende pares nuevos de la lista de miembros del balanceador. Con `--peer` la lista fija
/// manda: mezclar ambas fuentes podría contar dos veces al mismo nodo con dos nombres de
/// dirección distintos (`localhost` y `127.0.0.1`) e inflar la mayoría.
fn refresh_members(node: &Node) {
    let Some(control) = &node.config.balancer else {
        return;
    };
    if !node.config.peers.is_empty() {
        return;
    }
    match registro::members(control, node.config.quorum_timeout) {
        Ok(members) => {
            for m in members {
                if m.id == node.id {
                    continue;
                }
                if let Some(addr) = m.meta.get(META_PEER_ADDR) {
                    node.peers.upsert(&m.id, addr);
                }
            }
        }
        Err(e) => log::debug!(
            "nodo {}: no se pudo leer la lista de miembros: {e}",
            node.id
        ),
    }
}
