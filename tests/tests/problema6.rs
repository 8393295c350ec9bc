//! Pruebas de extremo a extremo del problema 6 (chat con salas, privados y salas
//! persistentes), a través de sockets reales.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use problema6::ServerConfig;
use tests::{require_tool, run_with_timeout, start_server, LineClient, ServerGuard};

/// Configuración de prueba: el fichero de salas en `dir` y un límite de ritmo holgado (las
/// pruebas del límite de ritmo lo ajustan ellas mismas).
fn config(dir: &Path) -> ServerConfig {
    ServerConfig {
        rooms_file: dir.join("salas.json"),
        rate_per_sec: 1_000_000.0,
        rate_burst: 1_000_000,
        ..ServerConfig::default()
    }
}

fn start(config: ServerConfig) -> ServerGuard {
    start_server(move |l, s| problema6::run(l, config, s))
}

/// Conecta y entra como `name`; deja el cliente justo después de la línea
/// `Ahora estás en la sala general (...)` (sin leer un posible historial).
fn login(addr: SocketAddr, name: &str) -> LineClient {
    let mut c = LineClient::connect(addr);
    assert_eq!(c.line(), "Introduce tu nombre:");
    c.send(name);
    assert_eq!(c.line(), "ya estás conectado!");
    let here = c.line();
    assert!(
        here.starts_with("Ahora estás en la sala general ("),
        "{here}"
    );
    c
}

/// Envía `/users` y devuelve la respuesta: como el servidor atiende en orden las líneas de
/// cada cliente, también sirve para saber que todo lo anterior ya se procesó, y que no llegó
/// nada más antes (la siguiente línea debe ser la respuesta).
fn users(c: &mut LineClient) -> String {
    c.send("/users");
    c.line()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read_json(path: &PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON no válido ({e}): {text}"))
}

#[test]
fn name_handshake_rejects_taken_and_invalid_names_and_starts_in_general() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut b = LineClient::connect(server.addr);
    assert_eq!(b.line(), "Introduce tu nombre:");
    b.send("ana");
    assert_eq!(b.line(), "ERROR el nombre ana ya está en uso, elige otro");
    assert_eq!(b.line(), "Introduce tu nombre:");
    b.send("beto garcía");
    assert_eq!(b.line(), "ERROR el nombre no puede contener espacios");
    assert_eq!(b.line(), "Introduce tu nombre:");
    b.send("beto");
    assert_eq!(b.line(), "ya estás conectado!");
    assert_eq!(b.line(), "Ahora estás en la sala general (2 usuarios).");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    assert_eq!(users(&mut b), "Usuarios en general (2): ana, beto");
}

#[test]
fn plain_lines_reach_only_the_members_of_your_room() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    let mut carla = login(server.addr, "carla");
    assert_eq!(ana.line(), "carla se ha unido al Chat.");
    assert_eq!(beto.line(), "carla se ha unido al Chat.");

    ana.send("/create juegos");
    assert_eq!(ana.line(), "Sala juegos creada.");
    assert_eq!(ana.line(), "Ahora estás en la sala juegos (1 usuario).");
    assert_eq!(beto.line(), "ana ha salido de la sala.");
    assert_eq!(carla.line(), "ana ha salido de la sala.");

    beto.send("/join juegos");
    assert_eq!(beto.line(), "Ahora estás en la sala juegos (2 usuarios).");
    assert_eq!(ana.line(), "beto se ha unido a la sala.");
    assert_eq!(carla.line(), "beto ha salido de la sala.");

    carla.send("hola general");
    ana.send("hola juegos");
    assert_eq!(beto.line(), "ana: hola juegos");
    // Ni ana ni beto recibieron el mensaje de general; carla no recibió el de juegos.
    assert_eq!(users(&mut ana), "Usuarios en juegos (2): ana, beto");
    assert_eq!(users(&mut beto), "Usuarios en juegos (2): ana, beto");
    assert_eq!(users(&mut carla), "Usuarios en general (1): carla");

    ana.send("/rooms");
    assert_eq!(ana.line(), "Salas (2):");
    assert_eq!(ana.line(), "- general (1 usuario)");
    assert_eq!(ana.line(), "- juegos (2 usuarios)");

    // Al volver a general, beto ve su historial y deja de recibir lo de juegos.
    beto.send("/leave");
    assert_eq!(beto.line(), "Ahora estás en la sala general (2 usuarios).");
    assert_eq!(beto.line(), "--- último mensaje de general ---");
    assert_eq!(beto.line(), "carla: hola general");
    assert_eq!(beto.line(), "--- fin del historial ---");
    assert_eq!(ana.line(), "beto ha salido de la sala.");
    assert_eq!(carla.line(), "beto se ha unido a la sala.");
    ana.send("solo para juegos");
    assert_eq!(users(&mut ana), "Usuarios en juegos (1): ana");
    assert_eq!(users(&mut beto), "Usuarios en general (2): beto, carla");
}

#[test]
fn room_commands_report_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    for (line, reply) in [
        (
            "/join nada",
            "ERROR la sala nada no existe; créala con /create nada",
        ),
        ("/join general", "ERROR ya estás en la sala general"),
        (
            "/leave",
            "ERROR ya estás en general; para desconectarte usa /quit",
        ),
        (
            "/create general",
            "ERROR la sala general ya existe; entra con /join general",
        ),
        (
            "/create mala/sala",
            "ERROR el nombre de la sala solo admite letras, dígitos, `-` y `_` (contiene '/')",
        ),
        ("/join", "ERROR uso: /join SALA"),
        ("/msg ana", "ERROR uso: /msg USUARIO texto"),
        ("/msg nadie hola", "ERROR el usuario nadie no existe"),
        ("/nick ana", "ERROR ya te llamas ana"),
        ("/nick a:b", "ERROR el nombre no puede contener ':'"),
        (
            "/bailar",
            "ERROR orden desconocida: /bailar. Escribe /help para ver las órdenes",
        ),
    ] {
        ana.send(line);
        assert_eq!(ana.line(), reply, "{line}");
    }
    ana.send("/help");
    assert_eq!(
        ana.line(),
        "Órdenes (entre paréntesis, el alias en español):"
    );
    for _ in 1..problema6::protocolo::HELP.len() {
        ana.line();
    }
    assert_eq!(users(&mut ana), "Usuarios en general (1): ana");
}

#[test]
fn spanish_aliases_work_like_the_english_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    ana.send("/crear música");
    assert_eq!(ana.line(), "Sala música creada.");
    assert_eq!(ana.line(), "Ahora estás en la sala música (1 usuario).");
    assert_eq!(beto.line(), "ana ha salido de la sala.");
    beto.send("/unirse música");
    assert_eq!(beto.line(), "Ahora estás en la sala música (2 usuarios).");
    assert_eq!(ana.line(), "beto se ha unido a la sala.");
    ana.send("/usuarios");
    assert_eq!(ana.line(), "Usuarios en música (2): ana, beto");
    ana.send("/privado beto psst");
    assert_eq!(ana.line(), "[privado a beto] psst");
    assert_eq!(beto.line(), "[privado] ana: psst");
    beto.send("/salir");
    assert_eq!(beto.line(), "Ahora estás en la sala general (1 usuario).");
    assert_eq!(ana.line(), "beto ha salido de la sala.");
    beto.send("/salas");
    assert_eq!(beto.line(), "Salas (2):");
    assert_eq!(beto.line(), "- general (1 usuario)");
    assert_eq!(beto.line(), "- música (1 usuario)");
    beto.send("/ayuda");
    assert_eq!(
        beto.line(),
        "Órdenes (entre paréntesis, el alias en español):"
    );
}

#[test]
fn private_messages_reach_only_the_recipient_even_across_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    let mut carla = login(server.addr, "carla");
    assert_eq!(ana.line(), "carla se ha unido al Chat.");
    assert_eq!(beto.line(), "carla se ha unido al Chat.");
    carla.send("/create aparte");
    assert_eq!(carla.line(), "Sala aparte creada.");
    assert_eq!(carla.line(), "Ahora estás en la sala aparte (1 usuario).");
    assert_eq!(ana.line(), "carla ha salido de la sala.");
    assert_eq!(beto.line(), "carla ha salido de la sala.");

    ana.send("/msg carla secreto: 42");
    assert_eq!(ana.line(), "[privado a carla] secreto: 42");
    assert_eq!(carla.line(), "[privado] ana: secreto: 42");
    assert_eq!(users(&mut beto), "Usuarios en general (2): ana, beto");
    assert_eq!(users(&mut carla), "Usuarios en aparte (1): carla");
}

#[test]
fn nick_is_announced_and_the_new_name_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    beto.send("/nick roberto");
    assert_eq!(beto.line(), "Ahora te llamas roberto.");
    assert_eq!(ana.line(), "beto ahora se llama roberto.");
    beto.send("/nick ana");
    assert_eq!(
        beto.line(),
        "ERROR el nombre ana ya está en uso, elige otro"
    );
    beto.send("hola");
    assert_eq!(ana.line(), "roberto: hola");
    ana.send("/msg beto ¿sigues?");
    assert_eq!(ana.line(), "ERROR el usuario beto no existe");
    assert_eq!(users(&mut ana), "Usuarios en general (2): ana, roberto");
    // El nombre viejo queda libre.
    let _beto2 = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
}

#[test]
fn topics_are_shown_listed_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    ana.send("/topic");
    assert_eq!(ana.line(), "La sala general no tiene tema.");
    ana.send("/tema de todo un poco");
    assert_eq!(
        ana.line(),
        "ana ha cambiado el tema de la sala: de todo un poco"
    );
    ana.send("/topic");
    assert_eq!(ana.line(), "Tema de general: de todo un poco");
    ana.send(&format!("/topic {}", "t".repeat(201)));
    assert_eq!(ana.line(), "ERROR el tema tiene más de 200 caracteres");
    ana.send("/rooms");
    assert_eq!(ana.line(), "Salas (1):");
    assert_eq!(ana.line(), "- general (1 usuario): de todo un poco");
}

#[test]
fn room_count_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        max_rooms: 2,
        ..config(dir.path())
    });
    let mut ana = login(server.addr, "ana");
    ana.send("/create una");
    assert_eq!(ana.line(), "Sala una creada.");
    ana.line();
    ana.send("/create otra");
    assert_eq!(ana.line(), "ERROR no se pueden crear más salas (máximo 2)");
}

#[test]
fn handshake_gives_up_after_too_many_bad_names_or_too_much_silence() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut c = LineClient::connect(server.addr);
    assert_eq!(c.line(), "Introduce tu nombre:");
    let attempts = problema6::protocolo::MAX_NAME_ATTEMPTS;
    for i in 1..=attempts {
        c.send("a:b");
        assert_eq!(c.line(), "ERROR el nombre no puede contener ':'");
        if i < attempts {
            assert_eq!(c.line(), "Introduce tu nombre:");
        }
    }
    assert_eq!(
        c.line(),
        "ERROR demasiados intentos de nombre: desconectado"
    );
    c.expect_closed();
    // Quien no dice nada se queda sin plazo (otro servidor, con un plazo corto).
    let quick = start(ServerConfig {
        handshake_timeout: Duration::from_millis(300),
        ..config(dir.path())
    });
    let mut quiet = LineClient::connect(quick.addr);
    assert_eq!(quiet.line(), "Introduce tu nombre:");
    assert_eq!(
        quiet.line(),
        "ERROR no elegiste nombre a tiempo: desconectado"
    );
    quiet.expect_closed();
}

#[test]
fn joiner_sees_the_last_20_messages_of_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    ana.send("/create historia");
    assert_eq!(ana.line(), "Sala historia creada.");
    assert_eq!(ana.line(), "Ahora estás en la sala historia (1 usuario).");
    ana.send("/topic crónicas");
    assert_eq!(ana.line(), "ana ha cambiado el tema de la sala: crónicas");
    for i in 0..25 {
        ana.send(&format!("m{i}"));
    }
    assert_eq!(users(&mut ana), "Usuarios en historia (1): ana");

    let mut beto = login(server.addr, "beto");
    beto.send("/join historia");
    assert_eq!(beto.line(), "Ahora estás en la sala historia (2 usuarios).");
    assert_eq!(beto.line(), "Tema de historia: crónicas");
    assert_eq!(beto.line(), "--- últimos 20 mensajes de historia ---");
    for i in 5..25 {
        assert_eq!(beto.line(), format!("ana: m{i}"));
    }
    assert_eq!(beto.line(), "--- fin del historial ---");
    assert_eq!(ana.line(), "beto se ha unido a la sala.");
    ana.send("en directo");
    assert_eq!(beto.line(), "ana: en directo");
}

#[test]
fn rooms_and_topics_survive_a_restart_in_an_atomic_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("salas.json");
    let mut server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    ana.send("/create juegos");
    assert_eq!(ana.line(), "Sala juegos creada.");
    ana.line();
    // La sala ya está en disco cuando llega la confirmación (un corte no la pierde).
    assert_eq!(read_json(&path)["rooms"][1]["name"], "juegos");
    ana.send("/topic de mesa");
    assert_eq!(ana.line(), "ana ha cambiado el tema de la sala: de mesa");
    server.stop().unwrap();
    // Al apagar se avisa a todos.
    assert_eq!(ana.line(), "servidor cerrándose");
    ana.expect_closed();

    assert_eq!(
        files_in(dir.path()),
        vec!["salas.json"],
        "quedó un temporal"
    );
    let json = read_json(&path);
    assert_eq!(json["version"], 1);
    let rooms = json["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 2, "{json}");
    assert_eq!(rooms[0]["name"], "general");
    assert_eq!(rooms[0]["creator"], "servidor");
    assert_eq!(rooms[1]["name"], "juegos");
    assert_eq!(rooms[1]["creator"], "ana");
    assert_eq!(rooms[1]["topic"], "de mesa");
    assert!(rooms[1]["created_at"].as_u64().unwrap() > 1_600_000_000);

    let server = start(config(dir.path()));
    let mut beto = login(server.addr, "beto");
    beto.send("/rooms");
    assert_eq!(beto.line(), "Salas (2):");
    assert_eq!(beto.line(), "- general (1 usuario)");
    assert_eq!(beto.line(), "- juegos (0 usuarios): de mesa");
    beto.send("/join juegos");
    assert_eq!(beto.line(), "Ahora estás en la sala juegos (1 usuario).");
    assert_eq!(beto.line(), "Tema de juegos: de mesa");
}

#[test]
fn corrupt_rooms_file_is_set_aside_and_server_starts_with_general() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("salas.json");
    std::fs::write(&path, b"{\"version\": 1, \"rooms\": [{\"name\": ").unwrap();
    let mut server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    ana.send("/rooms");
    assert_eq!(ana.line(), "Salas (1):");
    assert_eq!(ana.line(), "- general (1 usuario)");
    server.stop().unwrap();
    let files = files_in(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0] == "salas.json", "{files:?}");
    assert!(files[1].starts_with("salas.json.corrupto-"), "{files:?}");
    let json = read_json(&path);
    assert_eq!(json["rooms"][0]["name"], "general");
    // El original se conserva tal cual para quien quiera recuperarlo.
    let aside = std::fs::read(dir.path().join(&files[1])).unwrap();
    assert_eq!(aside, b"{\"version\": 1, \"rooms\": [{\"name\": ");
}

#[test]
fn concurrent_creates_of_the_same_room_leave_exactly_one() {
    const N: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("salas.json");
    let server = start(config(dir.path()));
    let barrier = Arc::new(Barrier::new(N));
    let addr = server.addr;
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut c = login(addr, &format!("u{i}"));
                barrier.wait();
                c.send("/create carrera");
                let reply = c.line_matching(|l| {
                    l == "Sala carrera creada." || l.starts_with("ERROR la sala carrera")
                });
                (reply, c)
            })
        })
        .collect();
    let results: Vec<(String, LineClient)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created = results
        .iter()
        .filter(|(r, _)| r == "Sala carrera creada.")
        .count();
    assert_eq!(created, 1);
    for (reply, _) in &results {
        assert!(
            reply == "Sala carrera creada."
                || reply == "ERROR la sala carrera ya existe; entra con /join carrera",
            "{reply}"
        );
    }
    let mut c = login(addr, "observador");
    c.send("/rooms");
    assert_eq!(c.line(), "Salas (2):");
    assert!(c.line().starts_with("- carrera (1 usuario)"));
    let json = read_json(&path);
    let names: Vec<&str> = json["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["carrera", "general"]);
}

#[test]
fn nobody_receives_a_room_message_after_leaving_it_while_others_come_and_go() {
    const WALKERS: usize = 6;
    const ROUNDS: usize = 15;
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let addr = server.addr;
    let mut emisor = login(addr, "emisor");
    emisor.send("/create ruido");
    assert_eq!(emisor.line(), "Sala ruido creada.");
    emisor.line();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done_emisor = Arc::clone(&done);
    let emitter = thread::spawn(move || {
        let mut n = 0;
        while !done_emisor.load(std::sync::atomic::Ordering::SeqCst) {
            for _ in 0..5 {
                emisor.send(&format!("r{n}"));
                n += 1;
            }
            // Al ritmo al que el servidor lo atiende, para no llenar la cola de nadie.
            emisor.send("/users");
            emisor.line_matching(|l| l.starts_with("Usuarios en ruido"));
        }
        n
    });
    let walkers: Vec<_> = (0..WALKERS)
        .map(|i| {
            thread::spawn(move || {
                let mut c = login(addr, &format!("w{i}"));
                for _ in 0..ROUNDS {
                    c.send("/join ruido");
                    c.line_matching(|l| l.starts_with("Ahora estás en la sala ruido"));
                    c.send("/leave");
                    c.line_matching(|l| l.starts_with("Ahora estás en la sala general"));
                    c.send("/users");
                    loop {
                        let l = c.line();
                        if l.starts_with("Usuarios en general") {
                            break;
                        }
                        assert!(!l.starts_with("emisor: "), "llegó tras salir: {l}");
                    }
                }
            })
        })
        .collect();
    for w in walkers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(emitter.join().unwrap() > 0);
}

#[test]
fn a_hundred_clients_in_five_rooms_each_get_exactly_their_rooms_messages() {
    const CLIENTS: usize = 100;
    const ROOMS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let addr = server.addr;
    let mut admin = login(addr, "admin");
    for k in 0..ROOMS {
        admin.send(&format!("/create s{k}"));
        admin.line_matching(|l| l.starts_with(&format!("Ahora estás en la sala s{k}")));
    }
    admin.send("/leave");
    admin.line_matching(|l| l.starts_with("Ahora estás en la sala general"));
    let joined = Arc::new(Barrier::new(CLIENTS));
    let finished = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let joined = Arc::clone(&joined);
            let finished = Arc::clone(&finished);
            thread::spawn(move || {
                let room = i % ROOMS;
                let mut c = login(addr, &format!("u{i}"));
                c.send(&format!("/join s{room}"));
                c.line_matching(|l| l.starts_with(&format!("Ahora estás en la sala s{room}")));
                joined.wait();
                c.send(&format!("hola de u{i}"));
                let mut heard = 0;
                while heard < CLIENTS / ROOMS - 1 {
                    let l = c.line();
                    if let Some((who, rest)) = l.split_once(": hola de ") {
                        assert_eq!(who, rest, "{l}");
                        let j: usize = who.trim_start_matches('u').parse().unwrap();
                        assert_eq!(j % ROOMS, room, "u{i} en s{room} recibió {l}");
                        assert_ne!(j, i, "u{i} recibió su propio mensaje");
                        heard += 1;
                    }
                }
                finished.wait();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // admin, en general, vio entrar y salir a todos pero ningún mensaje de las salas.
    admin.send("/users");
    loop {
        let l = admin.line();
        if l.starts_with("Usuarios en general") {
            break;
        }
        assert!(!l.contains(": hola de "), "admin recibió {l}");
    }
}

#[test]
fn oversized_line_gets_error_and_connection_survives() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        max_line_bytes: 100,
        ..config(dir.path())
    });
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    ana.send(&"x".repeat(10_000));
    assert_eq!(
        ana.line(),
        "ERROR línea demasiado larga: el máximo es 100 bytes"
    );
    ana.send(&"y".repeat(100));
    assert_eq!(beto.line(), format!("ana: {}", "y".repeat(100)));
    assert_eq!(users(&mut ana), "Usuarios en general (2): ana, beto");
}

#[test]
fn endless_line_without_newline_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        max_line_bytes: 100,
        ..config(dir.path())
    });
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    let chunk = vec![b'z'; 64 * 1024];
    // Más de 1 MiB sin salto de línea: el servidor avisa y cierra (el envío puede fallar
    // en cuanto cierra, y eso es lo esperado).
    for _ in 0..20 {
        if std::io::Write::write_all(&mut ana.stream, &chunk).is_err() {
            break;
        }
    }
    assert_eq!(
        ana.line(),
        "ERROR línea demasiado larga: el máximo es 100 bytes"
    );
    ana.expect_closed();
    assert_eq!(beto.line(), "ana ha abandonado el Chat.");
}

#[test]
fn invalid_utf8_gets_error_and_is_not_relayed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    ana.send_raw(b"\xff\xfe hola\n");
    assert_eq!(ana.line(), "ERROR la línea no es texto UTF-8 válido");
    ana.send("ok\x1b[2J");
    assert_eq!(beto.line(), "ana: ok\u{fffd}[2J");
}

#[test]
fn flooding_is_rate_limited_and_then_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        // Casi sin relleno: la prueba no depende del reloj.
        rate_per_sec: 0.001,
        rate_burst: 10,
        flood_strikes: 3,
        ..config(dir.path())
    });
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    let burst: String = (0..20).map(|i| format!("m{i}\n")).collect();
    ana.send_raw(burst.as_bytes());
    for i in 0..10 {
        assert_eq!(beto.line(), format!("ana: m{i}"));
    }
    let limited =
        "ERROR vas demasiado rápido (máximo 0.001 mensajes por segundo): este mensaje no se envió";
    assert_eq!(ana.line(), limited);
    assert_eq!(ana.line(), limited);
    assert_eq!(
        ana.line(),
        "ERROR demasiados mensajes seguidos: desconectado"
    );
    ana.expect_closed();
    assert_eq!(beto.line(), "ana ha abandonado el Chat.");
}

#[test]
fn quit_says_goodbye_and_the_room_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    ana.send("/quit");
    assert_eq!(ana.line(), "¡Hasta pronto!");
    ana.expect_closed();
    assert_eq!(beto.line(), "ana ha abandonado el Chat.");
    // Un cierre brusco también se anuncia.
    let carla = login(server.addr, "carla");
    assert_eq!(beto.line(), "carla se ha unido al Chat.");
    drop(carla);
    assert_eq!(beto.line(), "carla ha abandonado el Chat.");
    assert_eq!(users(&mut beto), "Usuarios en general (1): beto");
}

#[test]
fn half_closed_client_is_served_to_the_end_and_then_announced_as_gone() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut c = LineClient::connect(server.addr);
    c.send_raw(b"beto\r\nhola por telnet\r\n/users\r\n");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.line(), "Introduce tu nombre:");
    assert_eq!(c.line(), "ya estás conectado!");
    assert_eq!(c.line(), "Ahora estás en la sala general (2 usuarios).");
    assert_eq!(c.line(), "Usuarios en general (2): ana, beto");
    c.expect_closed();
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    assert_eq!(ana.line(), "beto: hola por telnet");
    assert_eq!(ana.line(), "beto ha abandonado el Chat.");
}

#[test]
fn a_client_that_never_reads_does_not_slow_the_others_and_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        queue_messages: 32,
        ..config(dir.path())
    });
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    // `lento` entra y no vuelve a leer nunca.
    let _lento = login(server.addr, "lento");
    assert_eq!(ana.line(), "lento se ha unido al Chat.");
    assert_eq!(beto.line(), "lento se ha unido al Chat.");
    let text = "x".repeat(4000);
    let mut dropped = false;
    // Por rondas cortas, para que la cola de beto (que sí lee) nunca se acerque a su tope.
    'outer: for _ in 0..5000 {
        for _ in 0..8 {
            ana.send(&text);
        }
        for _ in 0..8 {
            let l = beto.line();
            if l == "lento ha abandonado el Chat." {
                dropped = true;
                break 'outer;
            }
            assert_eq!(l.len(), "ana: ".len() + text.len());
        }
    }
    assert!(dropped, "el cliente que no lee nunca fue desconectado");
    ana.send("sigo aquí");
    assert_eq!(
        beto.line_matching(|l| !l.starts_with("ana: xxx")),
        "ana: sigo aquí"
    );
}

#[test]
fn shutdown_tells_everyone_in_every_room() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut beto = login(server.addr, "beto");
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    beto.send("/create otra");
    assert_eq!(beto.line(), "Sala otra creada.");
    beto.line();
    assert_eq!(ana.line(), "beto ha salido de la sala.");
    server.stop().unwrap();
    for c in [&mut ana, &mut beto] {
        assert_eq!(c.line(), "servidor cerrándose");
        c.expect_closed();
    }
}

/// Una salida compartida para el cliente de la biblioteca, que escribe desde su propio hilo.
#[derive(Clone, Default)]
struct SharedOutput(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn library_client_logs_in_creates_a_room_and_quits() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let stream = tests::connect(server.addr);
    let out = SharedOutput::default();
    let input: &'static [u8] = b"/create prueba\nhola\n/quit\n";
    let outcome = problema6::cliente::run(stream, Some("cli"), input, out.clone()).unwrap();
    assert_eq!(outcome, problema6::cliente::Outcome::Quit);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text,
        "ya estás conectado!\nAhora estás en la sala general (2 usuarios).\n\
         Sala prueba creada.\nAhora estás en la sala prueba (1 usuario).\n¡Hasta pronto!\n"
    );
    assert_eq!(ana.line(), "cli se ha unido al Chat.");
    assert_eq!(ana.line(), "cli ha salido de la sala.");
}

#[test]
fn nc_can_chat_with_the_server() {
    if !require_tool("nc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let port = server.addr.port().to_string();
    let script = format!("printf 'ana\\n/create nc\\n/rooms\\n/quit\\n' | nc 127.0.0.1 {port}");
    let out = run_with_timeout(
        std::process::Command::new("sh").arg("-c").arg(script),
        Duration::from_secs(10),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "Introduce tu nombre:\nya estás conectado!\nAhora estás en la sala general (1 usuario).\n\
         Sala nc creada.\nAhora estás en la sala nc (1 usuario).\nSalas (2):\n\
         - general (0 usuarios)\n- nc (1 usuario)\n¡Hasta pronto!\n"
    );
}

// ---- Issue 16 (punto 2) e issue 23: plazo total del nombre y clientes del taller ---------

#[test]
fn a_name_trickled_one_byte_at_a_time_cannot_stretch_the_handshake_timeout() {
    // Antes el plazo era por lectura (issue 16, punto 2): un byte cada poco retenía la
    // conexión para siempre. Un byte cada 50 ms (más deprisa que la pausa) con un plazo
    // total de 400 ms.
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        handshake_timeout: Duration::from_millis(400),
        ..config(dir.path())
    });
    let mut c = LineClient::connect(server.addr);
    assert_eq!(c.line(), "Introduce tu nombre:");
    let mut dribbler = c.stream.try_clone().unwrap();
    let t = thread::spawn(move || {
        for _ in 0..200 {
            if dribbler.write_all(b"a").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(c.line(), "ERROR no elegiste nombre a tiempo: desconectado");
    c.expect_closed();
    t.join().unwrap();
}

#[test]
fn a_skeleton_client_without_newlines_chats_with_a_newline_client() {
    // Como el cliente del taller: nombre y mensajes sin `\n` ni cierre (issue 23).
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let mut eva = tests::connect(server.addr);
    let mut seen = String::new();
    let mut recv_until = |s: &mut std::net::TcpStream, needle: &str| {
        let mut buf = [0u8; 1024];
        while !seen.contains(needle) {
            let n = s.read(&mut buf).expect("recv");
            assert!(n > 0, "el servidor cerró; llegó {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    recv_until(&mut eva, "Introduce tu nombre:");
    eva.write_all(b"eva").unwrap();
    recv_until(&mut eva, "ya estás conectado!");
    assert_eq!(ana.line(), "eva se ha unido al Chat.");
    eva.write_all(b"hola desde el taller").unwrap();
    assert_eq!(ana.line(), "eva: hola desde el taller");
    ana.send("hola eva");
    recv_until(&mut eva, "ana: hola eva");
    eva.write_all(b"/quit").unwrap();
    recv_until(&mut eva, "Hasta pronto");
}

// ---- Issue 16, punto 5: se guarda antes de confirmar ------------------------------------

#[test]
fn a_topic_is_on_disk_when_its_announcement_arrives() {
    // Antes el anuncio salía antes del guardado: un SIGKILL justo después lo perdía 9 de
    // 15 veces. Se comprueba el fichero en cuanto llega cada anuncio.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("salas.json");
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    for i in 0..20 {
        ana.send(&format!("/topic tema {i}"));
        assert_eq!(
            ana.line(),
            format!("ana ha cambiado el tema de la sala: tema {i}")
        );
        assert_eq!(read_json(&path)["rooms"][0]["topic"], format!("tema {i}"));
    }
}

#[test]
fn a_failed_save_is_said_instead_of_confirmed() {
    // El fichero de salas es un directorio: ningún guardado puede salir bien.
    let dir = tempfile::tempdir().unwrap();
    let rooms_dir = dir.path().join("salas.json");
    std::fs::create_dir(&rooms_dir).unwrap();
    let mut server = start(ServerConfig {
        rooms_file: rooms_dir,
        ..config(dir.path())
    });
    let mut ana = login(server.addr, "ana");
    ana.send("/create juegos");
    let reply = ana.line();
    assert!(
        reply.starts_with("ERROR la sala juegos se creó pero NO se pudo guardar en disco"),
        "{reply}"
    );
    ana.send("/topic nuevo");
    let _moved = ana.line_containing("ha cambiado el tema");
    let reply = ana.line();
    assert!(
        reply.starts_with("ERROR el tema cambió pero NO se pudo guardar en disco"),
        "{reply}"
    );
    // El motivo, en español (issue 18: nunca el texto del sistema en inglés).
    assert!(reply.contains("salas.json: es un directorio)"), "{reply}");
    // El guardado final también falla, y el servidor lo dice al volver, una sola vez.
    let stopped = server.stop().unwrap_err();
    assert!(
        stopped.starts_with("no se pudo guardar la lista de salas al apagar: no se pudo escribir ")
            && stopped.ends_with("salas.json: es un directorio"),
        "{stopped}"
    );
}

#[test]
fn stale_temporaries_of_an_interrupted_save_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join(".salas.json.tmp-4242-7");
    std::fs::write(&stale, b"{\"version\": 1, \"rooms\": [").unwrap();
    let other = dir.path().join("otro.txt");
    std::fs::write(&other, b"no es nuestro").unwrap();
    let server = start(config(dir.path()));
    let _ana = login(server.addr, "ana");
    assert!(!stale.exists(), "el temporal sigue ahí");
    assert!(other.exists(), "se borró un fichero ajeno");
}

// ---- Issue 18: el cliente como proceso (códigos de salida, `error:`, salida cerrada) ------

/// Plazo para que el cliente termine: holgado para una máquina cargada.
const CLIENT_DEADLINE: Duration = Duration::from_secs(30);

/// El `cliente` del problema 6 contra `addr`, con la entrada estándar abierta y callada
/// (como un usuario que no escribe): así solo el servidor decide cuándo termina.
fn client_process(addr: SocketAddr, name: &str) -> std::process::Command {
    let mut cmd = tests::cliente("problema6");
    cmd.args(["--port", &addr.port().to_string(), "--name", name])
        .stdin(std::process::Stdio::piped());
    cmd
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn client_exits_1_when_the_server_turns_it_away_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig {
        max_connections: 1,
        ..config(dir.path())
    });
    let _ana = login(server.addr, "ana");
    let out = run_with_timeout(&mut client_process(server.addr, "beto"), CLIENT_DEADLINE);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ERROR servidor lleno, pruebe más tarde\n"
    );
    assert_eq!(
        stderr_of(&out),
        "error: el servidor cerró la conexión tras responder: ERROR servidor lleno, pruebe más tarde\n"
    );
}

#[test]
fn client_exits_4_when_the_server_vanishes_without_notice() {
    // Un «servidor» que pide el nombre y cierra sin despedirse, como uno que se cae.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            use std::io::{Read, Write};
            let _ = s.write_all(b"Introduce tu nombre:\n");
            let _ = s.read(&mut [0u8; 64]);
        }
    });
    let out = run_with_timeout(&mut client_process(addr, "ana"), CLIENT_DEADLINE);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "error: el servidor cerró la conexión\n");
}

#[test]
fn client_exits_0_when_the_server_says_it_is_shutting_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let addr = server.addr;
    let client =
        thread::spawn(move || run_with_timeout(&mut client_process(addr, "beto"), CLIENT_DEADLINE));
    assert_eq!(ana.line(), "beto se ha unido al Chat.");
    server.stop().unwrap();
    let out = client.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("servidor cerrándose\n"));
    assert_eq!(stderr_of(&out), "el servidor se ha apagado; hasta pronto\n");
}

/// `cliente | head -c 20`: el chat puede mostrar mucho más de lo que cabe en una tubería
/// (64 KiB); cuando quien lee la cierra, el cliente termina con 0 y sin decir nada, no con
/// «el servidor cerró la conexión».
#[test]
fn client_piped_into_head_exits_0_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path()));
    let mut ana = login(server.addr, "ana");
    let out = tests::run_with_closed_stdout(
        &mut client_process(server.addr, "beto"),
        20,
        || {
            // Con la tubería ya cerrada, algo más que mostrar: la siguiente escritura falla.
            assert_eq!(ana.line(), "beto se ha unido al Chat.");
            for i in 0..5 {
                ana.send(&format!("mensaje {i}"));
            }
        },
        CLIENT_DEADLINE,
    );
    assert_eq!(out.stdout, "ya estás conectado!".as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
}
