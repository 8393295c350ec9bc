//! problema5: una orden o respuesta aceptada se codifica y se vuelve a analizar igual.
#![no_main]
use libfuzzer_sys::fuzz_target;
use problema5::protocolo::{parse_command, parse_reply};

fuzz_target!(|data: &[u8]| {
    // Los analizadores reciben una línea ya separada por `common::line`, que nunca contiene `\n`.
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
});
