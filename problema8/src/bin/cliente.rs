//! `cliente` del problema 8: aún no implementado.

fn main() {
    eprintln!("problema8: el cliente aún no está implementado");
    std::process::exit(1);
}
