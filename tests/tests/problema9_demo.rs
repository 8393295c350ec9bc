//! La demostración de problema9 (`servidor` sin orden) manejada por una tubería, como la
//! manejaría un guion (issue 18): `stop nK` mata el nodo y `status` lo muestra `down`,
//! `apaga nK` lo da de baja, `start nK` lo trae de vuelta, `quit` apaga todo y no queda ni un
//! proceso hijo.
//!
//! Sin arnés de libtest (`harness = false`): la demostración lanza sus nodos como procesos
//! hijos con su propio ejecutable (`servidor nodo ...`), así que necesitamos un ejecutable
//! que *sea* el `servidor` de problema9, y `target/debug/servidor` puede ser el de otro
//! problema (cargo issue 6313). Este lo es cuando lleva la variable [`SERVER_ENV`]: incluye
//! `problema9/src/bin/servidor.rs` tal cual (`#[path]`) y ejecuta su `main`. Los nodos
//! heredan la variable, así que también son este ejecutable haciendo de `servidor nodo`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "../../problema9/src/bin/servidor.rs"]
mod servidor;

/// Con esta variable, el ejecutable hace de `servidor` de problema9.
const SERVER_ENV: &str = "PROBLEMA9_DEMO_SERVIDOR";

/// Plazo de toda la prueba: holgado para una máquina cargada (arrancar tres nodos, esperar a
/// que el balanceador vea uno caído y a que otro se ponga al día).
const DEADLINE: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    if std::env::var_os(SERVER_ENV).is_some() {
        servidor::main();
        return ExitCode::SUCCESS;
    }
    print!("problema9: la demostración por una tubería: stop mata, apaga da de baja, quit no deja hijos ... ");
    demo_through_a_pipe_kills_stops_restarts_and_leaves_no_child();
    println!("ok");
    ExitCode::SUCCESS
}

/// Mata por PID, al soltarse (también si la prueba falla), la demostración y los nodos que
/// haya anunciado.
struct Reaper {
    demo: Child,
    nodes: Vec<u32>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.demo.kill();
        let _ = self.demo.wait();
        for pid in &self.nodes {
            if is_alive(*pid) {
                // El `kill` de `sh`: no hace falta el paquete procps.
                let _ = Command::new("sh")
                    .args(["-c", &format!("kill -KILL {pid}")])
                    .status();
            }
        }
    }
}

/// ¿Sigue el proceso `pid`? (Un zombi ya terminó: solo espera a que lo recojan.)
fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Las líneas de la tabla de estado del balanceador (`ID DIRECCIÓN ESTADO ...`) que siguen a
/// la línea `after` (la primera que la contiene, desde `from`), con su posición final.
fn balancer_rows(lines: &[String], from: usize) -> (Vec<String>, usize) {
    let start = lines
        .iter()
        .skip(from)
        .position(|l| l.starts_with("ID ") && l.contains("ESTADO"))
        .map(|i| i + from + 1)
        .unwrap_or_else(|| {
            panic!(
                "falta una tabla del balanceador desde la línea {from}:\n{}",
                lines.join("\n")
            )
        });
    let rows: Vec<String> = lines
        .iter()
        .skip(start)
        .take_while(|l| !l.trim().is_empty())
        .cloned()
        .collect();
    let end = start + rows.len();
    (rows, end)
}

fn state_of<'a>(rows: &'a [String], id: &str) -> Option<&'a str> {
    rows.iter().find_map(|r| {
        let mut cells = r.split_whitespace();
        (cells.next() == Some(id)).then(|| cells.nth(1)).flatten()
    })
}

fn demo_through_a_pipe_kills_stops_restarts_and_leaves_no_child() {
    let logs = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current_exe");
    let demo = Command::new(exe)
        .env(SERVER_ENV, "1")
        .env("RUST_LOG", "info")
        .args(["--port", "0", "--control-port", "0", "--logs"])
        .arg(logs.path())
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lanzar la demostración");
    let mut reaper = Reaper {
        demo,
        nodes: Vec::new(),
    };
    let started = Instant::now();
    let deadline = started + DEADLINE;

    // La salida, línea a línea, por un canal: así cada espera tiene plazo.
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = reaper.demo.stdout.take().expect("stdout");
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = reaper.demo.stderr.take().expect("stderr");
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut lines: Vec<String> = Vec::new();
    let next_line = |lines: &mut Vec<String>| -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).ok()?;
        lines.push(line.clone());
        Some(line)
    };

    // Las primeras líneas: dónde escucha cada cosa, los PID de los nodos y las órdenes.
    loop {
        let line = next_line(&mut lines).unwrap_or_else(|| {
            panic!(
                "la demostración no terminó de arrancar en {DEADLINE:?}:\n{}",
                lines.join("\n")
            )
        });
        if let Some(rest) = line.strip_prefix("nodo n") {
            let pid: u32 = rest
                .split_once("pid ")
                .and_then(|(_, p)| p.split_once(',')?.0.parse().ok())
                .unwrap_or_else(|| panic!("línea de nodo sin pid: {line}"));
            reaper.nodes.push(pid);
        }
        if line.trim_start().starts_with("quit") {
            break;
        }
    }
    assert_eq!(reaper.nodes.len(), 3, "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("registros en") && l.contains(&*logs.path().to_string_lossy())),
        "las primeras líneas dicen dónde están los registros:\n{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.contains(" INFO ")),
        "el registro no va a la terminal:\n{}",
        lines.join("\n")
    );

    // Todas las órdenes de una vez: la demostración las atiende en orden.
    let mut stdin = reaper.demo.stdin.take().expect("stdin");
    stdin
        .write_all(b"status\nstop n2\nstatus\napaga n3\nstatus\nstart n2\nstatus\nquit\n")
        .expect("escribir las órdenes");
    drop(stdin);
    while next_line(&mut lines).is_some() {}
    // `start n2` lanzó otro proceso: también a la lista de los que no deben quedar.
    for line in &lines {
        if let Some((_, rest)) = line.split_once("arrancado (pid ") {
            if let Some(pid) = rest.split_once(')').and_then(|(p, _)| p.parse().ok()) {
                reaper.nodes.push(pid);
            }
        }
    }
    let status = loop {
        if let Some(status) = reaper.demo.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "la demostración no terminó tras `quit`:\n{}",
            lines.join("\n")
        );
        thread::sleep(Duration::from_millis(50));
    };
    let text = lines.join("\n");
    assert!(status.success(), "{status:?}\n{text}");
    assert_eq!(stderr.join().unwrap_or_default(), "", "{text}");

    let (before, end) = balancer_rows(&lines, 0);
    for id in ["n1", "n2", "n3"] {
        assert_eq!(
            state_of(&before, id),
            Some("up"),
            "{id} al principio:\n{text}"
        );
    }
    assert!(text.contains("nodo n2 muerto (SIGKILL"), "{text}");
    let (killed, end) = balancer_rows(&lines, end);
    assert_eq!(
        state_of(&killed, "n2"),
        Some("down"),
        "stop n2 es un kill:\n{text}"
    );
    assert_eq!(state_of(&killed, "n1"), Some("up"), "{text}");
    assert!(text.contains("nodo n3 apagado"), "{text}");
    let (stopped, end) = balancer_rows(&lines, end);
    assert_eq!(
        state_of(&stopped, "n3"),
        None,
        "apaga n3 lo da de baja:\n{text}"
    );
    assert!(text.contains("nodo n2 arrancado"), "{text}");
    let (restarted, _) = balancer_rows(&lines, end);
    assert_eq!(state_of(&restarted, "n2"), Some("up"), "start n2:\n{text}");
    assert!(text.contains("los registros quedan en"), "{text}");

    // Ni un hijo vivo, comprobado por PID; y cada nodo escribió su registro en su fichero.
    let gone = Instant::now() + Duration::from_secs(10);
    while reaper.nodes.iter().any(|p| is_alive(*p)) && Instant::now() < gone {
        thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<u32> = reaper
        .nodes
        .iter()
        .copied()
        .filter(|p| is_alive(*p))
        .collect();
    assert!(
        alive.is_empty(),
        "procesos de nodos vivos tras quit: {alive:?}"
    );
    for file in ["balanceador.log", "n1.log", "n2.log", "n3.log"] {
        let log = std::fs::read_to_string(logs.path().join(file)).unwrap_or_default();
        assert!(log.contains(" INFO "), "{file} vacío o sin registro");
    }
}
