//! `cliente` del problema 5: aún no implementado.

fn main() {
    eprintln!("problema5: el cliente aún no está implementado");
    std::process::exit(1);
}
