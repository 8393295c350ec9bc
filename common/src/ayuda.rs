//! La línea de órdenes en español: ayuda, versión y errores de `clap`, en un solo sitio.
//!
//! `clap` escribe sus encabezados (`Usage:`, `Options:`), sus ayudas (`Print help`) y sus
//! errores (`unexpected argument`) en inglés. Cada binario llama a [`parse`] en lugar de
//! `Parser::parse()`: [`localize`] cambia la plantilla de la ayuda y las opciones `-h`/`-V`,
//! y los errores se traducen aquí conservando la sugerencia de `clap` ("existe un argumento
//! parecido"). Los códigos de salida son los de `clap`: 0 para la ayuda y la versión, 2 para
//! un error de uso.

use std::ffi::OsString;
use std::fmt::Write as _;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

/// Código de salida de un error de uso (el mismo que usa `clap`).
pub const USAGE_EXIT_CODE: i32 = 2;

/// Lo que hay que mostrar en lugar de ejecutar el programa: la ayuda, la versión o un error
/// de uso, con el código de salida que le corresponde.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Early {
    /// El texto, ya en español y terminado en salto de línea.
    pub text: String,
    /// `true` para la ayuda y la versión (van a stdout); `false` para los errores (stderr).
    pub to_stdout: bool,
    /// 0 para la ayuda y la versión, [`USAGE_EXIT_CODE`] para un error de uso.
    pub exit_code: i32,
}

impl Early {
    /// Escribe el texto donde corresponde y termina el proceso con su código. Si la salida ya
    /// está cerrada (`servidor --help | head -1`) no hay nada más que hacer: se termina igual,
    /// sin el pánico de `print!`.
    pub fn exit(&self) -> ! {
        use std::io::Write;
        let _ = if self.to_stdout {
            std::io::stdout().write_all(self.text.as_bytes())
        } else {
            std::io::stderr().write_all(self.text.as_bytes())
        };
        std::process::exit(self.exit_code)
    }
}

/// Analiza los argumentos del proceso con la estructura `T` de `clap`, en español. Con
/// `-h`, `-V` o un error de uso, escribe el texto y termina el proceso como haría `clap`.
pub fn parse<T: CommandFactory + FromArgMatches>() -> T {
    try_parse_from(std::env::args_os()).unwrap_or_else(|early| early.exit())
}

/// Como [`parse`], pero con los argumentos dados (el primero es el nombre del programa) y
/// sin terminar el proceso: lo usan las pruebas para ver la ayuda y los errores que vería
/// quien ejecuta el binario.
///
/// # Errores
/// [`Early`] con la ayuda, la versión o el error de uso, ya en español.
pub fn try_parse_from<T, I>(args: I) -> Result<T, Early>
where
    T: CommandFactory + FromArgMatches,
    I: IntoIterator,
    I::Item: Into<OsString> + Clone,
{
    let mut cmd = localize(T::command());
    let mut matches = cmd.try_get_matches_from_mut(args).map_err(|e| early(&e))?;
    T::from_arg_matches_mut(&mut matches).map_err(|e| early(&e.format(&mut cmd)))
}

/// Pasa al español la ayuda de `cmd` y de todas sus órdenes: plantilla con `Uso:`,
/// `Argumentos:`, `Opciones:` y `Órdenes:`, `-h/--help` y `-V/--version` con su texto, y los
/// valores por omisión y posibles escritos como `[por omisión: X]` y `[valores: a, b]`.
pub fn localize(cmd: Command) -> Command {
    let has_version = cmd.get_version().is_some();
    let cmd = cmd
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .subcommand_help_heading("Órdenes")
        .subcommand_value_name("ORDEN")
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .global(true)
                .help("Muestra esta ayuda"),
        );
    let cmd = if has_version {
        cmd.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("Muestra la versión"),
        )
    } else {
        cmd
    };
    let cmd = cmd.mut_args(describe_values);
    let template = template(&cmd);
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    subcommands
        .iter()
        .fold(cmd.help_template(template), |cmd, name| {
            cmd.mut_subcommand(name, |sub| localize(sub.disable_version_flag(true)))
        })
}

/// Cambia el texto de ayuda de la opción `--port` para que diga el puerto por omisión real
/// del programa: `Puerto ... [por omisión: 8004]`. Se usa en el atributo de cada binario:
/// `#[command(mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]`.
pub fn default_port(arg: Arg, port: u16) -> Arg {
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    arg.help(format!("{help} [por omisión: {port}]"))
}

/// Un número con su sustantivo en singular o en plural, para que ningún mensaje diga
/// `1 conexiones`: `plural(1, "conexión", "conexiones")` da `1 conexión`; con 0 o más de 1,
/// `3 conexiones`. Sirve para cualquier entero (`usize`, `u32`, `u64`...).
pub fn plural<N>(n: N, singular: &str, plural: &str) -> String
where
    N: Copy + std::fmt::Display + TryInto<u64>,
{
    let word = if n.try_into().ok() == Some(1) {
        singular
    } else {
        plural
    };
    format!("{n} {word}")
}

/// Escribe en el texto de ayuda de `arg` su valor por omisión y sus valores posibles en
/// español, y oculta los de `clap` (que dice `[default: ...]`, `[possible values: ...]`).
fn describe_values(arg: Arg) -> Arg {
    let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    if !arg.get_action().takes_values() {
        return arg;
    }
    if !arg.is_hide_possible_values_set() {
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if !values.is_empty() {
            let _ = write!(help, " [valores: {}]", values.join(", "));
        }
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && !arg.is_hide_default_value_set() {
        let _ = write!(help, " [por omisión: {}]", defaults.join(", "));
    }
    arg.help(help)
        .hide_default_value(true)
        .hide_possible_values(true)
}

/// La plantilla de ayuda de `cmd`, con solo los apartados que tiene.
fn template(cmd: &Command) -> String {
    let mut t = String::from("{before-help}{about-with-newline}\nUso: {usage}\n");
    if cmd.has_subcommands() {
        t.push_str("\nÓrdenes:\n{subcommands}\n");
    }
    if cmd.get_positionals().any(|a| !a.is_hide_set()) {
        t.push_str("\nArgumentos:\n{positionals}\n");
    }
    if cmd
        .get_arguments()
        .any(|a| !a.is_positional() && !a.is_hide_set())
    {
        t.push_str("\nOpciones:\n{options}\n");
    }
    t.push_str("{after-help}");
    t
}

/// Traduce un error (o la ayuda, o la versión) de `clap`.
fn early(e: &clap::Error) -> Early {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Early {
            text: spanish_usage(&e.render().to_string()),
            to_stdout: true,
            exit_code: 0,
        },
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Early {
            text: spanish_usage(&e.render().to_string()),
            to_stdout: false,
            exit_code: USAGE_EXIT_CODE,
        },
        _ => Early {
            text: error_text(e),
            to_stdout: false,
            exit_code: USAGE_EXIT_CODE,
        },
    }
}

/// Un valor de contexto del error como texto (vacío si no está).
fn context(e: &clap::Error, kind: ContextKind) -> String {
    match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(", "),
        Some(ContextValue::StyledStr(s)) => s.to_string(),
        Some(ContextValue::StyledStrs(v)) => v
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        Some(ContextValue::Number(n)) => n.to_string(),
        Some(ContextValue::Bool(b)) => b.to_string(),
        Some(ContextValue::None) | None => String::new(),
        Some(_) => String::new(),
    }
}

/// Las líneas de un error de uso: qué pasó, la sugerencia si la hay, el uso y dónde ver más.
fn error_text(e: &clap::Error) -> String {
    let arg = context(e, ContextKind::InvalidArg);
    let value = context(e, ContextKind::InvalidValue);
    let message = match e.kind() {
        ErrorKind::UnknownArgument => format!("argumento inesperado '{arg}'"),
        ErrorKind::InvalidSubcommand => {
            format!(
                "orden desconocida '{}'",
                context(e, ContextKind::InvalidSubcommand)
            )
        }
        ErrorKind::InvalidValue if value.is_empty() => format!("falta el valor de '{arg}'"),
        ErrorKind::InvalidValue => format!("valor no válido '{value}' para '{arg}'"),
        ErrorKind::ValueValidation => {
            let reason = std::error::Error::source(e)
                .map(reason_text)
                .unwrap_or_default();
            format!("valor no válido '{value}' para '{arg}': {reason}")
        }
        ErrorKind::NoEquals => format!("'{arg}' necesita su valor tras un '='"),
        ErrorKind::TooManyValues => format!("sobra el valor '{value}' de '{arg}'"),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => format!(
            "'{arg}' necesita {} valores y recibió {}",
            context(e, ContextKind::ExpectedNumValues),
            context(e, ContextKind::ActualNumValues)
        ),
        ErrorKind::ArgumentConflict => {
            let prior = context(e, ContextKind::PriorArg);
            let subcommand = context(e, ContextKind::InvalidSubcommand);
            if !subcommand.is_empty() {
                format!("la orden '{subcommand}' no admite delante '{prior}'")
            } else if prior.is_empty() || prior == arg {
                format!("'{arg}' no se puede usar más de una vez")
            } else {
                format!("'{arg}' no se puede usar junto con '{prior}'")
            }
        }
        ErrorKind::MissingRequiredArgument => {
            format!("faltan argumentos obligatorios: {arg}")
        }
        ErrorKind::MissingSubcommand => format!(
            "falta una orden: {}",
            context(e, ContextKind::ValidSubcommand)
        ),
        ErrorKind::InvalidUtf8 => "un argumento no es UTF-8 válido".to_string(),
        _ => {
            // `clap` no pone contexto a los errores hechos a mano (`Error::raw`): su texto.
            let text = e.to_string();
            text.trim_start_matches("error: ")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        }
    };
    let mut out = format!("error: {message}\n");
    let tips = suggestions(e);
    if !tips.is_empty() {
        out.push('\n');
        for tip in tips {
            let _ = writeln!(out, "  consejo: {tip}");
        }
    }
    let usage = context(e, ContextKind::Usage);
    if let Some(usage) = usage.trim().strip_prefix("Usage:") {
        let _ = write!(out, "\nUso: {}\n", usage.trim());
    }
    out.push_str("\nPara más información, pruebe '--help'.\n");
    spanish_usage(&out)
}

/// `clap` escribe `[OPTIONS]` en la línea de uso sin dejar cambiarlo; aquí se traduce, y el
/// texto termina siempre en un salto de línea.
fn spanish_usage(text: &str) -> String {
    let mut text = text.replace("[OPTIONS]", "[OPCIONES]");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Las sugerencias de `clap`, en español.
fn suggestions(e: &clap::Error) -> Vec<String> {
    let mut tips = Vec::new();
    for (kind, what) in [
        (ContextKind::SuggestedArg, "existe un argumento parecido"),
        (
            ContextKind::SuggestedSubcommand,
            "existe una orden parecida",
        ),
        (ContextKind::SuggestedValue, "existe un valor parecido"),
    ] {
        let tip = context(e, kind);
        if !tip.is_empty() {
            tips.push(format!("{what}: '{tip}'"));
        }
    }
    if let Some(ContextValue::String(trailing)) = e.get(ContextKind::TrailingArg) {
        tips.push(format!(
            "para pasar '{trailing}' como valor, use '-- {trailing}'"
        ));
    }
    if e.kind() == ErrorKind::InvalidValue {
        let valid = context(e, ContextKind::ValidValue);
        if !valid.is_empty() {
            tips.push(format!("valores posibles: {valid}"));
        }
    }
    tips
}

/// El motivo de un valor rechazado; los de `std` (números, direcciones) vienen en inglés.
fn reason_text(err: &(dyn std::error::Error + 'static)) -> String {
    use std::num::IntErrorKind;
    if let Some(int) = err.downcast_ref::<std::num::ParseIntError>() {
        return match int.kind() {
            IntErrorKind::Empty => "está vacío",
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "número fuera de rango",
            _ => "no es un número entero válido",
        }
        .to_string();
    }
    if err.is::<std::num::ParseFloatError>() {
        return "no es un número válido".to_string();
    }
    if err.is::<std::net::AddrParseError>() {
        return "no es una dirección válida".to_string();
    }
    let text = err.to_string();
    // Los analizadores de números de `clap` (`value_parser!(u16)`, `.range(1..)`) dicen
    // `99999 is not in 0..=65535`.
    match text.split_once(" is not in ") {
        Some((_, range)) => format!("fuera del intervalo {range}"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    #[command(version, about = "Prueba de la ayuda en español")]
    struct Cli {
        /// Puerto
        #[arg(long, default_value_t = 8001)]
        port: u16,
        /// Fichero
        #[arg(value_name = "FICHERO")]
        file: Option<String>,
    }

    #[test]
    fn help_has_spanish_headings_and_defaults() {
        let early = try_parse_from::<Cli, _>(["prueba", "--help"]).unwrap_err();
        assert_eq!(early.exit_code, 0);
        assert!(early.to_stdout);
        let help = early.text;
        for expected in [
            "Uso: prueba",
            "Argumentos:",
            "Opciones:",
            "Muestra esta ayuda",
            "Muestra la versión",
            "[por omisión: 8001]",
        ] {
            assert!(help.contains(expected), "falta {expected:?} en:\n{help}");
        }
        for english in ["Usage", "Options", "Arguments", "Print", "default:"] {
            assert!(!help.contains(english), "sobra {english:?} en:\n{help}");
        }
    }

    #[test]
    fn unknown_flag_keeps_the_suggestion_in_spanish() {
        let early = try_parse_from::<Cli, _>(["prueba", "--prt", "3"]).unwrap_err();
        assert_eq!(early.exit_code, USAGE_EXIT_CODE);
        assert!(!early.to_stdout);
        assert!(
            early
                .text
                .starts_with("error: argumento inesperado '--prt'"),
            "{}",
            early.text
        );
        assert!(
            early
                .text
                .contains("consejo: existe un argumento parecido: '--port'"),
            "{}",
            early.text
        );
        assert!(early.text.contains("Uso: prueba"), "{}", early.text);
    }

    #[test]
    fn std_parse_errors_are_translated() {
        let early = try_parse_from::<Cli, _>(["prueba", "--port", "x"]).unwrap_err();
        assert!(
            early.text.contains("no es un número entero válido"),
            "{}",
            early.text
        );
    }

    #[test]
    fn clap_range_and_repeat_errors_are_translated() {
        let early = try_parse_from::<Cli, _>(["prueba", "--port", "99999"]).unwrap_err();
        assert!(
            early.text.contains("fuera del intervalo 0..=65535"),
            "{}",
            early.text
        );
        let early = try_parse_from::<Cli, _>(["prueba", "--port", "1", "--port", "2"]).unwrap_err();
        assert!(early.text.contains("más de una vez"), "{}", early.text);
    }

    #[test]
    fn plural_agrees_with_the_count() {
        assert_eq!(plural(1, "conexión", "conexiones"), "1 conexión");
        assert_eq!(plural(0, "conexión", "conexiones"), "0 conexiones");
        assert_eq!(plural(2, "mensaje", "mensajes"), "2 mensajes");
    }
}
