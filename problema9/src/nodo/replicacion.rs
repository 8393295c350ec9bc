//! Escrituras y lecturas por mayoría, y lo que un nodo hace cuando un par le pide algo.
//!
//! Escritura (`SET`, `DEL`) en el nodo que la recibe (el "coordinador"):
//! 1. si no ve vivos a suficientes pares para una mayoría, la rechaza sin tocar nada;
//! 2. crea una versión mayor que su reloj y que la versión que tenga de la clave, la añade a
//!    su registro y la aplica;
//! 3. la envía a todos los pares a la vez y espera, como mucho `quorum_timeout`, a que una
//!    mayoría del clúster (él incluido) la tenga guardada de forma duradera;
//! 4. si algún par contesta `stale` (tenía una versión mayor de esa clave) y por eso no se
//!    llega a la mayoría, hace un segundo y último intento con una versión mayor que todas las
//!    que le contestaron; en ese intento un `stale` también cuenta como confirmación.
//!
//! Por qué basta: toda escritura W1 confirmada antes de que empiece W2 está en una mayoría, y
//! dos mayorías comparten al menos un nodo. En el primer intento ese nodo, o acepta la versión
//! de W2 (luego es mayor que W1), o contesta `stale` con una versión >= W1, y el segundo
//! intento la supera. Así una escritura confirmada siempre gana a las confirmadas antes de
//! empezar ella, y con una clave muy disputada (50 clientes escribiendo la misma) nunca hay
//! más de dos intentos. En el segundo, un par con una versión aún mayor tiene una escritura
//! concurrente, que puede ganar legítimamente.
//!
//! Lectura (`GET`, `EXISTS`): pregunta a los pares que faltan para una mayoría (él incluido;
//! con 3 nodos, a uno solo, por turnos; a otro si ese falla) y devuelve la versión más alta. Como toda escritura confirmada está en una mayoría y dos
//! mayorías se cortan, ninguna lectura devuelve algo más viejo que lo ya confirmado. A los que
//! contestaron con una versión vieja se les envía la nueva ("read repair").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use common::lock;

use super::almacen::{self, Applied, Entry};
use super::pares::{Answers, DirectLinks, Op, PeerLink, Reply, WireEntry};
use super::wal::WalError;
use super::Node;

/// Intentos de una escritura: el segundo solo si el primero chocó con versiones más nuevas.
pub const MAX_WRITE_ATTEMPTS: usize = 2;
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
    /// Escrituras concurrentes de la misma clave ganaron todas las veces.
    #[error("demasiadas escrituras concurrentes en la misma clave; reintente")]
    Contention,
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

    /// Coordina una escritura (`value = None` es un `DEL`). Devuelve si la clave tenía valor
    /// antes en alguno de los nodos que confirmaron.
    ///
    /// # Errores
    /// [`QuorumError`]: sin mayoría, demasiada contención o fallo del disco. En ningún caso
    /// la escritura se ha confirmado (aunque puede haber quedado en algunos nodos y acabar
    /// propagándose: el cliente debe tratarla como "no se sabe").
    pub fn coordinate_write(
        &self,
        key: &[u8],
        value: Option<Vec<u8>>,
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
        let mut at_least = 0u64;
        // Se acumula entre intentos: en el segundo, la copia local ya tiene la del primero.
        let mut had_value = false;
        for attempt in 1..=MAX_WRITE_ATTEMPTS {
            // En el último intento ya conocemos la versión de una mayoría: un `stale` solo
            // puede venir de una escritura concurrente, y cuenta como confirmación.
            let last = attempt == MAX_WRITE_ATTEMPTS;
            let version = lock(&self.store).next_version(&self.id, key, at_least);
            let entry = Entry {
                value: value.clone(),
                version: version.clone(),
            };
            let (applied, seq) = self.apply_local(key, entry)?;
            let mut local_stale = None;
            match applied {
                Applied::Newer { had_value: h } => had_value |= h,
                Applied::Same => {}
                // Otra escritura más nueva se coló en este nodo entre medias.
                Applied::Older(newer) => local_stale = Some(newer.counter),
            }
            let self_ack = usize::from(local_stale.is_none() || last);
            let call = self.peers.send(
                &links,
                &Op::Write {
                    key: key.to_vec(),
                    value: value.clone(),
                    version: version.clone(),
                },
            );
            // El `fsync` local se solapa con el viaje a los pares.
            if let Some(seq) = seq {
                self.wal.sync_to(seq)?;
            }
            let deadline = Instant::now() + self.config.quorum_timeout;
            let acks_in =
                |a: &Answers| self_ack + count_written(a) + if last { count_stale(a) } else { 0 };
            let answers = call.collector.wait(deadline, |a| {
                let acks = acks_in(a);
                let answered = 1 + count_written(a) + count_stale(a);
                let pending = a.iter().filter(|x| x.is_none()).count();
                // Basta con la mayoría, o con saber que no llegará, o (primer intento) con
                // tener ya la versión de una mayoría para reintentar.
                acks >= need || acks + pending < need || (!last && answered >= need)
            });
            let acks = acks_in(&answers);
            had_value |= answers
                .iter()
                .any(|a| matches!(a, Some(Ok(Reply::Written { had_value: true }))));
            if acks >= need {
                self.stats.writes.fetch_add(1, Ordering::Relaxed);
                return Ok(had_value);
            }
            let answered = 1 + count_written(&answers) + count_stale(&answers);
            if last || answered < need {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                return Err(QuorumError::NoQuorum {
                    got: acks,
                    need,
                    cluster,
                });
            }
            at_least = version
                .counter
                .max(stale_max(&answers).unwrap_or(0))
                .max(local_stale.unwrap_or(0));
        }
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        Err(QuorumError::Contention)
    }

    /// Lee `key` de una mayoría y devuelve la entrada de versión más alta (o `None` si
    /// ninguno la tiene). Repara a los que tenían una versión vieja.
    ///
    /// # Errores
    /// [`QuorumError::NoQuorum`] si no responde una mayoría.
    ///
    /// Con `direct`, cuando basta con preguntar a un par (clúster de 3), se le pregunta por
    /// la conexión propia del hilo ([`DirectLinks`]); si falla, se sigue como sin ella.
    pub fn coordinate_read(
        &self,
        key: &[u8],
        mut direct: Option<&mut DirectLinks>,
    ) -> Result<Option<Entry>, QuorumError> {
        let (links, cluster, need) = self.quorum_view();
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
        let mut asked: Vec<Arc<PeerLink>> = Vec::new();
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
                asked.extend(batch);
                continue;
            }
            let call = self.peers.send(&batch, &op);
            let got = call
                .collector
                .wait(batch_deadline, |a| count_entries(a) >= batch.len());
            asked.extend(batch);
            answers.extend(got);
        }
        let got = 1 + count_entries(&answers);
        if got < need {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(QuorumError::NoQuorum { got, need, cluster });
        }
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
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
        if let Some(best) = &best {
            self.read_repair(key, best, local.as_ref(), &asked, &answers);
        }
        Ok(best)
    }

    /// Envía la versión ganadora a quien respondió con una más vieja, sin esperar respuesta.
    fn read_repair(
        &self,
        key: &[u8],
        best: &Entry,
        local: Option<&Entry>,
        links: &[Arc<PeerLink>],
        answers: &Answers,
    ) {
        if local.map_or(true, |l| l.version < best.version) {
            if let Err(e) = self.apply_local(key, best.clone()) {
                log::error!("reparación local de una lectura: {e}");
            }
            self.stats.repairs.fetch_add(1, Ordering::Relaxed);
        }
        let stale: Vec<Arc<PeerLink>> = links
            .iter()
            .zip(answers)
            .filter(|(_, a)| match a {
                Some(Ok(Reply::Entry { version, .. })) => {
                    version.as_ref().map_or(true, |v| *v < best.version)
                }
                _ => false,
            })
            .map(|(l, _)| Arc::clone(l))
            .collect();
        if !stale.is_empty() {
            self.stats
                .repairs
                .fetch_add(stale.len() as u64, Ordering::Relaxed);
            // La `Call` se suelta enseguida: las respuestas se descartan.
            drop(self.peers.send(
                &stale,
                &Op::Write {
                    key: key.to_vec(),
                    value: best.value.clone(),
                    version: best.version.clone(),
                },
            ));
        }
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
                return Err(format!("respuesta inesperada de {}: {reply:?}", link.name));
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
            other => Err(format!("respuesta inesperada de {}: {other:?}", link.name)),
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

fn count_written(answers: &Answers) -> usize {
    answers
        .iter()
        .filter(|a| matches!(a, Some(Ok(Reply::Written { .. }))))
        .count()
}

fn count_stale(answers: &Answers) -> usize {
    answers
        .iter()
        .filter(|a| matches!(a, Some(Ok(Reply::Stale { .. }))))
        .count()
}

fn count_entries(answers: &Answers) -> usize {
    answers
        .iter()
        .filter(|a| matches!(a, Some(Ok(Reply::Entry { .. }))))
        .count()
}

fn stale_max(answers: &Answers) -> Option<u64> {
    answers
        .iter()
        .filter_map(|a| match a {
            Some(Ok(Reply::Stale { version })) => Some(version.counter),
            _ => None,
        })
        .max()
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
