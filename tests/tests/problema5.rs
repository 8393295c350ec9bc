//! Pruebas de extremo a extremo del problema 5 (transferencia de ficheros), por sockets reales.
//!
//! Cada prueba arranca su servidor sobre un directorio temporal propio y lo apaga al final.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::progress::Bar;
use problema5::cliente::{partial_path, ClientError};
use problema5::protocolo::{ErrorCode, MAX_COMMAND_LINE, MAX_NAME_BYTES, MAX_TRAILER_LINE};
use problema5::{Client, ServerConfig};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tests::{
    connect, require_tool, run_with_timeout, start_server, wait_until, LineClient, ServerGuard,
};

fn start(config: ServerConfig) -> ServerGuard {
    start_server(move |listener, shutdown| problema5::run(listener, config, shutdown))
}

fn server(dir: &Path) -> ServerGuard {
    start(ServerConfig::new(dir))
}

fn client(addr: SocketAddr) -> Client {
    Client::new(connect(addr)).unwrap()
}

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// Los nombres del directorio (incluidos los ocultos), ordenados, sin los SHA-256 guardados
/// junto a cada fichero (`.sha256-NOMBRE`: metadatos del servidor, no ficheros subidos).
fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".sha256-"))
        .collect();
    v.sort();
    v
}

fn no_upload_in_flight(dir: &Path) -> bool {
    !dir_names(dir).iter().any(|n| n.starts_with(".subida-"))
}

fn write_local(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, data).unwrap();
    p
}

/// Sube `data` como `name` con el cliente de la biblioteca.
fn upload(addr: SocketAddr, local: &Path, name: &str, data: &[u8]) {
    let path = write_local(local, &format!("local-{name}"), data);
    let t = client(addr)
        .upload(&path, name, false, &mut Bar::hidden())
        .unwrap();
    assert_eq!(t.sha256.to_string(), sha_hex(data));
}

#[test]
fn random_binary_files_round_trip_with_identical_sha256() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let mut c = client(srv.addr);
    for size in [0usize, 1, 1 << 20, 64 << 20] {
        let data = random_bytes(size);
        let src = write_local(local.path(), &format!("src-{size}"), &data);
        let name = format!("f-{size}.bin");
        let up = c
            .upload_single_pass(&src, &name, &mut Bar::hidden())
            .unwrap();
        assert_eq!(up.size, size as u64);
        assert_eq!(up.sha256.to_string(), sha_hex(&data));
        assert_eq!(up.resumed_from, 0);
        let dest = local.path().join(format!("dest-{size}"));
        let down = c.download(&name, &dest, false, &mut Bar::hidden()).unwrap();
        assert_eq!(down.sha256.to_string(), sha_hex(&data));
        let got = fs::read(&dest).unwrap();
        assert!(got == data, "el fichero de {size} bytes llegó distinto");
        assert_eq!(fs::read(store.path().join(&name)).unwrap().len(), size);
        assert!(!partial_path(&dest).exists());
    }
    c.quit().unwrap();
}

#[test]
fn digest_first_uploads_still_round_trip_with_identical_sha256() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let mut c = client(srv.addr);
    for size in [0usize, 1, 3 << 20] {
        let data = random_bytes(size);
        let src = write_local(local.path(), &format!("src-{size}"), &data);
        let name = format!("d-{size}.bin");
        let up = c
            .upload_digest_first(&src, &name, false, &mut Bar::hidden())
            .unwrap();
        assert_eq!(up.sha256.to_string(), sha_hex(&data));
        assert_eq!(up.resumed_from, 0);
        assert!(fs::read(store.path().join(&name)).unwrap() == data);
    }
    c.quit().unwrap();
}

#[test]
fn single_pass_upload_sends_the_digest_after_the_body_byte_by_byte() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let mut c = LineClient::connect(srv.addr);
    c.send("UPLOAD a.bin 5 -");
    assert_eq!(c.line(), "READY 0");
    c.send_raw(format!("hola\nSHA256 {}\n", sha_hex(b"hola\n")).as_bytes());
    assert_eq!(c.line(), format!("STORED a.bin 5 {}", sha_hex(b"hola\n")));
    // 0 bytes: tras READY 0 va directamente la línea final (aquí con \r\n, como telnet).
    c.send("upload vacio 0 -");
    assert_eq!(c.line(), "READY 0");
    c.send_raw(format!("SHA256 {}\r\n", sha_hex(b"")).as_bytes());
    assert_eq!(c.line(), format!("STORED vacio 0 {}", sha_hex(b"")));
    assert_eq!(fs::read(store.path().join("a.bin")).unwrap(), b"hola\n");
    assert_eq!(fs::read(store.path().join("vacio")).unwrap(), b"");
    // Una subida de una sola pasada no se reanuda: `-` con offset es un error.
    c.send("UPLOAD a.bin 5 - 0");
    let reply = c.line();
    assert!(
        reply.starts_with(
            "ERROR BAD_COMMAND una subida con `-` (SHA-256 al final) no se puede reanudar"
        ),
        "{reply}"
    );
    c.send("QUIT");
    assert_eq!(c.line(), "BYE");
    assert_eq!(dir_names(store.path()), ["a.bin", "vacio"]);
}

#[test]
fn single_pass_upload_with_a_wrong_trailer_digest_stores_nothing_and_keeps_the_old_version() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    fs::write(store.path().join("doc"), b"viejo").unwrap();
    let mut c = LineClient::connect(srv.addr);
    c.send("UPLOAD doc 5 -");
    assert_eq!(c.line(), "READY 0");
    c.send_raw(format!("nuevoSHA256 {}\n", sha_hex(b"otro!")).as_bytes());
    let reply = c.line();
    assert!(
        reply.starts_with(&format!(
            "ERROR CHECKSUM el SHA-256 recibido ({}) no coincide con el anunciado ({})",
            sha_hex(b"nuevo"),
            sha_hex(b"otro!")
        )),
        "{reply}"
    );
    assert!(reply.ends_with("no se guardó nada"), "{reply}");
    // La conexión sigue sincronizada.
    c.send("LIST");
    assert!(c.line() == "FILES 1");
    assert!(c
        .line()
        .starts_with(&format!("doc 5 {} ", sha_hex(b"viejo"))));
    assert_eq!(fs::read(store.path().join("doc")).unwrap(), b"viejo");
    assert_eq!(dir_names(store.path()), ["doc"]);
}

#[test]
fn single_pass_upload_with_a_garbled_or_oversized_trailer_stores_nothing() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    fs::write(store.path().join("doc"), b"viejo").unwrap();
    let mut c = LineClient::connect(srv.addr);
    for garbled in [
        format!("MD5 {}", sha_hex(b"nuevo")),
        format!("SHA256 {}", &sha_hex(b"nuevo")[..63]),
        "SHA256".to_string(),
        String::new(),
    ] {
        c.send("UPLOAD doc 5 -");
        assert_eq!(c.line(), "READY 0");
        c.send_raw(format!("nuevo{garbled}\n").as_bytes());
        let reply = c.line();
        assert!(
            reply.starts_with("ERROR BAD_COMMAND tras el cuerpo se esperaba la línea `SHA256"),
            "{garbled:?}: {reply}"
        );
        assert!(reply.ends_with("no se guardó nada"), "{reply}");
        assert_eq!(fs::read(store.path().join("doc")).unwrap(), b"viejo");
    }
    // Una línea final demasiado larga: se lee como mucho MAX_TRAILER_LINE, se contesta y se
    // salta el resto de la línea; la conexión sigue.
    c.send("UPLOAD doc 5 -");
    assert_eq!(c.line(), "READY 0");
    c.send_raw(format!("nuevoSHA256 {}\n", "a".repeat(4096)).as_bytes());
    assert_eq!(
        c.line(),
        format!("ERROR LINE_TOO_LONG la línea SHA256 pasa de {MAX_TRAILER_LINE} bytes; no se guardó nada")
    );
    c.send("LIST");
    assert_eq!(c.line(), "FILES 1");
    assert_eq!(fs::read(store.path().join("doc")).unwrap(), b"viejo");
    assert_eq!(dir_names(store.path()), ["doc"]);
}

#[test]
fn single_pass_upload_cut_before_or_inside_the_trailer_leaves_nothing_not_even_a_partial() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let old = random_bytes(100_000);
    upload(srv.addr, local.path(), "doc.bin", &old);
    let new = random_bytes(200_000);
    let trailer = format!("SHA256 {}\n", sha_hex(&new));
    for sent in [
        new[..70_000].to_vec(),                         // a mitad del cuerpo
        new.clone(),                                    // cuerpo entero, sin línea final
        [&new[..], &trailer.as_bytes()[..30]].concat(), // línea final a medias
    ] {
        let mut c = LineClient::connect(srv.addr);
        c.send("UPLOAD doc.bin 200000 -");
        assert_eq!(c.line(), "READY 0");
        c.send_raw(&sent);
        drop(c);
        assert!(wait_until(Duration::from_secs(10), || no_upload_in_flight(
            store.path()
        )));
        assert_eq!(fs::read(store.path().join("doc.bin")).unwrap(), old);
        assert_eq!(
            dir_names(store.path()),
            ["doc.bin"],
            "ni parcial ni temporal"
        );
    }
    let listed = client(srv.addr).list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256.to_string(), sha_hex(&old));
    // Como cualquier línea, la final puede terminar con el cierre en vez de con `\n`: el
    // cuerpo llegó entero y su SHA-256 coincide, así que se publica.
    let mut c = LineClient::connect(srv.addr);
    c.send("UPLOAD doc.bin 200000 -");
    assert_eq!(c.line(), "READY 0");
    c.send_raw(&[&new[..], trailer.trim_end().as_bytes()].concat());
    drop(c);
    assert!(wait_until(Duration::from_secs(10), || fs::read(
        store.path().join("doc.bin")
    )
    .unwrap()
        == new));
    assert_eq!(dir_names(store.path()), ["doc.bin"]);
}

#[test]
fn list_shows_name_size_sha256_and_date_exactly() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let mut c = LineClient::connect(srv.addr);
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
    fs::write(store.path().join("b.txt"), b"hola\n").unwrap();
    fs::write(store.path().join("a.txt"), b"").unwrap();
    fs::write(store.path().join(".oculto"), b"x").unwrap();
    fs::create_dir(store.path().join("subdir")).unwrap();
    c.send("list");
    assert_eq!(c.line(), "FILES 2");
    let a = c.line();
    let b = c.line();
    let fields: Vec<&str> = a.split(' ').collect();
    assert_eq!(fields[..3], ["a.txt", "0", &sha_hex(b"")]);
    assert!(problema5::protocolo::parse_utc(fields[3]).is_some(), "{a}");
    assert!(
        b.starts_with(&format!("b.txt 5 {} ", sha_hex(b"hola\n"))),
        "{b}"
    );
    c.send("QUIT");
    assert_eq!(c.line(), "BYE");
    c.expect_closed();
}

#[test]
fn delete_removes_the_file_and_a_second_delete_is_not_found() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    fs::write(store.path().join("a.txt"), b"x").unwrap();
    let mut c = LineClient::connect(srv.addr);
    c.send("DELETE a.txt");
    assert_eq!(c.line(), "DELETED a.txt");
    assert!(!store.path().join("a.txt").exists());
    c.send("DELETE a.txt");
    assert_eq!(c.line(), "ERROR NOT_FOUND no existe el fichero `a.txt`");
    c.send("DOWNLOAD a.txt");
    assert_eq!(c.line(), "ERROR NOT_FOUND no existe el fichero `a.txt`");
}

#[test]
fn every_bad_name_is_refused_and_nothing_escapes_the_directory() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("archivos");
    fs::write(root.path().join("secreto"), b"no").unwrap();
    fs::create_dir(&store).unwrap();
    fs::write(store.join(".oculto"), b"temporal").unwrap();
    let srv = server(&store);
    let sha = sha_hex(b"x");
    let long = "a".repeat(MAX_NAME_BYTES + 1);
    let bad: Vec<Vec<u8>> = vec![
        b"..".to_vec(),
        b".".to_vec(),
        b"../secreto".to_vec(),
        b".oculto".to_vec(),
        b"/etc/passwd".to_vec(),
        b"a/b".to_vec(),
        b"a\\b".to_vec(),
        b"..\\secreto".to_vec(),
        b"a\x00b".to_vec(),
        b"a\x01b".to_vec(),
        b"a\x1bb".to_vec(),
        b"a\x7fb".to_vec(),
        long.into_bytes(),
    ];
    let mut c = LineClient::connect(srv.addr);
    for name in &bad {
        for verb in ["DOWNLOAD", "DELETE", "UPLOAD"] {
            let mut line = format!("{verb} ").into_bytes();
            line.extend_from_slice(name);
            if verb == "UPLOAD" {
                line.extend_from_slice(format!(" 1 {sha}").as_bytes());
            }
            line.push(b'\n');
            c.send_raw(&line);
            let reply = c.line();
            assert!(
                reply.starts_with("ERROR BAD_NAME nombre no válido: "),
                "{verb} {:?}: {reply}",
                String::from_utf8_lossy(name)
            );
        }
    }
    // Sin nombre (vacío) la orden no tiene sus argumentos.
    c.send("DELETE");
    assert_eq!(
        c.line(),
        "ERROR BAD_COMMAND argumentos incorrectos; uso: DELETE <nombre>"
    );
    // Un nombre justo en el límite sí vale.
    let edge = "b".repeat(MAX_NAME_BYTES);
    c.send(&format!("UPLOAD {edge} 1 {sha}"));
    assert_eq!(c.line(), "READY 0");
    c.send_raw(b"x");
    assert_eq!(c.line(), format!("STORED {edge} 1 {sha}"));
    // Nada cambió fuera ni en los ocultos.
    assert_eq!(fs::read(root.path().join("secreto")).unwrap(), b"no");
    assert_eq!(fs::read(store.join(".oculto")).unwrap(), b"temporal");
    assert_eq!(dir_names(root.path()), ["archivos", "secreto"]);
    // El cliente de la biblioteca rechaza los nombres sin llegar a enviarlos.
    let err = client(srv.addr).delete("").unwrap_err();
    assert!(matches!(err, ClientError::BadName { .. }), "{err}");
}

#[test]
fn wrong_checksum_is_refused_nothing_is_stored_and_connection_stays_usable() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let mut c = LineClient::connect(srv.addr);
    c.send(&format!("UPLOAD a.bin 5 {}", sha_hex(b"hola\n")));
    assert_eq!(c.line(), "READY 0");
    c.send_raw(b"HOLA\n");
    let reply = c.line();
    assert!(
        reply.starts_with("ERROR CHECKSUM el SHA-256 recibido ("),
        "{reply}"
    );
    assert!(reply.ends_with("no se guardó nada"), "{reply}");
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
    assert!(
        dir_names(store.path()).is_empty(),
        "{:?}",
        dir_names(store.path())
    );
}

#[test]
fn disconnect_mid_upload_leaves_no_file_and_the_old_version_intact() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let old = random_bytes(100_000);
    upload(srv.addr, local.path(), "doc.bin", &old);
    let new = random_bytes(200_000);
    {
        let mut c = LineClient::connect(srv.addr);
        c.send(&format!("UPLOAD doc.bin 200000 {}", sha_hex(&new)));
        assert_eq!(c.line(), "READY 0");
        c.send_raw(&new[..70_000]);
        // Se cierra sin enviar el resto.
    }
    // Y una subida de un nombre nuevo cortada a medias no deja ese nombre.
    {
        let mut c = LineClient::connect(srv.addr);
        c.send(&format!("UPLOAD nuevo.bin 200000 {}", sha_hex(&new)));
        assert_eq!(c.line(), "READY 0");
        c.send_raw(&new[..1000]);
    }
    assert!(wait_until(Duration::from_secs(10), || no_upload_in_flight(
        store.path()
    )));
    assert_eq!(fs::read(store.path().join("doc.bin")).unwrap(), old);
    assert!(!store.path().join("nuevo.bin").exists());
    let listed = client(srv.addr).list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "doc.bin");
    assert_eq!(listed[0].sha256.to_string(), sha_hex(&old));
    // Lo recibido queda oculto como parcial, esperando una reanudación.
    assert!(dir_names(store.path())
        .iter()
        .any(|n| n.starts_with(".parcial-")));
}

#[test]
fn interrupted_upload_resumes_where_it_stopped_and_yields_an_identical_file() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let data = random_bytes(1 << 20);
    let sha = sha_hex(&data);
    let cut = 300_001;
    {
        let mut c = LineClient::connect(srv.addr);
        c.send(&format!("UPLOAD r.bin {} {sha}", data.len()));
        assert_eq!(c.line(), "READY 0");
        c.send_raw(&data[..cut]);
    }
    assert!(wait_until(Duration::from_secs(10), || no_upload_in_flight(
        store.path()
    )));
    // Un cliente que no sabe cuánto tiene el servidor propone el tamaño total y el servidor
    // contesta con lo que de verdad guarda.
    let mut c = LineClient::connect(srv.addr);
    c.send(&format!("UPLOAD r.bin {} {sha} {}", data.len(), data.len()));
    assert_eq!(c.line(), format!("READY {cut}"));
    drop(c);
    assert!(wait_until(Duration::from_secs(10), || no_upload_in_flight(
        store.path()
    )));
    let src = write_local(local.path(), "r.bin", &data);
    let t = client(srv.addr)
        .upload(&src, "r.bin", true, &mut Bar::hidden())
        .unwrap();
    assert_eq!(t.resumed_from, cut as u64);
    assert_eq!(fs::read(store.path().join("r.bin")).unwrap(), data);
    assert_eq!(dir_names(store.path()), ["r.bin"]);
}

#[test]
fn resume_with_a_smaller_offset_sends_from_that_offset() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let data = random_bytes(10_000);
    let sha = sha_hex(&data);
    {
        let mut c = LineClient::connect(srv.addr);
        c.send(&format!("UPLOAD s.bin 10000 {sha}"));
        assert_eq!(c.line(), "READY 0");
        c.send_raw(&data[..6000]);
    }
    assert!(wait_until(Duration::from_secs(10), || no_upload_in_flight(
        store.path()
    )));
    let mut c = LineClient::connect(srv.addr);
    c.send(&format!("UPLOAD s.bin 10000 {sha} 4000"));
    assert_eq!(c.line(), "READY 4000");
    c.send_raw(&data[4000..]);
    assert_eq!(c.line(), format!("STORED s.bin 10000 {sha}"));
    assert_eq!(fs::read(store.path().join("s.bin")).unwrap(), data);
    // Sin offset una subida empieza siempre de cero.
    c.send(&format!("UPLOAD t.bin 10000 {sha}"));
    assert_eq!(c.line(), "READY 0");
    c.send_raw(&data);
    assert_eq!(c.line(), format!("STORED t.bin 10000 {sha}"));
}

/// Un servidor falso que responde a una sola orden con `reply` y luego cierra.
fn fake_server(reply: Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut byte = [0u8; 1];
        while s.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {}
        s.write_all(&reply).unwrap();
    });
    (addr, t)
}

#[test]
fn interrupted_download_keeps_the_partial_and_continue_yields_an_identical_file() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(1 << 20);
    fs::write(store.path().join("d.bin"), &data).unwrap();
    // Primero un servidor que se corta a los 400 000 bytes.
    let mut cut = format!("DATA {} {} 0\n", data.len(), sha_hex(&data)).into_bytes();
    cut.extend_from_slice(&data[..400_000]);
    let (fake, t) = fake_server(cut);
    let dest = local.path().join("d.bin");
    let err = client(fake)
        .download("d.bin", &dest, false, &mut Bar::hidden())
        .unwrap_err();
    t.join().unwrap();
    assert!(
        matches!(
            err,
            ClientError::Interrupted {
                received: 400_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("--continue"), "{err}");
    assert!(!dest.exists());
    assert_eq!(fs::read(partial_path(&dest)).unwrap(), data[..400_000]);
    // Luego el servidor de verdad, pidiendo solo lo que falta.
    let srv = server(store.path());
    let t = client(srv.addr)
        .download("d.bin", &dest, true, &mut Bar::hidden())
        .unwrap();
    assert_eq!(t.resumed_from, 400_000);
    assert_eq!(fs::read(&dest).unwrap(), data);
    assert!(!partial_path(&dest).exists());
}

#[test]
fn download_with_offset_sends_only_the_tail_and_refuses_offsets_past_the_end() {
    let store = tempfile::tempdir().unwrap();
    fs::write(store.path().join("a.txt"), b"hola\n").unwrap();
    let srv = server(store.path());
    let mut c = LineClient::connect(srv.addr);
    c.send("DOWNLOAD a.txt 2");
    assert_eq!(c.line(), format!("DATA 5 {} 2", sha_hex(b"hola\n")));
    assert_eq!(tests::read_exact_n(&mut c.reader, 3), b"la\n");
    c.send("DOWNLOAD a.txt 5");
    assert_eq!(c.line(), format!("DATA 5 {} 5", sha_hex(b"hola\n")));
    c.send("DOWNLOAD a.txt 6");
    assert_eq!(
        c.line(),
        "ERROR BAD_OFFSET el offset 6 pasa del tamaño de `a.txt` (5 bytes)"
    );
    c.send("DOWNLOAD a.txt");
    assert_eq!(c.line(), format!("DATA 5 {} 0", sha_hex(b"hola\n")));
    assert_eq!(tests::read_exact_n(&mut c.reader, 5), b"hola\n");
}

#[test]
fn download_with_a_wrong_checksum_is_refused_and_leaves_no_file() {
    let local = tempfile::tempdir().unwrap();
    let mut reply = format!("DATA 5 {} 0\n", sha_hex(b"hola\n")).into_bytes();
    reply.extend_from_slice(b"HOLA\n");
    let (fake, t) = fake_server(reply);
    let dest = local.path().join("x");
    let err = client(fake)
        .download("x", &dest, false, &mut Bar::hidden())
        .unwrap_err();
    t.join().unwrap();
    assert!(matches!(err, ClientError::Checksum { .. }), "{err}");
    assert!(dir_names(local.path()).is_empty());
}

#[test]
fn concurrent_uploads_of_the_same_name_leave_one_complete_version() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let versions: Vec<Vec<u8>> = (0..8).map(|_| random_bytes(512 * 1024)).collect();
    let handles: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let path = write_local(local.path(), &format!("v{i}"), data);
            let addr = srv.addr;
            thread::spawn(move || {
                client(addr)
                    .upload(&path, "mismo.bin", false, &mut Bar::hidden())
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stored = fs::read(store.path().join("mismo.bin")).unwrap();
    assert!(versions.contains(&stored), "el fichero es una mezcla");
    let listed = client(srv.addr).list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256.to_string(), sha_hex(&stored));
    assert_eq!(dir_names(store.path()), ["mismo.bin"]);
}

#[test]
fn size_limit_is_refused_before_any_body_and_connection_stays_usable() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.max_size = 1000;
    let srv = start(config);
    let mut c = LineClient::connect(srv.addr);
    let big = vec![7u8; 1001];
    c.send(&format!("UPLOAD g.bin 1001 {}", sha_hex(&big)));
    assert_eq!(
        c.line(),
        "ERROR TOO_LARGE el fichero ocupa 1001 bytes y el máximo es 1000"
    );
    let ok = &big[..1000];
    c.send(&format!("UPLOAD g.bin 1000 {}", sha_hex(ok)));
    assert_eq!(c.line(), "READY 0");
    c.send_raw(ok);
    assert_eq!(c.line(), format!("STORED g.bin 1000 {}", sha_hex(ok)));
}

#[test]
fn quota_counts_stored_files_and_frees_space_on_delete() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.quota = Some(1500);
    let srv = start(config);
    upload(srv.addr, local.path(), "uno", &[1u8; 1000]);
    let mut c = LineClient::connect(srv.addr);
    c.send(&format!("UPLOAD dos 600 {}", sha_hex(&[2u8; 600])));
    assert_eq!(
        c.line(),
        "ERROR QUOTA no cabe en la cuota: se necesitan 600 bytes y quedan 500 de 1500"
    );
    let path = write_local(local.path(), "dos", &[2u8; 600]);
    let err = client(srv.addr)
        .upload(&path, "dos", false, &mut Bar::hidden())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Server {
                code: ErrorCode::Quota,
                ..
            }
        ),
        "{err}"
    );
    c.send("DELETE uno");
    assert_eq!(c.line(), "DELETED uno");
    upload(srv.addr, local.path(), "dos", &[2u8; 600]);
}

#[test]
fn fifty_clients_transfer_at_once() {
    let store = tempfile::tempdir().unwrap();
    let local = Arc::new(tempfile::tempdir().unwrap());
    let srv = server(store.path());
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let addr = srv.addr;
            let local = Arc::clone(&local);
            thread::spawn(move || {
                let data = random_bytes(256 * 1024 + i);
                let src = write_local(local.path(), &format!("src{i}"), &data);
                let mut c = client(addr);
                let name = format!("c{i}.bin");
                c.upload(&src, &name, false, &mut Bar::hidden()).unwrap();
                let dest = local.path().join(format!("dest{i}"));
                c.download(&name, &dest, false, &mut Bar::hidden()).unwrap();
                assert!(fs::read(&dest).unwrap() == data, "cliente {i}");
                c.quit().unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(client(srv.addr).list().unwrap().len(), 50);
}

#[test]
fn unknown_command_and_invalid_utf8_get_an_error_and_connection_stays_usable() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let mut c = LineClient::connect(srv.addr);
    c.send("HOLA mundo");
    assert_eq!(
        c.line(),
        "ERROR BAD_COMMAND orden desconocida `HOLA`; las órdenes son LIST, UPLOAD, DOWNLOAD, DELETE y QUIT"
    );
    c.send_raw(b"\xff\xfe\n");
    assert_eq!(
        c.line(),
        "ERROR BAD_COMMAND la línea no es texto UTF-8 válido"
    );
    c.send("UPLOAD a.txt diez abc");
    assert_eq!(
        c.line(),
        "ERROR BAD_COMMAND tamaño no válido: `diez` (se espera un entero decimal sin signo)"
    );
    c.send("UPLOAD a.txt 1 abc");
    assert_eq!(
        c.line(),
        "ERROR BAD_COMMAND SHA-256 no válido: `abc` (se esperan 64 dígitos hexadecimales)"
    );
    c.send("");
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
}

#[test]
fn oversized_command_line_gets_an_error_and_connection_survives() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let mut c = LineClient::connect(srv.addr);
    c.send(&"A".repeat(MAX_COMMAND_LINE + 1));
    assert_eq!(
        c.line(),
        format!("ERROR LINE_TOO_LONG la línea de orden pasa de {MAX_COMMAND_LINE} bytes")
    );
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
    c.send(&"B".repeat(3 * MAX_COMMAND_LINE));
    assert!(c.line().starts_with("ERROR LINE_TOO_LONG"));
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
    // Una línea sin fin (más de 1 MiB sin `\n`) se corta cerrando la conexión.
    let junk = vec![b'x'; 2 << 20];
    let _ = c.stream.write_all(&junk);
    assert!(c.line().starts_with("ERROR LINE_TOO_LONG"));
    c.expect_closed();
}

#[test]
fn idle_and_stalled_clients_time_out_and_the_stalled_upload_is_kept_for_resuming() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.idle_timeout = Duration::from_millis(300);
    config.io_timeout = Duration::from_millis(300);
    let srv = start(config);
    let mut idle = LineClient::connect(srv.addr);
    assert_eq!(
        idle.line(),
        "ERROR TIMEOUT sin órdenes en 300ms: se cierra la conexión"
    );
    idle.expect_closed();
    let mut slow = LineClient::connect(srv.addr);
    let data = vec![5u8; 1000];
    slow.send(&format!("UPLOAD lento 1000 {}", sha_hex(&data)));
    assert_eq!(slow.line(), "READY 0");
    slow.send_raw(&data[..10]);
    let reply = slow.line();
    assert!(reply.starts_with("ERROR TIMEOUT ningún byte en"), "{reply}");
    slow.expect_closed();
    assert!(wait_until(Duration::from_secs(10), || no_upload_in_flight(
        store.path()
    )));
    assert!(!store.path().join("lento").exists());
    let mut again = LineClient::connect(srv.addr);
    again.send(&format!("UPLOAD lento 1000 {} 1000", sha_hex(&data)));
    assert_eq!(again.line(), "READY 10");
}

#[test]
fn connections_over_the_cap_get_busy() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.max_connections = 1;
    let srv = start(config);
    let mut first = LineClient::connect(srv.addr);
    first.send("LIST");
    assert_eq!(first.line(), "FILES 0");
    let mut second = LineClient::connect(srv.addr);
    assert_eq!(second.line(), "ERROR BUSY servidor lleno, pruebe más tarde");
    second.expect_closed();
}

#[test]
fn shutdown_tells_waiting_clients() {
    let store = tempfile::tempdir().unwrap();
    let mut srv = server(store.path());
    let mut c = LineClient::connect(srv.addr);
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
    srv.stop().unwrap();
    assert_eq!(c.line(), "ERROR SHUTDOWN servidor cerrándose");
    c.expect_closed();
}

#[test]
fn nc_can_list_and_download_by_hand() {
    if !require_tool("nc") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    fs::write(store.path().join("a.txt"), b"hola\n").unwrap();
    let srv = server(store.path());
    let port = srv.addr.port().to_string();
    let out = run_with_timeout(
        std::process::Command::new("sh")
            .args(["-c", &format!("printf 'LIST\\n' | nc -N 127.0.0.1 {port}")]),
        Duration::from_secs(10),
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("FILES 1\na.txt 5 {} ", sha_hex(b"hola\n"))),
        "{text}"
    );
    let out = run_with_timeout(
        std::process::Command::new("sh").args([
            "-c",
            &format!("printf 'DOWNLOAD a.txt\\nQUIT\\n' | nc 127.0.0.1 {port}"),
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("DATA 5 {} 0\nhola\nBYE\n", sha_hex(b"hola\n"))
    );
}

#[test]
fn missing_storage_directory_is_created() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("a").join("b");
    let srv = server(&store);
    let mut c = LineClient::connect(srv.addr);
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
    assert!(store.is_dir());
}

#[test]
fn upload_cut_by_the_server_says_how_to_resume() {
    let local = tempfile::tempdir().unwrap();
    // Más de lo que cabe en los buffers del socket: el envío tiene que fallar a medias.
    let path = write_local(local.path(), "grande", &random_bytes(32 << 20));
    let (fake, t) = fake_server(b"READY 0\n".to_vec());
    let err = client(fake)
        .upload_digest_first(&path, "grande", false, &mut Bar::hidden())
        .unwrap_err();
    t.join().unwrap();
    assert!(
        matches!(err, ClientError::UploadInterrupted { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("reanude con --continue"), "{err}");
    // La de una sola pasada no deja nada que reanudar, y lo dice.
    let (fake, t) = fake_server(b"READY 0\n".to_vec());
    let err = client(fake)
        .upload(&path, "grande", false, &mut Bar::hidden())
        .unwrap_err();
    t.join().unwrap();
    assert!(
        matches!(err, ClientError::StreamInterrupted { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no se guardó nada"), "{err}");
}

/// Issue 16, punto 6: una subida que no cabe en el disco se rechaza antes de `READY`, con
/// un código propio (antes: `READY`, todo el cuerpo y después `ERROR INTERNAL`). Sin trucos:
/// se anuncia más de lo que `statvfs` dice que queda libre.
#[test]
fn upload_bigger_than_the_free_disk_space_gets_no_space_before_ready() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.max_size = u64::MAX;
    let srv = start(config);
    let free = problema5::servidor::almacen::free_space(store.path()).unwrap();
    let size = free + (1 << 40);
    let mut c = LineClient::connect(srv.addr);
    c.send(&format!("UPLOAD enorme.bin {size} -"));
    let reply = c.line();
    assert!(
        reply.starts_with(&format!(
            "ERROR NO_SPACE no hay espacio en el disco del servidor: la subida necesita {size} bytes y quedan "
        )),
        "{reply}"
    );
    // La conexión sigue sincronizada: no se envió ningún cuerpo.
    c.send("UPLOAD poco.bin 4 -");
    assert_eq!(c.line(), "READY 0");
    c.send_raw(b"hola");
    c.send(&format!("SHA256 {}", sha_hex(b"hola")));
    assert_eq!(c.line(), format!("STORED poco.bin 4 {}", sha_hex(b"hola")));
    assert_eq!(dir_names(store.path()), ["poco.bin"]);
}

#[test]
fn min_free_keeps_that_much_disk_free() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.min_free = u64::MAX;
    let srv = start(config);
    let mut c = LineClient::connect(srv.addr);
    c.send(&format!("UPLOAD a.bin 4 {}", sha_hex(b"hola")));
    assert_eq!(
        c.line(),
        "ERROR NO_SPACE no hay espacio en el disco del servidor: la subida necesita 4 bytes y quedan 0 libres"
    );
    assert!(dir_names(store.path()).is_empty());
}

/// Un sistema de ficheros `tmpfs` pequeño y propio, para llenarlo de verdad. Montarlo exige
/// ser root: si no se puede, la prueba lo dice y se salta. Se desmonta al soltarlo.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !mounted {
            eprintln!("AVISO: no se pudo montar un tmpfs (hace falta ser root); se salta la prueba de disco lleno");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // `-l`: aunque algo siga abierto dentro, el punto de montaje se suelta ya.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Issue 16, punto 6: si el disco se llena a mitad de una subida (`ENOSPC`), el servidor lo
/// dice enseguida (`ERROR NO_SPACE`, sin esperar al resto del cuerpo), cierra y no deja
/// ningún fichero a medio escribir, ni temporal ni parcial.
#[test]
fn disk_filling_up_mid_upload_gets_no_space_at_once_and_leaves_nothing() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let store = disk.path().join("almacen");
    let srv = server(&store);
    let size = 3 << 20;
    let data = random_bytes(size);
    let mut c = LineClient::connect(srv.addr);
    c.send(&format!("UPLOAD lleno.bin {size} {}", sha_hex(&data)));
    assert_eq!(c.line(), "READY 0");
    c.send_raw(&data[..3 << 19]);
    // El servidor escribe de MiB en MiB: esperamos a que el primero esté en el disco.
    let temp_len = || {
        fs::read_dir(&store)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".subida-"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum::<u64>()
    };
    assert!(wait_until(tests::IO_TIMEOUT, || temp_len() >= 1 << 20));
    // Otro programa llena el disco.
    let mut filler = fs::File::create(disk.path().join("relleno")).unwrap();
    let block = vec![0u8; 64 * 1024];
    while filler.write_all(&block).is_ok() {}
    // Un MiB más (no todo el cuerpo: falta medio MiB) completa la siguiente escritura.
    let _ = c.stream.write_all(&data[3 << 19..5 << 19]);
    let reply = c.line();
    assert_eq!(
        reply,
        "ERROR NO_SPACE el disco del servidor se llenó a mitad de la subida; no se guardó nada"
    );
    c.expect_closed();
    assert!(wait_until(tests::IO_TIMEOUT, || dir_names(&store).is_empty()));
    drop(srv);
}

/// Issue 16, punto 6: con `--continue`, un parcial local más largo que el fichero remoto
/// (de otra versión) se descarta y se descarga desde 0, en vez de pedir un offset imposible
/// en cada intento (`BAD_OFFSET` para siempre).
#[test]
fn continue_with_a_partial_longer_than_the_remote_file_starts_over() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    fs::write(store.path().join("a.txt"), b"hola mundo\n").unwrap();
    let srv = server(store.path());
    let dest = local.path().join("a.txt");
    fs::write(partial_path(&dest), vec![b'x'; 100]).unwrap();
    let t = client(srv.addr)
        .download("a.txt", &dest, true, &mut Bar::hidden())
        .unwrap();
    assert_eq!(t.discarded_partial, Some(100));
    assert_eq!(t.resumed_from, 0);
    assert_eq!(fs::read(&dest).unwrap(), b"hola mundo\n");
    assert_eq!(dir_names(local.path()), ["a.txt"]);
}

/// Envía `bytes` desde otro hilo, uno cada `every`, hasta acabar, hasta que falle la escritura
/// (el servidor cerró) o hasta que se pida parar. Devuelve con qué pararlo y esperarlo.
fn trickle(
    stream: &std::net::TcpStream,
    bytes: Vec<u8>,
    every: Duration,
) -> (Arc<std::sync::atomic::AtomicBool>, thread::JoinHandle<()>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut writer = stream.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = Arc::clone(&stop);
    let handle = thread::spawn(move || {
        for b in bytes {
            if stop_writer.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(every);
        }
    });
    (stop, handle)
}

/// Gotea `bytes` por `c`, uno cada 100 ms, hasta que el servidor conteste una línea (o cierre);
/// devuelve esa línea y cuánto tardó desde el primer byte.
fn trickle_until_reply(c: &mut LineClient, bytes: Vec<u8>) -> (Option<String>, Duration) {
    let started = std::time::Instant::now();
    let (stop, writer) = trickle(&c.stream, bytes, Duration::from_millis(100));
    let reply = c.try_line();
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    (reply, took)
}

/// Issue 16: una orden que gotea un byte cada `idle_timeout / 3` renovaría para siempre un
/// plazo por lectura. El plazo de la orden es total: se corta con `ERROR TIMEOUT` y se cierra.
#[test]
fn a_command_trickling_one_byte_every_third_of_the_timeout_is_cut_with_timeout() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.idle_timeout = Duration::from_millis(300);
    config.io_timeout = Duration::from_millis(300);
    let srv = start(config);
    let mut c = LineClient::connect(srv.addr);
    // La primera orden, de golpe: la espera entre órdenes no cambia.
    c.send("LIST");
    assert_eq!(c.line(), "FILES 0");
    // 60 bytes sin `\n`, uno cada 100 ms: 6 s si nadie lo corta.
    let line = format!("UPLOAD goteo 5 {}", sha_hex(b"hola\n"));
    let (reply, took) = trickle_until_reply(&mut c, line.into_bytes());
    assert_eq!(
        reply.as_deref(),
        Some("ERROR TIMEOUT la orden no llegó entera en 300ms: se cierra la conexión")
    );
    c.expect_closed();
    // Con la máquina cargada puede tardar algo más que 300 ms, pero nunca lo que dura el goteo.
    assert!(took < Duration::from_secs(4), "{took:?}");
    // El servidor sigue atendiendo.
    let mut other = LineClient::connect(srv.addr);
    other.send("LIST");
    assert_eq!(other.line(), "FILES 0");
}

/// Issue 16: la línea `SHA256` que sigue al cuerpo de una subida de una sola pasada también
/// tiene un plazo total (`io_timeout` desde el final del cuerpo): gotear no la alarga, y no se
/// guarda nada.
#[test]
fn a_trailer_line_trickling_byte_by_byte_is_cut_and_nothing_is_stored() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.io_timeout = Duration::from_millis(300);
    let srv = start(config);
    let mut c = LineClient::connect(srv.addr);
    c.send("UPLOAD goteo.bin 5 -");
    assert_eq!(c.line(), "READY 0");
    c.send_raw(b"hola\n");
    let trailer = format!("SHA256 {}\n", sha_hex(b"hola\n"));
    let (reply, took) = trickle_until_reply(&mut c, trailer.into_bytes());
    assert_eq!(
        reply.as_deref(),
        Some("ERROR TIMEOUT la línea SHA256 no llegó entera en 300ms: se cierra la conexión")
    );
    c.expect_closed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(wait_until(Duration::from_secs(10), || dir_names(
        store.path()
    )
    .is_empty()));
}

/// Issue 16: el cuerpo de una subida conserva un plazo de progreso por lectura: una subida
/// lenta pero viva (un byte cada `io_timeout / 3`, tres veces `io_timeout` en total) llega
/// entera, y después la conexión sigue atendiendo órdenes. `io_timeout` es de 1 s para que
/// un hilo que se despierta tarde en una máquina cargada no parezca una subida parada.
#[test]
fn a_slow_but_live_upload_is_not_cut() {
    let store = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(store.path());
    config.idle_timeout = Duration::from_secs(1);
    config.io_timeout = Duration::from_secs(1);
    let srv = start(config);
    let mut c = LineClient::connect(srv.addr);
    let data = b"despacio\n".to_vec();
    c.send(&format!("UPLOAD lento {} {}", data.len(), sha_hex(&data)));
    assert_eq!(c.line(), "READY 0");
    let (_stop, writer) = trickle(&c.stream, data.clone(), Duration::from_millis(333));
    assert_eq!(
        c.line(),
        format!("STORED lento {} {}", data.len(), sha_hex(&data))
    );
    // Enseguida: el hilo del goteo aún duerme tras su último byte.
    c.send("LIST");
    assert_eq!(c.line(), "FILES 1");
    writer.join().unwrap();
    assert_eq!(fs::read(store.path().join("lento")).unwrap(), data);
}

// ---------------------------------------------------------------- el cliente como proceso
//
// Issue 18: el cliente de verdad (`tests::cliente`), con sus códigos de salida
// (`common::exit`), su prefijo `error:` (antes `cliente:`), el silencio con la salida estándar
// cerrada (antes, el pánico de `println!`) y la barra, que no se dibuja si stderr no es una
// terminal.

/// `cliente --port PUERTO ARGS...` del problema 5 contra `addr`, con un plazo.
fn run_client(addr: SocketAddr, args: &[&str]) -> std::process::Output {
    let mut cmd = tests::cliente("problema5");
    cmd.args(["--port", &addr.port().to_string(), "--timeout", "10"])
        .args(args);
    run_with_timeout(&mut cmd, Duration::from_secs(60))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn client_process_exits_1_with_error_prefix_when_the_server_refuses() {
    let store = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let dest = store.path().join("x");
    let out = run_client(
        srv.addr,
        &["download", "nada", "-o", dest.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "error: el servidor respondió NOT_FOUND: no existe el fichero `nada`\n"
    );
}

#[test]
fn client_process_exits_4_when_a_download_is_cut() {
    let reply = format!("DATA 1000 {} 0\ncorto", sha_hex(b"otra cosa")).into_bytes();
    let (addr, t) = fake_server(reply);
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("y");
    let out = run_client(addr, &["download", "y", "-o", dest.to_str().unwrap()]);
    t.join().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.starts_with("error: la descarga se cortó en el byte 5 de 1000")
            && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn client_process_list_with_stdout_closed_early_exits_0_in_silence() {
    // 600 nombres de 150 bytes: unos 150 KB de listado, más que el buffer de una tubería.
    let store = tempfile::tempdir().unwrap();
    for i in 0..600 {
        fs::write(store.path().join(format!("f{i:0149}")), b"x").unwrap();
    }
    let srv = server(store.path());
    let mut cmd = tests::cliente("problema5");
    cmd.args(["--port", &srv.addr.port().to_string(), "list"]);
    let out = tests::run_with_closed_stdout(&mut cmd, 10, || {}, Duration::from_secs(60));
    assert_eq!(out.stdout.len(), 10);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn client_process_transfers_draw_no_bar_when_stderr_is_not_a_terminal() {
    let store = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let srv = server(store.path());
    let data = random_bytes(5_000_000);
    let src = write_local(local.path(), "prueba.bin", &data);
    let up = run_client(srv.addr, &["upload", src.to_str().unwrap()]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    // Ni la barra ni sus restos (`\r`, `#`, `4,8 MiB / ...`): stderr vacío.
    assert_eq!(text(&up.stderr), "");
    assert_eq!(
        text(&up.stdout),
        format!("subido prueba.bin (4,8 MiB, SHA-256 {})\n", sha_hex(&data))
    );
    let dest = local.path().join("copia.bin");
    let down = run_client(
        srv.addr,
        &["download", "prueba.bin", "-o", dest.to_str().unwrap()],
    );
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    assert_eq!(text(&down.stderr), "");
    assert!(text(&down.stdout).starts_with("descargado prueba.bin en "));
    assert!(fs::read(&dest).unwrap() == data);
}
