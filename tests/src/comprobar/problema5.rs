//! problema5: transferencia de ficheros. Subir (`UPLOAD`), listar (`LIST`), descargar
//! (`DOWNLOAD`) y borrar (`DELETE`) con el tamaño y el SHA-256 en la línea de orden y los bytes
//! en crudo detrás; en el protocolo completo, además, reanudar, errores y plazos.
//!
//! Los ficheros de prueba se llaman `comprobar-PID-...` y se borran al final.

use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{show, Checker, Conn, Failure, Step};

/// Plazo del README para la siguiente orden (`--idle-timeout`).
const README_IDLE: Duration = Duration::from_secs(120);
/// Una subida o descarga puede pedir un `fsync` o leer el fichero entero: más margen.
const SLOW: Duration = Duration::from_secs(30);

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn name(suffix: &str) -> String {
    format!("comprobar-{}-{suffix}", std::process::id())
}

/// Envía una orden y devuelve su línea de respuesta.
fn command(c: &mut Conn, line: &str) -> Result<String, Failure> {
    c.send_line(line)?;
    c.line()
}

/// La respuesta debe ser `expected`.
fn expect(got: String, expected: &str) -> Result<String, Failure> {
    if got != expected {
        return Err(Failure::new(format!("{got:?}")));
    }
    Ok(format!("{got:?}"))
}

/// La respuesta debe empezar por `ERROR CODE `.
fn expect_error(got: String, code: &str) -> Result<String, Failure> {
    if !got.starts_with(&format!("ERROR {code} ")) {
        return Err(Failure::hint(
            format!("{got:?}"),
            format!("se esperaba una línea `ERROR {code} <mensaje>`"),
        ));
    }
    Ok(format!("{got:?}"))
}

/// Sube `data` como `file` con el SHA-256 en la orden; devuelve la línea `STORED`.
fn upload(c: &mut Conn, file: &str, data: &[u8]) -> Result<String, Failure> {
    let sha = sha_hex(data);
    expect(
        command(c, &format!("UPLOAD {file} {} {sha}", data.len()))?,
        "READY 0",
    )?;
    c.send(data)?;
    expect(
        c.line_within(SLOW)?,
        &format!("STORED {file} {} {sha}", data.len()),
    )
}

/// Descarga `file` desde `offset` y comprueba la línea `DATA` y los bytes.
fn download(c: &mut Conn, file: &str, data: &[u8], offset: usize) -> Result<String, Failure> {
    let sha = sha_hex(data);
    let order = if offset == 0 {
        format!("DOWNLOAD {file}")
    } else {
        format!("DOWNLOAD {file} {offset}")
    };
    c.send_line(&order)?;
    let head = expect(
        c.line_within(SLOW)?,
        &format!("DATA {} {sha} {offset}", data.len()),
    )?;
    let body = c.exact(data.len() - offset)?;
    if body.as_slice() != data.get(offset..).unwrap_or_default() {
        return Err(Failure::new(format!(
            "{head} y bytes distintos: {}",
            show(&body)
        )));
    }
    Ok(format!("{head} y {} bytes idénticos", body.len()))
}

fn open(addr: SocketAddr, timeout: Duration) -> Result<Conn, Failure> {
    Conn::open(addr, timeout)
}

pub(super) fn run(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let text = b"hola\n".to_vec();
    let file_a = name("a.txt");
    let file_b = name("b.txt");
    let sha = sha_hex(&text);

    ch.check(
        Step {
            name: "UPLOAD",
            sent: &format!(
                "`UPLOAD {file_a} 5 {}…` y los 5 bytes \"hola\\n\"",
                &sha[..8]
            ),
            expected: &format!("`READY 0` y `STORED {file_a} 5 {}…`", &sha[..8]),
        },
        || upload(&mut open(addr, timeout)?, &file_a, &text),
    );
    ch.check(
        Step {
            name: "LIST",
            sent: "`LIST`",
            expected: &format!("`FILES n` y una línea `{file_a} 5 {}… FECHA`", &sha[..8]),
        },
        || {
            let mut c = open(addr, timeout)?;
            c.send_line("LIST")?;
            let (head, lines) = c.listing("FILES ", "")?;
            let found = lines.iter().any(|line| {
                matches!(line.split(' ').collect::<Vec<_>>().as_slice(),
                    [f, size, s, _date] if *f == file_a && *size == "5" && *s == sha)
            });
            if !found {
                return Err(Failure::new(format!("{head:?} sin {file_a}")));
            }
            Ok(format!("{head:?} con {file_a}"))
        },
    );
    ch.check(
        Step {
            name: "DOWNLOAD",
            sent: &format!("`DOWNLOAD {file_a}`"),
            expected: &format!("`DATA 5 {}… 0` y \"hola\\n\"", &sha[..8]),
        },
        || download(&mut open(addr, timeout)?, &file_a, &text, 0),
    );
    ch.check(
        Step {
            name: "UPLOAD de una sola pasada",
            sent: &format!(
                "`UPLOAD {file_b} 5 -`, los 5 bytes y `SHA256 {}…`",
                &sha[..8]
            ),
            expected: &format!("`READY 0` y `STORED {file_b} 5 {}…`", &sha[..8]),
        },
        || {
            let mut c = open(addr, timeout)?;
            expect(command(&mut c, &format!("UPLOAD {file_b} 5 -"))?, "READY 0")?;
            c.send(&text)?;
            c.send_line(&format!("SHA256 {sha}"))?;
            expect(c.line_within(SLOW)?, &format!("STORED {file_b} 5 {sha}"))
        },
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 131 % 253) as u8).collect();
    let file_big = name("grande.bin");
    ch.check(
        Step {
            name: "fichero binario de 3 MB, ida y vuelta",
            sent: &format!("UPLOAD y DOWNLOAD de {file_big} por la misma conexión"),
            expected: "STORED y los mismos 3.000.000 bytes",
        },
        || {
            let mut c = open(addr, timeout)?;
            upload(&mut c, &file_big, &big)?;
            download(&mut c, &file_big, &big, 0)
        },
    );
    ch.check(
        Step {
            name: "QUIT",
            sent: "`QUIT`",
            expected: "`BYE` y el cierre",
        },
        || {
            let mut c = open(addr, timeout)?;
            let got = expect(command(&mut c, "QUIT")?, "BYE")?;
            c.until_closed(timeout)?;
            Ok(format!("{got} y el cierre"))
        },
    );

    if ch.completo() {
        completo(ch, &file_a, &text);
    }

    // Limpieza: que las pruebas no dejen ficheros en el directorio del servidor.
    if let Ok(mut c) = open(addr, timeout) {
        for f in [&file_a, &file_b, &file_big, &name("reanudado.bin")] {
            let _ = command(&mut c, &format!("DELETE {f}"));
        }
    }
}

fn completo(ch: &mut Checker<'_>, file_a: &str, text: &[u8]) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    ch.check(
        Step {
            name: "DOWNLOAD desde un byte",
            sent: &format!("`DOWNLOAD {file_a} 2`"),
            expected: "`DATA 5 <sha> 2` y los 3 últimos bytes",
        },
        || download(&mut open(addr, timeout)?, file_a, text, 2),
    );

    let errors: Vec<(&str, String, &str)> = vec![
        ("orden desconocida", "HOLA".into(), "BAD_COMMAND"),
        (
            "nombre con directorios",
            "DOWNLOAD ../etc/passwd".into(),
            "BAD_NAME",
        ),
        ("nombre oculto", "DOWNLOAD .sha256-x".into(), "BAD_NAME"),
        (
            "fichero que no existe",
            "DOWNLOAD no-existe-comprobar".into(),
            "NOT_FOUND",
        ),
        (
            "borrar lo que no existe",
            "DELETE no-existe-comprobar".into(),
            "NOT_FOUND",
        ),
        (
            "offset de más",
            format!("DOWNLOAD {file_a} 6"),
            "BAD_OFFSET",
        ),
        (
            "tamaño mal escrito",
            "UPLOAD x.txt -5 -".into(),
            "BAD_COMMAND",
        ),
        ("`-` con offset", "UPLOAD x.txt 5 - 3".into(), "BAD_COMMAND"),
        (
            "línea demasiado larga",
            format!("LIST {}", "x".repeat(1100)),
            "LINE_TOO_LONG",
        ),
        (
            "fichero de más de 4 GiB",
            "UPLOAD enorme.bin 5000000000 -".into(),
            "TOO_LARGE",
        ),
    ];
    ch.check(
        Step {
            name: "errores, todos por la misma conexión",
            sent: &format!(
                "{} órdenes malas seguidas y luego `list` en minúsculas",
                errors.len()
            ),
            expected: "una línea `ERROR <código> ...` por orden, la conexión sigue y `FILES n`",
        },
        || {
            let mut c = open(addr, timeout)?;
            for (what, order, code) in &errors {
                expect_error(command(&mut c, order)?, code)
                    .map_err(|f| Failure::new(format!("{what}: {}", f.got)))?;
            }
            let files = command(&mut c, "list")?;
            if !files.starts_with("FILES ") {
                return Err(Failure::new(format!("tras los errores: {files:?}")));
            }
            Ok(format!(
                "{} errores con su código y {files:?}",
                errors.len()
            ))
        },
    );

    ch.check(
        Step {
            name: "SHA-256 que no coincide",
            sent: "`UPLOAD` con un SHA-256 que no es el de los bytes enviados",
            expected: "`ERROR CHECKSUM ...` y que el fichero no aparezca",
        },
        || {
            let mut c = open(addr, timeout)?;
            let file = name("malo.txt");
            let wrong = sha_hex(b"otra cosa");
            expect(
                command(&mut c, &format!("UPLOAD {file} 5 {wrong}"))?,
                "READY 0",
            )?;
            c.send(text)?;
            let got = expect_error(c.line_within(SLOW)?, "CHECKSUM")?;
            expect_error(command(&mut c, &format!("DOWNLOAD {file}"))?, "NOT_FOUND")?;
            Ok(got)
        },
    );

    ch.check(
        Step {
            name: "línea SHA256 final mal escrita o distinta",
            sent:
                "`UPLOAD x 5 -`, 5 bytes y `SHA256 abc`; luego otra con el SHA-256 de otros bytes",
            expected: "`ERROR BAD_COMMAND ...`, `ERROR CHECKSUM ...` y que no se guarde nada",
        },
        || {
            let mut c = open(addr, timeout)?;
            let file = name("trailer.txt");
            expect(command(&mut c, &format!("UPLOAD {file} 5 -"))?, "READY 0")?;
            c.send(text)?;
            expect_error(command(&mut c, "SHA256 abc")?, "BAD_COMMAND")?;
            expect(command(&mut c, &format!("UPLOAD {file} 5 -"))?, "READY 0")?;
            c.send(text)?;
            let got = expect_error(
                command(&mut c, &format!("SHA256 {}", sha_hex(b"otra cosa")))?,
                "CHECKSUM",
            )?;
            expect_error(command(&mut c, &format!("DOWNLOAD {file}"))?, "NOT_FOUND")?;
            Ok(got)
        },
    );

    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    ch.check(
        Step {
            name: "subida cortada y reanudada",
            sent:
                "UPLOAD de 200.000 bytes cortado a los 100.000; otra conexión con offset = tamaño",
            expected: "`READY n` con n ≤ 100.000, el resto desde n, `STORED` y los bytes exactos",
        },
        || {
            let file = name("reanudado.bin");
            let sha = sha_hex(&data);
            let order = format!("UPLOAD {file} {} {sha}", data.len());
            {
                let mut c = open(addr, timeout)?;
                expect(command(&mut c, &order)?, "READY 0")?;
                c.send(data.get(..100_000).unwrap_or_default())?;
            } // se corta sin más
              // El servidor guarda el parcial al notar el corte, que puede tardar un poco: si
              // aún contesta `READY 0`, se suelta esa conexión (sin enviar nada, no cambia el
              // parcial) y se vuelve a preguntar, durante unos segundos.
            let mut resumed = 0;
            let mut c = None;
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(300));
                let mut conn = open(addr, timeout)?;
                let ready = command(&mut conn, &format!("{order} {}", data.len()))?;
                resumed = ready
                    .strip_prefix("READY ")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| Failure::new(format!("{ready:?}")))?;
                if resumed > 0 {
                    c = Some(conn);
                    break;
                }
            }
            let Some(mut c) = c else {
                return Err(Failure::hint(
                    "`READY 0` durante 6 s: no se guardó nada de la subida cortada",
                    "lo recibido de una subida cortada se guarda como parcial para reanudarla",
                ));
            };
            if resumed > 100_000 {
                return Err(Failure::new(format!(
                    "`READY {resumed}`: más de lo enviado"
                )));
            }
            c.send(data.get(resumed..).unwrap_or_default())?;
            expect(
                c.line_within(SLOW)?,
                &format!("STORED {file} {} {sha}", data.len()),
            )?;
            download(&mut c, &file, &data, 0)?;
            Ok(format!("`READY {resumed}`, STORED y los bytes exactos"))
        },
    );

    ch.check(
        Step {
            name: "DELETE",
            sent: &format!("`DELETE {file_a}` y luego `DOWNLOAD {file_a}`"),
            expected: &format!("`DELETED {file_a}` y `ERROR NOT_FOUND ...`"),
        },
        || {
            let mut c = open(addr, timeout)?;
            let got = expect(
                command(&mut c, &format!("DELETE {file_a}"))?,
                &format!("DELETED {file_a}"),
            )?;
            expect_error(command(&mut c, &format!("DOWNLOAD {file_a}"))?, "NOT_FOUND")?;
            Ok(got)
        },
    );

    if let Some(wait) = ch.idle_wait("cliente inactivo", README_IDLE, "--idle-timeout 2") {
        ch.check(
            Step {
                name: "cliente inactivo",
                sent: "nada tras conectar",
                expected: "`ERROR TIMEOUT ...` y el cierre",
            },
            || {
                let mut c = Conn::open(addr, wait + timeout)?;
                let got = expect_error(c.line()?, "TIMEOUT")?;
                c.until_closed(timeout)?;
                Ok(format!("{got} y el cierre"))
            },
        );
    }
}
