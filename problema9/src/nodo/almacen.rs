//! El almacén en memoria de un nodo: cada clave con su valor (o su lápida) y su versión.
//!
//! La versión es un reloj de Lamport con el id del nodo que escribió para desempatar:
//! `(contador, nodo)`. Entre dos escrituras de la misma clave gana siempre la de versión mayor
//! ("gana el último escritor"), sin importar el orden en que lleguen, así que todos los nodos
//! que reciben las mismas escrituras acaban con el mismo valor. Un `DEL` no borra la entrada:
//! deja una lápida (valor `None`) con su versión, para que un `SET` viejo que llegue tarde no
//! resucite la clave. Las lápidas no se purgan nunca (es un almacén de taller).
//!
//! Nada aquí toca disco ni red: el registro de escritura (`wal`) y la replicación llaman a
//! estos métodos bajo el cerrojo del nodo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// La versión de un valor: `(contador de Lamport, id del nodo)`, ordenada en ese orden.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// El reloj de Lamport del nodo que hizo la escritura.
    pub counter: u64,
    /// El id de ese nodo (desempata escrituras concurrentes con el mismo contador).
    pub node: String,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.counter, self.node)
    }
}

/// Una entrada del almacén: el valor (o `None` si es una lápida de `DEL`) y su versión.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// El valor; `None` si la clave se borró.
    pub value: Option<Vec<u8>>,
    /// La versión de la escritura que dejó este valor.
    pub version: Version,
}

/// Qué pasó al aplicar una escritura.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Era más nueva que lo que había y se aplicó. `had_value` dice si antes había un valor
    /// vivo (para la respuesta de `DEL`).
    Newer {
        /// ¿Había un valor (no lápida) antes?
        had_value: bool,
    },
    /// Ya la teníamos (misma versión): no cambia nada.
    Same,
    /// Teníamos una versión mayor, que se queda.
    Older(Version),
}

/// El almacén: un mapa ordenado (para repartir la sincronización en páginas por clave), el
/// reloj de Lamport del nodo y un resumen de todo el contenido.
#[derive(Debug)]
pub struct Store {
    /// Clave en el mapa: [`slot`] (cubo + clave), para recorrer un cubo sin ver los demás.
    map: BTreeMap<Vec<u8>, Entry>,
    clock: u64,
    live: usize,
    digest: u64,
    buckets: Vec<u64>,
}

/// Cubos del resumen: las claves se reparten por un hash en 256 cubos, cada uno con su propio
/// resumen, para que la antientropía traiga solo los cubos que difieren.
pub const BUCKETS: usize = 256;

impl Default for Store {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            clock: 0,
            live: 0,
            digest: 0,
            buckets: vec![0; BUCKETS],
        }
    }
}

/// El cubo de una clave (0..[`BUCKETS`]).
pub fn bucket_of(key: &[u8]) -> usize {
    // Los bits altos de FNV-1a apenas cambian entre claves cortas parecidas ("k1", "k2"...):
    // se mezclan antes con una multiplicación de Fibonacci para repartir bien los cubos.
    (fnv(&[key]).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % BUCKETS
}

/// Los dos bytes con que empieza en el mapa toda clave del cubo `bucket`.
fn bucket_prefix(bucket: usize) -> Vec<u8> {
    u16::try_from(bucket)
        .unwrap_or(u16::MAX)
        .to_be_bytes()
        .to_vec()
}

/// La clave en el mapa: el cubo delante de la clave. Así las claves de un cubo quedan juntas
/// en el árbol y la antientropía trae un cubo sin recorrer el almacén entero (con 100.000
/// claves y todos los cubos distintos, eran 25 millones de visitas por ronda bajo el cerrojo).
fn slot(key: &[u8]) -> Vec<u8> {
    let mut slot = bucket_prefix(bucket_of(key));
    slot.extend_from_slice(key);
    slot
}

/// La clave original de una clave del mapa.
fn unslot(slot: &[u8]) -> &[u8] {
    slot.get(2..).unwrap_or_default()
}

impl Store {
    /// Un almacén vacío.
    pub fn new() -> Self {
        Self::default()
    }

    fn toggle(&mut self, key: &[u8], version: &Version) {
        let h = entry_hash(key, version);
        self.digest ^= h;
        if let Some(b) = self.buckets.get_mut(bucket_of(key)) {
            *b ^= h;
        }
    }

    /// El resumen de cada cubo.
    pub fn bucket_digests(&self) -> &[u64] {
        &self.buckets
    }

    /// La versión para una escritura nueva de `key` hecha por `node`: mayor que el reloj del
    /// nodo, que la versión actual de la clave y que `at_least` (una versión que una réplica
    /// nos dijo que tenía). Avanza el reloj.
    pub fn next_version(&mut self, node: &str, key: &[u8], at_least: u64) -> Version {
        let current = self.map.get(&slot(key)).map_or(0, |e| e.version.counter);
        self.clock = self.clock.max(current).max(at_least).saturating_add(1);
        Version {
            counter: self.clock,
            node: node.to_string(),
        }
    }

    /// El reloj de Lamport actual.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Qué pasaría al aplicar una escritura con `version`, sin aplicarla.
    pub fn compare(&self, key: &[u8], version: &Version) -> Applied {
        match self.map.get(&slot(key)) {
            Some(current) if current.version == *version => Applied::Same,
            Some(current) if current.version > *version => Applied::Older(current.version.clone()),
            Some(current) => Applied::Newer {
                had_value: current.value.is_some(),
            },
            None => Applied::Newer { had_value: false },
        }
    }

    /// Aplica una escritura si su versión es mayor que la que hay ("gana el último escritor").
    pub fn apply(&mut self, key: &[u8], entry: Entry) -> Applied {
        self.clock = self.clock.max(entry.version.counter);
        let had_value = match self.map.get(&slot(key)) {
            Some(current) if current.version == entry.version => return Applied::Same,
            Some(current) if current.version > entry.version => {
                return Applied::Older(current.version.clone())
            }
            Some(current) => {
                let (old, had) = (current.version.clone(), current.value.is_some());
                self.toggle(key, &old);
                had
            }
            None => false,
        };
        self.toggle(key, &entry.version);
        let has_value = entry.value.is_some();
        self.live = self.live + usize::from(has_value) - usize::from(had_value);
        self.map.insert(slot(key), entry);
        Applied::Newer { had_value }
    }

    /// La entrada de `key` (también si es una lápida).
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(&slot(key))
    }

    /// Cuántas claves tienen valor (sin contar lápidas).
    pub fn len(&self) -> usize {
        self.live
    }

    /// ¿No hay ninguna clave con valor?
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Cuántas entradas hay, lápidas incluidas.
    pub fn entries(&self) -> usize {
        self.map.len()
    }

    /// Un resumen de todas las entradas (XOR de un hash de cada clave con su versión): dos
    /// nodos con el mismo contenido tienen el mismo resumen, y se mantiene al día en cada
    /// escritura sin recorrer el mapa.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Las claves con valor que encajan con el patrón glob de Redis (`*`, `?`, `[a-z]`, `\`).
    pub fn keys(&self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = self
            .iter()
            .filter(|(k, e)| e.value.is_some() && glob_match(pattern, k))
            .map(|(k, _)| k.to_vec())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Una página de entradas (lápidas incluidas) con clave mayor que `after`, en orden, hasta
    /// `max_entries` entradas o `max_bytes` bytes de claves y valores (siempre al menos una),
    /// solo del cubo `bucket` si se da. Devuelve también si quedan más.
    pub fn page(
        &self,
        after: Option<&[u8]>,
        max_entries: usize,
        max_bytes: usize,
        bucket: Option<usize>,
    ) -> (Vec<(Vec<u8>, Entry)>, bool) {
        use std::ops::Bound;
        // Cada cubo es un tramo contiguo del árbol: se recorre solo ese tramo.
        let end = bucket.map(|b| bucket_prefix(b.saturating_add(1)));
        let start = match (after, bucket) {
            (Some(k), _) => Bound::Excluded(slot(k)),
            (None, Some(b)) => Bound::Included(bucket_prefix(b)),
            (None, None) => Bound::Unbounded,
        };
        // Un `after` de otro cubo (un par que se equivoca o miente) no puede invertir el
        // intervalo: `BTreeMap::range` entraría en pánico.
        if let (Bound::Excluded(from) | Bound::Included(from), Some(to)) = (&start, &end) {
            if from >= to {
                return (Vec::new(), false);
            }
        }
        let end = end.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for (k, e) in self.map.range((start, end)) {
            let key = unslot(k);
            let size = key.len() + e.value.as_ref().map_or(0, Vec::len);
            if !out.is_empty() && (out.len() >= max_entries || bytes + size > max_bytes) {
                return (out, true);
            }
            bytes += size;
            out.push((key.to_vec(), e.clone()));
        }
        (out, false)
    }

    /// Todas las entradas, en orden de clave (para compactar el registro).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.map.iter().map(|(k, e)| (unslot(k), e))
    }
}

/// FNV-1a de 64 bits: estable entre compilaciones (a diferencia de `DefaultHasher`), que es lo
/// que necesita un resumen que se compara entre procesos.
fn entry_hash(key: &[u8], version: &Version) -> u64 {
    fnv(&[
        &(key.len() as u64).to_be_bytes(),
        key,
        &version.counter.to_be_bytes(),
        version.node.as_bytes(),
    ])
}

fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Coincidencia glob al estilo de Redis: `*` cualquier secuencia, `?` un byte, `[abc]`,
/// `[^a]`, `[a-z]` y `\x` para un literal. Recorrido iterativo con un único punto de vuelta
/// atrás (la última `*`): coste lineal por el tamaño del patrón y de la clave, sin recursión
/// que un patrón hostil pueda hacer explotar.
///
/// ```
/// use problema9::nodo::almacen::glob_match;
/// assert!(glob_match(b"user:*", b"user:42"));
/// assert!(glob_match(b"h?llo", b"hallo"));
/// assert!(glob_match(b"h[^e]llo", b"hallo"));
/// assert!(!glob_match(b"h[a-b]llo", b"hello"));
/// ```
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if let Some(&pc) = pattern.get(p) {
            if pc == b'*' {
                star = Some((p, t));
                p += 1;
                continue;
            }
            if let Some((matched, width)) = match_one(pattern, p, text.get(t).copied()) {
                if matched {
                    p += width;
                    t += 1;
                    continue;
                }
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}

/// ¿Encaja el elemento del patrón que empieza en `p` con el byte `c`? Devuelve también cuántos
/// bytes del patrón ocupa el elemento.
fn match_one(pattern: &[u8], p: usize, c: Option<u8>) -> Option<(bool, usize)> {
    let c = c?;
    let pc = *pattern.get(p)?;
    match pc {
        b'?' => Some((true, 1)),
        b'\\' => match pattern.get(p + 1) {
            Some(&lit) => Some((lit == c, 2)),
            None => Some((c == b'\\', 1)),
        },
        b'[' => {
            let mut i = p + 1;
            let negate = pattern.get(i) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut found = false;
            loop {
                match pattern.get(i) {
                    // Clase sin cerrar: la tratamos como terminada aquí.
                    None => break,
                    Some(b']') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        if pattern.get(i + 1) == Some(&c) {
                            found = true;
                        }
                        i += 2;
                    }
                    Some(&lo)
                        if pattern.get(i + 1) == Some(&b'-')
                            && pattern.get(i + 2).is_some_and(|&b| b != b']') =>
                    {
                        let hi = pattern.get(i + 2).copied().unwrap_or(lo);
                        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                        if (lo..=hi).contains(&c) {
                            found = true;
                        }
                        i += 3;
                    }
                    Some(&b) => {
                        if b == c {
                            found = true;
                        }
                        i += 1;
                    }
                }
            }
            Some((found != negate, i.saturating_sub(p).max(1)))
        }
        other => Some((other == c, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(counter: u64, node: &str) -> Version {
        Version {
            counter,
            node: node.into(),
        }
    }

    fn set(value: &str, version: Version) -> Entry {
        Entry {
            value: Some(value.as_bytes().to_vec()),
            version,
        }
    }

    #[test]
    fn higher_version_wins_in_any_order() {
        let writes = [
            set("a", v(1, "n1")),
            set("b", v(2, "n1")),
            set("c", v(2, "n2")),
        ];
        let mut s1 = Store::new();
        let mut s2 = Store::new();
        for w in writes.iter() {
            s1.apply(b"k", w.clone());
        }
        for w in writes.iter().rev() {
            s2.apply(b"k", w.clone());
        }
        assert_eq!(s1.get(b"k"), s2.get(b"k"));
        assert_eq!(s1.get(b"k").unwrap().value.as_deref(), Some(&b"c"[..]));
        assert_eq!(s1.digest(), s2.digest());
        assert_eq!(s1.clock(), 2);
    }

    #[test]
    fn tombstone_hides_key_and_old_set_does_not_resurrect_it() {
        let mut s = Store::new();
        s.apply(b"k", set("a", v(1, "n1")));
        assert_eq!(s.len(), 1);
        let del = Entry {
            value: None,
            version: v(2, "n1"),
        };
        assert_eq!(s.apply(b"k", del), Applied::Newer { had_value: true });
        assert_eq!(s.len(), 0);
        assert_eq!(
            s.apply(b"k", set("a", v(1, "n2"))),
            Applied::Older(v(2, "n1"))
        );
        assert!(s.keys(b"*").is_empty());
    }

    #[test]
    fn next_version_exceeds_clock_key_and_hint() {
        let mut s = Store::new();
        s.apply(b"k", set("a", v(7, "n2")));
        assert_eq!(s.next_version("n1", b"k", 0), v(8, "n1"));
        assert_eq!(s.next_version("n1", b"otra", 20), v(21, "n1"));
    }

    #[test]
    fn pages_cover_everything_once() {
        let mut s = Store::new();
        for i in 0..10u64 {
            s.apply(format!("k{i}").as_bytes(), set("x", v(i + 1, "n")));
        }
        let mut after: Option<Vec<u8>> = None;
        let mut seen = 0;
        loop {
            let (page, more) = s.page(after.as_deref(), 3, 1000, None);
            seen += page.len();
            after = page.last().map(|(k, _)| k.clone());
            if !more {
                break;
            }
        }
        assert_eq!(seen, 10);
        // Por cubos: cada entrada aparece exactamente en el suyo.
        let by_bucket: usize = (0..BUCKETS)
            .map(|b| s.page(None, 100, 1000, Some(b)).0.len())
            .sum();
        assert_eq!(by_bucket, 10);
        assert_eq!(
            s.bucket_digests().iter().fold(0, |acc, d| acc ^ d),
            s.digest()
        );
    }

    #[test]
    fn bucket_pages_follow_the_cursor_and_ignore_foreign_cursors() {
        let mut s = Store::new();
        for i in 0..2000u64 {
            s.apply(format!("k{i}").as_bytes(), set("x", v(i + 1, "n")));
        }
        for b in [&b"k1"[..], b"k7", b"k1999"].map(bucket_of) {
            let mut after: Option<Vec<u8>> = None;
            let mut seen = Vec::new();
            loop {
                let (page, more) = s.page(after.as_deref(), 2, 1000, Some(b));
                assert!(page.iter().all(|(k, _)| bucket_of(k) == b));
                seen.extend(page.iter().map(|(k, _)| k.clone()));
                after = page.last().map(|(k, _)| k.clone());
                if !more {
                    break;
                }
            }
            let expected = s.iter().filter(|(k, _)| bucket_of(k) == b).count();
            assert_eq!(seen.len(), expected);
            assert!(expected > 0);
        }
        // Un cursor de otro cubo (más allá del pedido) no es un pánico: página vacía.
        let last = s.iter().last().map(|(k, _)| k.to_vec()).unwrap();
        assert_eq!(s.page(Some(&last), 5, 1000, Some(0)), (Vec::new(), false));
        assert_eq!(s.keys(b"k1999"), vec![b"k1999".to_vec()]);
        let all = s.keys(b"*");
        assert!(all.windows(2).all(|w| w[0] < w[1]), "KEYS sale ordenado");
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*", b"abc"));
        assert!(glob_match(b"a*c", b"abbbc"));
        assert!(!glob_match(b"a*c", b"abbbd"));
        assert!(glob_match(b"a\\*", b"a*"));
        assert!(!glob_match(b"a\\*", b"ab"));
        assert!(glob_match(b"[abc]x", b"bx"));
        assert!(!glob_match(b"[abc]x", b"dx"));
        assert!(glob_match(
            b"*a*a*a*a*b",
            &[b'a'; 40].iter().copied().chain([b'b']).collect::<Vec<_>>()
        ));
        assert!(!glob_match(b"*a*a*a*a*b", &[b'a'; 40]));
    }
}
