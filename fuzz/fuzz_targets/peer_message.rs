//! problema9: los mensajes entre nodos (JSON-lines) y los registros del WAL. Un mensaje
//! aceptado se recodifica igual; un registro decodificado se vuelve a codificar byte a byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use problema9::nodo::pares::PeerRequest;
use problema9::nodo::wal::{decode_record, encode_record};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<PeerRequest>(data) {
        let bytes = serde_json::to_vec(&req).expect("se codifica");
        assert_eq!(serde_json::from_slice::<PeerRequest>(&bytes).ok(), Some(req));
    }
    if let Some((key, entry, used)) = decode_record(data) {
        assert!(used <= data.len());
        assert_eq!(encode_record(&key, &entry), &data[..used]);
    }
});
