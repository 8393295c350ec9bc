//! Bloqueos que sobreviven a un hilo que entró en pánico.
//!
//! Si un manejador de conexión entra en pánico con un `Mutex` tomado, ese `Mutex` queda
//! "envenenado" y `lock().unwrap()` haría caer a todos los demás hilos. El estado que
//! protegemos se modifica siempre en pasos completos (el cerrojo se toma solo para el cambio),
//! así que recuperarlo es seguro y mantiene vivo el servidor para los demás clientes.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, WaitTimeoutResult};
use std::time::Duration;

/// Toma el cerrojo aunque esté envenenado.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Espera en `condvar` como mucho `timeout`, recuperándose del envenenamiento.
pub fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
    condvar
        .wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn poisoned_mutex_is_recovered() {
        let m = Arc::new(Mutex::new(1));
        let m2 = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("pánico a propósito");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
