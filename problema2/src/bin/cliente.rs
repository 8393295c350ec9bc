//! `cliente` del problema 2: aún no implementado.

fn main() {
    eprintln!("problema2: el cliente aún no está implementado");
    std::process::exit(1);
}
