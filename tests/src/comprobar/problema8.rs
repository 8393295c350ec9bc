//! problema8: tres en raya. Dos jugadores con nombre quedan con un código privado (así no se
//! cruzan con otros que estén jugando), un espectador mira la partida, se rechazan las jugadas
//! ilegales con su código y alguien gana; en el protocolo completo, además, la cola, la
//! máquina, la revancha, la vuelta tras una caída, las demás órdenes y la entrada mala.

use std::net::SocketAddr;
use std::time::Duration;

use super::problema3::unique;
use super::{Checker, Conn, Failure, Step};

/// Plazo de inactividad del README (`--idle-timeout`).
const README_IDLE: Duration = Duration::from_secs(3600);

/// Conecta, lee `WELCOME`, elige `name` y devuelve la conexión y el token.
fn named(addr: SocketAddr, timeout: Duration, name: &str) -> Result<(Conn, String), Failure> {
    let mut c = welcome(addr, timeout)?;
    c.send_line(&format!("NAME {name}"))?;
    let hello = c.line()?;
    let token = hello
        .strip_prefix(&format!("HELLO {name} "))
        .filter(|t| t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Failure::new(format!("{hello:?} en lugar de `HELLO {name} <token>`")))?
        .to_string();
    Ok((c, token))
}

/// Conecta y lee el saludo `WELCOME ...`.
fn welcome(addr: SocketAddr, timeout: Duration) -> Result<Conn, Failure> {
    let mut c = Conn::open(addr, timeout)?;
    let w = c.line()?;
    if !w.starts_with("WELCOME ") {
        return Err(Failure::new(format!("{w:?} en lugar de `WELCOME ...`")));
    }
    Ok(c)
}

/// Lee líneas de `c` hasta `expected` (otras, como `YOUR_TURN`, pueden llegar antes).
fn until(c: &mut Conn, expected: &str) -> Result<String, Failure> {
    c.line_where(&format!("{expected:?}"), |l| l == expected)
        .map(|l| format!("{l:?}"))
}

/// Envía `cmd` y la siguiente línea debe empezar por `ERROR CODE `.
fn refused(c: &mut Conn, cmd: &str, code: &str) -> Result<String, Failure> {
    c.send_line(cmd)?;
    let l = c.line_where(&format!("`ERROR {code} ...`"), |l| l.starts_with("ERROR "))?;
    if !l.starts_with(&format!("ERROR {code} ")) {
        return Err(Failure::new(format!("{l:?} a `{cmd}`")));
    }
    Ok(format!("{l:?}"))
}

/// La partida de la comprobación: los dos jugadores, el espectador y el id.
struct Game {
    x: Conn,
    o: Conn,
    spectator: Conn,
    id: String,
    x_name: String,
    o_name: String,
    o_token: String,
}

pub(super) fn run(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let (ana, bea) = (unique("ana"), unique("bea"));
    let code = unique("codigo");
    let mut game = None;
    ch.check(
        Step {
            name: "nombres y partida privada",
            sent: &format!("`NAME {ana}` y `PLAY {code}`; luego `NAME {bea}` y `PLAY {code}`"),
            expected: "`HELLO`, `WAITING` y `START <id> X`/`START <id> O` con el tablero vacío",
        },
        || {
            let (mut x, _) = named(addr, timeout, &ana)?;
            x.send_line(&format!("PLAY {code}"))?;
            until(&mut x, &format!("WAITING {code}"))?;
            let (mut o, o_token) = named(addr, timeout, &bea)?;
            o.send_line(&format!("PLAY {code}"))?;
            let start = o.line()?;
            let id = start
                .strip_prefix("START ")
                .and_then(|r| r.strip_suffix(&format!(" O {ana}")))
                .ok_or_else(|| Failure::new(format!("{start:?} en lugar de `START <id> O {ana}`")))?
                .to_string();
            until(&mut x, &format!("START {id} X {bea}"))?;
            until(&mut x, &format!("BOARD {id} ......... X"))?;
            until(&mut x, &format!("YOUR_TURN {id} X ........."))?;
            until(&mut o, &format!("BOARD {id} ......... X"))?;
            let mut spectator = welcome(addr, timeout)?;
            spectator.send_line(&format!("WATCH {id}"))?;
            until(&mut spectator, &format!("WATCHING {id} {ana} {bea}"))?;
            until(&mut spectator, &format!("BOARD {id} ......... X"))?;
            game = Some(Game {
                x,
                o,
                spectator,
                id: id.clone(),
                x_name: ana.clone(),
                o_name: bea.clone(),
                o_token,
            });
            Ok(format!("partida {id}, con un espectador mirando"))
        },
    );
    let Some(mut g) = game else {
        ch.skip("la partida", "no se pudo empezar");
        return;
    };
    let id = g.id.clone();

    ch.check(
        Step {
            name: "jugada válida, vista por los tres",
            sent: "`MOVE 1` de X",
            expected: &format!(
                "`MOVED {id} X 1 X........ O` a X, a O y al espectador, y `YOUR_TURN` a O"
            ),
        },
        || {
            g.x.send_line("MOVE 1")?;
            let line = format!("MOVED {id} X 1 X........ O");
            until(&mut g.x, &line)?;
            until(&mut g.o, &line)?;
            until(&mut g.spectator, &line)?;
            until(&mut g.o, &format!("YOUR_TURN {id} O X........"))
        },
    );
    for (who, cmd, code) in [
        ("O", "MOVE 1", "OCCUPIED"),
        ("X", "MOVE 2", "NOT_YOUR_TURN"),
        ("O", "MOVE 10", "OUT_OF_RANGE"),
        ("espectador", "MOVE 3", "SPECTATOR"),
    ] {
        ch.check(
            Step {
                name: "jugada ilegal",
                sent: &format!("`{cmd}` de {who}"),
                expected: &format!("`ERROR {code} ...` y el tablero sin cambios"),
            },
            || {
                let c = match who {
                    "O" => &mut g.o,
                    "X" => &mut g.x,
                    _ => &mut g.spectator,
                };
                refused(c, cmd, code)
            },
        );
    }
    ch.check(
        Step {
            name: "partida hasta el final",
            sent: "O 4, X 2, O 5, X 3",
            expected: &format!("`WIN {id} X {ana} 1,2,3` a los dos jugadores y al espectador"),
        },
        || {
            for (mover, cell, board) in [
                ('O', 4, "X..O....."),
                ('X', 2, "XX.O....."),
                ('O', 5, "XX.OO...."),
                ('X', 3, "XXXOO...."),
            ] {
                let c = if mover == 'X' { &mut g.x } else { &mut g.o };
                c.send_line(&format!("MOVE {cell}"))?;
                let next = match (cell, mover) {
                    (3, _) => '-',
                    (_, 'X') => 'O',
                    _ => 'X',
                };
                let line = format!("MOVED {id} {mover} {cell} {board} {next}");
                until(&mut g.x, &line)?;
                until(&mut g.o, &line)?;
                until(&mut g.spectator, &line)?;
            }
            let win = format!("WIN {id} X {} 1,2,3", g.x_name);
            until(&mut g.x, &win)?;
            until(&mut g.o, &win)?;
            until(&mut g.spectator, &win)
        },
    );
    ch.check(
        Step {
            name: "tras el final no se mueve",
            sent: "`MOVE 9` de O",
            expected: "`ERROR GAME_OVER ...`",
        },
        || refused(&mut g.o, "MOVE 9", "GAME_OVER"),
    );

    if ch.completo() {
        completo(ch, &mut g);
    }
}

fn completo(ch: &mut Checker<'_>, g: &mut Game) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let id = g.id.clone();
    let (ana, bea) = (g.x_name.clone(), g.o_name.clone());
    ch.check(
        Step {
            name: "revancha",
            sent: "`REMATCH` de los dos",
            expected: &format!("`REMATCH_OFFERED`, `START {id} O {bea}` para {ana} (fichas cambiadas) y `WATCHING {id} {bea} {ana}` al espectador"),
        },
        || {
            g.x.send_line("REMATCH")?;
            until(&mut g.x, &format!("REMATCH_WAITING {id}"))?;
            until(&mut g.o, &format!("REMATCH_OFFERED {id} {ana}"))?;
            g.o.send_line("REMATCH")?;
            until(&mut g.x, &format!("START {id} O {bea}"))?;
            until(&mut g.o, &format!("START {id} X {ana}"))?;
            until(&mut g.spectator, &format!("WATCHING {id} {bea} {ana}"))
        },
    );
    ch.check(
        Step {
            name: "caída y vuelta con el token",
            sent: &format!("{bea} (ahora X) corta la conexión y vuelve con `NAME {bea} <token>`"),
            expected: &format!("`AWAY {id} X {bea} <ms>` y luego `BACK {id} X {bea}` para {ana}; `HELLO` y `START` para {bea}"),
        },
        || {
            let dropped = std::mem::replace(&mut g.o, welcome(addr, timeout)?);
            drop(dropped);
            g.x.line_where("`AWAY ...`", |l| l.starts_with(&format!("AWAY {id} X {bea} ")))?;
            refused(&mut g.o, &format!("NAME {bea}"), "NAME_TAKEN")?;
            g.o.send_line(&format!("NAME {bea} {}", g.o_token))?;
            until(&mut g.o, &format!("HELLO {bea} {}", g.o_token))?;
            until(&mut g.o, &format!("START {id} X {ana}"))?;
            until(&mut g.x, &format!("BACK {id} X {bea}"))
        },
    );
    ch.check(
        Step {
            name: "LIST",
            sent: "`LIST`",
            expected: &format!("`GAMES n` y una línea `GAME {id} {bea} {ana} ...`"),
        },
        || {
            let mut c = welcome(addr, timeout)?;
            c.send_line("LIST")?;
            let (head, lines) = c.listing("GAMES ", "")?;
            let want = format!("GAME {id} {bea} {ana} 0 ......... X");
            let found = lines.contains(&want);
            if !found {
                return Err(Failure::new(format!("{head:?} sin `{want}`")));
            }
            Ok(format!("{head:?} con `{want}`"))
        },
    );
    ch.check(
        Step {
            name: "abandono",
            sent: &format!("`LEAVE` de {ana} con la partida en curso"),
            expected: &format!("`FORFEIT {id} O {ana} LEFT` y `OK LEAVE`"),
        },
        || {
            g.x.send_line("LEAVE")?;
            until(&mut g.x, &format!("FORFEIT {id} O {ana} LEFT"))?;
            until(&mut g.x, "OK LEAVE")?;
            until(&mut g.o, &format!("FORFEIT {id} O {ana} LEFT"))
        },
    );
    ch.check(
        Step {
            name: "SCORES",
            sent: "`SCORES`",
            expected: &format!("`SCORES n` con `SCORE {ana} 1 0 1` y `SCORE {bea} 1 0 1`"),
        },
        || {
            g.o.send_line("SCORES")?;
            let (head, lines) = g.o.listing("SCORES ", "")?;
            for want in [format!("SCORE {ana} 1 0 1"), format!("SCORE {bea} 1 0 1")] {
                if !lines.contains(&want) {
                    return Err(Failure::new(format!("{head:?} {lines:?} sin `{want}`")));
                }
            }
            Ok(format!("{head:?} con los dos"))
        },
    );
    ch.check(
        Step {
            name: "contra la máquina",
            sent: "`NAME ...`, `PLAY CPU` y `MOVE 5`",
            expected:
                "`START <id> X CPU`, `MOVED <id> X 5 ....X.... O` y la respuesta de la máquina",
        },
        || {
            let (mut c, _) = named(addr, timeout, &unique("solo"))?;
            c.send_line("PLAY CPU")?;
            let start = c.line_where("`START <id> X CPU`", |l| l.starts_with("START "))?;
            let cid = start
                .strip_prefix("START ")
                .and_then(|r| r.strip_suffix(" X CPU"))
                .ok_or_else(|| Failure::new(format!("{start:?}")))?
                .to_string();
            c.send_line("MOVE 5")?;
            until(&mut c, &format!("MOVED {cid} X 5 ....X.... O"))?;
            let reply = c.line_where("la jugada de la máquina", |l| {
                l.starts_with(&format!("MOVED {cid} O "))
            })?;
            c.send_line("QUIT")?;
            c.line_where("`BYE ...`", |l| l.starts_with("BYE "))?;
            c.until_closed(timeout)?;
            Ok(format!("{reply:?}, y `QUIT` con `BYE` y el cierre"))
        },
    );

    let long = format!("LIST {}", "x".repeat(300));
    let errors: [(&str, &[u8], &str); 10] = [
        ("orden desconocida", b"BAILAR\n", "UNKNOWN_COMMAND"),
        ("argumento malo", b"MOVE x\n", "BAD_ARGUMENT"),
        ("sin nombre", b"PLAY\n", "NO_NAME"),
        ("nombre reservado", b"NAME CPU\n", "BAD_NAME"),
        ("nombre no válido", b"NAME a.b\n", "BAD_NAME"),
        ("línea demasiado larga", long.as_bytes(), "LINE_TOO_LONG"),
        ("UTF-8 no válido", b"\xff\xfe\n", "INVALID_UTF8"),
        (
            "mirar una partida que no existe",
            b"WATCH 999999\n",
            "NO_SUCH_GAME",
        ),
        ("mover sin partida", b"MOVE 5\n", "NOT_IN_GAME"),
        ("revancha sin partida", b"REMATCH\n", "NO_REMATCH"),
    ];
    let mut c = match welcome(addr, timeout) {
        Ok(c) => c,
        Err(f) => {
            ch.check(
                Step {
                    name: "entrada mala",
                    sent: "una conexión",
                    expected: "`WELCOME`",
                },
                || Err(f),
            );
            return;
        }
    };
    for (name, bytes, code) in errors {
        ch.check(
            Step {
                name,
                sent: &super::show(bytes.get(..bytes.len().min(40)).unwrap_or_default()),
                expected: &format!("`ERROR {code} ...` y la conexión sigue"),
            },
            || {
                c.send(bytes)?;
                if !bytes.ends_with(b"\n") {
                    c.send(b"\n")?;
                }
                let l = c.line()?;
                if !l.starts_with(&format!("ERROR {code} ")) {
                    return Err(Failure::new(format!("{l:?}")));
                }
                Ok(format!("{l:?}"))
            },
        );
    }
    ch.check(
        Step {
            name: "nombre ya elegido y partida ocupada",
            sent: "`NAME` dos veces, y `PLAY CPU` con una partida en curso",
            expected: "`ERROR ALREADY_NAMED ...` y `ERROR BUSY ...`",
        },
        || {
            let (mut p, _) = named(addr, timeout, &unique("pepe"))?;
            refused(&mut p, &format!("NAME {}", unique("otro")), "ALREADY_NAMED")?;
            p.send_line("PLAY CPU")?;
            p.line_where("`START ...`", |l| l.starts_with("START "))?;
            refused(&mut p, "PLAY CPU", "BUSY")
        },
    );
    ch.check(
        Step {
            name: "HELP",
            sent: "`HELP`",
            expected: "varias líneas `INFO ...`",
        },
        || {
            c.send_line("HELP")?;
            let first = c.line()?;
            if !first.starts_with("INFO ") {
                return Err(Failure::new(format!("{first:?}")));
            }
            Ok(format!("{first:?}..."))
        },
    );
    if let Some(wait) = ch.idle_wait("cliente inactivo", README_IDLE, "--idle-timeout 2s") {
        ch.check(
            Step {
                name: "cliente inactivo",
                sent: "nada tras el saludo",
                expected: "`ERROR IDLE ...` y el cierre",
            },
            || {
                let mut c = Conn::open(addr, wait + timeout)?;
                c.line()?;
                let l = c.line()?;
                if !l.starts_with("ERROR IDLE ") {
                    return Err(Failure::new(format!("{l:?}")));
                }
                c.until_closed(timeout)?;
                Ok(format!("{l:?} y el cierre"))
            },
        );
    }
}
