//! Descriptores de fichero: cuántos puede abrir el proceso y cuántas conexiones caben.
//!
//! Cada conexión cuesta al menos un descriptor (su socket), y el núcleo limita cuántos puede
//! tener abiertos un proceso (`RLIMIT_NOFILE`). El límite blando habitual es 1024 aunque el
//! duro sea mucho mayor: con él, un servidor de "mil clientes" se queda sin descriptores
//! antes de llegar a mil, `accept` falla con `EMFILE` y los clientes de más esperan en
//! silencio. Como el runtime de Go y `worker_rlimit_nofile` de nginx, al arrancar subimos el
//! límite blando hasta el duro ([`raise_nofile_limit`], una sola vez por proceso) y
//! acotamos el tope de conexiones a lo que cabe ([`connection_capacity`]).

use std::sync::OnceLock;

/// Descriptores que se reservan para lo que no son conexiones: el socket de escucha, la
/// salida estándar y de errores, ficheros de datos, sockets hacia otros servidores...
pub const RESERVED_FDS: u64 = 64;

/// El límite de descriptores del proceso tras intentar subirlo: `(blando, duro)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// El límite blando antes de subirlo.
    pub before: u64,
    /// El límite blando ahora (el que cuenta).
    pub soft: u64,
    /// El límite duro (el techo que un proceso sin privilegios no puede pasar).
    pub hard: u64,
}

/// Sube el límite blando de descriptores hasta el duro, una sola vez por proceso (las demás
/// llamadas devuelven lo mismo), y lo registra. `None` si no se puede consultar (otra
/// plataforma, o un fallo del sistema).
pub fn raise_nofile_limit() -> Option<NofileLimit> {
    static LIMIT: OnceLock<Option<NofileLimit>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let limit = raise()?;
        if limit.soft > limit.before {
            log::info!(
                "límite de descriptores subido de {} a {} (el máximo permitido)",
                limit.before,
                limit.soft
            );
        } else {
            log::debug!(
                "límite de descriptores: {} (duro {})",
                limit.soft,
                limit.hard
            );
        }
        Some(limit)
    })
}

#[cfg(target_os = "linux")]
fn raise() -> Option<NofileLimit> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (before, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let soft = if before < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        before
    };
    Some(NofileLimit { before, soft, hard })
}

#[cfg(not(target_os = "linux"))]
fn raise() -> Option<NofileLimit> {
    None
}

/// Cuántas conexiones caben con `soft` descriptores si cada una cuesta `per_connection`,
/// dejando [`RESERVED_FDS`] para lo demás (como mínimo 1).
///
/// ```
/// use common::fds::connection_capacity;
/// assert_eq!(connection_capacity(1024, 1), 960);
/// assert_eq!(connection_capacity(1024, 2), 480);
/// assert_eq!(connection_capacity(10, 1), 1);
/// ```
pub fn connection_capacity(soft: u64, per_connection: usize) -> usize {
    let per = u64::try_from(per_connection.max(1)).unwrap_or(u64::MAX);
    let fit = soft.saturating_sub(RESERVED_FDS) / per;
    usize::try_from(fit).unwrap_or(usize::MAX).max(1)
}

/// ¿Es este error de `accept` la falta de descriptores (`EMFILE` del proceso o `ENFILE` del
/// sistema)?
pub fn is_out_of_fds(e: &std::io::Error) -> bool {
    // EMFILE = 24, ENFILE = 23 en Linux (y en casi todos los Unix).
    matches!(e.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_at_and_around_the_reserve() {
        assert_eq!(connection_capacity(RESERVED_FDS, 1), 1);
        assert_eq!(connection_capacity(RESERVED_FDS + 1, 1), 1);
        assert_eq!(connection_capacity(RESERVED_FDS + 10, 2), 5);
        assert!(connection_capacity(u64::MAX, 0) > 1 << 40);
    }

    #[test]
    fn raising_is_idempotent_and_never_lowers() {
        if let Some(a) = raise_nofile_limit() {
            assert!(a.soft >= a.before);
            assert!(a.soft <= a.hard);
            assert_eq!(raise_nofile_limit(), Some(a));
        }
    }

    #[test]
    fn emfile_and_enfile_are_out_of_fds() {
        assert!(is_out_of_fds(&std::io::Error::from_raw_os_error(24)));
        assert!(is_out_of_fds(&std::io::Error::from_raw_os_error(23)));
        assert!(!is_out_of_fds(&std::io::Error::from_raw_os_error(104)));
    }
}
