//! Escrituras y lecturas por mayoría, y lo que un nodo hace cuando un par le pide algo.
//!
//! Cada clave es un registro replicado con las reglas de ABD (Attiya, Bar-Noy y Dolev), lo
//! que hace que `SET`, `GET` y `DEL` de una clave sean **linealizables**: todo historial
//! equivale a un orden secuencial que respeta el tiempo real. El nodo que recibe la orden (el
//! "coordinador") hace dos fases, cada una con una mayoría del clúster (él incluido):
//!
//! - Escritura (`SET`, `DEL`): 1) **consulta**: lee la versión de la clave en una mayoría
//!   (como una lectura); 2) elige la versión `(máxima leída + 1, id del nodo)` (en realidad
//!   mayor también que su reloj de Lamport, para que dos escrituras del mismo nodo nunca
//!   compartan versión) y 3) **escribe**: la guarda en su registro, la envía a todos y espera
//!   a que una mayoría la tenga guardada (o tenga ya una versión mayor). No hay reintentos
//!   con otra versión: una escritura tiene una sola versión desde que sale hacia un par.
//! - Lectura (`GET`, `EXISTS`): lee de una mayoría y se queda con la versión más alta. Si
//!   todos los que respondieron tienen esa misma versión, una mayoría ya la guarda y se
//!   responde (el caso normal). Si no, antes de responder la **reescribe** en una mayoría
//!   (la segunda fase de una escritura, con la misma versión).
//!
//! Por qué basta: toda operación terminada deja su versión (o una mayor) en una mayoría, y dos
//! mayorías comparten al menos un nodo. Así una escritura que empieza después de que otra
//! terminara (o de que una lectura devolviera su valor) lee una versión al menos tan alta y
//! elige una mayor; y una lectura nunca devuelve algo más viejo que lo que otra ya devolvió.
//! El orden de las versiones es el orden lineal.
//!
//! Antes (issue 15) la versión salía del reloj local del coordinador y una lectura devolvía
//! lo que viera sin reescribirlo: un valor leído en un solo nodo (una escritura aún en vuelo)
//! podía tener versión mayor que la de una escritura posterior hecha en otro nodo que aún no
//! lo había visto; la posterior se confirmaba y luego el valor viejo volvía (A -> B -> A).
//! Además, si un par respondía `stale`, la escritura se reintentaba con otra versión mayor
//! cuando la primera ya podía haberse leído en algún nodo.
//!
//! Resultado desconocido: si la segunda fase no reúne una mayoría a tiempo, el cliente recibe
//! `-NOQUORUM`, pero la versión pudo quedar en algún nodo y acabar propagándose; la escritura
//! pudo o no surtir efecto. Si falla la consulta, no se ha escrito nada.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use common::lock;

use super::almacen::{self, Applied, Entry};
use super::pares::{Answers, DirectLinks, Op, PeerLink, Reply, WireEntry};
use super::wal::WalError;
use super::Node;

/// Entradas por página al ponerse al día.
pub const PULL_PAGE: usize = 256;

/// Por qué no se confirmó una escritura o lectura.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// No hubo mayoría.
    #[error("sin mayoría: {got} de {cluster} nodos respondieron (hacen falta {need})")]
    NoQuorum {
        /// Nodos que confirmaron (el coordinador incluido).
        got: usize,
        /// Los necesarios.
        need: usize,
        /// El tamaño del clúster.
        cluster: usize,
    },
    /// El registro local falló.
    #[error("fallo del registro local: {0}")]
    Wal(#[from] WalError),
    /// El nodo aún se está poniendo al día.
    #[error("el nodo se está poniendo al día con sus pares")]
    Loading,
}

/// Tamaño de una mayoría de `n` nodos.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Lo que leyó la fase de consulta de una mayoría.
struct MajorityRead {
    /// La entrada de versión más alta (o `None` si ninguno tiene la clave).
    best: Option<Entry>,
    /// ¿Tenían todos los que respondieron esa misma versión? Entonces ya la guarda una
    /// mayoría y no hace falta reescribirla.
    agreed: bool,
}

impl Node {
    /// Los pares actuales, el tamaño del clúster y la mayoría necesaria.
    pub(crate) fn quorum_view(&self) -> (Vec<Arc<PeerLink>>, usize, usize) {
        let links = self.peers.snapshot();
        let cluster = (links.len() + 1).max(self.config.cluster_size.unwrap_or(0));
        (links, cluster, majority(cluster))
    }

    /// Aplica una entrada en este nodo: primero al registro, luego a memoria. Devuelve qué
    /// pasó y, si se escribió en el registro, el número de registro para esperar su `fsync`.
    pub(crate) fn apply_local(
        &self,
        key: &[u8],
        entry: Entry,
    ) -> Result<(Applied, Option<u64>), WalError> {
        let mut store = lock(&self.store);
        match store.compare(key, &entry.version) {
            Applied::Newer { .. } => {
                let seq = self.wal.append(key, &entry)?;
                Ok((store.apply(key, entry), Some(seq)))
            }
            other => Ok((other, None)),
        }
    }

    /// Coordina una escritura (`value = None` es un `DEL`) en dos fases: consulta de la
    /// versión más alta en una mayoría y escritura de una versión mayor en una mayoría.
    /// Devuelve si la clave tenía valor según la consulta (con otra escritura concurrente de
    /// la misma clave, puede no ser la inmediatamente anterior en el orden lineal).
    ///
    /// `direct`: las conexiones propias del hilo para la consulta (véase [`DirectLinks`]).
    ///
    /// # Errores
    /// [`QuorumError`]: sin mayoría o fallo del disco. Si falla la consulta, no se escribió
    /// nada; si falla la escritura, pudo quedar en algún nodo y acabar propagándose: el
    /// cliente debe tratarla como "pudo o no surtir efecto".
    pub fn coordinate_write(
        &self,
        key: &[u8],
        value: Option<Vec<u8>>,
        direct: Option<&mut DirectLinks>,
    ) -> Result<bool, QuorumError> {
        let (links, cluster, need) = self.quorum_view();
        let reachable = 1 + links.iter().filter(|l| l.try_connect()).count();
        if reachable < need {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(QuorumError::NoQuorum {
                got: reachable,
                need,
                cluster,
            });
        }
        let read = self.read_majority(key, &links, cluster, need, direct)?;
        let highest = read.best.as_ref().map_or(0, |e| e.version.counter);
        let had_value = read.best.is_some_and(|e| e.value.is_some());
        // Mayor que todo lo que tiene una mayoría y que el reloj propio (versión única).
        let version = lock(&self.store).next_version(&self.id, key, highest);
        self.store_on_majority(key, Entry { value, version }, &links, cluster, need)?;
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
        Ok(had_value)
    }

    /// Lee `key` de una mayoría y devuelve la entrada de versión más alta (o `None` si
    /// ninguno la tiene). Si los que respondieron no coinciden, antes de devolverla la
    /// reescribe en una mayoría: así ninguna lectura posterior puede ver algo más viejo.
    ///
    /// # Errores
    /// [`QuorumError::NoQuorum`] si no responde una mayoría (a la consulta o a la
    /// reescritura).
    ///
    /// Con `direct`, cuando basta con preguntar a un par (clúster de 3), se le pregunta por
    /// la conexión propia del hilo ([`DirectLinks`]); si falla, se sigue como sin ella.
    pub fn coordinate_read(
        &self,
        key: &[u8],
        direct: Option<&mut DirectLinks>,
    ) -> Result<Option<Entry>, QuorumError> {
        let (links, cluster, need) = self.quorum_view();
        let read = self.read_majority(key, &links, cluster, need, direct)?;
        if let (Some(best), false) = (&read.best, read.agreed) {
            self.stats.repairs.fetch_add(1, Ordering::Relaxed);
            self.store_on_majority(key, best.clone(), &links, cluster, need)?;
        }
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        Ok(read.best)
    }

    /// La fase de consulta: la copia local y la de los pares que faltan para una mayoría.
    fn read_majority(
        &self,
        key: &[u8],
        links: &[Arc<PeerLink>],
        cluster: usize,
        need: usize,
        mut direct: Option<&mut DirectLinks>,
    ) -> Result<MajorityRead, QuorumError> {
        let local = lock(&self.store).get(key).cloned();
        let deadline = Instant::now() + self.config.quorum_timeout;
        // Solo se pregunta a los pares que faltan para la mayoría (con 3 nodos, a uno), por
        // turnos y empezando por los que tienen conexión abierta: la mitad de trabajo para el
        // clúster que preguntar a todos. Si alguno falla o tarda, se pregunta a los siguientes.
        let offset = self.read_turn.fetch_add(1, Ordering::Relaxed);
        let mut order: Vec<Arc<PeerLink>> = (0..links.len())
            .filter_map(|i| links.get((i + offset) % links.len()).cloned())
            .collect();
        order.sort_by_key(|l| !l.is_connected());
        let want = need - 1;
        let mut answers: Answers = Vec::new();
        let mut next = 0;
        while count_entries(&answers) < want && next < order.len() {
            let missing = want - count_entries(&answers);
            let end = (next + missing).min(order.len());
            let batch = order.get(next..end).unwrap_or_default().to_vec();
            next = end;
            // Si quedan pares de reserva, no se espera a este grupo más de un cuarto del plazo.
            let batch_deadline = if next < order.len() {
                deadline.min(Instant::now() + self.config.quorum_timeout / 4)
            } else {
                deadline
            };
            let op = Op::Read { key: key.to_vec() };
            if let (Some(links), [link]) = (direct.as_deref_mut(), batch.as_slice()) {
                let left = batch_deadline.saturating_duration_since(Instant::now());
                let max_line = self.config.max_peer_line();
                match links.ask(link, &op, left, max_line) {
                    Ok(reply) => answers.push(Some(Ok(reply))),
                    Err(e) => {
                        log::debug!("lectura directa de {}: {e}", link.name);
                        answers.push(Some(Err(e)));
                    }
                }
                continue;
            }
            let call = self.peers.send(&batch, &op);
            let got = call
                .collector
                .wait(batch_deadline, |a| count_entries(a) >= batch.len());
            answers.extend(got);
        }
        let got = 1 + count_entries(&answers);
        if got < need {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(QuorumError::NoQuorum { got, need, cluster });
        }
        let versions: Vec<Option<&almacen::Version>> = answers
            .iter()
            .filter_map(|a| match a {
                Some(Ok(Reply::Entry { version, .. })) => Some(version.as_ref()),
                _ => None,
            })
            .collect();
        let mut best = local.clone();
        for answer in answers.iter().flatten().flatten() {
            if let Reply::Entry {
                value,
                version: Some(version),
            } = answer
            {
                if best.as_ref().map_or(true, |b| *version > b.version) {
                    best = Some(Entry {
                        value: value.clone(),
                        version: version.clone(),
                    });
                }
            }
        }
        let best_version = best.as_ref().map(|b| &b.version);
        let agreed = local.as_ref().map(|l| &l.version) == best_version
            && versions.iter().all(|v| *v == best_version);
        Ok(MajorityRead { best, agreed })
    }

    /// La fase de escritura: guarda `entry` aquí (con su `fsync`) y en todos los pares, y
    /// espera a que una mayoría (este nodo incluido) la tenga o tenga ya una versión mayor.
    ///
    /// # Errores
    /// [`QuorumError::NoQuorum`] si no se reúne la mayoría en `quorum_timeout` (la entrada
    /// puede haber quedado en algunos nodos), o el fallo del registro local.
    fn store_on_majority(
        &self,
        key: &[u8],
        entry: Entry,
        links: &[Arc<PeerLink>],
        cluster: usize,
        need: usize,
    ) -> Result<(), QuorumError> {
        let op = Op::Write {
            key: key.to_vec(),
            value: entry.value.clone(),
            version: entry.version.clone(),
        };
        // Este nodo siempre cuenta: tras aplicarla tiene esta versión o una mayor.
        let (_, seq) = self.apply_local(key, entry)?;
        let call = self.peers.send(links, &op);
        // El `fsync` local se solapa con el viaje a los pares.
        if let Some(seq) = seq {
            self.wal.sync_to(seq)?;
        }
        let deadline = Instant::now() + self.config.quorum_timeout;
        let answers = call.collector.wait(deadline, |a| {
            let acks = 1 + count_stored(a);
            let pending = a.iter().filter(|x| x.is_none()).count();
            // Basta con la mayoría, o con saber que no llegará.
            acks >= need || acks + pending < need
        });
        let got = 1 + count_stored(&answers);
        if got < need {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(QuorumError::NoQuorum { got, need, cluster });
        }
        Ok(())
    }

    /// Atiende una petición de un par. Si la respuesta depende de un `fsync` pendiente,
    /// devuelve también su número de registro (quien atiende la conexión sincroniza una vez
    /// por tanda de peticiones antes de responder).
    pub fn handle_peer_op(&self, op: Op) -> (Reply, Option<u64>) {
        match op {
            Op::Write {
                key,
                value,
                version,
            } => match self.apply_local(&key, Entry { value, version }) {
                Ok((Applied::Newer { had_value }, seq)) => (Reply::Written { had_value }, seq),
                Ok((Applied::Same, _)) => (Reply::Written { had_value: false }, None),
                Ok((Applied::Older(version), _)) => (Reply::Stale { version }, None),
                Err(e) => (
                    Reply::Error {
                        message: e.to_string(),
                    },
                    None,
                ),
            },
            Op::Read { key } => {
                let entry = lock(&self.store).get(&key).cloned();
                let reply = match entry {
                    Some(e) => Reply::Entry {
                        value: e.value,
                        version: Some(e.version),
                    },
                    None => Reply::Entry {
                        value: None,
                        version: None,
                    },
                };
                (reply, None)
            }
            Op::Digest => {
                let store = lock(&self.store);
                (
                    Reply::Digest {
                        digest: store.digest(),
                        entries: store.entries() as u64,
                        clock: store.clock(),
                        buckets: store.bucket_digests().to_vec(),
                    },
                    None,
                )
            }
            Op::Pull {
                after,
                limit,
                bucket,
            } => {
                let limit = limit.clamp(1, PULL_PAGE);
                let store = lock(&self.store);
                let (page, more) = store.page(
                    after.as_deref(),
                    limit,
                    self.config.limits.max_bulk,
                    bucket.map(usize::from),
                );
                let entries = page
                    .into_iter()
                    .map(|(key, e)| WireEntry {
                        key,
                        value: e.value,
                        version: e.version,
                    })
                    .collect();
                (Reply::Entries { entries, more }, None)
            }
        }
    }

    /// Trae de `link` todas sus entradas (o solo las del cubo `bucket`) y aplica las más
    /// nuevas. Devuelve cuántas aplicó.
    ///
    /// # Errores
    /// El motivo en texto si el par no responde o falla el disco.
    pub fn pull_from(&self, link: &Arc<PeerLink>, bucket: Option<u16>) -> Result<u64, String> {
        let mut after: Option<Vec<u8>> = None;
        let mut applied = 0u64;
        let mut last_seq = None;
        loop {
            let reply = self.peers.ask(
                link,
                &Op::Pull {
                    after: after.clone(),
                    limit: PULL_PAGE,
                    bucket,
                },
                self.config.quorum_timeout,
            )?;
            let Reply::Entries { entries, more } = reply else {
                return Err(format!(
                    "respuesta inesperada de {}: `{}`",
                    link.name,
                    reply.kind()
                ));
            };
            let last = entries.last().map(|e| e.key.clone());
            for wire in entries {
                let (key, entry) = wire.into_parts();
                match self.apply_local(&key, entry) {
                    Ok((Applied::Newer { .. }, seq)) => {
                        applied += 1;
                        last_seq = seq.or(last_seq);
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            if !more || last.is_none() {
                break;
            }
            after = last;
        }
        if let Some(seq) = last_seq {
            self.wal.sync_to(seq).map_err(|e| e.to_string())?;
        }
        Ok(applied)
    }

    /// Los cubos en los que `link` tiene un contenido distinto del nuestro (vacío si son
    /// iguales), cada uno con su resumen aquí y allí. Un par que no manda cubos cuenta como
    /// distinto en todos.
    ///
    /// # Errores
    /// El motivo en texto si el par no responde.
    pub fn differing_buckets(&self, link: &Arc<PeerLink>) -> Result<Vec<BucketDiff>, String> {
        match self
            .peers
            .ask(link, &Op::Digest, self.config.quorum_timeout)?
        {
            Reply::Digest {
                digest, buckets, ..
            } => {
                let store = lock(&self.store);
                if digest == store.digest() {
                    return Ok(Vec::new());
                }
                let ours = store.bucket_digests();
                Ok((0..almacen::BUCKETS)
                    .filter_map(|b| {
                        let (o, t) = (ours.get(b).copied(), buckets.get(b).copied());
                        let differs = o != t || buckets.len() != ours.len();
                        let bucket = u16::try_from(b).ok()?;
                        differs.then_some(BucketDiff {
                            bucket,
                            ours: o.unwrap_or(0),
                            theirs: t.unwrap_or(0),
                        })
                    })
                    .collect())
            }
            other => Err(format!(
                "respuesta inesperada de {}: `{}`",
                link.name,
                other.kind()
            )),
        }
    }
}

/// Un cubo cuyo contenido difiere entre este nodo y un par, con el resumen de cada uno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketDiff {
    /// El cubo.
    pub bucket: u16,
    /// Su resumen aquí.
    pub ours: u64,
    /// Su resumen en el par.
    pub theirs: u64,
}

/// Pares que guardaron la entrada o tenían ya una versión mayor (`stale`): en ABD ambos
/// cuentan, porque el nodo queda con una versión al menos tan alta.
fn count_stored(answers: &Answers) -> usize {
    answers
        .iter()
        .filter(|a| matches!(a, Some(Ok(Reply::Written { .. } | Reply::Stale { .. }))))
        .count()
}

fn count_entries(answers: &Answers) -> usize {
    answers
        .iter()
        .filter(|a| matches!(a, Some(Ok(Reply::Entry { .. }))))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_sizes() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(5), 3);
    }
}
