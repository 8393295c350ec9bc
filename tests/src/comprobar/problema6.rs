//! problema6: chat con salas. Entrar con nombre (en `general`), hablar a la sala, crear salas
//! y cambiar de una a otra (`/create`, `/join`, `/leave`), listarlas (`/rooms`) y mensajes
//! privados (`/msg`); en el protocolo completo, además, `/users`, `/nick`, `/topic`, historial,
//! errores y límites.
//!
//! La sala que crea comprobar (`comprobar_NNNNNNN`, distinta en cada ejecución) queda en el fichero de
//! salas del servidor: el protocolo no permite borrarlas.

use std::net::SocketAddr;
use std::time::Duration;

use super::problema3::{expect_eventually, expect_line, expect_no_line, join_exact, unique};
use super::{Checker, Conn, Failure, Step};

/// Plazo de presentación del README (`--handshake-timeout`).
const README_IDLE: Duration = Duration::from_secs(120);

/// Entra con `name` y deja la conexión tras `Ahora estás en la sala general (...)`, sin leer
/// el tema ni el historial que puedan venir detrás.
fn login(addr: SocketAddr, timeout: Duration, name: &str) -> Result<Conn, Failure> {
    let mut c = join_exact(addr, timeout, name)?;
    let here = c.line()?;
    if !here.starts_with("Ahora estás en la sala general (") {
        return Err(Failure::new(format!(
            "{here:?} en lugar de `Ahora estás en la sala general (N usuarios).`"
        )));
    }
    Ok(c)
}

pub(super) fn run(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let (ana, beto) = (unique("ana"), unique("beto"));
    let room = unique("comprobar_");
    let mut pair = None;
    ch.check(
        Step {
            name: "entrar en general",
            sent: &format!("{ana:?} y luego {beto:?} como nombres"),
            expected: &format!(
                "`ya estás conectado!`, `Ahora estás en la sala general (N usuarios).` y, para {ana}, `{beto} se ha unido al Chat.`"
            ),
        },
        || {
            let mut a = login(addr, timeout, &ana)?;
            let b = login(addr, timeout, &beto)?;
            let got = expect_eventually(&mut a, &format!("{beto} se ha unido al Chat."))?;
            pair = Some((a, b));
            Ok(got)
        },
    );
    let Some((mut a, mut b)) = pair else {
        ch.skip(
            "el resto de las salas",
            "no se pudo entrar con dos clientes",
        );
        return;
    };

    ch.check(
        Step {
            name: "mensaje a la sala",
            sent: &format!("\"hola general\" desde {ana}"),
            expected: &format!("`{ana}: hola general` para {beto}, nada para {ana}"),
        },
        || {
            a.send_line("hola general")?;
            let got = expect_eventually(&mut b, &format!("{ana}: hola general"))?;
            expect_no_line(&mut a, &format!("{ana}: hola general"))?;
            Ok(got)
        },
    );

    ch.check(
        Step {
            name: "/create",
            sent: &format!("`/create {room}` desde {ana}"),
            expected: &format!(
                "`Sala {room} creada.`, `Ahora estás en la sala {room} (1 usuario).` y, para {beto}, `{ana} ha salido de la sala.`"
            ),
        },
        || {
            a.send_line(&format!("/create {room}"))?;
            expect_line(&mut a, &format!("Sala {room} creada."))
                .map_err(|f| f.with_hint("si la sala ya existía de otra ejecución, use otro servidor o borre su fichero de salas"))?;
            expect_line(&mut a, &format!("Ahora estás en la sala {room} (1 usuario)."))?;
            expect_eventually(&mut b, &format!("{ana} ha salido de la sala."))
        },
    );

    ch.check(
        Step {
            name: "cada sala oye solo lo suyo",
            sent: &format!("\"solo en {room}\" desde {ana}"),
            expected: &format!("que {beto}, en general, no lo reciba"),
        },
        || {
            a.send_line(&format!("solo en {room}"))?;
            expect_no_line(&mut b, &format!("{ana}: solo en {room}"))?;
            Ok("nada para general".into())
        },
    );

    ch.check(
        Step {
            name: "/rooms",
            sent: &format!("`/rooms` desde {beto}"),
            expected: &format!("`Salas (N):` y una línea `- {room} (1 usuario)`"),
        },
        || {
            b.send_line("/rooms")?;
            let (head, lines) = b.listing("Salas (", "):")?;
            let found = lines.contains(&format!("- {room} (1 usuario)"));
            if !found {
                return Err(Failure::new(format!("{head:?} sin `- {room} (1 usuario)`")));
            }
            Ok(format!("{head:?} con {room}"))
        },
    );

    ch.check(
        Step {
            name: "/msg (privado, de una sala a otra)",
            sent: &format!("`/msg {beto} ¿vienes?` desde {ana}"),
            expected: &format!("`[privado a {beto}] ¿vienes?` para {ana} y `[privado] {ana}: ¿vienes?` para {beto}"),
        },
        || {
            a.send_line(&format!("/msg {beto} ¿vienes?"))?;
            expect_eventually(&mut a, &format!("[privado a {beto}] ¿vienes?"))?;
            expect_eventually(&mut b, &format!("[privado] {ana}: ¿vienes?"))
        },
    );

    ch.check(
        Step {
            name: "/join",
            sent: &format!("`/join {room}` desde {beto}"),
            expected: &format!(
                "`Ahora estás en la sala {room} (2 usuarios).` y, para {ana}, `{beto} se ha unido a la sala.`"
            ),
        },
        || {
            b.send_line(&format!("/join {room}"))?;
            expect_eventually(&mut b, &format!("Ahora estás en la sala {room} (2 usuarios)."))?;
            expect_eventually(&mut a, &format!("{beto} se ha unido a la sala."))
        },
    );

    if ch.completo() {
        completo(ch, &mut a, &mut b, &ana, &beto, &room);
    }

    ch.check(
        Step {
            name: "/leave",
            sent: &format!("`/leave` desde {beto}"),
            expected: &format!("`Ahora estás en la sala general (N usuarios).` y, para {ana}, `{beto} ha salido de la sala.`"),
        },
        || {
            b.send_line("/leave")?;
            b.line_where("`Ahora estás en la sala general (...)`", |l| {
                l.starts_with("Ahora estás en la sala general (")
            })?;
            expect_eventually(&mut a, &format!("{beto} ha salido de la sala."))
        },
    );

    ch.check(
        Step {
            name: "/quit",
            sent: &format!("`/quit` desde {ana}"),
            expected: "`¡Hasta pronto!` y el cierre",
        },
        || {
            a.send_line("/quit")?;
            let got = expect_eventually(&mut a, "¡Hasta pronto!")?;
            a.until_closed(timeout)?;
            Ok(format!("{got} y el cierre"))
        },
    );
}

fn completo(ch: &mut Checker<'_>, a: &mut Conn, b: &mut Conn, ana: &str, beto: &str, room: &str) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    ch.check(
        Step {
            name: "/users",
            sent: "`/users`",
            expected: &format!("`Usuarios en {room} (2): ...` en orden alfabético"),
        },
        || {
            let mut names = [ana, beto];
            names.sort();
            a.send_line("/users")?;
            expect_eventually(a, &format!("Usuarios en {room} (2): {}", names.join(", ")))
        },
    );
    ch.check(
        Step {
            name: "/topic",
            sent: &format!("`/topic de mesa` desde {ana} y luego `/tema` desde {beto}"),
            expected: &format!("`{ana} ha cambiado el tema de la sala: de mesa` para los dos y `Tema de {room}: de mesa`"),
        },
        || {
            a.send_line("/topic de mesa")?;
            let line = format!("{ana} ha cambiado el tema de la sala: de mesa");
            expect_eventually(a, &line)?;
            expect_eventually(b, &line)?;
            b.send_line("/tema")?;
            expect_eventually(b, &format!("Tema de {room}: de mesa"))
        },
    );
    let new_name = unique("anita");
    ch.check(
        Step {
            name: "/nick",
            sent: &format!("`/nick {new_name}` desde {ana}, y luego de vuelta"),
            expected: &format!(
                "`Ahora te llamas {new_name}.` y, para {beto}, `{ana} ahora se llama {new_name}.`"
            ),
        },
        || {
            a.send_line(&format!("/nick {new_name}"))?;
            expect_eventually(a, &format!("Ahora te llamas {new_name}."))?;
            let got = expect_eventually(b, &format!("{ana} ahora se llama {new_name}."))?;
            a.send_line(&format!("/nombre {ana}"))?;
            expect_eventually(a, &format!("Ahora te llamas {ana}."))?;
            Ok(got)
        },
    );
    ch.check(
        Step {
            name: "historial al entrar",
            sent: &format!("dos mensajes en {room} y un tercer cliente que hace `/join {room}`"),
            expected:
                "`--- últimos N mensajes de SALA ---`, los mensajes y `--- fin del historial ---`",
        },
        || {
            a.send(b"uno\ndos\n")?;
            expect_eventually(b, &format!("{ana}: dos"))?;
            let mut c = login(addr, timeout, &unique("cris"))?;
            c.send_line(&format!("/unirse {room}"))?;
            c.line_where("`--- últimos N mensajes ...`", |l| {
                l.starts_with("--- últimos ") && l.ends_with(&format!(" de {room} ---"))
            })?;
            let mut last = Vec::new();
            loop {
                let l = c.line()?;
                if l == "--- fin del historial ---" {
                    break;
                }
                last.push(l);
            }
            if last.iter().rev().take(2).rev().cloned().collect::<Vec<_>>()
                != [format!("{ana}: uno"), format!("{ana}: dos")]
            {
                return Err(Failure::new(format!("historial {last:?}")));
            }
            Ok(format!(
                "{} mensajes de historial, los últimos `uno` y `dos`",
                last.len()
            ))
        },
    );
    ch.check(
        Step {
            name: "`//texto` envía `/texto`",
            sent: "`//no es una orden`",
            expected: &format!("`{ana}: /no es una orden`"),
        },
        || {
            a.send_line("//no es una orden")?;
            expect_eventually(b, &format!("{ana}: /no es una orden"))
        },
    );
    ch.check(
        Step {
            name: "/help",
            sent: "`/ayuda`",
            expected: "12 líneas, la primera `Órdenes (entre paréntesis, el alias en español):`",
        },
        || {
            a.send_line("/ayuda")?;
            expect_eventually(a, "Órdenes (entre paréntesis, el alias en español):")?;
            for _ in 0..11 {
                a.line()?;
            }
            Ok("las 12 líneas".into())
        },
    );

    let errors: Vec<(String, String)> = vec![
        (
            format!("/create {room}"),
            format!("ERROR la sala {room} ya existe; entra con /join {room}"),
        ),
        (
            "/join no_existe_comprobar".into(),
            "ERROR la sala no_existe_comprobar no existe; créala con /create no_existe_comprobar"
                .into(),
        ),
        (
            "/join general".into(),
            "ERROR ya estás en la sala general".into(),
        ),
        (
            "/leave".into(),
            "ERROR ya estás en general; para desconectarte usa /quit".into(),
        ),
        (
            "/msg nadie_comprobar hola".into(),
            "ERROR el usuario nadie_comprobar no existe".into(),
        ),
        (
            "/x".into(),
            "ERROR orden desconocida: /x. Escribe /help para ver las órdenes".into(),
        ),
        (
            "/create a.b".into(),
            "ERROR el nombre de la sala solo admite letras, dígitos, `-` y `_` (contiene '.')"
                .into(),
        ),
        (
            format!("/nick {beto}"),
            format!("ERROR el nombre {beto} ya está en uso, elige otro"),
        ),
        (
            format!("/topic {}", "t".repeat(201)),
            "ERROR el tema tiene más de 200 caracteres".into(),
        ),
        (
            "x".repeat(4097),
            "ERROR línea demasiado larga: el máximo es 4096 bytes".into(),
        ),
    ];
    // Desde un cliente nuevo en general, para no gastar el límite de ritmo de los demás.
    let mut e = match login(addr, timeout, &unique("eli")) {
        Ok(e) => e,
        Err(f) => {
            ch.check(
                Step {
                    name: "órdenes rechazadas",
                    sent: "un cliente nuevo",
                    expected: "entrar",
                },
                || Err(f),
            );
            return;
        }
    };
    for (sent, expected) in errors {
        let shown = if sent.len() > 60 {
            format!("{} bytes", sent.len())
        } else {
            format!("`{sent}`")
        };
        ch.check(
            Step {
                name: "orden rechazada",
                sent: &shown,
                expected: &format!("`{expected}` y la conexión sigue"),
            },
            || {
                e.send_line(&sent)?;
                e.line_where(&format!("`{expected}`"), |l| l.starts_with("ERROR"))
                    .and_then(|l| {
                        if l == expected {
                            Ok(format!("{l:?}"))
                        } else {
                            Err(Failure::new(format!("{l:?}")))
                        }
                    })
            },
        );
    }
    ch.check(
        Step {
            name: "UTF-8 no válido",
            sent: "\"\\xff\" y `\\n`",
            expected: "`ERROR la línea no es texto UTF-8 válido`",
        },
        || {
            e.send(b"\xff\n")?;
            expect_line(&mut e, "ERROR la línea no es texto UTF-8 válido")
        },
    );
    if let Some(wait) = ch.idle_wait("sin nombre a tiempo", README_IDLE, "--handshake-timeout 2") {
        ch.check(
            Step {
                name: "sin nombre a tiempo",
                sent: "nada tras conectar",
                expected: "`ERROR no elegiste nombre a tiempo: desconectado` y el cierre",
            },
            || {
                let mut c = Conn::open(addr, wait + timeout)?;
                expect_line(&mut c, "Introduce tu nombre:")?;
                expect_line(&mut c, "ERROR no elegiste nombre a tiempo: desconectado")?;
                c.until_closed(timeout)?;
                Ok("el error y el cierre".into())
            },
        );
    }
}
