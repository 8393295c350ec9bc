//! Pruebas de extremo a extremo del problema 1 (intercambio TCP básico).

use std::io::{Read, Write};
use std::net::{Shutdown as NetShutdown, TcpListener};
use std::time::Duration;

use problema1::{ServerConfig, ServerError};
use tests::{require_tool, run_with_timeout, start_server, LineClient, ServerGuard};

fn start(config: ServerConfig) -> ServerGuard {
    start_server(move |l, s| problema1::run(l, config, s))
}

#[test]
fn message_round_trip_then_server_closes() {
    let server = start(ServerConfig::default());
    let mut c = LineClient::connect(server.addr);
    c.send("hola servidor");
    assert_eq!(c.line(), "recibido (13 bytes): hola servidor");
    assert_eq!(c.try_line(), None, "el servidor debe cerrar tras responder");
}

#[test]
fn server_keeps_serving_the_next_client() {
    let server = start(ServerConfig::default());
    for i in 0..5 {
        let mut c = LineClient::connect(server.addr);
        c.send(&format!("mensaje {i}"));
        assert_eq!(c.line(), format!("recibido (9 bytes): mensaje {i}"));
    }
}

#[test]
fn library_client_exchanges_a_message() {
    let server = start(ServerConfig::default());
    let stream = tests::connect(server.addr);
    let reply = problema1::cliente::exchange(&stream, "año").unwrap();
    assert_eq!(reply, "recibido (4 bytes): año");
}

#[test]
fn invalid_utf8_is_answered_lossily() {
    let server = start(ServerConfig::default());
    let mut c = LineClient::connect(server.addr);
    c.send_raw(b"\xff\xfeok\n");
    assert_eq!(c.line(), "recibido (4 bytes, no UTF-8): \u{fffd}\u{fffd}ok");
}

#[test]
fn message_without_newline_before_half_close_is_answered() {
    let server = start(ServerConfig::default());
    let mut c = LineClient::connect(server.addr);
    c.send_raw(b"sin salto");
    c.stream.shutdown(NetShutdown::Write).unwrap();
    assert_eq!(c.line(), "recibido (9 bytes): sin salto");
}

#[test]
fn oversized_message_gets_error_and_server_survives() {
    let server = start(ServerConfig {
        max_message: 100,
        ..ServerConfig::default()
    });
    let mut c = LineClient::connect(server.addr);
    // Sin salto de línea y mucho más largo que el límite: el servidor no debe acumularlo.
    let _ = c.stream.write_all(&vec![b'x'; 1 << 20]);
    assert_eq!(
        c.line(),
        "ERROR mensaje demasiado largo: el máximo es 100 bytes"
    );
    let mut ok = LineClient::connect(server.addr);
    ok.send("sigo vivo");
    assert_eq!(ok.line(), "recibido (9 bytes): sigo vivo");
}

#[test]
fn idle_client_times_out_with_a_message() {
    let server = start(ServerConfig {
        timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut c = LineClient::connect(server.addr);
    assert_eq!(
        c.line(),
        "ERROR tiempo agotado: no llegó ningún mensaje en 0 s"
    );
    assert_eq!(c.try_line(), None);
}

#[test]
fn once_mode_exits_after_the_first_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        once: true,
        ..ServerConfig::default()
    };
    let t = std::thread::spawn(move || problema1::run(listener, config, common::Shutdown::new()));
    let mut c = LineClient::connect(addr);
    c.send("única");
    assert_eq!(c.line(), "recibido (6 bytes): única");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !t.is_finished() {
        assert!(std::time::Instant::now() < deadline, "--once no terminó");
        std::thread::sleep(Duration::from_millis(10));
    }
    let result: Result<(), ServerError> = t.join().unwrap();
    result.unwrap();
}

#[test]
fn abrupt_reset_does_not_disturb_others() {
    let server = start(ServerConfig::default());
    let mut quiet = LineClient::connect(server.addr);
    {
        let rude = tests::connect(server.addr);
        (&rude).write_all(b"a medias").unwrap();
        // Cerrar sin leer con datos pendientes provoca un RST.
        drop(rude);
    }
    quiet.send("hola");
    assert_eq!(quiet.line(), "recibido (4 bytes): hola");
}

#[test]
fn nc_is_a_valid_client() {
    if !require_tool("nc") {
        return;
    }
    let server = start(ServerConfig::default());
    let out = run_with_timeout(
        std::process::Command::new("sh").arg("-c").arg(format!(
            "printf 'hola nc\\n' | nc 127.0.0.1 {}",
            server.addr.port()
        )),
        Duration::from_secs(10),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "recibido (7 bytes): hola nc\n"
    );
}

#[test]
fn shutdown_returns_promptly_with_clients_connected() {
    let mut server = start(ServerConfig::default());
    let idle: Vec<_> = (0..10).map(|_| tests::connect(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(50));
    server.stop().unwrap();
    for mut s in idle {
        let mut buf = [0u8; 64];
        // Cada cliente ve el cierre (fin de flujo o reset), no un tiempo agotado.
        if let Err(e) = s.read(&mut buf) {
            assert!(!common::net::is_timeout(&e), "cliente sin cerrar: {e}");
        }
    }
}

// ---- Issue 23: los programas del taller (mensaje sin `\n` y sin cierre) ------------------

/// Lo que hace el `cliente.py` del taller: `sendall("Mundo!")` sin salto de línea ni medio
/// cierre, y un solo `recv(1024)`.
fn skeleton_exchange(addr: std::net::SocketAddr, message: &[u8]) -> (String, Duration) {
    let mut s = tests::connect(addr);
    let started = std::time::Instant::now();
    s.write_all(message).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    (
        String::from_utf8_lossy(&buf[..n]).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn skeleton_client_without_newline_gets_its_reply_after_the_pause() {
    // Antes del arreglo: la respuesta era `ERROR tiempo agotado` a los 30 s (issue 23).
    let server = start(ServerConfig::default());
    let (reply, took) = skeleton_exchange(server.addr, b"Mundo!");
    assert_eq!(reply, "recibido (6 bytes): Mundo!\n");
    assert!(took < Duration::from_secs(5), "tardó {took:?}");
}

#[test]
fn newline_client_gets_no_added_latency_from_the_pause_rule() {
    // Con una pausa de 5 s, un mensaje con `\n` que esperase la pausa tardaría 5 s.
    let server = start(ServerConfig {
        pause: Some(Duration::from_secs(5)),
        ..ServerConfig::default()
    });
    let (reply, took) = skeleton_exchange(server.addr, b"hola\n");
    assert_eq!(reply, "recibido (4 bytes): hola\n");
    assert!(took < Duration::from_secs(3), "tardó {took:?}");
}

#[test]
fn per_byte_trickle_is_cut_at_the_total_deadline() {
    // Un byte cada 100 ms (más deprisa que la pausa de 1 s, así que ningún mensaje termina)
    // con un plazo total de 600 ms: antes, el plazo por lectura no vencía nunca.
    let server = start(ServerConfig {
        timeout: Duration::from_millis(600),
        pause: Some(Duration::from_secs(1)),
        ..ServerConfig::default()
    });
    let mut s = tests::connect(server.addr);
    let started = std::time::Instant::now();
    let writer = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            if (&writer).write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    let took = started.elapsed();
    assert!(got.starts_with("ERROR tiempo agotado"), "{got:?}");
    assert!(took < Duration::from_secs(6), "tardó {took:?}");
    drop(s);
    trickle.join().unwrap();
}

// ---- Issue 18: el apagado con conexiones en curso ---------------------------------------

/// Ctrl-C con un cliente conectado que aún no envió su mensaje: antes se le cerraba la
/// conexión sin una palabra (y el registro decía que él «cerró sin enviar nada»); ahora
/// recibe `ERROR servidor cerrándose` y el cierre.
#[test]
fn shutdown_tells_a_client_still_silent_that_the_server_is_closing() {
    let mut server = start(ServerConfig::default());
    let mut silent = LineClient::connect(server.addr);
    // Que el servidor lo haya aceptado antes de apagar: otro cliente responde, así que el
    // bucle de `accept` ya pasó por el primero.
    let mut other = LineClient::connect(server.addr);
    other.send("hola");
    assert_eq!(other.line(), "recibido (4 bytes): hola");
    server.stop().unwrap();
    assert_eq!(silent.line(), "ERROR servidor cerrándose");
    assert_eq!(silent.try_line(), None);
}

/// Quien ya envió su mensaje cuando llega el apagado recibe su respuesta, no el error.
#[test]
fn shutdown_still_answers_a_message_that_already_arrived() {
    let mut server = start(ServerConfig {
        // Sin pausa, el mensaje sin `\n` solo termina con el medio cierre.
        pause: None,
        ..ServerConfig::default()
    });
    let mut c = LineClient::connect(server.addr);
    c.send_raw(b"a punto");
    c.stream.shutdown(NetShutdown::Write).unwrap();
    assert_eq!(c.line(), "recibido (7 bytes): a punto");
    server.stop().unwrap();
}

/// Por encima del tope, el cliente recibe la línea de ocupado y los demás siguen.
#[test]
fn over_cap_client_is_told_the_server_is_busy() {
    let server = start(ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    });
    let mut first = LineClient::connect(server.addr);
    let mut busy = LineClient::connect(server.addr);
    assert_eq!(busy.line(), "ERROR servidor ocupado, pruebe más tarde");
    first.send("sigo");
    assert_eq!(first.line(), "recibido (4 bytes): sigo");
}
