//! Objetivo `jsonl`: la comprobación vive en `tests::fuzz_checks::jsonl`, compartida con la
//! prueba de regresión `tests/tests/fuzz_regressions.rs`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tests::fuzz_checks::jsonl(data));
