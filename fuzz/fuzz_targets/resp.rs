//! problema9: el analizador RESP respeta sus límites y `parse(encode(v)) == v`.
#![no_main]
use common::Parsed;
use libfuzzer_sys::fuzz_target;
use problema9::resp::{encode, parse_command, parse_value, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bulk: 512,
        max_array: 16,
        max_depth: 4,
        max_line: 256,
        max_command: 2048,
    };
    if let Ok(Parsed::Complete { value: args, consumed }) = parse_command(data, &limits) {
        assert!(consumed <= data.len());
        assert!(args.len() <= limits.max_array.max(64));
        assert!(args.iter().all(|a| a.len() <= limits.max_bulk.max(limits.max_line)));
    }
    if let Ok(Parsed::Complete { value, consumed }) = parse_value(data, &limits) {
        assert!(consumed <= data.len());
        let mut out = Vec::new();
        encode(&value, &mut out);
        match parse_value(&out, &Limits::default()) {
            Ok(Parsed::Complete { value: back, consumed }) => {
                assert_eq!(back, value);
                assert_eq!(consumed, out.len());
            }
            other => panic!("encode no se vuelve a analizar: {other:?}"),
        }
    }
});
