//! Los nueve clientes terminan igual (issue 18): el mismo código de salida y el mismo
//! prefijo `error: ` en español, con el cliente real como proceso (`tests::cliente`).
//!
//! Aquí va lo que es igual en los nueve: un servidor parado (código 3) y una línea de órdenes
//! no válida (código 2). Lo propio de cada uno (una respuesta de error, código 1; la salida
//! estándar cerrada con `| head`) está en las pruebas de su problema.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use tests::run_with_timeout;

/// Lo que necesita cada cliente para intentar conectarse sin preguntar nada.
const CLIENTS: &[(&str, &[&str])] = &[
    ("problema1", &["hola"]),
    ("problema2", &[]),
    ("problema3", &["--name", "ana"]),
    ("problema4", &["/"]),
    ("problema5", &["list"]),
    ("problema6", &["--name", "ana"]),
    ("problema7", &["http://127.0.0.1:9/"]),
    ("problema8", &["--name", "ana"]),
    ("problema9", &["get", "k"]),
];

/// Un puerto de loopback en el que no escucha nadie: se abre y se cierra.
fn stopped_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("escuchar");
    listener.local_addr().expect("dirección").port()
}

/// Ejecuta el cliente de `problem` con `args` (stdin vacía) y devuelve código y stderr.
fn run(problem: &str, args: &[String]) -> (Option<i32>, String) {
    let mut command = tests::cliente(problem);
    command.args(args).stdin(Stdio::null());
    let out = run_with_timeout(&mut command, Duration::from_secs(60));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_client_exits_3_when_the_server_is_stopped() {
    let mut bad = Vec::new();
    for (problem, extra) in CLIENTS {
        let port = stopped_port();
        let mut args = vec!["--port".to_string(), port.to_string()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let (code, stderr) = run(problem, &args);
        let first = stderr.lines().next().unwrap_or_default();
        let ok = code == Some(3)
            && first.starts_with("error: ")
            && first.contains("no se pudo conectar")
            && !stderr.contains("os error");
        if !ok {
            bad.push(format!("{problem}: código {code:?}, stderr {stderr:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_client_exits_2_on_a_bad_command_line() {
    let mut bad = Vec::new();
    for (problem, _) in CLIENTS {
        let (code, stderr) = run(problem, &["--puerto".to_string(), "1".to_string()]);
        if code != Some(2) || !stderr.starts_with("error: ") {
            bad.push(format!("{problem}: código {code:?}, stderr {stderr:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
