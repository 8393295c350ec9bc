//! `cliente` del problema 3: aún no implementado.

fn main() {
    eprintln!("problema3: el cliente aún no está implementado");
    std::process::exit(1);
}
