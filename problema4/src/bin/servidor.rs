//! `servidor` del problema 4: aún no implementado.

fn main() {
    eprintln!("problema4: el servidor aún no está implementado");
    std::process::exit(1);
}
