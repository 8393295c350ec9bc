//! `cliente` del problema 6: aún no implementado.

fn main() {
    eprintln!("problema6: el cliente aún no está implementado");
    std::process::exit(1);
}
