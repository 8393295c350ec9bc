//! El cliente del problema 2 manejado por otro programa con sus dos tuberías (issue 16,
//! punto 4).
//!
//! Un programa que escribe la stdin del cliente y lee su stdout desde un solo hilo (como
//! `subprocess.run(..., input=b, capture_output=True)` de Python) dejaba al cliente bloqueado:
//! `io::copy` del socket a la tubería de stdout usaba `splice(2)` y el que llamaba se quedaba
//! esperando en su lectura sin escribir más entrada.
//!
//! Sin arnés de libtest (`harness = false`): el ejecutable se lanza a sí mismo como hijo con
//! la variable [`CHILD_ENV`], y el hijo hace exactamente lo que el binario `cliente` con una
//! tubería ([`problema2::cliente::stream_stdio`]). Así no dependemos de `target/debug/cliente`,
//! que en un espacio de trabajo puede ser el de otro problema (cargo issue 6313).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rand::{RngCore, SeedableRng};

/// Con esta variable (la dirección del servidor), el ejecutable hace de cliente.
const CHILD_ENV: &str = "PROBLEMA2_TUBERIAS_CLIENTE";

/// Bytes que atraviesan el cliente: 5 MiB, como en el informe del issue.
const PAYLOAD: usize = 5 << 20;

/// Plazo total de la prueba (holgado para una máquina cargada; sin el arreglo el cliente se
/// rendía a los 10 s de su tiempo de espera).
const DEADLINE: Duration = Duration::from_secs(120);

/// Lo que escribimos de cada vez tras un `POLLOUT`: con `PIPE_BUF` bytes la escritura no se
/// bloquea (lo mismo hace `communicate` de Python).
const PIPE_BUF: usize = 4096;

fn main() -> ExitCode {
    if let Ok(addr) = std::env::var(CHILD_ENV) {
        return child(&addr);
    }
    common::init_logging();
    print!("problema2: cliente con stdin y stdout por tuberías desde un solo hilo ... ");
    client_driven_through_both_pipes_by_one_thread_echoes_5_mib();
    println!("ok");
    ExitCode::SUCCESS
}

/// El hijo: el modo tubería del binario `cliente`.
fn child(addr: &str) -> ExitCode {
    let stream = match common::cli::connect_with_timeout(addr, Duration::from_secs(10)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: no se pudo conectar a {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match problema2::cliente::stream_stdio(&stream) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn client_driven_through_both_pipes_by_one_thread_echoes_5_mib() {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = tcp.local_addr().expect("local_addr");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let _server = tests::start_on(tcp, move |l, s| {
        problema2::run(l, udp, problema2::ServerConfig::default(), s)
    });

    let mut input = vec![0u8; PAYLOAD];
    rand::rngs::StdRng::seed_from_u64(16).fill_bytes(&mut input);
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .env(CHILD_ENV, addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lanzar el cliente hijo");
    let mut stdin = child.stdin.take();
    // Como `File`, las dos salidas tienen el mismo tipo y se atienden con el mismo código.
    let mut stdout = child.stdout.take().map(|p| File::from(OwnedFd::from(p)));
    let mut stderr = child.stderr.take().map(|p| File::from(OwnedFd::from(p)));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut written = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + DEADLINE;

    // Un solo hilo: esperar con poll a que alguna tubería esté lista y atenderla.
    while stdin.is_some() || stdout.is_some() || stderr.is_some() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "el cliente no terminó en {DEADLINE:?}: escritos {written}, leídos {} bytes",
                out.len()
            );
        }
        let ready = {
            let mut fds = Vec::new();
            if let Some(s) = &stdin {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLOUT));
            }
            if let Some(s) = &stdout {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            }
            if let Some(s) = &stderr {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => panic!("poll: {e}"),
            }
            fds.iter()
                .map(|fd| fd.revents().unwrap_or(PollFlags::empty()))
                .collect::<Vec<_>>()
        };
        let mut ready = ready.into_iter();
        if stdin.is_some() && !ready.next().unwrap_or(PollFlags::empty()).is_empty() {
            let chunk = input.get(written..(written + PIPE_BUF).min(PAYLOAD));
            match stdin.as_mut().map(|s| s.write(chunk.unwrap_or_default())) {
                Some(Ok(n)) => written += n,
                // El cliente terminó antes de leerlo todo: lo dirá su código de salida.
                Some(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => stdin = None,
                Some(Err(e)) => panic!("escribiendo la stdin del cliente: {e}"),
                None => {}
            }
            if written == PAYLOAD {
                // Cerrar la tubería es el fin de la entrada del cliente.
                stdin = None;
            }
        }
        for (pipe, sink) in [(&mut stdout, &mut out), (&mut stderr, &mut err)] {
            if pipe.is_none() || ready.next().unwrap_or(PollFlags::empty()).is_empty() {
                continue;
            }
            match pipe.as_mut().map(|p| p.read(&mut buf)) {
                Some(Ok(0)) => *pipe = None,
                Some(Ok(n)) => sink.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Some(Err(e)) => panic!("leyendo del cliente: {e}"),
                None => {}
            }
        }
    }
    let mut status = None;
    let left = deadline.saturating_duration_since(Instant::now());
    if !tests::wait_until(left, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    }) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("el cliente cerró sus tuberías pero no terminó");
    }
    let status = status.expect("wait_until vio el estado");
    assert!(
        status.success(),
        "el cliente terminó con {status} tras recibir {} de {PAYLOAD} bytes: {}",
        out.len(),
        String::from_utf8_lossy(&err)
    );
    assert_eq!(out.len(), PAYLOAD, "bytes de eco");
    assert!(out == input, "el eco difiere de lo enviado");
}
