//! Objetivo `ttt_protocol`: la comprobación vive en `tests::fuzz_checks::ttt_protocol`, compartida con la
//! prueba de regresión `tests/tests/fuzz_regressions.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tests::fuzz_checks::ttt_protocol(data));
