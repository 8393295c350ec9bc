//! problema2: servidor de eco. Devuelve exactamente los bytes que recibe, a varios clientes a
//! la vez; en el protocolo completo, también por UDP en el mismo puerto.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::Duration;

use super::{show, Checker, Conn, Failure, Step};

/// Plazo de inactividad del README (`--timeout`).
const README_IDLE: Duration = Duration::from_secs(300);

const HINT_EXACT: &str = "un eco devuelve exactamente los mismos bytes, ni uno más ni uno menos: \
     ¿se recorta, se añade o se pierde algo (strip(), decode(), un índice)?";

pub(super) fn run(ch: &mut Checker<'_>) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    let text = b"hola, eco\n".to_vec();
    let binary: Vec<u8> = (0..=255u8).collect();
    echo_check(ch, "eco de texto", &text, false);
    echo_check(ch, "eco binario (los 256 valores de byte)", &binary, false);
    // En el taller, "grande" es un buffer de recv() entero (el esqueleto lee con recv(1024));
    // en el protocolo completo, 8 MiB, que solo pasan si el servidor lee y escribe en bucle.
    let large = pattern(if ch.completo() { 8 << 20 } else { 1024 });
    echo_check(ch, "mensaje grande", &large, ch.completo());

    ch.check(
        Step {
            name: "varios clientes a la vez",
            sent: "5 conexiones abiertas a la vez, cada una envía su mensaje nada más conectar",
            expected: "cada una recibe su propio eco",
        },
        || several_clients(addr, timeout, false),
    );

    if !ch.completo() {
        return;
    }

    ch.check(
        Step {
            name: "un cliente callado no frena a los demás",
            sent: "5 conexiones abiertas; la última envía primero mientras las otras callan",
            expected: "cada una recibe su propio eco",
        },
        || several_clients(addr, timeout, true),
    );

    ch.check(
        Step {
            name: "medio cierre",
            sent: "\"adiós\\n\" y cierre de escritura",
            expected: "el eco pendiente y luego el cierre",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            c.send("adiós\n".as_bytes())?;
            c.shutdown_write();
            let got = c.until_closed(timeout)?;
            if got != "adiós\n".as_bytes() {
                return Err(Failure::hint(show(&got), HINT_EXACT));
            }
            Ok(format!("{} y el cierre", show(&got)))
        },
    );

    for (name, size) in [("datagrama UDP", 10usize), ("datagrama UDP máximo", 65_507)] {
        let data = pattern(size);
        ch.check(
            Step {
                name,
                sent: &format!("un datagrama de {size} bytes al mismo puerto"),
                expected: "el mismo datagrama de vuelta",
            },
            || {
                let udp = UdpSocket::bind(("127.0.0.1", 0))
                    .map_err(|e| Failure::new(format!("no se pudo abrir UDP: {e}")))?;
                let _ = udp.set_read_timeout(Some(timeout));
                udp.send_to(&data, addr)
                    .map_err(|e| Failure::new(format!("no se pudo enviar: {e}")))?;
                let mut buf = vec![0u8; 65_536];
                let (n, from) = udp.recv_from(&mut buf).map_err(|e| {
                    Failure::hint(
                        format!("nada en {timeout:?} ({e})"),
                        "el servidor debe escuchar también UDP en el mismo puerto",
                    )
                })?;
                let got = buf.get(..n).unwrap_or_default();
                if got != data.as_slice() || from != addr {
                    return Err(Failure::hint(
                        format!("{n} bytes desde {from}: {}", show(got)),
                        HINT_EXACT,
                    ));
                }
                Ok(format!("{n} bytes idénticos"))
            },
        );
    }

    if let Some(wait) = ch.idle_wait("cliente inactivo", README_IDLE, "--timeout 2") {
        ch.check(
            Step {
                name: "cliente inactivo",
                sent: "nada",
                expected: &format!("el cierre tras {} s", wait.as_secs()),
            },
            || {
                let mut c = Conn::open(addr, timeout)?;
                c.until_closed(wait + timeout)?;
                Ok("el cierre".into())
            },
        );
    }
}

/// Envía `data` por una conexión nueva y comprueba que vuelve igual. Con `concurrent`, otro
/// hilo escribe mientras este lee (un mensaje grande no cabe en los buffers del núcleo).
fn echo_check(ch: &mut Checker<'_>, name: &str, data: &[u8], concurrent: bool) {
    let (addr, timeout) = (ch.opts.addr, ch.opts.timeout);
    ch.check(
        Step {
            name,
            sent: &if data.len() > 256 {
                format!("{} bytes", data.len())
            } else {
                show(data)
            },
            expected: "los mismos bytes de vuelta",
        },
        || {
            let mut c = Conn::open(addr, timeout)?;
            let got = if concurrent {
                let mut w = c.writer()?;
                let owned = data.to_vec();
                let writer = thread::Builder::new()
                    .name("comprobar-eco".into())
                    .spawn(move || w.write_all(&owned))
                    .map_err(|e| Failure::new(format!("no se pudo crear el hilo: {e}")))?;
                let got = c.exact(data.len()).map_err(|f| {
                    f.with_hint("un mensaje grande llega en varios trozos: el servidor debe leer y reenviar en bucle hasta que el cliente cierre")
                });
                let _ = writer.join();
                got?
            } else {
                c.send(data)?;
                c.exact(data.len()).map_err(|f| f.with_hint(HINT_EXACT))?
            };
            if got != data {
                let at = got.iter().zip(data).position(|(a, b)| a != b).unwrap_or(0);
                return Err(Failure::hint(
                    format!("{} (distinto desde el byte {at})", show(&got)),
                    HINT_EXACT,
                ));
            }
            // Nada de más: un eco que añade bytes también está mal.
            let extra = c.collect_for(Duration::from_millis(200))?;
            if !extra.is_empty() {
                return Err(Failure::hint(
                    format!("el eco y además {}", show(&extra)),
                    HINT_EXACT,
                ));
            }
            Ok(format!("{} bytes idénticos", data.len()))
        },
    );
}

/// Abre 5 conexiones y cada una comprueba su propio eco. Con `last_first`, la última envía
/// primero mientras las demás callan: un servidor que atiende de uno en uno se queda esperando
/// a la primera conexión y la última nunca recibe su eco.
fn several_clients(
    addr: SocketAddr,
    timeout: Duration,
    last_first: bool,
) -> Result<String, Failure> {
    let mut conns = Vec::new();
    for i in 0..5 {
        let mut c = Conn::open(addr, timeout)?;
        if !last_first {
            c.send(format!("cliente {i}\n").as_bytes())?;
        }
        conns.push(c);
    }
    let order: Vec<usize> = if last_first {
        (0..5).rev().collect()
    } else {
        (0..5).collect()
    };
    for i in order {
        let msg = format!("cliente {i}\n");
        let c = conns
            .get_mut(i)
            .ok_or_else(|| Failure::new("falta una conexión"))?;
        if last_first {
            c.send(msg.as_bytes())?;
        }
        let got = c.exact(msg.len()).map_err(|f| {
            f.with_hint("el servidor debe atender a cada cliente en su propio hilo (o con select): mientras uno calla, los demás siguen")
        })?;
        if got != msg.as_bytes() {
            return Err(Failure::hint(
                format!("el cliente {i} recibió {}", show(&got)),
                "cada cliente debe recibir su propio eco, no el de otro",
            ));
        }
    }
    Ok("cada cliente su eco".into())
}

/// Bytes de prueba que no se repiten en periodos cortos (un byte perdido se nota).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}
