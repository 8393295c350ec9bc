//! El servidor del puerto de control: registro de nodos y consultas de estado.
//!
//! Cada conexión es una sucesión de peticiones, una por línea: un objeto JSON
//! ([`ControlRequest`]) recibe una línea JSON ([`ControlReply`]); la línea de texto `STATUS`
//! (para telnet) recibe la tabla legible. Una línea de más de [`MAX_CONTROL_LINE`] bytes, un
//! JSON inválido o una orden desconocida reciben un error y la conexión sigue.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::conn::{linger_close, DeadlineReader, Linger};
use common::jsonl::encode_json_line;
use common::line::{discard_line, read_line, LineError};

use super::backends::Backends;
use crate::registro::{format_status_table, ControlReply, ControlRequest, MAX_CONTROL_LINE};

/// Bytes que estamos dispuestos a descartar tras una línea demasiado larga antes de cerrar.
const MAX_DISCARD: u64 = 1024 * 1024;

/// Tiempo máximo que esperamos a que un cliente de control lea nuestra respuesta.
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Lo que recibe una conexión de control por encima del tope: un error en JSON, para que
/// quien habla el protocolo lo entienda como tal.
pub const FULL_CONTROL_REPLY: &[u8] =
    b"{\"type\":\"error\",\"message\":\"demasiadas conexiones de control, pruebe m\xc3\xa1s tarde\"}\n";

/// Responde a una petición de control (la parte sin sockets, para probarla directamente).
pub fn answer(backends: &Backends, req: ControlRequest) -> ControlReply {
    match req {
        ControlRequest::Register { id, addr, meta } => match backends.register(&id, &addr, meta) {
            Ok(()) => ControlReply::Registered {
                id,
                ttl_ms: u64::try_from(backends.ttl().as_millis()).unwrap_or(u64::MAX),
            },
            Err(e) => ControlReply::Error {
                message: e.to_string(),
            },
        },
        ControlRequest::Heartbeat { id } => {
            if backends.heartbeat(&id) {
                ControlReply::Ok
            } else {
                ControlReply::Unknown { id }
            }
        }
        ControlRequest::Deregister { id } => {
            if backends.deregister(&id) {
                ControlReply::Ok
            } else {
                ControlReply::Unknown { id }
            }
        }
        ControlRequest::Status => ControlReply::Status {
            backends: backends.status(),
        },
        ControlRequest::Members => ControlReply::Members {
            members: backends.members(),
        },
    }
}

/// Lo que hay que enviar en respuesta a una línea recibida.
fn reply_to_line(backends: &Backends, line: &[u8]) -> Vec<u8> {
    let trimmed = line.trim_ascii();
    if trimmed.eq_ignore_ascii_case(b"STATUS") {
        return format_status_table(&backends.status()).into_bytes();
    }
    let reply = if trimmed.starts_with(b"{") {
        match serde_json::from_slice::<ControlRequest>(trimmed) {
            Ok(req) => answer(backends, req),
            Err(e) => ControlReply::Error {
                message: format!("petición JSON no válida: {e}"),
            },
        }
    } else {
        ControlReply::Error {
            message: "orden desconocida: escriba STATUS o envíe una petición JSON \
                      (register, heartbeat, deregister, status, members)"
                .to_string(),
        }
    };
    encode_reply(&reply)
}

fn encode_reply(reply: &ControlReply) -> Vec<u8> {
    encode_json_line(reply).unwrap_or_else(|e| {
        log::error!("no se pudo codificar la respuesta de control: {e}");
        b"{\"type\":\"error\",\"message\":\"error interno\"}\n".to_vec()
    })
}

/// Atiende una conexión de control hasta que el otro lado cierre, una línea no llegue entera
/// antes de `idle`, o llegue el apagado (que cierra nuestro lado de lectura).
///
/// `idle` es un plazo **total** por línea (issue 16), contado desde la respuesta anterior: un
/// byte de vez en cuando no lo alarga. Los latidos de los nodos (uno por segundo) caben de
/// sobra; quien gotea una línea no retiene una de las pocas plazas de control.
pub fn handle_control(stream: TcpStream, peer: SocketAddr, backends: &Backends, idle: Duration) {
    let _ = stream.set_write_timeout(Some(CONTROL_WRITE_TIMEOUT));
    let mut reader = BufReader::new(DeadlineReader::new(&stream));
    let mut writer = &stream;
    let mut line = Vec::new();
    log::debug!("control {peer}: conectado");
    loop {
        reader.get_mut().expire_in(Some(idle));
        let reply = match read_line(&mut reader, &mut line, MAX_CONTROL_LINE) {
            Ok(false) => break,
            Ok(true) if line.trim_ascii().is_empty() => continue,
            Ok(true) => reply_to_line(backends, &line),
            Err(LineError::TooLong { max }) => {
                log::warn!("control {peer}: línea de más de {max} bytes");
                let reply = encode_reply(&ControlReply::Error {
                    message: format!("línea demasiado larga: el máximo es {max} bytes"),
                });
                if writer.write_all(&reply).is_err() {
                    break;
                }
                match discard_line(&mut reader, MAX_DISCARD) {
                    Ok(true) => continue,
                    _ => break,
                }
            }
            Err(e) if e.is_timeout() && line.is_empty() => {
                log::debug!(
                    "control {peer}: inactivo durante {} ms; se cierra",
                    idle.as_millis()
                );
                break;
            }
            Err(e) if e.is_timeout() => {
                log::info!(
                    "control {peer}: la línea no llegó entera en {} ms; se cierra",
                    idle.as_millis()
                );
                let _ = writer.write_all(&encode_reply(&ControlReply::Error {
                    message: format!(
                        "la línea no llegó entera en {} ms: se cierra la conexión",
                        idle.as_millis()
                    ),
                }));
                linger_close(&stream, Linger::DEFAULT);
                return;
            }
            Err(e) => {
                log::debug!("control {peer}: {e}");
                break;
            }
        };
        if let Err(e) = writer.write_all(&reply) {
            log::debug!("control {peer}: no se pudo responder: {e}");
            break;
        }
    }
    log::debug!("control {peer}: desconectado");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balanceador::backends::{BackendsConfig, Strategy};
    use proptest::prelude::*;

    fn registry() -> Backends {
        Backends::new(
            BackendsConfig {
                strategy: Strategy::RoundRobin,
                ttl: Duration::from_secs(60),
                fall: 3,
                rise: 2,
                max_backends: 8,
            },
            &["127.0.0.1:9001".to_string()],
        )
    }

    #[test]
    fn status_text_command_ignores_case_and_spaces() {
        let b = registry();
        for line in [&b"STATUS"[..], b"status", b"  Status \r"] {
            let out = String::from_utf8(reply_to_line(&b, line)).unwrap();
            assert!(out.starts_with("ID "), "{out}");
            assert!(out.contains("127.0.0.1:9001"), "{out}");
        }
    }

    #[test]
    fn full_control_reply_is_a_json_error_line() {
        let reply: ControlReply = serde_json::from_slice(FULL_CONTROL_REPLY).unwrap();
        assert!(matches!(reply, ControlReply::Error { message } if message.contains("más tarde")));
        assert!(FULL_CONTROL_REPLY.ends_with(b"}\n"));
    }

    #[test]
    fn heartbeat_of_an_unknown_id_asks_to_register_again() {
        let b = registry();
        assert_eq!(
            reply_to_line(&b, br#"{"type":"heartbeat","id":"nadie"}"#),
            b"{\"type\":\"unknown\",\"id\":\"nadie\"}\n"
        );
    }

    proptest! {
        #[test]
        fn any_line_gets_exactly_one_json_reply_line(
            raw in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            let line: Vec<u8> = raw.into_iter().filter(|&c| c != b'\n').collect();
            prop_assume!(!line.trim_ascii().eq_ignore_ascii_case(b"STATUS"));
            let out = reply_to_line(&registry(), &line);
            prop_assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 1);
            prop_assert!(out.ends_with(b"\n"));
            prop_assert!(serde_json::from_slice::<ControlReply>(&out).is_ok());
        }

        #[test]
        fn registered_backend_is_listed_with_its_meta(
            id in "[a-z0-9-]{1,20}",
            port in 1u16..,
            meta in proptest::collection::btree_map("[a-z]{1,5}", "\\PC{0,10}", 0..4),
        ) {
            let b = registry();
            let addr = format!("127.0.0.1:{port}");
            let req = ControlRequest::Register { id: id.clone(), addr: addr.clone(), meta: meta.clone() };
            let line = encode_json_line(&req).unwrap();
            let out = reply_to_line(&b, &line[..line.len() - 1]);
            let reply: ControlReply = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(reply, ControlReply::Registered { id: id.clone(), ttl_ms: 60_000 });
            let members = b.members();
            let m = members.iter().find(|m| m.id == id).unwrap();
            prop_assert_eq!(&m.addr, &addr);
            prop_assert_eq!(&m.meta, &meta);
        }
    }
}
