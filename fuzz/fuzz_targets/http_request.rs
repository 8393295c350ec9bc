//! `common::http`: una cabecera de petición aceptada respeta los límites, y volver a
//! codificarla y analizarla da lo mismo (el analizador es idempotente sobre su salida).
#![no_main]
use common::http::{parse_request_head, parse_response_head, request_body_kind, Limits, Target};
use common::Parsed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_start_line: 256,
        max_header_bytes: 1024,
        max_headers: 16,
    };
    if let Ok(Parsed::Complete { value: head, consumed }) = parse_request_head(data, &limits) {
        assert!(consumed <= data.len());
        assert!(head.headers.len() <= limits.max_headers);
        let _ = request_body_kind(&head);
        let _ = Target::parse(&head.method, &head.target);
        let mut again = Vec::new();
        head.encode(&mut again);
        match parse_request_head(&again, &limits) {
            Ok(Parsed::Complete { value, .. }) => assert_eq!(value, head),
            other => panic!("la codificación de una cabecera válida no se analiza: {other:?}"),
        }
    }
    if let Ok(Parsed::Complete { value: head, .. }) = parse_response_head(data, &limits) {
        assert!(head.headers.len() <= limits.max_headers);
    }
});
