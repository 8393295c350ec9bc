//! problema3 y problema6: las órdenes del chat y la validación de nombres nunca entran en
//! pánico, y un nombre aceptado es estable (validarlo otra vez da lo mismo).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = problema6::protocolo::parse_command(&text);
    let _ = problema3::protocolo::classify(&text);
    let _ = problema3::protocolo::sanitize_text(&text);
    if let Ok(name) = problema3::validate_name(&text) {
        assert_eq!(problema3::validate_name(name), Ok(name));
        assert!(!name.chars().any(char::is_control));
    }
});
