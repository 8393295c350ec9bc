//! problema8: órdenes y mensajes del servidor aceptados se codifican y vuelven a analizarse
//! igual; el tablero tiene siempre 9 casillas.
#![no_main]
use libfuzzer_sys::fuzz_target;
use problema8::protocolo::{parse_command, Board, ServerMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cmd) = parse_command(text) {
        assert_eq!(parse_command(&cmd.encode()).ok(), Some(cmd));
    }
    if let Ok(msg) = ServerMessage::parse(text) {
        assert_eq!(ServerMessage::parse(&msg.encode()).ok(), Some(msg));
    }
    let _ = Board::parse(text);
});
