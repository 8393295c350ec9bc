//! Objetivo `http_request`: la comprobación vive en `tests::fuzz_checks::http_request`, compartida con la
//! prueba de regresión `tests/tests/fuzz_regressions.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tests::fuzz_checks::http_request(data));
