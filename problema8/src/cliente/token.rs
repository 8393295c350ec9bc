//! El token de reconexión, guardado en un fichero para volver solo a la partida tras una
//! caída.
//!
//! El servidor da a cada jugador un token en `HELLO`; si la conexión se corta con la partida
//! en curso, quien envíe `NAME <nombre> <token>` dentro del plazo de gracia vuelve a su
//! asiento. Copiarlo a mano desde la pantalla es incómodo, así que el cliente lo guarda en
//! `$XDG_CACHE_HOME/taller-redes/problema8/<host>-<puerto>-<nombre>.token` (o bajo
//! `~/.cache` si esa variable no está), legible solo por su dueño (permisos 0600), y lo
//! usa al arrancar con el mismo nombre contra el mismo servidor. El fichero solo existe
//! mientras sirve para algo: se escribe al empezar cada partida y se borra cuando termina o
//! cuando el cliente se despide. Un token viejo no hace daño: el servidor solo lo mira si
//! guarda el asiento de ese nombre, y si no da uno nuevo.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::protocolo::is_valid_token;

/// El fichero donde se guarda el token de un nombre en un servidor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFile {
    path: PathBuf,
}

/// El directorio de caché del usuario: `$XDG_CACHE_HOME` si es una ruta absoluta (como pide
/// la especificación XDG), si no `$HOME/.cache`; `None` si no hay ninguno de los dos.
pub fn cache_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|home| home.join(".cache")))
}

impl TokenFile {
    /// El fichero del jugador `name` en el servidor `host:port`, bajo la caché del usuario
    /// ([`cache_dir`]); `None` si no hay directorio de caché.
    pub fn for_player(host: &str, port: u16, name: &str) -> Option<TokenFile> {
        cache_dir().map(|dir| TokenFile::in_dir(&dir, host, port, name))
    }

    /// El fichero del jugador `name` en `host:port` bajo el directorio de caché `cache`.
    /// Lo que no sea letra, cifra, `.`, `_` o `-` en el host (los `:` de IPv6) pasa a `_`.
    ///
    /// ```
    /// use problema8::cliente::TokenFile;
    /// let f = TokenFile::in_dir("/tmp/c".as_ref(), "::1", 8008, "ana");
    /// assert_eq!(f.path(), std::path::Path::new("/tmp/c/taller-redes/problema8/__1-8008-ana.token"));
    /// ```
    pub fn in_dir(cache: &Path, host: &str, port: u16, name: &str) -> TokenFile {
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let file = format!("{}-{port}-{}.token", safe(host), safe(name));
        TokenFile {
            path: cache.join("taller-redes").join("problema8").join(file),
        }
    }

    /// Dónde está el fichero.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// El token guardado, si hay uno válido (un fichero ilegible o con otra cosa se ignora).
    pub fn load(&self) -> Option<String> {
        let text = fs::read_to_string(&self.path).ok()?;
        let token = text.trim();
        is_valid_token(token).then(|| token.to_string())
    }

    /// Guarda `token`, creando los directorios (0700) y el fichero (0600) si hace falta. Se
    /// escribe en un fichero temporal y se renombra: quien lo lea nunca ve medio token.
    ///
    /// # Errores
    /// Los del sistema de ficheros (disco lleno, sin permiso en la caché).
    pub fn save(&self, token: &str) -> io::Result<()> {
        let dir = self
            .path
            .parent()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let temp = self
            .path
            .with_extension(format!("token.{}", std::process::id()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&temp)
            .and_then(|mut f| writeln!(f, "{token}"))
            .and_then(|()| fs::rename(&temp, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Borra el fichero (si no estaba, no pasa nada).
    pub fn remove(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_token_is_private_loaded_back_and_removed() {
        let dir = std::env::temp_dir().join(format!("p8-token-{}", std::process::id()));
        let file = TokenFile::in_dir(&dir, "127.0.0.1", 8008, "ana");
        assert_eq!(file.load(), None);
        file.save("0123456789abcdef").unwrap();
        assert_eq!(file.load().as_deref(), Some("0123456789abcdef"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        file.remove();
        assert_eq!(file.load(), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_in_the_file_is_not_a_token() {
        let dir = std::env::temp_dir().join(format!("p8-token-bad-{}", std::process::id()));
        let file = TokenFile::in_dir(&dir, "localhost", 1, "bea");
        fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        fs::write(file.path(), "no es un token\n").unwrap();
        assert_eq!(file.load(), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
