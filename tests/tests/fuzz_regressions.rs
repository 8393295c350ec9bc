//! Las semillas de fuzzing (`fuzz/seeds/`) y todas las entradas que alguna vez hicieron
//! fallar un objetivo (`fuzz/regressions/`), pasadas por las mismas comprobaciones que usa
//! libFuzzer (`tests::fuzz_checks`) en cada `cargo test`: un fallo encontrado no vuelve.
//!
//! Fallos encontrados hasta ahora (26-11-2026). Dos eran defectos de los analizadores,
//! corregidos en ellos:
//! - `transfer_command/crash-05cb…`: un `ERROR` con `\r` o `\f` en el mensaje; el codificador
//!   los cambiaba por espacios y el analizador no, así que la ida y vuelta no coincidía
//!   (problema5: ahora ambos usan `one_line`).
//! - `resp/crash-f178…`: una cadena simple RESP con un `\r` suelto se aceptaba como texto;
//!   ahora es un mensaje mal formado, como manda RESP2 (problema9).
//!
//! Los demás estaban en la definición de la invariante, corregida en `fuzz_checks`:
//! - `jsonl/float-roundtrip`: `serde_json` no devuelve un `f64` idéntico al recodificarlo.
//! - `http_request/reencoded-head-grows`: `Nombre:valor` se recodifica como `Nombre: valor`
//!   y la cabecera crece por encima del límite con que se analizó.
//! - `transfer_command/error-with-newline`: una "línea" con `\n` dentro, que
//!   `common::line` nunca entrega.

use std::path::Path;

use tests::fuzz_checks::ALL;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
        .join(dir);
    let mut count = 0;
    for (target, check) in ALL {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entrada del directorio").path();
            let data = std::fs::read(&path).expect("leer la entrada");
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{target}: falla con {}", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn every_seed_passes_its_fuzz_check() {
    assert!(replay("seeds") >= ALL.len(), "faltan semillas");
}

#[test]
fn every_past_fuzz_failure_stays_fixed() {
    assert!(replay("regressions") >= 3);
}
