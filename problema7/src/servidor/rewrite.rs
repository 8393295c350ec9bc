//! Reescritura de cabeceras al pasar por el proxy (RFC 9110 §7.6), como funciones puras
//! sobre la lista de cabeceras.
//!
//! - Cabeceras de salto (*hop-by-hop*): describen una sola conexión TCP, no el mensaje, así
//!   que el proxy las quita antes de reenviar ([`strip_hop_by_hop`]): `Connection` y todas
//!   las que ésta nombre (`Connection: close, X-Secreta` quita también `X-Secreta`),
//!   `Keep-Alive`, `Proxy-Connection`, `Proxy-Authorization` (las credenciales son para el
//!   proxy, no para el origen), `Proxy-Authenticate`, `TE`, `Trailer`, `Upgrade` y
//!   `Transfer-Encoding` (el proxy decide de nuevo cómo delimita el cuerpo en cada salto).
//! - `Via` (§7.6.3): cada intermediario se añade a la lista con la versión recibida.
//! - `X-Forwarded-For`: la dirección del cliente, añadida a la de proxies anteriores, para que
//!   el origen sepa quién pidió (de facto; `Forwarded` de RFC 7239 dice lo mismo).
//! - [`HeaderRules`]: las reglas de `--remove-header` y `--add-header`.

use std::net::IpAddr;
use std::str::FromStr;

use common::http::Headers;

/// Las cabeceras de salto fijas (en minúsculas); además se quitan las que nombre `Connection`.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
];

/// Las opciones de conexión de todas las cabeceras `Connection` (en minúsculas). Sirve para
/// quitar las que nombran y para saber si el cliente pidió `close` o `keep-alive`.
///
/// ```
/// use common::http::Headers;
/// use problema7::servidor::rewrite::connection_options;
/// let mut h = Headers::new();
/// h.push("Connection", "close, X-Uno");
/// h.push("connection", "x-dos");
/// assert_eq!(connection_options(&h), ["close", "x-uno", "x-dos"]);
/// ```
pub fn connection_options(headers: &Headers) -> Vec<String> {
    headers
        .get_all("connection")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Quita las cabeceras de salto: las fijas de [`HOP_BY_HOP`] y las que nombre `Connection`.
///
/// ```
/// use common::http::Headers;
/// use problema7::servidor::rewrite::strip_hop_by_hop;
/// let mut h = Headers::new();
/// h.push("Host", "a");
/// h.push("Connection", "X-Secreta");
/// h.push("X-Secreta", "1");
/// h.push("Keep-Alive", "timeout=5");
/// strip_hop_by_hop(&mut h);
/// assert_eq!(h.len(), 1);
/// assert_eq!(h.get("host"), Some("a"));
/// ```
pub fn strip_hop_by_hop(headers: &mut Headers) {
    let named = connection_options(headers);
    // Se compara sin distinguir mayúsculas en vez de pasar cada nombre a minúsculas: sin una
    // reserva de memoria por cabecera (esto corre dos veces por petición reenviada).
    headers.retain(|name, _| {
        let is = |hop: &str| hop.eq_ignore_ascii_case(name);
        !HOP_BY_HOP.iter().copied().any(is) && !named.iter().map(String::as_str).any(is)
    });
}

/// Añade este proxy, con el seudónimo `name`, a `Via` (al final de la lista existente, en una
/// sola cabecera), con la versión del mensaje recibido (`1.0` o `1.1`).
pub fn add_via(headers: &mut Headers, received_version: &str, name: &str) {
    let me = format!("{received_version} {name}");
    append_list(headers, "Via", &me);
}

/// ¿Ya pasó el mensaje por el proxy llamado `name`? Cada elemento de `Via` es
/// `protocolo receptor [comentario]` (RFC 9110 §7.6.3); si un receptor es `name`, la petición
/// ha dado la vuelta: reenviarla otra vez sería un bucle.
///
/// ```
/// use common::http::Headers;
/// use problema7::servidor::rewrite::via_contains;
/// let mut h = Headers::new();
/// h.push("Via", "1.0 otro, 1.1 Taller-Proxy (comentario)");
/// assert!(via_contains(&h, "taller-proxy"));
/// assert!(!via_contains(&h, "otro-proxy"));
/// ```
pub fn via_contains(headers: &Headers, name: &str) -> bool {
    headers
        .get_all("via")
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.split_whitespace().nth(1))
        .any(|received_by| received_by.eq_ignore_ascii_case(name))
}

/// Añade la dirección del cliente a `X-Forwarded-For`.
pub fn add_forwarded_for(headers: &mut Headers, client: IpAddr) {
    let client = match client {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    append_list(headers, "X-Forwarded-For", &client.to_string());
}

/// Une todas las cabeceras `name` existentes y `item` en una sola lista separada por comas
/// (RFC 9110 §5.3: varias cabeceras de lista equivalen a una con los valores unidos).
fn append_list(headers: &mut Headers, name: &str, item: &str) {
    let mut joined = String::new();
    for value in headers.get_all(name) {
        joined.push_str(value);
        joined.push_str(", ");
    }
    // Lo normal es que no hubiera ninguna: basta con añadirla.
    if joined.is_empty() {
        headers.push(name, item);
        return;
    }
    joined.push_str(item);
    headers.remove(name);
    headers.push(name, joined);
}

/// Reglas de `--remove-header NOMBRE` y `--add-header "Nombre: valor"` que se aplican a cada
/// petición reenviada, después de las reglas de RFC 9110.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    /// Nombres de cabecera que se quitan (sin distinguir mayúsculas).
    pub remove: Vec<String>,
    /// Cabeceras que se añaden (sustituyen a las del mismo nombre).
    pub add: Vec<AddHeader>,
}

impl HeaderRules {
    /// Aplica las reglas: primero quita, luego añade (sustituyendo).
    pub fn apply(&self, headers: &mut Headers) {
        for name in &self.remove {
            headers.remove(name);
        }
        for add in &self.add {
            headers.remove(&add.name);
            headers.push(&add.name, &add.value);
        }
    }
}

/// Una cabecera de `--add-header "Nombre: valor"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHeader {
    /// Nombre (un `token` HTTP).
    pub name: String,
    /// Valor (texto visible, sin saltos de línea).
    pub value: String,
}

/// Un `--add-header` o `--remove-header` mal escrito.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cabecera no válida `{0}`: use \"Nombre: valor\" con un nombre sin espacios y un valor sin saltos de línea")]
pub struct HeaderRuleError(pub String);

impl FromStr for AddHeader {
    type Err = HeaderRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HeaderRuleError(s.to_string());
        let (name, value) = s.split_once(':').ok_or_else(err)?;
        let value = value.trim();
        if !is_header_name(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(err());
        }
        Ok(AddHeader {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

/// ¿Es `name` un nombre de cabecera válido (`token`, RFC 9110 §5.6.2)?
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in pairs {
            h.push(*n, *v);
        }
        h
    }

    fn names(h: &Headers) -> Vec<String> {
        h.iter().map(|(n, _)| n.to_string()).collect()
    }

    #[test]
    fn every_hop_by_hop_header_and_the_named_ones_go() {
        let mut h = headers(&[
            ("Host", "a"),
            ("Connection", "keep-alive, X-Uno"),
            ("Connection", "x-dos"),
            ("X-Uno", "1"),
            ("X-DOS", "2"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Authorization", "Basic eDp5"),
            ("TE", "trailers"),
            ("Trailer", "X-T"),
            ("Upgrade", "websocket"),
            ("Transfer-Encoding", "chunked"),
            ("Accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(names(&h), ["Host", "Accept"]);
    }

    #[test]
    fn via_and_forwarded_for_are_appended() {
        let mut h = headers(&[("Via", "1.0 otro"), ("X-Forwarded-For", "10.0.0.1")]);
        add_via(&mut h, "1.1", "taller-proxy");
        add_forwarded_for(&mut h, "::ffff:127.0.0.1".parse().unwrap());
        assert_eq!(h.get("via"), Some("1.0 otro, 1.1 taller-proxy"));
        assert_eq!(h.get("x-forwarded-for"), Some("10.0.0.1, 127.0.0.1"));
        let mut fresh = Headers::new();
        add_forwarded_for(&mut fresh, "::1".parse().unwrap());
        assert_eq!(fresh.get("X-Forwarded-For"), Some("::1"));
    }

    #[test]
    fn custom_rules_remove_then_add() {
        let rules = HeaderRules {
            remove: vec!["cookie".into()],
            add: vec!["X-Proxy: taller".parse().unwrap()],
        };
        let mut h = headers(&[("Cookie", "a=1"), ("X-Proxy", "viejo"), ("Host", "a")]);
        rules.apply(&mut h);
        assert_eq!(names(&h), ["Host", "X-Proxy"]);
        assert_eq!(h.get("x-proxy"), Some("taller"));
    }

    proptest::proptest! {
        #[test]
        fn no_hop_by_hop_header_survives(
            names in proptest::collection::vec("(Connection|Keep-Alive|TE|Upgrade|X-[a-z]{1,3}|Accept)", 0..12),
            listed in proptest::collection::vec("(x-[a-z]{1,3}|close|keep-alive)", 0..4),
        ) {
            let mut h = Headers::new();
            h.push("Connection", listed.join(", "));
            for n in &names {
                h.push(n.as_str(), "v");
            }
            strip_hop_by_hop(&mut h);
            for (name, _) in h.iter() {
                let lower = name.to_ascii_lowercase();
                proptest::prop_assert!(!HOP_BY_HOP.contains(&lower.as_str()));
                proptest::prop_assert!(!listed.contains(&lower), "{} quedó", name);
            }
            let kept = names.iter().filter(|n| {
                let l = n.to_ascii_lowercase();
                !HOP_BY_HOP.contains(&l.as_str()) && !listed.contains(&l)
            }).count();
            proptest::prop_assert_eq!(h.len(), kept);
        }
    }

    #[test]
    fn bad_add_header_rules_are_rejected() {
        for s in [
            "sin-dos-puntos",
            ": v",
            "Con espacio: v",
            "X: a\r\nY: b",
            "X\n: v",
        ] {
            assert!(s.parse::<AddHeader>().is_err(), "{s:?}");
        }
        let ok: AddHeader = "X-A:  b c ".parse().unwrap();
        assert_eq!((ok.name.as_str(), ok.value.as_str()), ("X-A", "b c"));
    }
}
