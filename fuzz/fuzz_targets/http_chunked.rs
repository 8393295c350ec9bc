//! `common::http::ChunkedReader`: decodificar un cuerpo troceado arbitrario nunca entra en
//! pánico ni produce más bytes de los que llegaron.
#![no_main]
use common::http::{ChunkLimits, ChunkedReader};
use libfuzzer_sys::fuzz_target;
use std::io::{BufReader, Read};

fuzz_target!(|data: &[u8]| {
    let mut reader = ChunkedReader::new(BufReader::with_capacity(7, data), ChunkLimits::default());
    let mut out = Vec::new();
    let _ = reader.read_to_end(&mut out);
    assert!(out.len() <= data.len());
});
