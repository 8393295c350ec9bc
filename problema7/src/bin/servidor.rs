//! `servidor` del problema 7: aún no implementado.

fn main() {
    eprintln!("problema7: el servidor aún no está implementado");
    std::process::exit(1);
}
