//! Duraciones en la línea de órdenes: `10`, `10s`, `1.5s`, `250ms`, `2m`, `1h`.
//!
//! Una sola gramática para todos los programas: un número sin signo, con decimales si se
//! quiere, y una unidad opcional (`ms`, `s`, `m`, `h`; sin unidad son segundos). Se calcula
//! con enteros (nanosegundos), así que `0.1s` es exactamente 100 ms.

use std::time::Duration;

/// Convierte un texto como `1.5s`, `250ms`, `2m` o `10` (segundos) en una duración.
///
/// # Errores
/// Un texto en español, con ejemplos, si no es un número no negativo con una de esas
/// unidades o si no cabe en una `Duration`.
///
/// ```
/// use common::conn::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(parse_duration("-1s").is_err());
/// assert!(parse_duration("diez").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid =
        || format!("duración no válida «{text}»: use por ejemplo 10, 1.5s, 250ms, 2m o 1h");
    let (number, unit_ns): (&str, u128) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000_000_000)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3_600_000_000_000)
    } else {
        (text, 1_000_000_000)
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty())
        || !digits_ok(whole)
        || !digits_ok(fraction)
        || (number.contains('.') && fraction.is_empty())
    {
        return Err(invalid());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    // Los decimales más allá del nanosegundo no cambian nada: se truncan.
    let mut frac_ns: u128 = 0;
    let mut scale = unit_ns;
    for d in fraction.bytes().take(24) {
        scale /= 10;
        frac_ns += u128::from(d - b'0') * scale;
    }
    let total = whole
        .checked_mul(unit_ns)
        .and_then(|w| w.checked_add(frac_ns))
        .ok_or_else(|| format!("duración fuera de rango «{text}»"))?;
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| format!("duración fuera de rango «{text}»"))?;
    // El resto de dividir entre 10^9 siempre cabe en u32.
    let nanos = u32::try_from(total % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_decimals() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("0", ms(0)),
            ("3", ms(3000)),
            (" 3s ", ms(3000)),
            ("0.1s", ms(100)),
            (".5s", ms(500)),
            ("250ms", ms(250)),
            ("1.5ms", Duration::from_micros(1500)),
            ("2m", ms(120_000)),
            ("1.5m", ms(90_000)),
            ("1h", ms(3_600_000)),
            ("3600s", ms(3_600_000)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_errors() {
        for text in [
            "", "s", "ms", "-1", "-1s", "1.", ".", "1.2.3s", "1e3", "diez", "1 s", "1sm", "+1",
            "1d",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn huge_values_are_out_of_range_not_a_panic() {
        assert!(parse_duration("99999999999999999999999999h").is_err());
        assert!(parse_duration(&"9".repeat(100)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[0-9.a-z+-]{0,30}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn whole_milliseconds_round_trip(n in 0u64..10_000_000_000) {
            proptest::prop_assert_eq!(parse_duration(&format!("{n}ms")), Ok(Duration::from_millis(n)));
        }
    }
}
