//! La señal de apagado: Ctrl-C, SIGTERM o una llamada a [`Shutdown::trigger`] en los tests.
//!
//! Un `accept()` o un `read()` bloqueados no ven una bandera, así que `trigger()` además
//! ejecuta las acciones registradas con [`Shutdown::on_trigger`]: el bucle de aceptación
//! registra una que se conecta a su propio puerto (como hace `Drop for Server` en tiny-http)
//! y cada conexión se despierta con `TcpStream::shutdown(Read)` desde [`crate::server`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::sync::{lock, wait_timeout};

type Action = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    actions: Mutex<Vec<Action>>,
    // Para `wait_timeout`: se notifica al disparar.
    flag: Mutex<bool>,
    cond: Condvar,
}

/// Señal de apagado compartida. Clonarla es barato (un `Arc`).
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// Crea una señal sin disparar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Dispara el apagado: marca la bandera, despierta a quien espera en
    /// [`Shutdown::wait_timeout`] y ejecuta (una sola vez) las acciones registradas.
    pub fn trigger(&self) {
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        *lock(&self.inner.flag) = true;
        self.inner.cond.notify_all();
        let actions: Vec<Action> = std::mem::take(&mut *lock(&self.inner.actions));
        for action in actions {
            action();
        }
    }

    /// ¿Se ha pedido el apagado?
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Registra una acción que despierta algo bloqueado. Si el apagado ya se disparó, la
    /// acción se ejecuta enseguida.
    pub fn on_trigger(&self, action: impl FnOnce() + Send + 'static) {
        {
            let mut actions = lock(&self.inner.actions);
            if !self.is_triggered() {
                actions.push(Box::new(action));
                return;
            }
        }
        action();
    }

    /// Duerme como mucho `timeout`, pero despierta en cuanto se dispare el apagado.
    /// Devuelve `true` si se disparó. Sirve para bucles periódicos (comprobaciones de salud,
    /// latidos) que deben terminar sin esperar al siguiente ciclo.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut flag = lock(&self.inner.flag);
        while !*flag {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            flag = wait_timeout(&self.inner.cond, flag, deadline - now).0;
        }
        true
    }
}

/// Conecta Ctrl-C y SIGTERM con `shutdown.trigger()`. Una segunda señal termina el proceso
/// de inmediato (código 130), por si el apagado ordenado se atasca.
///
/// # Errores
/// Si ya había otro manejador de señales instalado en el proceso.
pub fn install_signal_handler(shutdown: &Shutdown) -> Result<(), ctrlc::Error> {
    let s = shutdown.clone();
    ctrlc::set_handler(move || {
        if s.is_triggered() {
            log::warn!("segunda señal: salida inmediata");
            std::process::exit(130);
        }
        log::info!("señal recibida: apagando");
        s.trigger();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn actions_run_once_and_late_ones_run_immediately() {
        let s = Shutdown::new();
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        s.on_trigger(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        s.trigger();
        s.trigger();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let c = Arc::clone(&count);
        s.on_trigger(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn wait_timeout_wakes_on_trigger() {
        let s = Shutdown::new();
        assert!(!s.wait_timeout(Duration::from_millis(10)));
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.wait_timeout(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        s.trigger();
        assert!(t.join().unwrap());
    }
}
