//! El cliente *slowloris*: envía una petición byte a byte, un byte cada poco, y mira si el
//! servidor lo corta. Un plazo por lectura se renueva con cada byte y nunca lo corta; un plazo
//! total (`common::conn::DeadlineReader`) sí.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Lo que vio el cliente que goteaba.
#[derive(Debug)]
pub struct Cut {
    /// ¿Cerró el servidor la conexión? (`false`: venció antes la lectura de 10 s de la prueba.)
    pub closed: bool,
    /// Cuánto tardó, desde el primer byte.
    pub took: Duration,
    /// Lo que respondió el servidor antes de cerrar.
    pub reply: String,
}

/// Conecta con `addr` y envía `bytes` de uno en uno, uno cada `every`, hasta que el servidor
/// cierre (o hasta acabar `bytes`: el llamador acota cuánto dura el goteo). Lee la respuesta
/// hasta el cierre con el plazo de lectura de [`crate::connect`], así que nunca se cuelga.
pub fn trickle(addr: SocketAddr, bytes: Vec<u8>, every: Duration) -> Cut {
    let mut stream = crate::connect(addr);
    let mut writer = stream.try_clone().expect("try_clone");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = Arc::clone(&stop);
    let writing = thread::spawn(move || {
        for b in bytes {
            if stop_writer.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(every);
        }
    });
    let started = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 256];
    let closed = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if common::net::is_timeout(&e) => break false,
            Err(_) => break true,
        }
    };
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = writing.join();
    Cut {
        closed,
        took,
        reply: String::from_utf8_lossy(&got).into_owned(),
    }
}
