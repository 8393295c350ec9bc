//! `servidor` del problema 1: aún no implementado.

fn main() {
    eprintln!("problema1: el servidor aún no está implementado");
    std::process::exit(1);
}
