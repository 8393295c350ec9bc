//! `servidor` del problema 9: aún no implementado.

fn main() {
    eprintln!("problema9: el servidor aún no está implementado");
    std::process::exit(1);
}
