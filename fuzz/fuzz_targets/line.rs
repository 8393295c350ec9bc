//! `common::line`: ninguna línea devuelta pasa del máximo ni contiene `\n`, y la lectura
//! incremental coincide con el analizador puro.
#![no_main]
use common::line::{parse_line, read_line};
use common::Parsed;
use libfuzzer_sys::fuzz_target;
use std::io::BufReader;

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, input)) = data.split_first() else { return };
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
});
