//! Los relojes del servidor: el plazo de gracia tras una desconexión y el tiempo de turno.
//!
//! Un solo hilo vigila todos los plazos en un montículo ordenado por vencimiento, en vez de un
//! hilo dormido por plazo: mil partidas con `--turn-timeout` serían mil hilos. Programar un
//! plazo solo toma el cerrojo del montículo (una hoja del orden de cerrojos), así que se
//! puede hacer con el cerrojo de una partida en la mano. Al vencer, el hilo suelta el
//! montículo antes de avisar a la partida: quien decide si el plazo sigue valiendo es la
//! partida (comprueba la ronda y la jugada o la desconexión que lo creó).
//!
//! El reloj no sabe qué es una partida: guarda eventos de cualquier tipo `E` (el servidor usa
//! `games::TimerEvent`). Así este módulo es una hoja y no se importan uno a otro con `games`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use common::sync::wait_timeout;
use common::{lock, Shutdown};

struct Entry<E> {
    deadline: Instant,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

struct Heap<E> {
    entries: BinaryHeap<Reverse<Entry<E>>>,
    seq: u64,
}

/// Los plazos pendientes, con el evento que dispara cada uno.
pub struct Timers<E> {
    heap: Mutex<Heap<E>>,
    wake: Condvar,
}

impl<E> Default for Timers<E> {
    fn default() -> Self {
        Self {
            heap: Mutex::new(Heap {
                entries: BinaryHeap::new(),
                seq: 0,
            }),
            wake: Condvar::new(),
        }
    }
}

impl<E> Timers<E> {
    /// Programa `event` para dentro de `after`.
    pub fn schedule(&self, after: Duration, event: E) {
        let mut heap = lock(&self.heap);
        heap.seq += 1;
        let seq = heap.seq;
        heap.entries.push(Reverse(Entry {
            deadline: Instant::now() + after,
            seq,
            event,
        }));
        // Puede que el nuevo plazo venza antes que el que esperaba el hilo.
        self.wake.notify_one();
    }

    /// Despierta al hilo vigilante (al apagar).
    pub fn wake(&self) {
        let _heap = lock(&self.heap);
        self.wake.notify_all();
    }

    /// El bucle del hilo vigilante: espera al siguiente vencimiento y llama a `fire` con los
    /// vencidos, sin el cerrojo tomado, hasta que se dispare `shutdown`.
    pub fn run(&self, shutdown: &Shutdown, mut fire: impl FnMut(E)) {
        while !shutdown.is_triggered() {
            let due = {
                let mut heap = lock(&self.heap);
                // Comprobado con el cerrojo tomado: `wake()` también lo toma, así que su aviso
                // no puede perderse entre esta comprobación y la espera.
                if shutdown.is_triggered() {
                    return;
                }
                let now = Instant::now();
                let mut due = Vec::new();
                while heap
                    .entries
                    .peek()
                    .is_some_and(|Reverse(e)| e.deadline <= now)
                {
                    if let Some(Reverse(e)) = heap.entries.pop() {
                        due.push(e.event);
                    }
                }
                if due.is_empty() {
                    let wait = heap
                        .entries
                        .peek()
                        .map_or(Duration::from_secs(3600), |Reverse(e)| {
                            e.deadline.saturating_duration_since(now)
                        });
                    let _ = wait_timeout(&self.wake, heap, wait);
                    continue;
                }
                due
            };
            for event in due {
                fire(event);
            }
        }
    }
}
