//! Limitador de ritmo por "cubo de fichas" (token bucket), puro y sin hilos.
//!
//! Cada cliente de un chat tiene su [`TokenBucket`]: el cubo guarda como mucho `burst`
//! fichas y se rellena a `rate_per_sec` fichas por segundo; cada mensaje gasta una. Así se
//! admiten ráfagas cortas (pegar unas líneas) pero no un ritmo sostenido mayor que
//! `rate_per_sec` (una inundación). El tiempo lo pasa quien llama (`now`), de modo que las
//! pruebas no duermen: fabrican instantes.

use std::time::Instant;

/// Un cubo de fichas: admite ráfagas de `burst` y un ritmo sostenido de `rate_per_sec`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// Crea un cubo lleno (`burst` fichas) que se rellena a `rate_per_sec` fichas por segundo.
    ///
    /// Un ritmo negativo, infinito o `NaN` se trata como cero (solo la ráfaga inicial); con
    /// `burst` igual a cero no se admite nunca nada.
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        let rate_per_sec = if rate_per_sec.is_finite() && rate_per_sec > 0.0 {
            rate_per_sec
        } else {
            0.0
        };
        let burst = f64::from(burst);
        Self {
            rate_per_sec,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Intenta gastar una ficha en el instante `now`. Devuelve `true` si la había (el mensaje
    /// se admite) y `false` si el cubo está vacío (el cliente va demasiado rápido).
    ///
    /// Un `now` anterior al de la llamada previa (relojes de hilos distintos) no rellena nada
    /// ni hace fallar.
    ///
    /// ```
    /// use common::rate::TokenBucket;
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut bucket = TokenBucket::new(1.0, 2);
    /// assert!(bucket.try_take(t0));
    /// assert!(bucket.try_take(t0));
    /// assert!(!bucket.try_take(t0));
    /// assert!(bucket.try_take(t0 + Duration::from_secs(1)));
    /// ```
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Fichas disponibles ahora mismo (sin rellenar), para registros y pruebas.
    pub fn available(&self) -> f64 {
        self.tokens
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            // `saturating_duration_since` da cero si `now` es anterior a `last`.
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.burst);
            if now > last {
                self.last = Some(now);
            }
        } else {
            self.last = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn starts_full_and_allows_exactly_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5);
        for _ in 0..5 {
            assert!(b.try_take(t0));
        }
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0));
    }

    #[test]
    fn refills_at_the_given_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 1);
        assert!(b.try_take(t0));
        // 99 ms: aún no hay ficha entera; 100 ms: sí.
        assert!(!b.try_take(t0 + Duration::from_millis(99)));
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        assert!(!b.try_take(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn refill_never_exceeds_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000.0, 3);
        assert!(b.try_take(t0));
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(b.try_take(later));
        }
        assert!(!b.try_take(later));
    }

    #[test]
    fn zero_burst_never_allows() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100.0, 0);
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn zero_or_invalid_rate_allows_only_the_initial_burst() {
        let t0 = Instant::now();
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let mut b = TokenBucket::new(rate, 2);
            assert!(b.try_take(t0));
            assert!(b.try_take(t0));
            assert!(!b.try_take(t0 + Duration::from_secs(100)), "rate {rate}");
        }
    }

    #[test]
    fn time_going_backwards_does_not_refill_or_panic() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(1.0, 1);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - Duration::from_secs(5)));
        // Lo que cuenta sigue siendo `t0`: un segundo después hay una ficha.
        assert!(b.try_take(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn sustained_rate_is_respected_over_a_long_run() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(5.0, 5);
        let mut allowed = 0;
        // 10 s a 1000 intentos por segundo: 5 de ráfaga + 5 por segundo.
        for ms in 0..10_000u64 {
            if b.try_take(t0 + Duration::from_millis(ms)) {
                allowed += 1;
            }
        }
        assert!((54..=56).contains(&allowed), "{allowed}");
    }
}
