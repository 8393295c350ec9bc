//! `common::jsonl`: leer mensajes JSON-lines de bytes arbitrarios nunca entra en pánico, y lo
//! que se acepta se vuelve a codificar en una sola línea que se lee igual.
#![no_main]
use common::jsonl::{encode_json_line, read_json_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    loop {
        match read_json_line::<serde_json::Value>(&mut reader, 4096) {
            Ok(Some(v)) => {
                let line = encode_json_line(&v).expect("un Value siempre se codifica");
                assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
                let back: serde_json::Value =
                    read_json_line(&mut &line[..], usize::MAX).unwrap().unwrap();
                assert_eq!(back, v);
            }
            Ok(None) => break,
            Err(common::jsonl::JsonLineError::Json(_)) => continue,
            Err(_) => break,
        }
    }
});
