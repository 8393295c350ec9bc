//! Los README del taller (issue 19): el mismo recorrido en los nueve y nada que apunte a
//! donde no hay nada.
//!
//! - Cada `problemaN/README.md` tiene las mismas secciones en el mismo orden.
//! - «Lea primero» da de tres a cinco sitios del código, y cada fichero y cada función que
//!   nombra existe: si alguien renombra `handle_connection`, esta prueba le dice qué README
//!   arreglar.
//! - «Ejercicios» tiene tres.
//! - Cada enlace relativo de cada README lleva a un fichero que existe y, si tiene `#ancla`, a
//!   un título de ese fichero.
//!
//! (Que cada orden `cargo run` de los README se analice bien lo prueba `tests/ayuda.rs`.)

use std::path::{Path, PathBuf};

/// Las secciones de cada README de problema, en su orden.
const SECTIONS: &[&str] = &[
    "## Qué se aprende",
    "## Ejecútelo",
    "## El protocolo",
    "## Lea primero",
    "## Ejercicios",
    "## Rendimiento",
    "## Referencia",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Las líneas de la sección `title` (sin el título), hasta la siguiente `## `.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| l.trim_end() != title)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect()
}

/// Los puntos de una lista numerada (`1. ...` y sus líneas de continuación, unidas).
fn numbered_items(lines: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut in_item = false;
    for line in lines {
        let starts = line
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if starts {
            items.push(line.to_string());
            in_item = true;
        } else if in_item && line.starts_with("   ") {
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            in_item = false;
        }
    }
    items
}

/// Los trozos entre comillas invertidas antes del primer `: ` fuera de ellas (la parte de un
/// punto de «Lea primero» que dice dónde mirar).
fn code_refs(item: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut inside = false;
    let mut current = String::new();
    let mut chars = item.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' if inside => {
                refs.push(std::mem::take(&mut current));
                inside = false;
            }
            '`' => inside = true,
            c if inside => current.push(c),
            ':' if chars.peek() == Some(&' ') => break,
            _ => {}
        }
    }
    refs
}

fn is_identifier_path(s: &str) -> bool {
    !s.is_empty()
        && s.split("::").all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[test]
fn every_problem_readme_has_the_workshop_sections_in_order() {
    let mut bad = Vec::new();
    for n in 1..=9 {
        let path = root().join(format!("problema{n}/README.md"));
        let text = read(&path);
        let found: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("## "))
            .map(str::trim_end)
            .collect();
        if found != SECTIONS {
            bad.push(format!("problema{n}: {found:?}"));
        }
        let exercises = numbered_items(&section(&text, "## Ejercicios")).len();
        if exercises != 3 {
            bad.push(format!("problema{n}: {exercises} ejercicios en vez de 3"));
        }
    }
    assert!(
        bad.is_empty(),
        "se esperaban {SECTIONS:?}:\n{}",
        bad.join("\n")
    );
}

#[test]
fn read_first_names_files_and_functions_that_exist() {
    let mut bad = Vec::new();
    for n in 1..=9 {
        let dir = root().join(format!("problema{n}"));
        let text = read(&dir.join("README.md"));
        let items = numbered_items(&section(&text, "## Lea primero"));
        if !(3..=5).contains(&items.len()) {
            bad.push(format!(
                "problema{n}: {} sitios en «Lea primero»",
                items.len()
            ));
        }
        for item in &items {
            let mut file: Option<(PathBuf, String)> = None;
            for r in code_refs(item) {
                if r.contains('/') && r.ends_with(".rs") {
                    let path = if r.starts_with("src/") {
                        dir.join(&r)
                    } else {
                        root().join(&r)
                    };
                    match std::fs::read_to_string(&path) {
                        Ok(source) => file = Some((path, source)),
                        Err(_) => {
                            bad.push(format!("problema{n}: no existe {r}"));
                            file = None;
                        }
                    }
                } else if is_identifier_path(&r) {
                    let Some((path, source)) = &file else {
                        continue;
                    };
                    let name = r.rsplit("::").next().unwrap_or(&r);
                    let defined = [
                        format!("fn {name}("),
                        format!("fn {name}<"),
                        format!("struct {name}"),
                        format!("enum {name}"),
                    ]
                    .iter()
                    .any(|d| source.contains(d.as_str()));
                    if !defined {
                        bad.push(format!(
                            "problema{n}: `{r}` no está en {}",
                            path.strip_prefix(root()).unwrap_or(path).display()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "«Lea primero» desfasado:\n{}",
        bad.join("\n")
    );
}

/// El ancla que da GitHub a un título: minúsculas, espacios a guiones, sin puntuación.
fn anchor(title: &str) -> String {
    title
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// Los destinos de los enlaces `[texto](destino)` fuera de los bloques de código.
fn link_targets(markdown: &str) -> Vec<(usize, String)> {
    let mut in_code = false;
    let mut out = Vec::new();
    for (number, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((number + 1, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_readmes_leads_somewhere() {
    let mut files = vec![root().join("README.md"), root().join("bench/README.md")];
    files.extend((1..=9).map(|n| root().join(format!("problema{n}/README.md"))));
    let mut bad = Vec::new();
    for file in &files {
        let text = read(file);
        let base = file.parent().unwrap_or(Path::new("."));
        let name = file
            .strip_prefix(root())
            .unwrap_or(file)
            .display()
            .to_string();
        for (line, target) in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let target_file = if path.is_empty() {
                file.clone()
            } else {
                base.join(path)
            };
            if !target_file.exists() {
                bad.push(format!("{name}:{line}: no existe {target}"));
                continue;
            }
            if let Some(fragment) = fragment {
                if target_file.extension().is_some_and(|e| e == "md")
                    && !anchors(&read(&target_file)).iter().any(|a| a == fragment)
                {
                    bad.push(format!("{name}:{line}: no hay título para #{fragment}"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "enlaces rotos:\n{}", bad.join("\n"));
}
