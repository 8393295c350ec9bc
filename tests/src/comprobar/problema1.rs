//! problema1: intercambio TCP básico. El cliente conecta, envía un mensaje y recibe una
//! respuesta; el servidor cierra esa conexión y sigue atendiendo.

use std::time::Duration;

use super::{show, Checker, Conn, Failure, Step};

/// Plazo del README para recibir el mensaje (`--timeout`).
const README_IDLE: Duration = Duration::from_secs(30);
/// Longitud máxima del mensaje según el README (`--max-line`).
const MAX_LINE: usize = 65536;

pub(super) fn run(ch: &mut Checker<'_>) {
    if ch.completo() {
        completo(ch);
    } else {
        taller(ch);
    }
}

/// El enunciado: conectar, enviar un mensaje, recibir una respuesta, cerrar. Todo en una sola
/// conexión, porque el servidor del enunciado puede terminar tras su primer cliente.
fn taller(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let mut conn = None;
    ch.check(
        Step {
            name: "conectar",
            sent: "una conexión TCP",
            expected: "que el servidor la acepte",
        },
        || {
            let c = Conn::open(addr, timeout)?;
            conn = Some(c);
            Ok("conexión aceptada".into())
        },
    );
    ch.check(
        Step {
            name: "enviar un mensaje y recibir respuesta",
            sent: "\"hola servidor\\n\"",
            expected: "una respuesta, con o sin `\\n`",
        },
        || {
            let c = conn
                .as_mut()
                .ok_or_else(|| Failure::new("no hay conexión"))?;
            c.send(b"hola servidor\n")?;
            let reply = c.message().map_err(|f| {
                f.with_hint("tras recibir el mensaje el servidor debe enviar una confirmación con send()/sendall()")
            })?;
            Ok(show(&reply))
        },
    );
}

/// El protocolo del README, respuesta exacta, límites y plazos.
fn completo(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let exchange = |sent: &[u8], half_close: bool| -> Result<(String, Vec<u8>), Failure> {
        let mut c = Conn::open(addr, timeout)?;
        c.send(sent)?;
        if half_close {
            c.shutdown_write();
        }
        let line = c.line()?;
        let rest = c.until_closed(timeout)?;
        Ok((line, rest))
    };
    let cases: [(&str, &[u8], bool, String); 5] = [
        (
            "respuesta exacta y cierre",
            b"hola servidor\n",
            false,
            "recibido (13 bytes): hola servidor".into(),
        ),
        (
            "cuenta bytes, no caracteres",
            "ñandú\n".as_bytes(),
            false,
            "recibido (7 bytes): ñandú".into(),
        ),
        (
            "admite \\r\\n",
            b"hola\r\n",
            false,
            "recibido (4 bytes): hola".into(),
        ),
        (
            "medio cierre sin \\n",
            b"sin salto",
            true,
            "recibido (9 bytes): sin salto".into(),
        ),
        (
            "bytes que no son UTF-8",
            b"a\xffb\n",
            false,
            "recibido (3 bytes, no UTF-8): a\u{fffd}b".into(),
        ),
    ];
    for (name, sent, half_close, expected) in cases {
        let sent_text = if half_close {
            format!("{} y cierre de escritura", show(sent))
        } else {
            show(sent)
        };
        ch.check(
            Step {
                name,
                sent: &sent_text,
                expected: &format!("{expected:?} y el cierre"),
            },
            || {
                let (line, rest) = exchange(sent, half_close)?;
                if line != expected || !rest.is_empty() {
                    return Err(Failure::hint(
                        format!("{line:?} y luego {}", show(&rest)),
                        "la respuesta es `recibido (N bytes): TEXTO` (N en bytes) y después se cierra",
                    ));
                }
                Ok(format!("{line:?} y el cierre"))
            },
        );
    }

    ch.check(
        Step {
            name: "sigue atendiendo",
            sent: "tres clientes seguidos",
            expected: "una respuesta a cada uno",
        },
        || {
            for i in 0..3 {
                let (line, _) = exchange(format!("mensaje {i}\n").as_bytes(), false)?;
                if line != format!("recibido (9 bytes): mensaje {i}") {
                    return Err(Failure::new(format!("{line:?}")));
                }
            }
            Ok("las tres respuestas".into())
        },
    );

    let too_long = format!("ERROR mensaje demasiado largo: el máximo es {MAX_LINE} bytes");
    let long_line = |newline: bool| -> Result<String, Failure> {
        let mut c = Conn::open(addr, timeout)?;
        let mut long = vec![b'a'; MAX_LINE + 1];
        if newline {
            long.push(b'\n');
        }
        c.send(&long)?;
        let line = c.line()?;
        if line != too_long {
            return Err(Failure::hint(
                format!("{line:?}"),
                "el servidor debe dejar de leer al pasar el máximo (--max-line) y avisar",
            ));
        }
        Ok(format!("{line:?}"))
    };
    ch.check(
        Step {
            name: "mensaje demasiado largo",
            sent: &format!("{} bytes y `\\n`", MAX_LINE + 1),
            expected: &format!("`{too_long}`"),
        },
        || long_line(true),
    );
    ch.check(
        Step {
            name: "mensaje demasiado largo sin `\\n`",
            sent: &format!("{} bytes y nada más", MAX_LINE + 1),
            expected: &format!("`{too_long}` en cuanto pasa del máximo"),
        },
        || long_line(false),
    );

    if let Some(wait) = ch.idle_wait("cliente que no envía nada", README_IDLE, "--timeout 2") {
        let secs = wait.as_secs();
        ch.check(
            Step {
                name: "cliente que no envía nada",
                sent: "nada",
                expected: &format!(
                    "`ERROR tiempo agotado: no llegó ningún mensaje en {secs} s` y el cierre"
                ),
            },
            || {
                let mut c = Conn::open(addr, wait + timeout)?;
                let line = c.line()?;
                let expected = format!("ERROR tiempo agotado: no llegó ningún mensaje en {secs} s");
                if line != expected {
                    return Err(Failure::new(format!("{line:?}")));
                }
                c.until_closed(timeout)?;
                Ok(format!("{line:?} y el cierre"))
            },
        );
    }
}
