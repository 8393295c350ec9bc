//! La línea de órdenes de los dieciocho binarios habla español (issue 18): ayuda, versión,
//! nombres de valores y errores de uso.
//!
//! Los nueve paquetes tienen binarios llamados `servidor` y `cliente`, y en una compilación del
//! espacio de trabajo se pisan en `target/debug/` (cargo issue 6313): ejecutar
//! `target/debug/servidor` podría probar el de otro problema. Por eso esta prueba compila el
//! propio fuente de cada binario como un módulo (`#[path]`) y analiza los argumentos con la
//! misma función que usa su `main` (`common::ayuda::try_parse_from`, el corazón de
//! `common::ayuda::parse`): es el mismo `clap::Command`, sin procesos ni puertos.

use clap::{Command, CommandFactory, FromArgMatches};
use common::ayuda::{self, Early, USAGE_EXIT_CODE};

macro_rules! binaries {
    ($($module:ident = $path:literal, $ty:ident, $package:literal, $bin:literal;)*) => {
        $(
            #[allow(dead_code)]
            #[path = $path]
            mod $module;
        )*

        /// Cada binario: paquete, nombre, su `Command` localizado y una función que analiza
        /// argumentos como lo hace su `main`.
        fn binaries() -> Vec<Binary> {
            vec![$(Binary {
                package: $package,
                name: $bin,
                command: ayuda::localize($module::$ty::command()),
                parse: |args| try_parse::<$module::$ty>(args),
            },)*]
        }
    };
}

binaries! {
    p1_servidor = "../../problema1/src/bin/servidor.rs", Args, "problema1", "servidor";
    p1_cliente = "../../problema1/src/bin/cliente.rs", Args, "problema1", "cliente";
    p2_servidor = "../../problema2/src/bin/servidor.rs", Args, "problema2", "servidor";
    p2_cliente = "../../problema2/src/bin/cliente.rs", Args, "problema2", "cliente";
    p3_servidor = "../../problema3/src/bin/servidor.rs", Args, "problema3", "servidor";
    p3_cliente = "../../problema3/src/bin/cliente.rs", Args, "problema3", "cliente";
    p4_servidor = "../../problema4/src/bin/servidor.rs", Args, "problema4", "servidor";
    p4_cliente = "../../problema4/src/bin/cliente.rs", Args, "problema4", "cliente";
    p5_servidor = "../../problema5/src/bin/servidor.rs", Args, "problema5", "servidor";
    p5_cliente = "../../problema5/src/bin/cliente.rs", Args, "problema5", "cliente";
    p6_servidor = "../../problema6/src/bin/servidor.rs", Args, "problema6", "servidor";
    p6_cliente = "../../problema6/src/bin/cliente.rs", Args, "problema6", "cliente";
    p7_servidor = "../../problema7/src/bin/servidor.rs", Cli, "problema7", "servidor";
    p7_cliente = "../../problema7/src/bin/cliente.rs", Cli, "problema7", "cliente";
    p8_servidor = "../../problema8/src/bin/servidor.rs", Args, "problema8", "servidor";
    p8_cliente = "../../problema8/src/bin/cliente.rs", Args, "problema8", "cliente";
    p9_servidor = "../../problema9/src/bin/servidor.rs", Cli, "problema9", "servidor";
    p9_cliente = "../../problema9/src/bin/cliente.rs", Cli, "problema9", "cliente";
}

/// `comprobar` no entra en `binaries()` (su `-V` es el del paquete `tests`), pero sus
/// órdenes de los README también se comprueban.
#[allow(dead_code)]
#[path = "../src/bin/comprobar.rs"]
mod comprobar_bin;

struct Binary {
    package: &'static str,
    name: &'static str,
    command: Command,
    parse: fn(&[&str]) -> Result<(), Early>,
}

fn try_parse<T: CommandFactory + FromArgMatches>(args: &[&str]) -> Result<(), Early> {
    ayuda::try_parse_from::<T, _>(args.iter().copied()).map(|_| ())
}

impl Binary {
    /// Lo que mostraría `binario ARGS...`: la ayuda, la versión o el error.
    fn early(&self, args: &[&str]) -> Early {
        let mut argv = vec![self.name];
        argv.extend_from_slice(args);
        match (self.parse)(&argv) {
            Ok(()) => panic!("{} {}: {args:?} no debía arrancar", self.package, self.name),
            Err(early) => early,
        }
    }

    fn label(&self) -> String {
        format!("{} {}", self.package, self.name)
    }

    /// Las rutas de órdenes (`[]`, `["upload"]`, `["demo"]`...) de este binario.
    fn command_paths(&self) -> Vec<Vec<String>> {
        fn walk(cmd: &Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
            out.push(prefix.clone());
            for sub in cmd.get_subcommands() {
                let mut path = prefix.clone();
                path.push(sub.get_name().to_string());
                walk(sub, path, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.command, Vec::new(), &mut out);
        out
    }
}

/// Lo que `clap` escribe por su cuenta en inglés.
const ENGLISH: &[&str] = &[
    "Usage:",
    "Options:",
    "Commands:",
    "Arguments:",
    "Print help",
    "Print version",
    "[OPTIONS]",
    "<COMMAND>",
    "[default:",
    "[possible values:",
    "For more information",
    "tip:",
];

#[test]
fn every_help_is_in_spanish_and_says_what_the_program_does() {
    for bin in binaries() {
        for path in bin.command_paths() {
            for flag in ["-h", "--help"] {
                let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
                args.push(flag);
                let early = bin.early(&args);
                let what = format!("{} {}", bin.label(), args.join(" "));
                let help = &early.text;
                assert_eq!(early.exit_code, 0, "{what}");
                assert!(early.to_stdout, "{what}");
                for english in ENGLISH {
                    assert!(
                        !help.contains(english),
                        "{what}: sobra {english:?}:\n{help}"
                    );
                }
                assert!(help.contains("Uso: "), "{what}:\n{help}");
                assert!(help.contains("Muestra esta ayuda"), "{what}:\n{help}");
                let header = help.lines().next().unwrap_or_default();
                let long_enough = if path.is_empty() { 30 } else { 5 };
                // `AYUDA_VER=1 cargo test -p tests --test ayuda -- --nocapture` las muestra todas.
                if std::env::var_os("AYUDA_VER").is_some() {
                    eprintln!("===== {what}\n{help}");
                }
                assert!(
                    header.chars().count() > long_enough
                        && !header.contains("del taller")
                        && !header.starts_with("Uso:"),
                    "{what}: la cabecera debe decir qué hace el programa, no {header:?}"
                );
            }
        }
    }
}

#[test]
fn every_version_names_the_package() {
    for bin in binaries() {
        let early = bin.early(&["-V"]);
        assert_eq!(early.exit_code, 0, "{}", bin.label());
        assert_eq!(
            early.text,
            format!("{} {}\n", bin.package, env!("CARGO_PKG_VERSION")),
            "{}",
            bin.label()
        );
    }
}

/// Los nombres de los valores (`<FICHERO>`, `<PUERTO>`) los elige una persona en español: el
/// que pone `clap` por omisión es el identificador del campo en mayúsculas (`<FILE>`,
/// `<MAX_LINE>`).
#[test]
fn every_value_name_is_chosen_in_spanish() {
    fn walk(cmd: &Command, label: &str, bad: &mut Vec<String>) {
        for arg in cmd
            .get_arguments()
            .filter(|a| a.get_action().takes_values())
        {
            let id = arg.get_id().as_str().to_uppercase();
            for name in arg.get_value_names().unwrap_or_default() {
                if name.as_str() == id && !["HOST", "URL"].contains(&name.as_str()) {
                    bad.push(format!("{label}: --{} <{name}>", arg.get_id()));
                }
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{label} {}", sub.get_name()), bad);
        }
    }
    let mut bad = Vec::new();
    for bin in binaries() {
        let mut cmd = bin.command.clone();
        cmd.build();
        walk(&cmd, &bin.label(), &mut bad);
    }
    assert!(
        bad.is_empty(),
        "nombres de valor por omisión:\n{}",
        bad.join("\n")
    );
}

/// Cada `--port` dice el puerto por omisión de su programa (no "800N para el problema N").
#[test]
fn every_port_help_shows_the_real_default() {
    for bin in binaries() {
        for path in bin.command_paths() {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push("--help");
            let help = bin.early(&args).text;
            let help = help.replace("\n          ", " ");
            let what = format!("{} {}", bin.label(), args.join(" "));
            assert!(!help.contains("800N"), "{what}:\n{help}");
            let lines: Vec<&str> = help.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.trim_start().starts_with("--port ") {
                    // La ayuda va en la misma línea (`-h`) o en la siguiente (`--help`).
                    let text = format!("{line} {}", lines.get(i + 1).unwrap_or(&""));
                    assert!(
                        text.contains("[por omisión: "),
                        "{what}: --port sin su valor por omisión: {text:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn unknown_flag_gives_spanish_error_with_suggestion_and_exit_code_2() {
    for bin in binaries() {
        let early = bin.early(&["--puerto", "8005"]);
        let what = bin.label();
        assert_eq!(early.exit_code, USAGE_EXIT_CODE, "{what}");
        assert!(!early.to_stdout, "{what}");
        let text = &early.text;
        assert!(
            text.starts_with("error: argumento inesperado '--puerto'"),
            "{what}:\n{text}"
        );
        for english in ENGLISH {
            assert!(
                !text.contains(english),
                "{what}: sobra {english:?}:\n{text}"
            );
        }
        assert!(text.contains("Uso: "), "{what}:\n{text}");
    }
    let p5 = binaries()
        .into_iter()
        .find(|b| b.package == "problema5" && b.name == "cliente")
        .expect("problema5 cliente");
    let text = p5.early(&["list", "--puerto", "8005"]).text;
    assert!(
        text.contains("consejo: existe un argumento parecido: '--port'"),
        "{text}"
    );
}

fn find(package: &str, name: &str) -> Binary {
    binaries()
        .into_iter()
        .find(|b| b.package == package && b.name == name)
        .expect("binario conocido")
}

/// `cliente list --port 8005` (issue 18): las opciones del cliente valen tras la orden.
#[test]
fn client_options_work_after_a_subcommand() {
    let p5 = find("problema5", "cliente");
    (p5.parse)(&["cliente", "list", "--port", "8005", "--timeout", "3"]).expect("problema5");
    (p5.parse)(&["cliente", "--port", "8005", "list"]).expect("problema5");
    let p9 = find("problema9", "cliente");
    (p9.parse)(&["cliente", "get", "k", "--port", "8009"]).expect("problema9");
}

#[test]
fn bot_accepts_spanish_names() {
    let p8 = find("problema8", "cliente");
    for kind in ["aleatorio", "perfecto", "random", "perfect"] {
        (p8.parse)(&["cliente", "--bot", kind]).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
    }
    (p8.parse)(&["cliente", "--bot"]).expect("--bot solo");
}

/// Sin orden, `servidor` de problema9 arranca la demostración (balanceador y nodos en un
/// proceso) y admite `--host`/`--port` como los demás servidores.
#[test]
fn problema9_server_without_subcommand_runs_the_demo() {
    let p9 = find("problema9", "servidor");
    (p9.parse)(&["servidor"]).expect("sin orden");
    (p9.parse)(&["servidor", "--port", "0"]).expect("con --port");
}

/// Los errores de uso más comunes, en cada binario: ni una palabra de `clap` en inglés.
#[test]
fn usage_errors_are_in_spanish_with_exit_code_2() {
    const ENGLISH_WORDS: &[&str] = &[
        "invalid",
        "unexpected",
        "cannot",
        "required",
        "is not",
        "found",
        "value for",
    ];
    let bad: &[&[&str]] = &[
        &["--port"],
        &["--port", "x"],
        &["--port", "99999"],
        &["--port", "1", "--port", "2"],
        &["--host=a", "--host=b"],
        &["--sin-esto"],
    ];
    for bin in binaries() {
        for args in bad {
            let early = bin.early(args);
            let what = format!("{} {}", bin.label(), args.join(" "));
            let text = &early.text;
            assert_eq!(early.exit_code, USAGE_EXIT_CODE, "{what}:\n{text}");
            assert!(text.starts_with("error: "), "{what}:\n{text}");
            for english in ENGLISH.iter().chain(ENGLISH_WORDS) {
                assert!(
                    !text.contains(english),
                    "{what}: sobra {english:?}:\n{text}"
                );
            }
        }
    }
    let p8 = find("problema8", "cliente");
    let text = p8.early(&["--watch", "3", "--bot"]).text;
    assert!(text.contains("no se puede usar junto con"), "{text}");
    let p9 = find("problema9", "servidor");
    let text = p9.early(&["balanceador", "--strategy", "round"]).text;
    assert!(
        text.contains("consejo: existe un valor parecido: 'round-robin'"),
        "{text}"
    );
}

/// Una orden `cargo run -p PAQUETE --bin BINARIO -- ARGUMENTOS` escrita en un README.
#[derive(Debug)]
struct ReadmeCommand {
    place: String,
    package: String,
    bin: String,
    args: Vec<String>,
}

/// Todas las órdenes `cargo run` de los README del repositorio (el principal, el de cada
/// problema y el de `bench/`), en bloques de código o entre comillas invertidas. Una orden se
/// corta en el primer `#`, `&`, `|`, `;` o `>` y en la comilla invertida que cierra.
fn readme_commands() -> Vec<ReadmeCommand> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md"), root.join("bench/README.md")];
    files.extend((1..=9).map(|n| root.join(format!("problema{n}/README.md"))));
    let mut found = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find("cargo run -p ") {
                let inline = rest[..start].ends_with('`');
                let after = &rest[start..];
                let end = if inline {
                    after.find('`').unwrap_or(after.len())
                } else {
                    after.len()
                };
                let command = &after[..end];
                let command = command
                    .split(['#', '&', '|', ';', '>'])
                    .next()
                    .unwrap_or_default();
                rest = &after[end..];
                let words = shell_words(command);
                // cargo run -p PAQUETE --bin BINARIO [-- ARGUMENTOS...]
                let (Some(package), Some("--bin"), Some(bin)) = (
                    words.get(3).map(String::as_str),
                    words.get(4).map(String::as_str),
                    words.get(5),
                ) else {
                    continue;
                };
                let args: Vec<String> = match words.get(6).map(String::as_str) {
                    None => Vec::new(),
                    Some("--") if words.len() > 7 => words[7..].to_vec(),
                    // `... --` al final de una línea de texto partida: sigue en la siguiente.
                    Some(_) => continue,
                };
                // `problemaN` es cualquiera de los nueve.
                let packages: Vec<String> = if package == "problemaN" {
                    (1..=9).map(|n| format!("problema{n}")).collect()
                } else {
                    vec![package.to_string()]
                };
                for package in packages {
                    found.push(ReadmeCommand {
                        place: format!("{name}:{}", number + 1),
                        package,
                        bin: bin.clone(),
                        args: args.clone(),
                    });
                }
            }
        }
    }
    found
}

/// Parte una orden en palabras como `sh`: comillas simples y dobles, sin expansiones.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Los marcadores que los README escriben en lugar de un valor (`--port PUERTO`), con un
/// valor de ejemplo que el analizador acepta.
fn example_value(word: &str) -> &str {
    match word {
        "PUERTO" => "9000",
        other => other,
    }
}

/// Cada orden `cargo run` de los README analiza bien sus argumentos (issue 18: "READMEs
/// followed literally"): se analiza con `--help` al final, como la escribiría quien la copia,
/// y ha de dar la ayuda (código 0), no un error de uso. Un README que cita una opción que ya
/// no existe, un valor no válido o una orden mal escrita hace fallar esta prueba.
#[test]
fn every_readme_command_line_parses() {
    let commands = readme_commands();
    assert!(commands.len() > 60, "solo {} órdenes", commands.len());
    let bins = binaries();
    let mut bad = Vec::new();
    for command in &commands {
        let mut argv: Vec<&str> = vec![command.bin.as_str()];
        argv.extend(command.args.iter().map(|a| example_value(a)));
        argv.push("--help");
        let result = if command.package == "tests" && command.bin == "comprobar" {
            try_parse::<comprobar_bin::Args>(&argv)
        } else {
            let Some(bin) = bins
                .iter()
                .find(|b| b.package == command.package && b.name == command.bin)
            else {
                bad.push(format!(
                    "{}: no hay tal binario: {command:?}",
                    command.place
                ));
                continue;
            };
            (bin.parse)(&argv)
        };
        match result {
            Err(early) if early.exit_code == 0 => {}
            Err(early) => bad.push(format!(
                "{}: {} {}\n{}",
                command.place,
                command.bin,
                command.args.join(" "),
                early.text
            )),
            Ok(()) => bad.push(format!("{}: --help no dio la ayuda", command.place)),
        }
    }
    assert!(
        bad.is_empty(),
        "órdenes de los README que no se analizan:\n{}",
        bad.join("\n")
    );
}
