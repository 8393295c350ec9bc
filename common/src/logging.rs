//! Inicialización del registro (`log` + `env_logger`).
//!
//! Nivel `info` por omisión; la variable `RUST_LOG` lo cambia (`RUST_LOG=debug`). Todo va a
//! stderr: stdout queda para la línea de "escuchando en" y para lo que un cliente muestra.

/// Inicializa `env_logger` una sola vez; las llamadas siguientes no hacen nada.
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .try_init();
}
