//! `servidor` del problema 8: aún no implementado.

fn main() {
    eprintln!("problema8: el servidor aún no está implementado");
    std::process::exit(1);
}
