//! Una sola voz (issue 18): todo lo que lee una persona (los README, la página de ejemplo de
//! problema4, la ayuda y los mensajes de los programas, los comentarios del código) trata al
//! lector de usted. Esta prueba busca las palabras que solo existen al tutear (`tu`, `puedes`,
//! `ejecútalo`...) en cada `.md`, `.rs`, `.sh` y `.html` del repositorio.
//!
//! La excepción son las líneas del protocolo de los chats (problema3 y problema6): vienen del
//! enunciado del taller (`Introduce tu nombre:`), los programas del taller y `comprobar` las
//! esperan tal cual, y cambiarlas sería cambiar el protocolo. Están en [`CHAT_PROTOCOL`] y se
//! quitan del texto antes de buscar.

use std::fs;
use std::path::{Path, PathBuf};

/// Palabras que solo aparecen al tutear. Los imperativos regulares (`escribe`, `prueba`) no
/// están: son iguales a la tercera persona («el servidor escribe»), que sí vale.
const TU_WORDS: &[&str] = &[
    "tu",
    "tus",
    "tuyo",
    "tuya",
    "tuyos",
    "tuyas",
    "contigo",
    "puedes",
    "tienes",
    "quieres",
    "necesitas",
    "debes",
    "estás",
    "eres",
    "sabes",
    "dame",
    "dime",
    "ejecútalo",
    "pruébalo",
    "compruébalo",
    "arráncalo",
    "escríbelo",
    "fíjate",
    "asegúrate",
];

/// Textos del protocolo de los chats (problema3 y problema6) que tutean por herencia del
/// enunciado del taller; se dejan como están (véase la cabecera).
const CHAT_PROTOCOL: &[&str] = &[
    "Introduce tu nombre:",
    "ya estás conectado!",
    // `Ahora estás en la sala ...`, cortada a veces al final de la línea de un README.
    "Ahora estás en la",
    "ya estás en",
    "ya no estás en el chat",
    "tu mensaje tardó demasiado en llegar",
    "lista los usuarios de tu sala",
    "cambia tu nombre",
    "muestra o cambia el tema de tu sala",
    "se envía a tu sala",
];

/// La raíz del repositorio (el padre de `tests/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ está dentro del repositorio")
        .to_path_buf()
}

/// Los ficheros de texto del repositorio que lee una persona, sin `target/` ni directorios
/// ocultos.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("entrada de directorio").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            text_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("md" | "rs" | "sh" | "html")
        ) && !path.ends_with("tests/tests/voz.rs")
        {
            out.push(path);
        }
    }
}

/// Las palabras de tuteo de `line`, en minúsculas.
fn tu_words_in(line: &str) -> Vec<String> {
    let mut line = line.to_string();
    for phrase in CHAT_PROTOCOL {
        line = line.replace(phrase, "");
    }
    line.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| TU_WORDS.contains(&w.as_str()))
        .collect()
}

#[test]
fn nothing_a_person_reads_addresses_the_reader_as_tu() {
    let root = repo_root();
    let mut files = Vec::new();
    text_files(&root, &mut files);
    assert!(
        files.len() > 100,
        "solo {} ficheros: ¿raíz equivocada?",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            for word in tu_words_in(line) {
                let shown = file.strip_prefix(&root).unwrap_or(file);
                found.push(format!(
                    "{}:{}: «{word}» en: {}",
                    shown.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "tuteo (el taller trata de usted):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_chat_protocol_is_the_only_exception() {
    assert!(tu_words_in("`Introduce tu nombre:` y después `ya estás conectado!`").is_empty());
    assert_eq!(tu_words_in("escribe el tuyo"), ["tuyo"]);
    assert_eq!(tu_words_in("Comprueba tu servidor"), ["tu"]);
    assert_eq!(tu_words_in("Ejecútalo"), ["ejecútalo"]);
    assert!(tu_words_in("Compruebe su servidor; el servidor escribe y prueba").is_empty());
}
