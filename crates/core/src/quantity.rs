//! Value syntaxes of the app spec: Kubernetes quantities (CPU, memory, storage), durations and
//! int-or-percent values.
//!
//! Parsing keeps the user's text (trimmed) as the canonical form — it is what Kubernetes will be
//! given — and adds a number for comparisons (millicores or bytes). Owns no rules about which
//! field may hold what; `validate` decides that.

use std::fmt;
use std::time::Duration;

use crate::validate::limits::quoted;

/// Most significant digits accepted in a quantity; keeps the arithmetic inside `u128`.
const MAX_DIGITS: usize = 30;

/// A parsed quantity: the canonical text and its value in base units (millicores or bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    text: String,
    value: u64,
}

impl Quantity {
    /// The canonical text, e.g. `250m` or `1Gi` (the user's form, trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Millicores for CPU, bytes for memory and storage (fractions rounded up, as Kubernetes does).
    pub fn value(&self) -> u64 {
        self.value
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The value syntaxes of this module, each with the usage its error message suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Cpu,
    Memory,
    Storage,
    Duration,
    IntOrPercent,
}

impl Syntax {
    /// `a CPU quantity: use …`: what the value is not, and how to write one.
    fn expected(self) -> &'static str {
        match self {
            Syntax::Cpu => "a CPU quantity: use cores or millicores, e.g. 0.5, 2, 250m",
            Syntax::Memory => {
                "a memory quantity: use a number with an optional unit, e.g. 256Mi, 1Gi, 512M"
            }
            Syntax::Storage => "a storage size: use a number with a unit, e.g. 1Gi, 10Gi, 500M",
            Syntax::Duration => "a duration: use a number with a unit, e.g. 2s, 500ms, 10m",
            Syntax::IntOrPercent => {
                "an integer or a percentage: use a whole number or 0%–100%, e.g. 1, 0 or 25%"
            }
        }
    }
}

/// What, beyond its syntax, is wrong with a quantity that looked like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// A CPU quantity in cores with more than three decimals.
    CpuDecimals,
    /// Fractional millicores.
    WholeMillicores,
    /// More than the arithmetic (or a `u64`) holds.
    TooLarge,
    /// `m` on a byte quantity (thousandths of a byte).
    MilliBytes,
    /// `KB`, `GiB` and other units Kubernetes does not know.
    NotKubernetesUnit,
}

impl Hint {
    fn text(self) -> &'static str {
        match self {
            Hint::CpuDecimals => " (at most three decimals: 1m is the smallest step)",
            Hint::WholeMillicores => " (millicores are whole numbers)",
            Hint::TooLarge => " (the value is too large)",
            Hint::MilliBytes => " (\"m\" means thousandths of a byte; write Mi for mebibytes)",
            Hint::NotKubernetesUnit => " (Kubernetes units are k, M, G, T or Ki, Mi, Gi, Ti)",
        }
    }
}

/// A value that does not parse as its syntax. The message quotes at most a short prefix of
/// the value ([`quoted`]) and says how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{quoted} is not {}{}", syntax.expected(), hint.map_or("", Hint::text))]
pub struct ValueError {
    syntax: Syntax,
    /// The value as the message quotes it.
    quoted: String,
    hint: Option<Hint>,
}

impl ValueError {
    fn new(syntax: Syntax, input: &str, hint: Option<Hint>) -> Self {
        ValueError {
            syntax,
            quoted: quoted(input),
            hint,
        }
    }

    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    pub fn hint(&self) -> Option<Hint> {
        self.hint
    }
}

/// A decimal number `mantissa / 10^scale`, as written.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: u128,
    scale: u32,
}

/// Splits `"1.5Gi"` into the number and the suffix `"Gi"`. `None` when there is no number.
fn split_number(s: &str) -> Option<(Decimal, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let digits = format!("{int}{frac}");
    if digits.len() > MAX_DIGITS {
        return None;
    }
    let mantissa = digits.parse::<u128>().ok()?;
    let scale = u32::try_from(frac.len()).ok()?;
    Some((Decimal { mantissa, scale }, suffix))
}

/// `mantissa × 10^exp10 × multiplier`, rounded up to a whole number; `None` on overflow.
fn scaled(d: Decimal, exp10: i64, multiplier: u128) -> Option<u64> {
    let exp = exp10 - i64::from(d.scale);
    let base = d.mantissa.checked_mul(multiplier)?;
    let value = if exp >= 0 {
        base.checked_mul(10u128.checked_pow(u32::try_from(exp).ok()?)?)?
    } else {
        match 10u128.checked_pow(u32::try_from(-exp).ok()?) {
            Some(div) => base.div_ceil(div),
            None => u128::from(base > 0),
        }
    };
    u64::try_from(value).ok()
}

/// What [`parse_cpu`] may accept, as an (anchored, ECMA) regular expression for the OpenAPI
/// document: a superset (digit and scale rules are checked by the parser), so nothing the
/// parser accepts breaks the published pattern. `\u0085` is the one character Rust trims
/// that ECMA's `\s` lacks.
pub const CPU_PATTERN: &str = "^[\\s\\u0085]*[0-9.]+m?[\\s\\u0085]*$";
/// What [`parse_memory`] and [`parse_storage`] may accept (a superset, as [`CPU_PATTERN`]).
pub const BYTES_PATTERN: &str = "^[\\s\\u0085]*[0-9.]+([kMGTPE]i?|[eE][+-]?[0-9]+)?[\\s\\u0085]*$";

/// A CPU quantity: cores (`0.5`, `2`, at most three decimals) or whole millicores (`250m`).
/// The value is in millicores.
pub fn parse_cpu(input: &str) -> Result<Quantity, ValueError> {
    let text = input.trim();
    let err = |hint| Err(ValueError::new(Syntax::Cpu, input, hint));
    let Some((number, suffix)) = split_number(text) else {
        return err(None);
    };
    let value = match suffix {
        "" if number.scale > 3 => return err(Some(Hint::CpuDecimals)),
        "" => scaled(number, 3, 1),
        "m" if number.scale > 0 => return err(Some(Hint::WholeMillicores)),
        "m" => scaled(number, 0, 1),
        _ => return err(None),
    };
    match value {
        Some(value) => Ok(Quantity {
            text: text.to_owned(),
            value,
        }),
        None => err(Some(Hint::TooLarge)),
    }
}

/// A memory quantity in bytes: `256Mi`, `1Gi`, `512M`, `1e9`, `1073741824`.
pub fn parse_memory(input: &str) -> Result<Quantity, ValueError> {
    parse_bytes(input, Syntax::Memory)
}

/// A storage size in bytes, with the same syntax as memory: `1Gi`, `10Gi`, `500M`.
pub fn parse_storage(input: &str) -> Result<Quantity, ValueError> {
    parse_bytes(input, Syntax::Storage)
}

fn parse_bytes(input: &str, syntax: Syntax) -> Result<Quantity, ValueError> {
    let text = input.trim();
    let err = |hint| Err(ValueError::new(syntax, input, hint));
    let Some((number, suffix)) = split_number(text) else {
        return err(None);
    };
    let (exp10, multiplier): (i64, u128) = match suffix {
        "" => (0, 1),
        "k" => (3, 1),
        "M" => (6, 1),
        "G" => (9, 1),
        "T" => (12, 1),
        "P" => (15, 1),
        "E" => (18, 1),
        "Ki" => (0, 1 << 10),
        "Mi" => (0, 1 << 20),
        "Gi" => (0, 1 << 30),
        "Ti" => (0, 1 << 40),
        "Pi" => (0, 1 << 50),
        "Ei" => (0, 1 << 60),
        "m" => return err(Some(Hint::MilliBytes)),
        "K" | "KB" | "kB" | "KiB" | "MB" | "MiB" | "GB" | "GiB" | "TB" | "TiB" => {
            return err(Some(Hint::NotKubernetesUnit));
        }
        exp if exp.starts_with(['e', 'E']) => match exp[1..].parse::<i64>() {
            Ok(e) if (-40..=40).contains(&e) => (e, 1),
            _ => return err(None),
        },
        _ => return err(None),
    };
    match scaled(number, exp10, multiplier) {
        Some(value) => Ok(Quantity {
            text: text.to_owned(),
            value,
        }),
        None => err(Some(Hint::TooLarge)),
    }
}

/// A duration such as `2s`, `500ms` or `10m` (humantime syntax).
pub fn parse_duration(input: &str) -> Result<Duration, ValueError> {
    humantime::parse_duration(input.trim())
        .map_err(|_| ValueError::new(Syntax::Duration, input, None))
}

/// An integer or a percentage, as Kubernetes' `IntOrString` for rollouts and disruption budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(u32),
    /// 0–100.
    Percent(u32),
}

impl IntOrPercent {
    pub fn is_zero(self) -> bool {
        matches!(self, IntOrPercent::Int(0) | IntOrPercent::Percent(0))
    }
}

/// `25%`, `0` or `2`. Percentages are 0–100.
pub fn parse_int_or_percent(input: &str) -> Result<IntOrPercent, ValueError> {
    let text = input.trim();
    let err = || Err(ValueError::new(Syntax::IntOrPercent, input, None));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.strip_suffix('%') {
        Some(p) if all_digits(p) => match p.parse::<u32>() {
            Ok(p) if p <= 100 => Ok(IntOrPercent::Percent(p)),
            _ => err(),
        },
        Some(_) => err(),
        None if all_digits(text) => text
            .parse::<u32>()
            .map(IntOrPercent::Int)
            .or_else(|_| err()),
        None => err(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cpu() {
        for (text, millis) in [
            ("250m", 250),
            ("0.5", 500),
            ("2", 2000),
            (" 1.25 ", 1250),
            (".1", 100),
            ("1.", 1000),
            ("0", 0),
        ] {
            let q = parse_cpu(text).unwrap();
            assert_eq!(q.value(), millis, "{text}");
            assert_eq!(q.text(), text.trim());
        }
        for bad in [
            "", "m", "abc", "1.5m", "0.0005", "2 cores", "1k", "-1", "1..2", "1Gi",
        ] {
            let err = parse_cpu(bad).unwrap_err().to_string();
            assert!(err.contains("is not a CPU quantity"), "{bad}: {err}");
        }
        assert!(
            parse_cpu("99999999999999999999")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
    }

    #[test]
    fn memory() {
        for (text, bytes) in [
            ("256Mi", 256 << 20),
            ("1Gi", 1 << 30),
            ("512M", 512_000_000),
            ("1e9", 1_000_000_000),
            ("1E3", 1000),
            ("1073741824", 1 << 30),
            ("1.5Gi", 3 << 29),
            ("2k", 2000),
            ("1Ki", 1024),
            ("1T", 1_000_000_000_000),
            ("1Ei", 1 << 60),
            ("1E", 1_000_000_000_000_000_000),
            ("0.5", 1),
            ("1e-3", 1),
        ] {
            assert_eq!(parse_memory(text).unwrap().value(), bytes, "{text}");
        }
        assert_eq!(
            parse_memory("12 apples").unwrap_err().to_string(),
            "\"12 apples\" is not a memory quantity: use a number with an optional unit, \
             e.g. 256Mi, 1Gi, 512M"
        );
        for bad in ["", "Mi", "256 Mi", "-1Gi", "1Zi", "1e", "1e99", "20Ei"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
        assert!(
            parse_memory("128m")
                .unwrap_err()
                .to_string()
                .contains("Mi for mebibytes")
        );
        assert!(
            parse_memory("1GB")
                .unwrap_err()
                .to_string()
                .contains("Ki, Mi, Gi")
        );
        assert!(
            parse_storage("big")
                .unwrap_err()
                .to_string()
                .contains("is not a storage size")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(
            parse_duration("10")
                .unwrap_err()
                .to_string()
                .contains("is not a duration")
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn int_or_percent() {
        assert_eq!(parse_int_or_percent("25%"), Ok(IntOrPercent::Percent(25)));
        assert_eq!(parse_int_or_percent("0"), Ok(IntOrPercent::Int(0)));
        assert_eq!(parse_int_or_percent(" 2 "), Ok(IntOrPercent::Int(2)));
        assert_eq!(parse_int_or_percent("100%"), Ok(IntOrPercent::Percent(100)));
        for bad in [
            "",
            "%",
            "101%",
            "-1",
            "1.5",
            "25 %",
            "a%",
            "x",
            "99999999999",
        ] {
            let err = parse_int_or_percent(bad).unwrap_err().to_string();
            assert!(err.contains("is not an integer or a percentage"), "{bad}");
        }
        assert!(IntOrPercent::Percent(0).is_zero());
        assert!(!IntOrPercent::Int(1).is_zero());
    }

    proptest! {
        #[test]
        fn memory_round_trips(n in 0u64..1_000_000, unit in 0usize..7) {
            let (suffix, mult) = [("", 1u64), ("k", 1000), ("M", 1_000_000), ("Ki", 1024),
                ("Mi", 1 << 20), ("Gi", 1 << 30), ("G", 1_000_000_000)][unit];
            let text = format!("{n}{suffix}");
            let q = parse_memory(&text).unwrap();
            prop_assert_eq!(q.value(), n * mult);
            prop_assert_eq!(q.text(), text.as_str());
            prop_assert_eq!(parse_memory(q.text()), Ok(q.clone()));
        }

        #[test]
        fn cpu_round_trips(millis in 0u64..10_000_000) {
            let q = parse_cpu(&format!("{millis}m")).unwrap();
            prop_assert_eq!(q.value(), millis);
            let cores = format!("{}.{:03}", millis / 1000, millis % 1000);
            prop_assert_eq!(parse_cpu(&cores).unwrap().value(), millis);
            prop_assert_eq!(parse_cpu(q.text()), Ok(q.clone()));
        }

        #[test]
        fn garbage_is_rejected(s in "[a-zA-Z ]{1,10}") {
            prop_assert!(parse_memory(&s).is_err());
            prop_assert!(parse_cpu(&s).is_err());
        }
    }
}
