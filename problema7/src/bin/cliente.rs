//! `cliente` del problema 7: aún no implementado.

fn main() {
    eprintln!("problema7: el cliente aún no está implementado");
    std::process::exit(1);
}
