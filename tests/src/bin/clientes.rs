//! Los nueve `cliente` en un solo ejecutable, para que las pruebas los lancen como procesos.
//!
//! Los nueve paquetes llaman `cliente` a su binario y en `target/debug/` se pisan (cargo
//! issue 6313): `target/debug/cliente` es el del último problema compilado. Este ejecutable
//! incluye el fuente de cada `src/bin/cliente.rs` tal cual (`#[path]`) y ejecuta el `main` del
//! problema que diga la variable `TALLER_CLIENTE`: el mismo código, con su línea de órdenes,
//! su stdin/stdout y su código de salida. Las pruebas lo lanzan con
//! [`tests::cliente`](../tests/fn.cliente.html).
//!
//! ```sh
//! TALLER_CLIENTE=problema4 target/debug/clientes --port 8004 /no-existe; echo $?
//! ```

macro_rules! clientes {
    ($($module:ident = $path:literal, $problem:literal;)*) => {
        $(
            #[allow(dead_code)]
            #[path = $path]
            mod $module;
        )*

        fn main() -> ExitCode {
            let problem = std::env::var("TALLER_CLIENTE").unwrap_or_default();
            $(
                if problem == $problem {
                    // `report` acepta el `main` de cada cliente, devuelva `()` o `ExitCode`.
                    #[allow(clippy::unit_arg)]
                    return $module::main().report();
                }
            )*
            eprintln!("error: uso: TALLER_CLIENTE=problemaN clientes ARGUMENTOS... (N de 1 a 9)");
            ExitCode::from(2)
        }
    };
}

use std::process::{ExitCode, Termination};

clientes! {
    p1 = "../../../problema1/src/bin/cliente.rs", "problema1";
    p2 = "../../../problema2/src/bin/cliente.rs", "problema2";
    p3 = "../../../problema3/src/bin/cliente.rs", "problema3";
    p4 = "../../../problema4/src/bin/cliente.rs", "problema4";
    p5 = "../../../problema5/src/bin/cliente.rs", "problema5";
    p6 = "../../../problema6/src/bin/cliente.rs", "problema6";
    p7 = "../../../problema7/src/bin/cliente.rs", "problema7";
    p8 = "../../../problema8/src/bin/cliente.rs", "problema8";
    p9 = "../../../problema9/src/bin/cliente.rs", "problema9";
}
