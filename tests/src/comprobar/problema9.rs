//! problema9: balanceador y almacén clave-valor replicado. Se habla RESP2 (como `redis-cli`)
//! con el balanceador: `PING`, `SET` y `GET` por conexiones nuevas (cada una puede ir a otro
//! nodo, y todas deben ver lo escrito); en el protocolo completo, además, las demás órdenes,
//! sus errores y los límites.
//!
//! La caída de un nodo: comprobar no puede matar un nodo ajeno. Con `--control` (el puerto de
//! control del balanceador) registra un servidor de fondo muerto (una dirección de 127.0.0.1
//! en la que no escucha nadie) y comprueba que los clientes siguen atendidos por los nodos
//! vivos; luego lo da de baja. Sin `--control` esa comprobación se salta.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use super::problema3::unique;
use super::{show, Checker, Conn, Failure, Step};

/// Un valor RESP2.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

impl Value {
    /// Como lo muestra `redis-cli`.
    fn show(&self) -> String {
        match self {
            Value::Simple(s) => s.clone(),
            Value::Error(e) => format!("(error) {e}"),
            Value::Integer(n) => format!("(integer) {n}"),
            Value::Bulk(None) | Value::Array(None) => "(nil)".into(),
            Value::Bulk(Some(b)) => show(b),
            Value::Array(Some(items)) => format!(
                "[{}]",
                items.iter().map(Value::show).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Some(s.as_bytes().to_vec()))
}

/// Lee un valor RESP2 (anidado como mucho 8 niveles).
fn read_value(c: &mut Conn, depth: u8) -> Result<Value, Failure> {
    if depth > 8 {
        return Err(Failure::new("respuesta anidada más de 8 niveles"));
    }
    let line = c.line()?;
    let (kind, rest) = line.split_at(line.len().min(1));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| Failure::new(format!("línea RESP no válida {line:?}")))
    };
    Ok(match kind {
        "+" => Value::Simple(rest.to_string()),
        "-" => Value::Error(rest.to_string()),
        ":" => Value::Integer(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Value::Bulk(None),
            Ok(n) => {
                let data = c.exact(n + 2)?;
                Value::Bulk(Some(data.get(..n).unwrap_or_default().to_vec()))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Value::Array(None),
            Ok(n) => {
                let mut items = Vec::new();
                for _ in 0..n.min(100_000) {
                    items.push(read_value(c, depth + 1)?);
                }
                Value::Array(Some(items))
            }
        },
        _ => {
            return Err(Failure::hint(
                format!("{line:?}"),
                "una respuesta RESP empieza por +, -, :, $ o *",
            ))
        }
    })
}

/// Una orden como array de cadenas bulk (lo que envía `redis-cli`).
fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Envía una orden y lee su respuesta.
fn cmd(c: &mut Conn, args: &[&str]) -> Result<Value, Failure> {
    let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.send(&encode(&raw))?;
    read_value(c, 0)
}

/// Orden por una conexión nueva con la respuesta esperada.
fn expect(
    addr: SocketAddr,
    timeout: Duration,
    args: &[&str],
    want: &Value,
) -> Result<String, Failure> {
    let mut c = Conn::open(addr, timeout)?;
    let got = cmd(&mut c, args)?;
    if &got != want {
        return Err(Failure::new(got.show()));
    }
    Ok(got.show())
}

/// Envía una línea JSON (o de texto) al puerto de control y devuelve la respuesta.
fn control(addr: SocketAddr, timeout: Duration, line: &str) -> Result<String, Failure> {
    let mut c = Conn::open(addr, timeout)?;
    c.send_line(line)?;
    c.line()
}

pub(super) fn run(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let key = unique("comprobar-clave-");
    let ok = Value::Simple("OK".into());

    ch.check(
        Step {
            name: "PING",
            sent: "`PING` por el balanceador",
            expected: "`+PONG`",
        },
        || expect(addr, timeout, &["PING"], &Value::Simple("PONG".into())),
    );
    ch.check(
        Step {
            name: "SET",
            sent: &format!("`SET {key} hola`"),
            expected: "`+OK` (confirmado por una mayoría)",
        },
        || expect(addr, timeout, &["SET", &key, "hola"], &ok),
    );
    ch.check(
        Step {
            name: "GET por conexiones nuevas",
            sent: &format!("`GET {key}` por 6 conexiones nuevas (cada una puede ir a otro nodo)"),
            expected: "`hola` en todas",
        },
        || {
            for _ in 0..6 {
                expect(addr, timeout, &["GET", &key], &bulk("hola"))?;
            }
            Ok("\"hola\" seis veces".into())
        },
    );
    ch.check(
        Step {
            name: "GET de una clave que no existe",
            sent: "`GET comprobar-no-existe`",
            expected: "`$-1` (nil)",
        },
        || {
            expect(
                addr,
                timeout,
                &["GET", "comprobar-no-existe"],
                &Value::Bulk(None),
            )
        },
    );

    match ch.opts.control {
        Some(control_addr) => node_failure(ch, control_addr, &key),
        None => ch.skip(
            "caída de un nodo",
            "pase `--control 127.0.0.1:8019` (el puerto de control del balanceador) para registrar un nodo caído y ver que los clientes siguen atendidos",
        ),
    }

    if ch.completo() {
        completo(ch, &key);
    }
    // Limpieza: que la clave de prueba no quede en el almacén.
    if let Ok(mut c) = Conn::open(addr, timeout) {
        let _ = cmd(&mut c, &["DEL", &key, &format!("{key}-bin")]);
    }
}

fn node_failure(ch: &mut Checker<'_>, control_addr: SocketAddr, key: &str) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    // Un puerto de 127.0.0.1 en el que no escucha nadie: el nodo "caído".
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "127.0.0.1:9".into());
    let id = unique("comprobar-caido-");
    ch.check(
        Step {
            name: "caída de un nodo",
            sent: &format!("registro de `{id}` en {dead} (no escucha nadie) y 6 conexiones con `GET {key}`"),
            expected: "`registered`, `hola` en las 6 (el balanceador pasa al siguiente nodo sin que el cliente lo note) y la baja con `ok`",
        },
        || {
            let reg = control(
                control_addr,
                timeout,
                &format!(r#"{{"type":"register","id":"{id}","addr":"{dead}"}}"#),
            )?;
            if !reg.contains(r#""type":"registered""#) {
                return Err(Failure::new(format!("al registrar: {reg:?}")));
            }
            let mut result = Ok(());
            for _ in 0..6 {
                if let Err(f) = expect(addr, timeout, &["GET", key], &bulk("hola")) {
                    result = Err(Failure::hint(
                        f.got,
                        "si la conexión con un servidor de fondo falla, el cliente se envía en el acto a otro",
                    ));
                    break;
                }
            }
            let bye = control(control_addr, timeout, &format!(r#"{{"type":"deregister","id":"{id}"}}"#))?;
            result?;
            if bye != r#"{"type":"ok"}"# {
                return Err(Failure::new(format!("al dar de baja: {bye:?}")));
            }
            Ok("los 6 clientes atendidos y la baja confirmada".into())
        },
    );
}

fn completo(ch: &mut Checker<'_>, key: &str) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let cases: Vec<(&str, Vec<&str>, Value)> = vec![
        ("ECHO", vec!["ECHO", "eco"], bulk("eco")),
        ("PING con mensaje", vec!["PING", "hola"], bulk("hola")),
        (
            "CONFIG GET (lo pide redis-benchmark)",
            vec!["CONFIG", "GET", "databases"],
            Value::Array(Some(vec![bulk("databases"), bulk("1")])),
        ),
        (
            "CLIENT GETNAME",
            vec!["CLIENT", "GETNAME"],
            Value::Bulk(None),
        ),
        (
            "EXISTS",
            vec!["EXISTS", key, "comprobar-no-existe"],
            Value::Integer(1),
        ),
        (
            "orden desconocida",
            vec!["FLUSHALL"],
            Value::Error("ERR unknown command 'FLUSHALL', with args beginning with: ".into()),
        ),
        (
            "argumentos de menos",
            vec!["GET"],
            Value::Error("ERR wrong number of arguments for 'get' command".into()),
        ),
        (
            "COMMAND (lo pide redis-cli)",
            vec!["COMMAND"],
            Value::Array(Some(Vec::new())),
        ),
        ("SELECT 0", vec!["SELECT", "0"], Value::Simple("OK".into())),
    ];
    for (name, args, want) in cases {
        ch.check(
            Step {
                name,
                sent: &format!("`{}`", args.join(" ")),
                expected: &format!("`{}`", want.show()),
            },
            || expect(addr, timeout, &args, &want),
        );
    }
    ch.check(
        Step {
            name: "SET con opciones",
            sent: &format!("`SET {key} x EX 10`"),
            expected: "`-ERR syntax error ...`",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            match cmd(&mut c, &["SET", key, "x", "EX", "10"])? {
                Value::Error(e) if e.starts_with("ERR syntax error") => Ok(format!("(error) {e}")),
                other => Err(Failure::new(other.show())),
            }
        },
    );
    ch.check(
        Step {
            name: "valor binario",
            sent: &format!("`SET {key}-bin` con bytes 0..255 (incluidos \\r\\n) y `GET`"),
            expected: "los mismos 256 bytes",
        },
        || {
            let value: Vec<u8> = (0..=255u8).collect();
            let name = format!("{key}-bin");
            let mut c = Conn::open(addr, timeout)?;
            c.send(&encode(&[b"SET", name.as_bytes(), &value]))?;
            let set = read_value(&mut c, 0)?;
            if set != Value::Simple("OK".into()) {
                return Err(Failure::new(set.show()));
            }
            let got = cmd(&mut Conn::open(addr, timeout)?, &["GET", &name])?;
            if got != Value::Bulk(Some(value)) {
                return Err(Failure::new(got.show()));
            }
            Ok("256 bytes idénticos".into())
        },
    );
    ch.check(
        Step {
            name: "órdenes en línea y pipelining",
            sent: &format!("\"SET {key} \\\"hola mundo\\\"\\r\\nGET {key}\\r\\nDEL {key}\\r\\nGET {key}\\r\\n\" de una vez"),
            expected: "`+OK`, `hola mundo`, `:1` y `$-1`, en orden",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            c.send(format!("SET {key} \"hola mundo\"\r\nGET {key}\r\nDEL {key}\r\nGET {key}\r\n").as_bytes())?;
            let got: Vec<Value> = (0..4).map(|_| read_value(&mut c, 0)).collect::<Result<_, _>>()?;
            let want = vec![
                Value::Simple("OK".into()),
                bulk("hola mundo"),
                Value::Integer(1),
                Value::Bulk(None),
            ];
            if got != want {
                return Err(Failure::new(format!("{:?}", got.iter().map(Value::show).collect::<Vec<_>>())));
            }
            Ok("las cuatro, en orden".into())
        },
    );
    ch.check(
        Step {
            name: "bulk demasiado largo",
            sent: "`*2\\r\\n$3\\r\\nGET\\r\\n$2000000\\r\\n`",
            expected: "`-ERR Protocol error: ...` y el cierre",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            c.send(b"*2\r\n$3\r\nGET\r\n$2000000\r\n")?;
            match read_value(&mut c, 0)? {
                Value::Error(e) if e.starts_with("ERR Protocol error") => {
                    c.until_closed(timeout)?;
                    Ok(format!("(error) {e} y el cierre"))
                }
                other => Err(Failure::new(other.show())),
            }
        },
    );
    ch.check(
        Step {
            name: "QUIT",
            sent: "`QUIT`",
            expected: "`+OK` y el cierre",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            let got = cmd(&mut c, &["QUIT"])?;
            if got != Value::Simple("OK".into()) {
                return Err(Failure::new(got.show()));
            }
            c.until_closed(timeout)?;
            Ok("OK y el cierre".into())
        },
    );

    let Some(control_addr) = ch.opts.control else {
        ch.skip("puerto de control", "pase `--control 127.0.0.1:8019`");
        return;
    };
    for (name, line, want) in [
        (
            "members",
            r#"{"type":"members"}"#,
            r#"{"type":"members","members":["#,
        ),
        (
            "status",
            r#"{"type":"status"}"#,
            r#"{"type":"status","backends":["#,
        ),
        (
            "JSON no válido",
            "esto no es json",
            r#"{"type":"error","message":"#,
        ),
        (
            "latido de un desconocido",
            r#"{"type":"heartbeat","id":"comprobar-nadie"}"#,
            r#"{"type":"unknown","id":"comprobar-nadie"}"#,
        ),
        (
            "registro con una dirección mala",
            r#"{"type":"register","id":"comprobar-malo","addr":"sin-puerto"}"#,
            r#"{"type":"error","message":"#,
        ),
    ] {
        ch.check(
            Step {
                name: &format!("control: {name}"),
                sent: &format!("`{line}`"),
                expected: &format!("una línea que empiece por `{want}`"),
            },
            || {
                let got = control(control_addr, timeout, line)?;
                if !got.starts_with(want) {
                    return Err(Failure::new(format!("{got:?}")));
                }
                Ok(show(got.as_bytes()))
            },
        );
    }
}
