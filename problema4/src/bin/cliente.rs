//! `cliente` del problema 4: aún no implementado.

fn main() {
    eprintln!("problema4: el cliente aún no está implementado");
    std::process::exit(1);
}
