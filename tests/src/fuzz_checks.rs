//! Las comprobaciones de cada objetivo de fuzzing, en un solo sitio.
//!
//! Cada función recibe bytes arbitrarios, los pasa por un analizador que lee datos de la red
//! y entra en pánico si se rompe una invariante (un límite superado, una ida y vuelta que no
//! vuelve igual). La usan dos clientes: los objetivos de `fuzz/fuzz_targets/` (libFuzzer las
//! llama millones de veces) y la prueba `tests/fuzz_regressions.rs`, que repite en cada
//! `cargo test` las semillas y todas las entradas que alguna vez hicieron fallar un objetivo
//! (`fuzz/regressions/`), para que un fallo encontrado no vuelva.

use std::io::{BufReader, Read};

use common::Parsed;

/// `common::line`: ninguna línea devuelta pasa del máximo ni contiene `\n`, y la lectura
/// incremental coincide con el analizador puro. El primer byte elige el máximo y el tamaño
/// del buffer del lector.
pub fn line(data: &[u8]) {
    use common::line::{parse_line, read_line};
    let Some((&cfg, input)) = data.split_first() else {
        return;
    };
    let max = (cfg & 0x3f) as usize;
    let cap = 1 + (cfg >> 6) as usize * 7;
    let mut reader = BufReader::with_capacity(cap, input);
    let mut buf = Vec::new();
    let mut rest = input;
    while let Ok(true) = read_line(&mut reader, &mut buf, max) {
        assert!(buf.len() <= max);
        assert!(!buf.contains(&b'\n'));
        if let Ok(Parsed::Complete { value, consumed }) = parse_line(rest, max) {
            assert_eq!(value, &buf[..]);
            rest = &rest[consumed..];
        } else {
            // Solo la última línea, sin `\n`, no la ve el analizador puro.
            assert!(!rest.contains(&b'\n'));
        }
    }
}

/// `common::frame`: una trama aceptada no pasa del máximo y se codifica igual que llegó.
pub fn frame(data: &[u8]) {
    use common::frame::{encode_frame, parse_frame, read_frame};
    const MAX: usize = 1024;
    if let Ok(Parsed::Complete { value, consumed }) = parse_frame(data, MAX) {
        assert!(value.len() <= MAX);
        assert_eq!(consumed, value.len() + 4);
        assert_eq!(
            encode_frame(value, MAX).ok().as_deref(),
            Some(&data[..consumed])
        );
    }
    let mut reader = data;
    while let Ok(Some(payload)) = read_frame(&mut reader, MAX) {
        assert!(payload.len() <= MAX);
    }
}

/// `common::jsonl`: leer mensajes de bytes arbitrarios nunca entra en pánico, y lo aceptado se
/// recodifica en una sola línea que se vuelve a leer. (La igualdad exacta solo se exige sin
/// números decimales: `serde_json` no garantiza la ida y vuelta de un `f64` bit a bit.)
pub fn jsonl(data: &[u8]) {
    use common::jsonl::{encode_json_line, read_json_line, JsonLineError};
    let mut reader = data;
    loop {
        match read_json_line::<serde_json::Value>(&mut reader, 4096) {
            Ok(Some(v)) => {
                let line = encode_json_line(&v).expect("un Value siempre se codifica");
                assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
                let back: serde_json::Value = read_json_line(&mut &line[..], usize::MAX)
                    .expect("se vuelve a leer")
                    .expect("hay un mensaje");
                if !has_float(&v) {
                    assert_eq!(back, v);
                }
            }
            Ok(None) => break,
            Err(JsonLineError::Json(_)) => continue,
            Err(_) => break,
        }
    }
}

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// `common::http`: una cabecera de petición aceptada respeta los límites, y recodificarla y
/// analizarla otra vez da lo mismo. El codificador normaliza (`Nombre: valor`, con un
/// espacio), así que la cabecera recodificada puede ocupar algo más que la original: se
/// vuelve a analizar con margen para ese espacio por línea.
pub fn http_request(data: &[u8]) {
    use common::http::{
        parse_request_head, parse_response_head, request_body_kind, Limits, Target,
    };
    let limits = Limits {
        max_start_line: 256,
        max_header_bytes: 1024,
        max_headers: 16,
    };
    if let Ok(Parsed::Complete {
        value: head,
        consumed,
    }) = parse_request_head(data, &limits)
    {
        assert!(consumed <= data.len());
        assert!(head.headers.len() <= limits.max_headers);
        let _ = request_body_kind(&head);
        let _ = Target::parse(&head.method, &head.target);
        let mut again = Vec::new();
        head.encode(&mut again);
        let roomy = Limits {
            max_header_bytes: limits.max_header_bytes + limits.max_headers,
            ..limits
        };
        match parse_request_head(&again, &roomy) {
            Ok(Parsed::Complete { value, .. }) => assert_eq!(value, head),
            other => panic!("la codificación de una cabecera válida no se analiza: {other:?}"),
        }
    }
    if let Ok(Parsed::Complete { value: head, .. }) = parse_response_head(data, &limits) {
        assert!(head.headers.len() <= limits.max_headers);
    }
}

/// `common::http::ChunkedReader`: decodificar un cuerpo troceado arbitrario nunca entra en
/// pánico ni produce más bytes de los que llegaron.
pub fn http_chunked(data: &[u8]) {
    use common::http::{ChunkLimits, ChunkedReader};
    let mut reader = ChunkedReader::new(BufReader::with_capacity(7, data), ChunkLimits::default());
    let mut out = Vec::new();
    let _ = reader.read_to_end(&mut out);
    assert!(out.len() <= data.len());
}

/// problema5: una orden o respuesta aceptada se codifica y se vuelve a analizar igual. Los
/// analizadores reciben una línea ya separada por `common::line`, que nunca contiene `\n`.
pub fn transfer_command(data: &[u8]) {
    use problema5::protocolo::{parse_command, parse_reply};
    if data.contains(&b'\n') {
        return;
    }
    if let Ok(cmd) = parse_command(data) {
        let line = cmd.encode();
        let again = parse_command(line.trim_end_matches('\n').as_bytes());
        assert_eq!(again.as_ref().ok(), Some(&cmd), "{line:?}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(reply) = parse_reply(text) {
            let line = reply.encode();
            assert_eq!(parse_reply(line.trim_end_matches('\n')).ok(), Some(reply));
        }
    }
}

/// problema3 y problema6: las órdenes del chat y la validación de nombres nunca entran en
/// pánico, y un nombre aceptado es estable y sin caracteres de control.
pub fn chat_command(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = problema6::protocolo::parse_command(&text);
    let _ = problema3::protocolo::classify(&text);
    let _ = problema3::protocolo::sanitize_text(&text);
    if let Ok(name) = problema3::validate_name(&text) {
        assert_eq!(problema3::validate_name(name), Ok(name));
        assert!(!name.chars().any(char::is_control));
    }
}

/// problema8: órdenes y mensajes del servidor aceptados se codifican y se vuelven a analizar
/// igual (son líneas: sin `\n`).
pub fn ttt_protocol(data: &[u8]) {
    use problema8::protocolo::{parse_command, Board, ServerMessage};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains('\n') {
        return;
    }
    if let Ok(cmd) = parse_command(text) {
        assert_eq!(parse_command(&cmd.encode()).ok(), Some(cmd));
    }
    if let Ok(msg) = ServerMessage::parse(text) {
        assert_eq!(ServerMessage::parse(&msg.encode()).ok(), Some(msg));
    }
    let _ = Board::parse(text);
}

/// problema9: el analizador RESP respeta sus límites y `parse(encode(v)) == v`.
pub fn resp(data: &[u8]) {
    use problema9::resp::{encode, parse_command, parse_value, Limits};
    let limits = Limits {
        max_bulk: 512,
        max_array: 16,
        max_depth: 4,
        max_line: 256,
        max_command: 2048,
    };
    if let Ok(Parsed::Complete {
        value: args,
        consumed,
    }) = parse_command(data, &limits)
    {
        assert!(consumed <= data.len());
        assert!(args.len() <= limits.max_array.max(limits.max_line));
        assert!(args
            .iter()
            .all(|a| a.len() <= limits.max_bulk.max(limits.max_line)));
    }
    if let Ok(Parsed::Complete { value, consumed }) = parse_value(data, &limits) {
        assert!(consumed <= data.len());
        let mut out = Vec::new();
        encode(&value, &mut out);
        match parse_value(&out, &Limits::default()) {
            Ok(Parsed::Complete {
                value: back,
                consumed,
            }) => {
                assert_eq!(back, value);
                assert_eq!(consumed, out.len());
            }
            other => panic!("encode no se vuelve a analizar: {other:?}"),
        }
    }
}

/// problema9: los mensajes entre nodos (JSON-lines) y los registros del WAL. Un mensaje
/// aceptado se recodifica igual; un registro decodificado se recodifica byte a byte.
pub fn peer_message(data: &[u8]) {
    use problema9::nodo::pares::PeerRequest;
    use problema9::nodo::wal::{decode_record, encode_record};
    if let Ok(req) = serde_json::from_slice::<PeerRequest>(data) {
        let bytes = serde_json::to_vec(&req).expect("se codifica");
        assert_eq!(
            serde_json::from_slice::<PeerRequest>(&bytes).ok(),
            Some(req)
        );
    }
    if let Some((key, entry, used)) = decode_record(data) {
        assert!(used <= data.len());
        assert_eq!(encode_record(&key, &entry), &data[..used]);
    }
}

/// Una comprobación: recibe bytes arbitrarios y entra en pánico si se rompe su invariante.
pub type Check = fn(&[u8]);

/// Todas las comprobaciones, con el nombre de su objetivo.
pub const ALL: &[(&str, Check)] = &[
    ("line", line),
    ("frame", frame),
    ("jsonl", jsonl),
    ("http_request", http_request),
    ("http_chunked", http_chunked),
    ("transfer_command", transfer_command),
    ("chat_command", chat_command),
    ("ttt_protocol", ttt_protocol),
    ("resp", resp),
    ("peer_message", peer_message),
];
