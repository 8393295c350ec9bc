//! problema3: chat de una sala. Cada cliente elige un nombre; los demás se enteran de que
//! entra y de que sale; cada línea llega a todos menos a quien la envía.

use std::net::SocketAddr;
use std::time::Duration;

use super::conexion::contains;
use super::{show, Checker, Conn, Failure, Step};

/// Plazo de presentación del README (`--handshake-timeout`).
const README_IDLE: Duration = Duration::from_secs(120);
/// Cuánto se escucha para asegurar que algo NO llega.
pub(super) const SILENCE: Duration = Duration::from_millis(800);
/// Cuánto se espera un saludo o una confirmación que el enunciado no fija.
const OPTIONAL: Duration = Duration::from_millis(500);

pub(super) fn run(ch: &mut Checker<'_>) {
    if ch.completo() {
        completo(ch);
    } else {
        taller(ch);
    }
}

/// Un nombre distinto en cada llamada y en cada ejecución, para no chocar con clientes que ya
/// estén dentro ni con lo que dejó una ejecución anterior (las salas de problema6 persisten).
/// Como mucho `base` y 7 cifras (los nombres de problema8 tienen hasta 16 caracteres).
pub(super) fn unique(base: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
            .unwrap_or(0);
        (nanos ^ std::process::id()) % 100_000
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 100;
    format!("{base}{seed:05}{n:02}")
}

/// Entra con `name` sin suponer el texto del saludo ni de la confirmación: lo que llegue antes
/// y después de enviar el nombre se descarta.
fn join_tolerant(addr: SocketAddr, timeout: Duration, name: &str) -> Result<Conn, Failure> {
    let mut c = Conn::open(addr, timeout)?;
    c.collect_for(OPTIONAL)?;
    c.send_line(name)?;
    c.collect_for(OPTIONAL)?;
    if c.is_closed() {
        return Err(Failure::hint(
            "el servidor cerró la conexión tras recibir el nombre",
            "tras el nombre, la conexión sigue abierta para chatear",
        ));
    }
    Ok(c)
}

/// Espera en `c` algo que contenga `needle` (con o sin `\n`).
fn expect_text(c: &mut Conn, needle: &str, hint: &str) -> Result<String, Failure> {
    c.until_contains(needle.as_bytes())
        .map(|got| show(&got))
        .map_err(|f| f.with_hint(hint))
}

/// Falla si en [`SILENCE`] llega a `c` algo que contenga `needle`.
fn expect_absent(c: &mut Conn, needle: &str, hint: &str) -> Result<(), Failure> {
    let got = c.collect_for(SILENCE)?;
    if contains(&got, needle.as_bytes()) {
        return Err(Failure::hint(show(&got), hint));
    }
    Ok(())
}

fn taller(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let (ana, bea, eva) = (unique("ana"), unique("bea"), unique("eva"));
    let mut clients: Option<(Conn, Conn)> = None;
    ch.check(
        Step {
            name: "primero el nombre; los demás se enteran",
            sent: &format!("{ana:?} desde un cliente y luego {bea:?} desde otro"),
            expected: &format!("que {ana} reciba algo que nombre a {bea}"),
        },
        || {
            let mut a = join_tolerant(addr, timeout, &ana)?;
            let b = join_tolerant(addr, timeout, &bea)?;
            let got = expect_text(
                &mut a,
                &bea,
                "cuando alguien entra, el servidor avisa a los demás con un mensaje que lleva su nombre",
            )?;
            clients = Some((a, b));
            Ok(got)
        },
    );
    let Some((mut a, mut b)) = clients else {
        ch.skip(
            "una línea llega a todos menos a quien la envía",
            "no se pudo entrar con dos clientes",
        );
        return;
    };
    let text = "hola a todos desde el taller";
    let mut e_conn = None;
    ch.check(
        Step {
            name: "una línea llega a todos menos a quien la envía",
            sent: &format!("{text:?} desde {ana} (con {bea} y {eva} dentro)"),
            expected: &format!("que {bea} y {eva} la reciban y {ana} no"),
        },
        || {
            let mut e = join_tolerant(addr, timeout, &eva)?;
            // Los avisos de la entrada de eva, fuera.
            expect_text(&mut a, &eva, "cuando alguien entra, se avisa a los demás")?;
            expect_text(&mut b, &eva, "cuando alguien entra, se avisa a los demás")?;
            a.send_line(text)?;
            let hint = "el servidor debe reenviar cada mensaje a todos los demás clientes conectados";
            let got_b = expect_text(&mut b, text, hint)?;
            expect_text(&mut e, text, hint)?;
            expect_absent(
                &mut a,
                text,
                "el servidor no debe devolver el mensaje a quien lo envió: al difundir, sáltese su socket",
            )?;
            e_conn = Some(e);
            Ok(format!("{bea} y {eva} la reciben ({got_b}); {ana} no"))
        },
    );
    ch.check(
        Step {
            name: "que uno se vaya no rompe a nadie",
            sent: &format!("{eva} cierra la conexión; luego {bea} escribe"),
            expected: &format!("que {ana} siga recibiendo"),
        },
        || {
            drop(e_conn.take());
            let text = "sigo aquí";
            b.send_line(text)?;
            let got = expect_text(
                &mut a,
                text,
                "al escribir a un cliente que se fue hay que capturar el error y quitarlo de la lista, sin dejar de atender a los demás",
            )?;
            Ok(got)
        },
    );
}

/// Entra con `name` según el protocolo exacto del README y deja la conexión tras
/// `ya estás conectado!`.
pub(super) fn join_exact(addr: SocketAddr, timeout: Duration, name: &str) -> Result<Conn, Failure> {
    let mut c = Conn::open(addr, timeout)?;
    expect_line(&mut c, "Introduce tu nombre:")?;
    c.send_line(name)?;
    expect_line(&mut c, "ya estás conectado!")?;
    Ok(c)
}

/// La siguiente línea debe ser exactamente `expected`.
pub(super) fn expect_line(c: &mut Conn, expected: &str) -> Result<String, Failure> {
    let line = c.line()?;
    if line != expected {
        return Err(Failure::new(format!("{line:?} en lugar de {expected:?}")));
    }
    Ok(format!("{line:?}"))
}

/// Lee líneas hasta `expected` (otras pueden llegar antes: avisos).
pub(super) fn expect_eventually(c: &mut Conn, expected: &str) -> Result<String, Failure> {
    c.line_where(&format!("{expected:?}"), |l| l == expected)
        .map(|l| format!("{l:?}"))
}

/// Falla si en [`SILENCE`] llega a `c` una línea exactamente igual a `line`.
pub(super) fn expect_no_line(c: &mut Conn, line: &str) -> Result<(), Failure> {
    let got = c.collect_for(SILENCE)?;
    if String::from_utf8_lossy(&got).lines().any(|l| l == line) {
        return Err(Failure::new(format!("le llegó {line:?} ({})", show(&got))));
    }
    Ok(())
}

fn completo(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let (ana, bea) = (unique("ana"), unique("bea"));
    let mut pair = None;
    ch.check(
        Step {
            name: "presentación y aviso de entrada",
            sent: &format!("{ana:?}, y luego {bea:?} desde otra conexión"),
            expected: &format!(
                "`Introduce tu nombre:`, `ya estás conectado!` y, para {ana}, `{bea} se ha unido al Chat.`"
            ),
        },
        || {
            let mut a = join_exact(addr, timeout, &ana)?;
            let b = join_exact(addr, timeout, &bea)?;
            let got = expect_line(&mut a, &format!("{bea} se ha unido al Chat."))?;
            pair = Some((a, b));
            Ok(got)
        },
    );
    let Some((mut a, mut b)) = pair else {
        ch.skip("el resto del chat", "no se pudo entrar con dos clientes");
        return;
    };

    ch.check(
        Step {
            name: "difusión a los demás, no al remitente",
            sent: &format!("\"hola\" y \"\" (vacía) desde {ana}"),
            expected: &format!("`{ana}: hola` para {bea}; nada para {ana}; la vacía se ignora"),
        },
        || {
            a.send(b"hola\n\n")?;
            let got = expect_line(&mut b, &format!("{ana}: hola"))?;
            expect_no_line(&mut a, &format!("{ana}: hola"))?;
            expect_no_line(&mut b, &format!("{ana}: "))?;
            Ok(got)
        },
    );

    ch.check(
        Step {
            name: "caracteres de control sustituidos",
            sent: "\"a\\u{1b}[2Jb\\tc\"",
            expected: &format!("`{ana}: a�[2Jb\\tc` (el tabulador se respeta)"),
        },
        || {
            expect_line_after(
                &mut a,
                &mut b,
                b"a\x1b[2Jb\tc\n",
                &format!("{ana}: a\u{fffd}[2Jb\tc"),
            )
        },
    );

    for (name, bad, expected) in [
        (
            "nombre ocupado",
            ana.clone(),
            format!("ERROR el nombre {ana} ya está en uso, elige otro"),
        ),
        (
            "nombre con espacios",
            "ana maria".to_string(),
            "ERROR el nombre no puede contener espacios".to_string(),
        ),
        (
            "nombre con ':'",
            "a:b".to_string(),
            "ERROR el nombre no puede contener ':'".to_string(),
        ),
        (
            "nombre demasiado largo",
            "n".repeat(33),
            "ERROR el nombre es demasiado largo: el máximo es 32 caracteres".to_string(),
        ),
    ] {
        ch.check(
            Step {
                name,
                sent: &format!("{bad:?} como nombre"),
                expected: &format!("`{expected}` y otra vez `Introduce tu nombre:`"),
            },
            || {
                let mut c = Conn::open(addr, timeout)?;
                expect_line(&mut c, "Introduce tu nombre:")?;
                c.send_line(&bad)?;
                expect_line(&mut c, &expected)?;
                expect_line(&mut c, "Introduce tu nombre:")?;
                Ok(format!("{expected:?} y la nueva petición"))
            },
        );
    }

    ch.check(
        Step {
            name: "línea demasiado larga",
            sent: "4097 bytes y `\\n`, luego \"sigo\"",
            expected: "`ERROR línea demasiado larga: el máximo es 4096 bytes` y la conexión sigue",
        },
        || {
            let mut long = vec![b'x'; 4097];
            long.extend_from_slice(b"\nsigo\n");
            a.send(&long)?;
            expect_line(
                &mut a,
                "ERROR línea demasiado larga: el máximo es 4096 bytes",
            )?;
            expect_line(&mut b, &format!("{ana}: sigo"))
        },
    );
    ch.check(
        Step {
            name: "UTF-8 no válido",
            sent: "\"\\xff\\xfe\" y `\\n`",
            expected: "`ERROR la línea no es texto UTF-8 válido` y la conexión sigue",
        },
        || {
            a.send(b"\xff\xfe\n")?;
            expect_line(&mut a, "ERROR la línea no es texto UTF-8 válido")
        },
    );

    ch.check(
        Step {
            name: "un cliente que no lee no frena a los demás",
            sent: &format!("un cliente entra y nunca lee; {ana} envía 10 mensajes"),
            expected: &format!("que {bea} los reciba todos, en orden"),
        },
        || {
            let _mute = join_exact(addr, timeout, &unique("mudo"))?;
            b.line_where("el aviso de entrada", |l| {
                l.ends_with("se ha unido al Chat.")
            })?;
            let mut burst = Vec::new();
            for i in 0..10 {
                burst.extend_from_slice(format!("m{i}\n").as_bytes());
            }
            a.send(&burst)?;
            for i in 0..10 {
                expect_line(&mut b, &format!("{ana}: m{i}"))?;
            }
            Ok("los 10, en orden".into())
        },
    );

    ch.check(
        Step {
            name: "salida con /quit",
            sent: &format!("`/quit` desde {bea}"),
            expected: &format!(
                "`¡Hasta pronto!`, el cierre, y `{bea} ha abandonado el Chat.` para {ana}"
            ),
        },
        || {
            b.send_line("/quit")?;
            expect_eventually(&mut b, "¡Hasta pronto!")?;
            b.until_closed(timeout)?;
            expect_eventually(&mut a, &format!("{bea} ha abandonado el Chat."))
        },
    );

    ch.check(
        Step {
            name: "cierre brusco",
            sent: "un cliente entra y cierra la conexión sin /quit",
            expected: "`NOMBRE ha abandonado el Chat.` para los demás",
        },
        || {
            let eva = unique("eva");
            drop(join_exact(addr, timeout, &eva)?);
            expect_eventually(&mut a, &format!("{eva} ha abandonado el Chat."))
        },
    );

    // Con un cliente propio: tras la inundación su cubo de fichas queda vacío.
    let flo = unique("flo");
    let mut flooder = None;
    ch.check(
        Step {
            name: "límite de ritmo",
            sent: &format!("30 mensajes de golpe desde {flo}"),
            expected: "`ERROR vas demasiado rápido (máximo 5 mensajes por segundo): este mensaje no se envió`",
        },
        || {
            let mut f = join_exact(addr, timeout, &flo)?;
            let mut burst = Vec::new();
            for i in 0..30 {
                burst.extend_from_slice(format!("r{i}\n").as_bytes());
            }
            f.send(&burst)?;
            let got = expect_eventually(
                &mut f,
                "ERROR vas demasiado rápido (máximo 5 mensajes por segundo): este mensaje no se envió",
            )?;
            flooder = Some(f);
            Ok(got)
        },
    );
    if let Some(mut f) = flooder {
        ch.check(
            Step {
                name: "/quit justo después de una inundación",
                sent: &format!("`/quit` desde {flo} nada más recibir el aviso de ritmo"),
                expected: "`¡Hasta pronto!` y el cierre (el límite de ritmo es para los mensajes que se difunden)",
            },
            || {
                f.send_line("/quit")?;
                expect_eventually(&mut f, "¡Hasta pronto!")?;
                f.until_closed(timeout)?;
                Ok("`¡Hasta pronto!` y el cierre".into())
            },
        );
    }

    ch.check(
        Step {
            name: "demasiados intentos de nombre",
            sent: "10 nombres no válidos seguidos (vacío, con espacios, con ':'...)",
            expected: "un `ERROR` por cada uno y, al décimo, `ERROR demasiados intentos de nombre: desconectado` y el cierre",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            expect_line(&mut c, "Introduce tu nombre:")?;
            for i in 0..10 {
                c.send_line(if i % 2 == 0 { "a b" } else { "a:b" })?;
            }
            expect_eventually(&mut c, "ERROR demasiados intentos de nombre: desconectado")?;
            c.until_closed(timeout)?;
            Ok("el aviso y el cierre".into())
        },
    );
    ch.check(
        Step {
            name: "inundación que no para",
            sent: "100 mensajes de golpe desde un cliente nuevo",
            expected: "`ERROR demasiados mensajes seguidos: desconectado` y el cierre (tras 50 rechazos seguidos)",
        },
        || {
            let mut f = join_exact(addr, timeout, &unique("rio"))?;
            let mut burst = Vec::new();
            for i in 0..100 {
                burst.extend_from_slice(format!("i{i}\n").as_bytes());
            }
            f.send(&burst)?;
            expect_eventually(&mut f, "ERROR demasiados mensajes seguidos: desconectado")?;
            f.until_closed(timeout)?;
            Ok("el aviso y el cierre".into())
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

/// `from` envía `bytes`; `to` debe recibir exactamente la línea `expected`.
fn expect_line_after(
    from: &mut Conn,
    to: &mut Conn,
    bytes: &[u8],
    expected: &str,
) -> Result<String, Failure> {
    from.send(bytes)?;
    expect_line(to, expected)
}
