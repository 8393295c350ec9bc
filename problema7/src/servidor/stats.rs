//! Contadores en vivo del proxy y su forma JSON.
//!
//! Cada contador es un `AtomicU64`: los hilos de las conexiones los incrementan sin tomar
//! ningún candado, así que medir no frena el reenvío. `GET http://proxy.local/stats` (o
//! `--stats-port`) devuelve una instantánea en JSON ([`Stats::to_json`]); las cifras de los
//! distintos contadores pueden no ser del mismo instante exacto, pero cada una es exacta.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::client::Mode;

/// Los contadores del proxy. Se comparte con `Arc<Stats>`.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    /// Peticiones HTTP atendidas (incluidas las rechazadas y las de estadísticas).
    pub requests: AtomicU64,
    /// Conexiones de clientes abiertas ahora.
    pub active_connections: AtomicU64,
    /// Conexiones de clientes aceptadas desde el arranque.
    pub connections_total: AtomicU64,
    /// Túneles `CONNECT` abiertos ahora.
    pub active_tunnels: AtomicU64,
    /// Túneles `CONNECT` establecidos desde el arranque.
    pub tunnels_total: AtomicU64,
    /// Bytes recibidos de los clientes (peticiones y túneles).
    pub bytes_from_clients: AtomicU64,
    /// Bytes enviados a los clientes (respuestas y túneles).
    pub bytes_to_clients: AtomicU64,
    /// Respuestas por clase: índice 0 = 1xx, ..., 4 = 5xx.
    pub status_classes: [AtomicU64; 5],
    /// Fallos con el origen: no se pudo conectar, respuesta basura o tiempo agotado.
    pub upstream_errors: AtomicU64,
    /// Conexiones nuevas abiertas hacia orígenes.
    pub upstream_connects: AtomicU64,
    /// Peticiones enviadas por una conexión al origen reutilizada.
    pub upstream_reused: AtomicU64,
    /// Peticiones por modo: explícito, inverso y transparente.
    pub modes: [AtomicU64; 3],
    /// Peticiones transparentes cuyo `Host` no coincidía con la dirección original.
    pub transparent_host_mismatch: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            active_connections: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            active_tunnels: AtomicU64::new(0),
            tunnels_total: AtomicU64::new(0),
            bytes_from_clients: AtomicU64::new(0),
            bytes_to_clients: AtomicU64::new(0),
            status_classes: Default::default(),
            upstream_errors: AtomicU64::new(0),
            upstream_connects: AtomicU64::new(0),
            upstream_reused: AtomicU64::new(0),
            modes: Default::default(),
            transparent_host_mismatch: AtomicU64::new(0),
        }
    }
}

/// Suma `n` a un contador.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    /// Anota una respuesta enviada al cliente con código `status`.
    pub fn record_status(&self, status: u16) {
        if !(100..600).contains(&status) {
            return;
        }
        if let Some(c) = self.status_classes.get(usize::from(status / 100 - 1)) {
            add(c, 1);
        }
    }

    /// Anota una petición atendida en el modo `mode`.
    pub(crate) fn record_mode(&self, mode: Mode) {
        let [forward, reverse, transparent] = &self.modes;
        add(
            match mode {
                Mode::Forward => forward,
                Mode::Reverse => reverse,
                Mode::Transparent => transparent,
            },
            1,
        );
    }

    /// Marca una conexión de cliente como activa hasta que se suelte el guardián devuelto.
    pub fn connection(self: &Arc<Self>) -> ActiveGuard {
        add(&self.connections_total, 1);
        ActiveGuard::new(Arc::clone(self), |s| &s.active_connections)
    }

    /// Marca un túnel como activo hasta que se suelte el guardián devuelto.
    pub fn tunnel(self: &Arc<Self>) -> ActiveGuard {
        add(&self.tunnels_total, 1);
        ActiveGuard::new(Arc::clone(self), |s| &s.active_tunnels)
    }

    /// Instantánea de todos los contadores como JSON.
    ///
    /// ```
    /// let stats = problema7::servidor::stats::Stats::default();
    /// stats.record_status(404);
    /// let json = stats.to_json();
    /// assert_eq!(json["status"]["4xx"], 1);
    /// assert_eq!(json["requests"], 0);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let [s1, s2, s3, s4, s5] = &self.status_classes;
        let [forward, reverse, transparent] = &self.modes;
        serde_json::json!({
            "uptime_secs": self.started.elapsed().as_secs(),
            "requests": get(&self.requests),
            "active_connections": get(&self.active_connections),
            "connections_total": get(&self.connections_total),
            "active_tunnels": get(&self.active_tunnels),
            "tunnels_total": get(&self.tunnels_total),
            "bytes_from_clients": get(&self.bytes_from_clients),
            "bytes_to_clients": get(&self.bytes_to_clients),
            "status": {
                "1xx": get(s1), "2xx": get(s2), "3xx": get(s3), "4xx": get(s4), "5xx": get(s5),
            },
            "upstream_errors": get(&self.upstream_errors),
            "upstream_connects": get(&self.upstream_connects),
            "upstream_reused": get(&self.upstream_reused),
            "modes": {
                "forward": get(forward), "reverse": get(reverse), "transparent": get(transparent),
            },
            "transparent_host_mismatch": get(&self.transparent_host_mismatch),
        })
    }
}

/// Resta uno a un contador de "activos" al soltarse (también si el hilo entra en pánico).
pub struct ActiveGuard {
    stats: Arc<Stats>,
    counter: fn(&Stats) -> &AtomicU64,
}

impl ActiveGuard {
    fn new(stats: Arc<Stats>, counter: fn(&Stats) -> &AtomicU64) -> Self {
        add(counter(&stats), 1);
        Self { stats, counter }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        (self.counter)(&self.stats).fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_active_and_total() {
        let stats = Arc::new(Stats::default());
        {
            let _a = stats.connection();
            let _b = stats.tunnel();
            let json = stats.to_json();
            assert_eq!(json["active_connections"], 1);
            assert_eq!(json["active_tunnels"], 1);
        }
        let json = stats.to_json();
        assert_eq!(json["active_connections"], 0);
        assert_eq!(json["active_tunnels"], 0);
        assert_eq!(json["connections_total"], 1);
        assert_eq!(json["tunnels_total"], 1);
    }

    #[test]
    fn statuses_are_grouped_by_class() {
        let stats = Stats::default();
        for s in [100, 200, 204, 302, 407, 502, 999, 0] {
            stats.record_status(s);
        }
        let json = stats.to_json();
        assert_eq!(json["status"]["1xx"], 1);
        assert_eq!(json["status"]["2xx"], 2);
        assert_eq!(json["status"]["3xx"], 1);
        assert_eq!(json["status"]["4xx"], 1);
        assert_eq!(json["status"]["5xx"], 1);
    }
}
