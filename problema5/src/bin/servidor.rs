//! `servidor` del problema 5: aún no implementado.

fn main() {
    eprintln!("problema5: el servidor aún no está implementado");
    std::process::exit(1);
}
