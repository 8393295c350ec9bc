//! `common::frame`: una trama aceptada no pasa del máximo y se codifica igual que llegó.
#![no_main]
use common::frame::{encode_frame, parse_frame, read_frame};
use common::Parsed;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(Parsed::Complete { value, consumed }) = parse_frame(data, MAX) {
        assert!(value.len() <= MAX);
        assert_eq!(consumed, value.len() + 4);
        assert_eq!(encode_frame(value, MAX).ok().as_deref(), Some(&data[..consumed]));
    }
    let mut reader = data;
    while let Ok(Some(payload)) = read_frame(&mut reader, MAX) {
        assert!(payload.len() <= MAX);
    }
});
