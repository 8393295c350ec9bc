//! Pruebas de extremo a extremo del problema 2 (eco por TCP y UDP).

use std::io::{self, Read, Write};
use std::net::{Shutdown as NetShutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use problema2::cliente::{ClientError, StreamEnd};
use problema2::ServerConfig;
use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use tests::{require_tool, run_with_timeout, start_on, ServerGuard};

/// Arranca el servidor con TCP y UDP en el mismo puerto libre.
fn start(config: ServerConfig) -> ServerGuard {
    // Puede que el puerto UDP esté ocupado por otro proceso: reintentamos con otro.
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        if let Ok(udp) = UdpSocket::bind(addr) {
            let config = config.clone();
            return start_on(tcp, move |l, s| problema2::run(l, udp, config, s));
        }
    }
    panic!("no se encontró un puerto libre para TCP y UDP a la vez");
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// Envía `data` y lee el eco a la vez (hay que leer mientras se envía: si no, con datos
/// grandes se llenan los buffers y ambos extremos se bloquean).
fn echo_through(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let stream = tests::connect(addr);
    let mut received = Vec::with_capacity(data.len());
    problema2::cliente::stream_tcp(&stream, io::Cursor::new(data.to_vec()), &mut received).unwrap();
    received
}

#[test]
fn short_message_comes_back_unchanged() {
    let server = start(ServerConfig::default());
    let mut s = tests::connect(server.addr);
    s.write_all(b"hola\n").unwrap();
    assert_eq!(tests::read_exact_n(&mut s, 5), b"hola\n");
    s.write_all(b"\x00\xff binario").unwrap();
    assert_eq!(tests::read_exact_n(&mut s, 10), b"\x00\xff binario");
}

#[test]
fn hundred_mib_binary_echo_is_identical() {
    let server = start(ServerConfig::default());
    let data = random_bytes(100 << 20, 1);
    let echoed = echo_through(server.addr, &data);
    assert_eq!(echoed.len(), data.len());
    assert_eq!(Sha256::digest(&echoed), Sha256::digest(&data));
}

#[test]
fn half_closed_connection_still_gets_the_rest_of_its_echo() {
    let server = start(ServerConfig::default());
    let mut s = tests::connect(server.addr);
    let data = random_bytes(1 << 20, 2);
    // Enviamos todo en un hilo y cerramos la escritura antes de leer nada.
    let mut w = s.try_clone().unwrap();
    let sent = data.clone();
    let t = thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w.shutdown(NetShutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    t.join().unwrap();
    assert_eq!(got, data);
}

#[test]
fn two_hundred_concurrent_clients_each_get_exactly_their_own_bytes() {
    let server = start(ServerConfig::default());
    let addr = server.addr;
    let handles: Vec<_> = (0..200u64)
        .map(|i| {
            thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + i);
                let len = rng.gen_range(1..64 * 1024);
                let data = random_bytes(len, 5000 + i);
                let echoed = echo_through(addr, &data);
                assert_eq!(echoed, data, "el cliente {i} recibió bytes ajenos");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn udp_datagrams_come_back_to_their_sender() {
    let server = start(ServerConfig::default());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for msg in [&b"hola udp"[..], b"", &random_bytes(60_000, 3)] {
        let echo =
            problema2::cliente::udp_exchange(&socket, server.addr, msg, Duration::from_secs(5))
                .unwrap();
        assert_eq!(echo, msg);
    }
}

#[test]
fn udp_without_server_times_out_with_a_clear_error() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let nobody = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = nobody.local_addr().unwrap();
    let err = problema2::cliente::udp_exchange(&socket, addr, b"x", Duration::from_millis(200))
        .unwrap_err();
    assert!(
        err.to_string().contains("no llegó la respuesta UDP"),
        "{err}"
    );
}

#[test]
fn over_cap_connections_are_refused_while_others_are_served() {
    let server = start(ServerConfig {
        max_connections: 3,
        ..ServerConfig::default()
    });
    let mut held: Vec<TcpStream> = (0..3).map(|_| tests::connect(server.addr)).collect();
    for s in &mut held {
        s.write_all(b"x").unwrap();
        assert_eq!(tests::read_exact_n(s, 1), b"x");
    }
    let mut extra = tests::connect(server.addr);
    let mut refusal = String::new();
    extra.read_to_string(&mut refusal).unwrap();
    assert!(refusal.starts_with("ERROR servidor lleno"), "{refusal:?}");
    for s in &mut held {
        s.write_all(b"sigo").unwrap();
        assert_eq!(tests::read_exact_n(s, 4), b"sigo");
    }
}

#[test]
fn abruptly_reset_client_does_not_disturb_others() {
    let server = start(ServerConfig::default());
    let mut good = tests::connect(server.addr);
    for _ in 0..20 {
        let rude = tests::connect(server.addr);
        (&rude).write_all(&random_bytes(256 * 1024, 9)).unwrap();
        drop(rude);
    }
    good.write_all(b"bien").unwrap();
    assert_eq!(tests::read_exact_n(&mut good, 4), b"bien");
}

#[test]
fn idle_tcp_client_is_disconnected() {
    let server = start(ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut s = tests::connect(server.addr);
    let mut buf = [0u8; 8];
    // El servidor cierra: fin de flujo, no nuestro tiempo de espera de 10 s.
    assert_eq!(s.read(&mut buf).unwrap(), 0);
}

#[test]
fn shutdown_returns_promptly_with_clients_connected() {
    let mut server = start(ServerConfig::default());
    let _clients: Vec<TcpStream> = (0..20).map(|_| tests::connect(server.addr)).collect();
    thread::sleep(Duration::from_millis(50));
    let started = std::time::Instant::now();
    server.stop().unwrap();
    // No es una aserción de rendimiento: el drenaje tiene un plazo de 3 s y aquí nada lo
    // necesita; si se agotara, algo no se despertó.
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn nc_gets_tcp_and_udp_echo() {
    if !require_tool("nc") {
        return;
    }
    let server = start(ServerConfig::default());
    let port = server.addr.port();
    let tcp = run_with_timeout(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf 'eco nc\\n' | nc -N 127.0.0.1 {port}")),
        Duration::from_secs(10),
    );
    assert_eq!(String::from_utf8_lossy(&tcp.stdout), "eco nc\n");
    let udp = run_with_timeout(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf 'eco udp\\n' | nc -u -w1 127.0.0.1 {port}")),
        Duration::from_secs(10),
    );
    assert_eq!(String::from_utf8_lossy(&udp.stdout), "eco udp\n");
}

/// Un servidor falso en un hilo: atiende `connections` conexiones con `handler` y termina.
fn fake_server(connections: usize, handler: fn(TcpStream)) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        for _ in 0..connections {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(tests::IO_TIMEOUT)).unwrap();
            handler(stream);
        }
    });
    (addr, handle)
}

/// Issue 23: un eco distinto de lo enviado (`HECHO` por `hecho`) no pasa por correcto.
#[test]
fn interactive_client_says_when_the_echo_differs_and_fails() {
    let (addr, server) = fake_server(1, |mut s| {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            let upper = buf[..n].to_ascii_uppercase();
            if s.write_all(&upper).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let result = problema2::cliente::interactive(
        || Ok(tests::connect(addr)),
        io::Cursor::new("hecho\nOK\n"),
        &mut shown,
    );
    server.join().unwrap();
    let shown = String::from_utf8(shown).unwrap();
    assert!(
        shown.contains("Eco: HECHO\nel eco no coincide: se envió «hecho» y volvió «HECHO»\n"),
        "{shown}"
    );
    assert!(shown.contains("Eco: OK\n"), "{shown}");
    assert_eq!(shown.matches("no coincide").count(), 1, "{shown}");
    assert!(
        matches!(result, Err(ClientError::EchoMismatch(1))),
        "{result:?}"
    );
}

/// Issue 23: con una tubería, un servidor que devuelve una parte y cierra (FIN) recibe una
/// línea en español que dice cuánto volvió.
#[test]
fn pipe_client_says_how_much_came_back_when_the_server_closes_early() {
    let (addr, server) = fake_server(1, |mut s| {
        let mut buf = [0u8; 1024];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
        s.shutdown(NetShutdown::Write).unwrap();
        // Seguimos leyendo (sin devolver nada) para que el cierre sea un FIN y no un RST.
        let _ = io::copy(&mut s, &mut io::sink());
    });
    let stream = tests::connect(addr);
    let data = random_bytes(4000, 7);
    let mut got = Vec::new();
    let err = problema2::cliente::stream_tcp(&stream, io::Cursor::new(data.clone()), &mut got)
        .unwrap_err();
    server.join().unwrap();
    assert_eq!(got, data[..1024]);
    // Lo enviado se cuenta tras cada escritura: con la máquina muy cargada, el emisor puede
    // no haber sumado aún su último trozo cuando se le deja de esperar.
    let ClientError::Incomplete {
        end: StreamEnd::Closed,
        received: 1024,
        sent,
    } = err
    else {
        panic!("{err:?}");
    };
    assert!((1024..=4000).contains(&sent), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("el servidor cerró la conexión antes de devolver todo el eco: volvieron 1024 de {sent} bytes enviados")
    );
}

// ---- Issue 18: el cliente interactivo ve el apagado del servidor en el acto ----------------

/// Antes, el cliente solo veía el cierre cuando el usuario volvía a escribir, y entonces decía
/// que el servidor cerró «sin devolver el eco». Ahora, con la entrada abierta y callada, la
/// sesión termina en cuanto el servidor se apaga, sin error: no quedaba nada pendiente.
#[test]
fn interactive_client_notices_a_server_shutdown_while_the_user_is_idle() {
    let mut server = start(ServerConfig::default());
    let addr = server.addr;
    let (input, mut keyboard) = io::pipe().unwrap();
    let (screen_tx, screen) = std::sync::mpsc::channel();
    let client = thread::spawn(move || {
        let connect = || {
            Ok(common::cli::connect_with_timeout(
                &addr.to_string(),
                tests::IO_TIMEOUT,
            )?)
        };
        problema2::cliente::interactive(connect, io::BufReader::new(input), Screen(screen_tx))
    });
    keyboard.write_all(b"hola\n").unwrap();
    // Lo que muestra el cliente, hasta el eco de `hola`; después el usuario calla.
    let mut shown = String::new();
    let deadline = std::time::Instant::now() + tests::IO_TIMEOUT;
    while !shown.contains("Eco: hola\n") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let bytes = screen.recv_timeout(left).expect("no llegó el eco");
        shown.push_str(&String::from_utf8_lossy(&bytes));
    }
    server.stop().unwrap();
    let ended = tests::wait_until(Duration::from_secs(10), || client.is_finished());
    // Antes del arreglo el cliente seguía esperando al teclado: se cierra para no dejarlo.
    drop(keyboard);
    assert!(ended, "el cliente no vio el cierre del servidor");
    assert_eq!(
        client.join().unwrap().expect("sin error"),
        problema2::cliente::SessionEnd::ServerClosed
    );
}

/// Con un servidor que cierra tras cada eco (el esqueleto del taller), ver el cierre mientras el
/// usuario calla no termina la sesión: se abre otra conexión y la línea siguiente tiene su eco.
#[test]
fn interactive_client_reconnects_while_idle_to_a_server_that_closes_after_each_echo() {
    let (addr, server) = fake_server(2, |mut s| {
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        s.write_all(&buf[..n]).unwrap();
    });
    let (input, mut keyboard) = io::pipe().unwrap();
    let (screen_tx, screen) = std::sync::mpsc::channel();
    let client = thread::spawn(move || {
        problema2::cliente::interactive(
            || Ok(tests::connect(addr)),
            io::BufReader::new(input),
            Screen(screen_tx),
        )
    });
    let mut shown = String::new();
    let mut show_until = |text: &str| {
        let deadline = std::time::Instant::now() + tests::IO_TIMEOUT;
        while !shown.contains(text) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let bytes = screen
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no llegó {text:?}: {shown}"));
            shown.push_str(&String::from_utf8_lossy(&bytes));
        }
    };
    keyboard.write_all(b"uno\n").unwrap();
    show_until("Eco: uno\n");
    // Callado varias vueltas de la vigilancia: el cliente ve el cierre y vuelve a conectar.
    thread::sleep(problema2::cliente::WATCH_EVERY * 5);
    keyboard.write_all(b"dos\n").unwrap();
    show_until("Eco: dos\n");
    drop(keyboard);
    let result = client.join().unwrap();
    server.join().unwrap();
    for bytes in screen.try_iter() {
        shown.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert_eq!(
        result.expect("sin error"),
        problema2::cliente::SessionEnd::InputEnded
    );
    assert_eq!(
        shown.matches(problema2::cliente::RECONNECT_NOTE).count(),
        1,
        "{shown}"
    );
    assert_eq!(shown.matches("Mensaje: ").count(), 3, "{shown}");
}

/// Una salida que entrega cada escritura por un canal, para ver la pantalla mientras tanto.
struct Screen(std::sync::mpsc::Sender<Vec<u8>>);

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Un servidor que devuelve la mitad del eco de una línea y cierra: la línea se cortó a medias
/// (código 4), no es un eco distinto (código 1).
#[test]
fn interactive_client_reports_an_echo_cut_in_the_middle() {
    let (addr, server) = fake_server(1, |mut s| {
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf[..2]).unwrap();
    });
    let mut shown = Vec::new();
    let result = problema2::cliente::interactive(
        || Ok(tests::connect(addr)),
        io::Cursor::new("hola\n"),
        &mut shown,
    );
    server.join().unwrap();
    let Err(
        err @ ClientError::Incomplete {
            received: 2,
            sent: 5,
            ..
        },
    ) = result
    else {
        panic!("{result:?}");
    };
    assert_eq!(common::exit::Failure::from(err).exit.code(), 4);
}
