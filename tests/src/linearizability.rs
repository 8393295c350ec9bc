//! Comprobador de linealizabilidad de un registro por clave (`SET`, `GET`, `DEL`) y grabador de
//! historiales hechos con clientes RESP reales.
//!
//! Un historial es una lista de operaciones con su instante de invocación y de respuesta. Es
//! *linealizable* si existe un orden secuencial de las operaciones en el que cada una ocurre
//! en un instante entre su invocación y su respuesta, y en el que cada `GET` devuelve el valor
//! del último `SET` (o `nil` tras un `DEL` o al principio). Como cada clave es un registro
//! independiente, se comprueba clave a clave (la linealizabilidad es composicional).
//!
//! La búsqueda es la de Wing y Gong con las mejoras de Lowe que usa Porcupine: una lista
//! doblemente enlazada de eventos (invocaciones y respuestas) ordenados por tiempo; se intenta
//! linealizar cada operación invocada antes de la primera respuesta pendiente y se vuelve atrás
//! al topar con una respuesta. Se memoriza cada par (conjunto de operaciones ya linealizadas,
//! estado del registro) visto, para no explorar dos veces lo mismo: así un historial de miles
//! de operaciones con ocho clientes se comprueba en milisegundos. El conjunto no se guarda
//! entero sino como un hash de Zobrist de 128 bits (el XOR de un número al azar por operación
//! linealizada), que se actualiza en O(1) a cada paso; una colisión (probabilidad del orden de
//! n² / 2¹²⁸) solo podría hacer saltarse un camino.
//!
//! Resultados desconocidos: una escritura que no respondió, que cortó la conexión o que
//! respondió un error (`-NOQUORUM`) *pudo o no* surtir efecto, en cualquier momento posterior a
//! su invocación. Se modela con respuesta en el infinito: puede linealizarse en cualquier
//! punto tras invocarse, también al final (equivale a no haber ocurrido). Una lectura que falló
//! no aporta nada y se descarta. El número que devuelve `DEL` no se comprueba (véase el README
//! del problema 9: un registro por mayoría no sabe cuál fue la escritura inmediatamente
//! anterior si hubo otra concurrente); `DEL` cuenta como escribir `nil`.
//!
//! El grabador ([`record`]) lanza clientes que hablan RESP por TCP con
//! [`problema9::cliente::Client`] y apuntan cada operación.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use problema9::cliente::Client;
use problema9::resp::Value;

/// Qué pide una operación sobre una clave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `SET clave valor`.
    Set(String),
    /// `DEL clave` (escribe `nil`).
    Del,
    /// `GET clave`.
    Get,
}

/// Qué respondió.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Una escritura confirmada (`+OK`, `:n`).
    Ok,
    /// Lo que devolvió un `GET` (`None` = `nil`).
    Value(Option<String>),
    /// No se sabe: error, corte o plazo agotado. Una escritura así pudo o no aplicarse; una
    /// lectura así se descarta.
    Unknown,
}

/// Una operación del historial. Los instantes son nanosegundos desde un origen común.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Qué cliente la hizo (solo para los mensajes).
    pub client: usize,
    /// La clave.
    pub key: String,
    /// La orden.
    pub call: Call,
    /// La respuesta.
    pub outcome: Outcome,
    /// Cuándo se envió.
    pub invoke: u64,
    /// Cuándo llegó la respuesta (para [`Outcome::Unknown`] da igual: cuenta como infinito).
    pub complete: u64,
}

impl Operation {
    fn pending(&self) -> bool {
        self.outcome == Outcome::Unknown
    }

    /// ¿Es una escritura confirmada?
    pub fn is_acknowledged_write(&self) -> bool {
        self.call != Call::Get && self.outcome == Outcome::Ok
    }
}

/// Un historial no linealizable de una clave, con las operaciones donde se atascó la
/// búsqueda (las que no se pudieron ordenar tras el prefijo linealizable más largo).
#[derive(Debug, Clone)]
pub struct Violation {
    /// La clave.
    pub key: String,
    /// Operaciones de la clave que entraron en la búsqueda.
    pub ops: usize,
    /// Cuántas se lograron linealizar como mucho.
    pub longest_prefix: usize,
    /// La operación cuya respuesta no se pudo alcanzar con ningún orden.
    pub stuck: Option<Operation>,
    /// Las operaciones alrededor del punto de atasco, en orden de invocación.
    pub around: Vec<Operation>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "clave {:?}: no linealizable ({} de {} operaciones linealizadas como mucho); alrededor del atasco:",
            self.key, self.longest_prefix, self.ops
        )?;
        let origin = self.around.iter().map(|o| o.invoke).min().unwrap_or(0);
        for op in &self.around {
            let ms = |t: u64| (t.saturating_sub(origin)) as f64 / 1e6;
            let done = match &op.outcome {
                Outcome::Unknown => "sin respuesta".to_string(),
                Outcome::Ok => format!("+OK a +{:.1} ms", ms(op.complete)),
                Outcome::Value(v) => format!("{v:?} a +{:.1} ms", ms(op.complete)),
            };
            let mark = if self.stuck.as_ref() == Some(op) {
                "   <- no linealizable"
            } else {
                ""
            };
            writeln!(
                f,
                "  cliente{} {:?} invocada a +{:.1} ms -> {done}{mark}",
                op.client,
                op.call,
                ms(op.invoke)
            )?;
        }
        Ok(())
    }
}

/// Comprueba un historial de varias claves. Devuelve una [`Violation`] por cada clave cuyo
/// historial no es linealizable (vacío: linealizable).
pub fn check(history: &[Operation]) -> Vec<Violation> {
    let mut by_key: HashMap<&str, Vec<&Operation>> = HashMap::new();
    for op in history {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    keys.sort_unstable();
    keys.into_iter()
        .filter_map(|k| check_key(k, by_key.get(k).map(Vec::as_slice).unwrap_or_default()))
        .collect()
}

/// Un evento de la lista: la invocación o la respuesta de una operación.
#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    /// Para una invocación, el índice de su respuesta.
    partner: usize,
    prev: usize,
    next: usize,
}

/// Índice "ninguno" de la lista enlazada.
const NIL: usize = usize::MAX;

/// El conjunto de operaciones linealizadas (su hash de Zobrist) y el estado del registro.
type MemoKey = (u128, Option<u32>);

/// El número de Zobrist de la operación `i` (splitmix64 dos veces: fijo y bien repartido).
fn zobrist(i: usize) -> u128 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(i as u64);
    (u128::from(a) << 64) | u128::from(mix(a ^ 0x5851_F42D_4C95_7F2D))
}

fn check_key(key: &str, ops: &[&Operation]) -> Option<Violation> {
    // Valores internados: el estado del registro es `Option<u32>` (`None` = nil).
    let mut values: HashMap<&str, u32> = HashMap::new();
    for op in ops {
        if let Call::Set(v) = &op.call {
            let next = values.len() as u32;
            values.entry(v.as_str()).or_insert(next);
        }
    }
    let observed: HashSet<Option<&str>> = ops
        .iter()
        .filter_map(|op| match (&op.call, &op.outcome) {
            (Call::Get, Outcome::Value(v)) => Some(v.as_deref()),
            _ => None,
        })
        .collect();
    // Fuera: lecturas fallidas (no aportan) y escrituras pendientes cuyo valor nadie leyó
    // (equivalen a linealizarlas al final, donde no afectan a nadie).
    let mut ops: Vec<&Operation> = ops
        .iter()
        .copied()
        .filter(|op| match (&op.call, &op.outcome) {
            (Call::Get, Outcome::Unknown) => false,
            (Call::Set(v), Outcome::Unknown) => observed.contains(&Some(v.as_str())),
            (Call::Del, Outcome::Unknown) => observed.contains(&None),
            _ => true,
        })
        .collect();
    ops.sort_by_key(|op| op.invoke);
    let n = ops.len();
    let ret_time = |op: &Operation| {
        if op.pending() {
            u64::MAX
        } else {
            op.complete.max(op.invoke)
        }
    };

    // Eventos ordenados por tiempo; a igualdad, las invocaciones antes que las respuestas
    // (así dos operaciones que se tocan cuentan como concurrentes: lo más permisivo).
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.invoke, false, i));
        order.push((ret_time(op), true, i));
    }
    order.sort_unstable();
    // El evento 0 es la cabecera; los demás van de 1 a 2n.
    let mut events = vec![
        Event {
            op: NIL,
            is_call: false,
            partner: NIL,
            prev: NIL,
            next: NIL,
        };
        2 * n + 1
    ];
    let mut return_of = vec![NIL; n];
    for (pos, &(_, is_return, op)) in order.iter().enumerate() {
        let idx = pos + 1;
        if let Some(e) = events.get_mut(idx) {
            *e = Event {
                op,
                is_call: !is_return,
                partner: NIL,
                prev: idx - 1,
                next: if idx < 2 * n { idx + 1 } else { NIL },
            };
        }
        if is_return {
            if let Some(r) = return_of.get_mut(op) {
                *r = idx;
            }
        }
    }
    if let Some(head) = events.get_mut(0) {
        head.next = if n > 0 { 1 } else { NIL };
    }
    for e in events.iter_mut().skip(1) {
        if e.is_call {
            e.partner = return_of[e.op];
        }
    }

    let mut linearized: u128 = 0;
    let mut state: Option<u32> = None;
    let mut stack: Vec<(usize, Option<u32>)> = Vec::new();
    let mut memo: HashSet<MemoKey> = HashSet::new();
    let mut best = 0usize;
    let mut stuck_at = 0usize;
    let mut cursor = events[0].next;

    loop {
        if events[0].next == NIL {
            return None;
        }
        let ev = events[cursor];
        if ev.is_call {
            let op = ops[ev.op];
            let next_state = match (&op.call, &op.outcome) {
                (Call::Set(v), _) => Some(values.get(v.as_str()).copied()),
                (Call::Del, _) => Some(None),
                (Call::Get, Outcome::Value(v)) => {
                    let want = v.as_deref().map(|v| values.get(v).copied());
                    match want {
                        None if state.is_none() => Some(None),
                        Some(Some(id)) if state == Some(id) => Some(state),
                        _ => None,
                    }
                }
                (Call::Get, _) => None,
            };
            if let Some(next_state) = next_state {
                let with_op = linearized ^ zobrist(ev.op);
                if memo.insert((with_op, next_state)) {
                    stack.push((cursor, state));
                    linearized = with_op;
                    state = next_state;
                    lift(&mut events, cursor);
                    if stack.len() > best {
                        best = stack.len();
                    }
                    cursor = events[0].next;
                    continue;
                }
            }
            cursor = ev.next;
        } else {
            // Una respuesta: todo lo invocado antes ya se intentó; hay que volver atrás.
            if stack.len() == best {
                stuck_at = ev.op;
            }
            let Some((call, old_state)) = stack.pop() else {
                return Some(violation(key, &ops, best, stuck_at));
            };
            state = old_state;
            linearized ^= zobrist(events[call].op);
            unlift(&mut events, call);
            cursor = events[call].next;
        }
    }
}

fn unlink(events: &mut [Event], idx: usize) {
    let (prev, next) = (events[idx].prev, events[idx].next);
    events[prev].next = next;
    if next != NIL {
        events[next].prev = prev;
    }
}

fn relink(events: &mut [Event], idx: usize) {
    let (prev, next) = (events[idx].prev, events[idx].next);
    events[prev].next = idx;
    if next != NIL {
        events[next].prev = idx;
    }
}

/// Quita una operación (su invocación y su respuesta) de la lista.
fn lift(events: &mut [Event], call: usize) {
    unlink(events, call);
    unlink(events, events[call].partner);
}

/// La vuelve a poner (en orden inverso al de [`lift`], como en los "dancing links").
fn unlift(events: &mut [Event], call: usize) {
    relink(events, events[call].partner);
    relink(events, call);
}

fn violation(key: &str, ops: &[&Operation], best: usize, stuck_at: usize) -> Violation {
    // Las operaciones de los 20 ms de antes y de después de la que no se pudo linealizar
    // (como mucho 50 a cada lado): la contradicción puede estar con una anterior o con una
    // posterior.
    let stuck = ops.get(stuck_at);
    let (from, to) = stuck.map_or((0, 0), |s| {
        (
            s.invoke.saturating_sub(20_000_000),
            s.complete.saturating_add(20_000_000),
        )
    });
    let before = ops
        .get(..stuck_at)
        .unwrap_or_default()
        .iter()
        .rev()
        .filter(|op| op.pending() || op.complete >= from)
        .take(50)
        .collect::<Vec<_>>();
    let after = ops
        .get(stuck_at..)
        .unwrap_or_default()
        .iter()
        .take_while(|op| op.invoke <= to)
        .take(51);
    let around: Vec<Operation> = before
        .into_iter()
        .rev()
        .chain(after)
        .map(|op| (*op).clone())
        .collect();
    Violation {
        key: key.to_string(),
        ops: ops.len(),
        longest_prefix: best,
        stuck: stuck.map(|s| (*s).clone()),
        around,
    }
}

/// La carga de [`record`].
#[derive(Debug, Clone)]
pub struct Workload {
    /// A qué direcciones RESP se conectan los clientes (el cliente `i` empieza por la
    /// `i % len` y pasa a la siguiente si la conexión falla).
    pub addrs: Vec<String>,
    /// Clientes concurrentes.
    pub clients: usize,
    /// Claves (`k0`, `k1`...).
    pub keys: usize,
    /// Cuánto dura la carga.
    pub duration: Duration,
    /// Tope de operaciones en total.
    pub max_ops: u64,
    /// Fracción de `DEL` entre las escrituras (0.0 a 1.0).
    pub del_ratio: f64,
    /// Plazo de lectura de cada respuesta: pasado, la operación queda como desconocida.
    pub timeout: Duration,
}

/// Lo grabado: el historial y cuántas operaciones hubo.
#[derive(Debug, Default)]
pub struct Recording {
    /// Todas las operaciones.
    pub history: Vec<Operation>,
}

impl Recording {
    /// Escrituras confirmadas.
    pub fn acknowledged_writes(&self) -> usize {
        self.history
            .iter()
            .filter(|o| o.is_acknowledged_write())
            .count()
    }

    /// La línea de resumen: `N ops, N acknowledged writes, N kills, N violations`.
    pub fn summary(&self, kills: usize, violations: usize) -> String {
        format!(
            "{} ops, {} acknowledged writes, {kills} kills, {violations} violations",
            self.history.len(),
            self.acknowledged_writes()
        )
    }
}

/// Lanza `workload.clients` clientes RESP reales que hacen `SET` (con valores únicos), `DEL`
/// y `GET` al azar sobre las claves hasta que pasa la duración, se llega al tope o `stop` se
/// activa; apunta cada operación con sus instantes (respecto a `origin`).
pub fn record(workload: &Workload, origin: Instant, stop: &AtomicBool) -> Recording {
    let done = AtomicU64::new(0);
    let history = Mutex::new(Vec::new());
    let deadline = Instant::now() + workload.duration;
    thread::scope(|s| {
        for c in 0..workload.clients {
            let (done, history) = (&done, &history);
            s.spawn(move || {
                let ops = client_loop(c, workload, origin, deadline, stop, done);
                if let Ok(mut h) = history.lock() {
                    h.extend(ops);
                }
            });
        }
    });
    let mut history = history.into_inner().unwrap_or_else(|e| e.into_inner());
    history.sort_by_key(|o| o.invoke);
    Recording { history }
}

fn client_loop(
    c: usize,
    w: &Workload,
    origin: Instant,
    deadline: Instant,
    stop: &AtomicBool,
    done: &AtomicU64,
) -> Vec<Operation> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let now = || origin.elapsed().as_nanos() as u64;
    let mut out = Vec::new();
    let mut client: Option<Client> = None;
    let mut addr_turn = c;
    let mut seq = 0u64;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if done.fetch_add(1, Ordering::Relaxed) >= w.max_ops {
            break;
        }
        let conn = match client.as_mut() {
            Some(conn) => conn,
            None => {
                let addr = w
                    .addrs
                    .get(addr_turn % w.addrs.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                addr_turn += 1;
                match Client::connect(&addr, w.timeout) {
                    Ok(conn) => client.insert(conn),
                    Err(_) => {
                        thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
            }
        };
        let key = format!("k{}", next() % w.keys.max(1) as u64);
        let call = if next() % 2 == 0 {
            Call::Get
        } else if (next() % 1000) as f64 / 1000.0 < w.del_ratio {
            Call::Del
        } else {
            seq += 1;
            Call::Set(format!("c{c}-{seq}"))
        };
        let invoke = now();
        let reply = match &call {
            Call::Set(v) => conn.command(&["SET", key.as_str(), v.as_str()]),
            Call::Del => conn.command(&["DEL", key.as_str()]),
            Call::Get => conn.command(&["GET", key.as_str()]),
        };
        let complete = now();
        let outcome = match (&call, &reply) {
            (Call::Set(_), Ok(Value::Simple(s))) if s == "OK" => Outcome::Ok,
            (Call::Del, Ok(Value::Integer(_))) => Outcome::Ok,
            (Call::Get, Ok(Value::Bulk(b))) => {
                Outcome::Value(Some(String::from_utf8_lossy(b).into_owned()))
            }
            (Call::Get, Ok(Value::Null)) => Outcome::Value(None),
            _ => Outcome::Unknown,
        };
        if reply.is_err() {
            // Corte o plazo agotado: otra conexión (quizá a otro nodo).
            client = None;
        } else if outcome == Outcome::Unknown {
            // `-NOQUORUM`, `-LOADING`...: un respiro para no girar en vacío.
            thread::sleep(Duration::from_millis(10));
        }
        out.push(Operation {
            client: c,
            key,
            call,
            outcome,
            invoke,
            complete,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Una operación a mano: `(cliente, orden, resultado, invocación, respuesta)` en ms.
    fn op(client: usize, call: Call, outcome: Outcome, invoke: u64, complete: u64) -> Operation {
        Operation {
            client,
            key: "x".into(),
            call,
            outcome,
            invoke: invoke * 1_000_000,
            complete: complete * 1_000_000,
        }
    }

    fn set(v: &str) -> Call {
        Call::Set(v.into())
    }

    fn got(v: &str) -> Outcome {
        Outcome::Value(Some(v.into()))
    }

    #[test]
    fn a_sequential_history_is_linearizable() {
        let h = vec![
            op(1, Call::Get, Outcome::Value(None), 0, 1),
            op(1, set("a"), Outcome::Ok, 2, 3),
            op(2, Call::Get, got("a"), 4, 5),
            op(2, set("b"), Outcome::Ok, 6, 7),
            op(1, Call::Get, got("b"), 8, 9),
            op(1, Call::Del, Outcome::Ok, 10, 11),
            op(2, Call::Get, Outcome::Value(None), 12, 13),
        ];
        assert!(check(&h).is_empty());
    }

    /// La historia del issue 15: `c1-234` visible, luego `c4-219` confirmada, y después
    /// se vuelve a leer `c1-234` (A -> B -> A).
    #[test]
    fn the_a_b_a_of_issue_15_is_a_violation() {
        let h = vec![
            op(1, set("c1-234"), Outcome::Unknown, 0, 0),
            op(5, Call::Get, got("c1-234"), 1, 6),
            op(4, set("c4-219"), Outcome::Ok, 9, 30),
            op(4, Call::Get, got("c1-234"), 33, 34),
            op(3, Call::Get, got("c1-234"), 36, 37),
        ];
        let v = check(&h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].to_string().contains("c4-219"), "{}", v[0]);
        // Con el `SET` de c1 confirmado antes de empezar el de c4, tampoco.
        let mut acked = h.clone();
        acked[0] = op(1, set("c1-234"), Outcome::Ok, 0, 2);
        assert_eq!(check(&acked).len(), 1);
        // Sin la segunda lectura de c1-234 sí es linealizable.
        assert!(check(&h[..3]).is_empty());
    }

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        // Dos SET solapados: las lecturas posteriores pueden ver cualquiera, pero todas el
        // mismo y sin volver atrás.
        let base = vec![
            op(1, set("a"), Outcome::Ok, 0, 10),
            op(2, set("b"), Outcome::Ok, 2, 8),
            op(3, Call::Get, got("a"), 3, 5),
        ];
        let mut ok = base.clone();
        ok.push(op(3, Call::Get, got("b"), 11, 12));
        assert!(check(&ok).is_empty(), "a (leída dentro) y luego b");
        let mut ok2 = base.clone();
        ok2.push(op(3, Call::Get, got("a"), 11, 12));
        assert!(check(&ok2).is_empty(), "b y luego a");
        // Una lectura concurrente con ambos que ve b, y luego otra que ve a, y luego b: no.
        let mut bad = base;
        bad.push(op(4, Call::Get, got("b"), 1, 2));
        bad.push(op(3, Call::Get, got("a"), 11, 12));
        bad.push(op(4, Call::Get, got("b"), 13, 14));
        assert_eq!(check(&bad).len(), 1);
    }

    #[test]
    fn a_read_cannot_see_a_value_before_it_was_written_or_never_written() {
        let early = vec![
            op(1, Call::Get, got("a"), 0, 1),
            op(2, set("a"), Outcome::Ok, 2, 3),
        ];
        assert_eq!(check(&early).len(), 1);
        let never = vec![op(1, Call::Get, got("z"), 0, 1)];
        assert_eq!(check(&never).len(), 1);
    }

    #[test]
    fn del_writes_nil_and_an_old_value_cannot_come_back() {
        let ok = vec![
            op(1, set("a"), Outcome::Ok, 0, 1),
            op(2, Call::Del, Outcome::Ok, 2, 3),
            op(1, Call::Get, Outcome::Value(None), 4, 5),
        ];
        assert!(check(&ok).is_empty());
        let mut bad = ok.clone();
        bad.push(op(2, Call::Get, got("a"), 6, 7));
        assert_eq!(check(&bad).len(), 1);
    }

    #[test]
    fn pending_writes_may_or_may_not_take_effect_but_only_once() {
        // Un SET sin respuesta puede no aplicarse nunca...
        let never = vec![
            op(1, set("a"), Outcome::Ok, 0, 1),
            op(2, set("b"), Outcome::Unknown, 2, 2),
            op(3, Call::Get, got("a"), 50, 51),
        ];
        assert!(check(&never).is_empty());
        // ...o aplicarse mucho más tarde (tras otra escritura confirmada)...
        let late = vec![
            op(2, set("b"), Outcome::Unknown, 0, 0),
            op(1, set("a"), Outcome::Ok, 5, 6),
            op(3, Call::Get, got("a"), 7, 8),
            op(3, Call::Get, got("b"), 50, 51),
        ];
        assert!(check(&late).is_empty());
        // ...pero no antes de invocarse, ni dos veces (b, a, b).
        let twice = vec![
            op(2, set("b"), Outcome::Unknown, 0, 0),
            op(3, Call::Get, got("b"), 1, 2),
            op(1, set("a"), Outcome::Ok, 5, 6),
            op(3, Call::Get, got("b"), 50, 51),
        ];
        assert_eq!(check(&twice).len(), 1);
        let before = vec![
            op(3, Call::Get, got("b"), 0, 1),
            op(2, set("b"), Outcome::Unknown, 2, 2),
        ];
        assert_eq!(check(&before).len(), 1);
        // Una lectura fallida no cuenta.
        let failed_read = vec![
            op(1, set("a"), Outcome::Ok, 0, 1),
            op(3, Call::Get, Outcome::Unknown, 2, 3),
        ];
        assert!(check(&failed_read).is_empty());
    }

    #[test]
    fn keys_are_checked_independently() {
        let mut h = vec![
            op(1, set("a"), Outcome::Ok, 0, 1),
            op(2, Call::Get, got("a"), 2, 3),
        ];
        let mut other = op(1, Call::Get, got("a"), 4, 5);
        other.key = "y".into();
        h.push(other);
        let v = check(&h);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].key, "y");
    }

    /// Miles de operaciones de ocho clientes sobre una clave, generadas a partir de una
    /// ejecución secuencial con solapes: linealizable, y se comprueba rápido gracias a la
    /// memoria de estados.
    #[test]
    fn a_long_concurrent_history_is_checked_quickly() {
        let mut h = Vec::new();
        let mut state: Option<String> = None;
        let mut rng = 12345u64;
        // Cada operación tiene su punto de linealización en `t`; invocación y respuesta se
        // abren hasta 8 ms alrededor, así que se solapan con varias vecinas.
        for i in 0..20_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let t = 10 + i * 2;
            let (call, outcome) = match rng % 5 {
                0 | 1 => {
                    let v = format!("v{i}");
                    state = Some(v.clone());
                    (Call::Set(v), Outcome::Ok)
                }
                2 => {
                    state = None;
                    (Call::Del, Outcome::Ok)
                }
                _ => (Call::Get, Outcome::Value(state.clone())),
            };
            let before = (rng >> 8) % 8;
            let after = (rng >> 16) % 8;
            h.push(op((i % 8) as usize, call, outcome, t - before, t + after));
        }
        let start = Instant::now();
        assert!(check(&h).is_empty());
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }
}
