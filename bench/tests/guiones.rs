//! Los guiones de `bench/` dicen qué herramientas necesitan y cómo instalarlas (issue 18):
//! antes se paraban con «falta la herramienta wrk» y nada más. Todo pasa por `need_tools` de
//! `bench/lib.sh`; estas pruebas lo ejecutan con bash (sin instalar nada ni usar la red) y
//! comprueban que ningún guion vuelve a su propio mensaje.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bench_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Ejecuta `source lib.sh; ORDEN` con bash en `bench/`, con una caché vacía (así el entorno
/// virtual de pip no existe) y sin `INSTALAR`.
fn lib_sh(script: &str) -> Output {
    let cache = std::env::temp_dir().join(format!("bench-guiones-{}", std::process::id()));
    Command::new("bash")
        .arg("-c")
        .arg(format!("source lib.sh; {script}"))
        .current_dir(bench_dir())
        .env("XDG_CACHE_HOME", &cache)
        .env_remove("INSTALAR")
        .output()
        .expect("bash debe estar instalado")
}

#[test]
fn missing_tool_stops_the_script_with_the_debian_install_line() {
    let out =
        lib_sh("need_tools bash herramienta-inexistente-1 herramienta-inexistente-2; echo siguió");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("siguió"));
    assert!(
        stderr.contains(
            "faltan las herramientas herramienta-inexistente-1 herramienta-inexistente-2"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "sudo apt-get install -y herramienta-inexistente-1 herramienta-inexistente-2"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("INSTALAR=1"), "{stderr}");
}

#[test]
fn optional_tool_only_warns_and_the_script_goes_on() {
    let out = lib_sh("want_tools herramienta-inexistente || echo sin ella");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sin ella\n");
    assert!(
        stderr.starts_with("AVISO: falta la herramienta"),
        "{stderr}"
    );
}

#[test]
fn each_tool_maps_to_the_package_that_ships_it() {
    let out = lib_sh("install_commands wrk nc redis-cli redis-benchmark nginx redbot cargo-fuzz");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0],
        "sudo apt-get install -y wrk netcat-openbsd redis-tools nginx python3 python3-venv"
    );
    assert!(lines[1].starts_with("python3 -m venv "), "{stdout}");
    assert!(lines[1].ends_with("/bin/pip install redbot"), "{stdout}");
    assert_eq!(lines[2], "cargo install --locked cargo-fuzz");
}

/// Los guiones de `bench/`, salvo `lib.sh`.
fn scripts() -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(bench_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .filter(|p| p.file_name().is_some_and(|n| n != "lib.sh"))
        .collect();
    scripts.sort();
    scripts
}

#[test]
fn every_script_checks_its_tools_through_lib_sh_and_says_how_to_install_them() {
    let scripts = scripts();
    assert!(scripts.len() >= 10, "{scripts:?}");
    for script in scripts {
        let text = std::fs::read_to_string(&script).unwrap();
        let name = script.display();
        assert!(
            !text.contains("echo \"falta"),
            "{name}: comprueba sus herramientas a mano; use need_tools de lib.sh"
        );
        if text.contains("need_tools ") {
            let header: String = text
                .lines()
                .skip(1)
                .take_while(|l| l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                header.contains("install") && header.contains("INSTALAR=1"),
                "{name}: la cabecera debe decir cómo instalar lo que necesita"
            );
        }
    }
}
