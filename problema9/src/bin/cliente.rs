//! `cliente` del problema 9: aún no implementado.

fn main() {
    eprintln!("problema9: el cliente aún no está implementado");
    std::process::exit(1);
}
