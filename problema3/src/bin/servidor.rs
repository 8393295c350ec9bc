//! `servidor` del problema 3: aún no implementado.

fn main() {
    eprintln!("problema3: el servidor aún no está implementado");
    std::process::exit(1);
}
