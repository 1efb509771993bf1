//! The rules for what a caller may ask of a new API token: its name and its lifetime.
//!
//! Shared by the server (`POST /v1/orgs/{org}/tokens`), `satusky token create` and `1ctl
//! token create`, so all three refuse the same input with the same words. Pure: no clock, no
//! store; the caller turns a lifetime into an expiry with its own "now".

/// Longest token name: a label such as `ci-deploy-main`, not a document.
pub const MAX_TOKEN_NAME_LEN: usize = 64;
/// Shortest lifetime: a token that expires sooner is more likely a typo (`30m` for `30d`)
/// than a plan, and clocks between machines may differ by minutes.
pub const MIN_TOKEN_LIFETIME_MS: u64 = HOUR_MS;
/// Longest lifetime: a year; a token meant to outlive that should not expire at all (omit
/// the expiry) and be revoked when no longer needed.
pub const MAX_TOKEN_LIFETIME_MS: u64 = 365 * DAY_MS;
/// How much of an offending value an error message quotes, so a pasted megabyte is not
/// echoed back.
const QUOTE_CHARS: usize = 24;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;
const WEEK_MS: u64 = 7 * DAY_MS;

/// A token name that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenNameError {
    #[error("the token name is empty: give 1–64 characters, e.g. ci")]
    Empty,
    #[error("the token name {quoted} is {len} characters long; the limit is {MAX_TOKEN_NAME_LEN}")]
    TooLong { quoted: String, len: usize },
    #[error("the token name {quoted} holds control characters; use printable text")]
    ControlCharacters { quoted: String },
}

/// A token lifetime that does not parse or is out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    #[error(
        "{quoted} is not a lifetime: write a whole number and a unit (m, h, d or w), e.g. 12h, 30d, 8w"
    )]
    Syntax { quoted: String },
    #[error("{text} is shorter than the shortest token lifetime, 1h")]
    TooShort { text: String },
    #[error(
        "{quoted} is longer than the longest token lifetime, 365d (leave the expiry out for a token that does not expire, and revoke it when done)"
    )]
    TooLong { quoted: String },
}

/// A token name is 1–64 characters with no control characters (it is shown in tables).
pub fn validate_token_name(name: &str) -> Result<(), TokenNameError> {
    let len = name.chars().count();
    if len == 0 {
        return Err(TokenNameError::Empty);
    }
    if len > MAX_TOKEN_NAME_LEN {
        return Err(TokenNameError::TooLong {
            quoted: quote(name),
            len,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(TokenNameError::ControlCharacters {
            quoted: quote(name),
        });
    }
    Ok(())
}

/// Parses a token lifetime such as `12h`, `30d` or `8w` (a whole number and one unit: `m`
/// minutes, `h` hours, `d` days, `w` weeks) into milliseconds, between 1 hour and 365 days.
pub fn parse_token_lifetime(text: &str) -> Result<u64, LifetimeError> {
    let bad = || LifetimeError::Syntax {
        quoted: quote(text),
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "m" => MINUTE_MS,
        "h" => HOUR_MS,
        "d" => DAY_MS,
        "w" => WEEK_MS,
        _ => return Err(bad()),
    };
    let ms = n.saturating_mul(unit_ms);
    if ms < MIN_TOKEN_LIFETIME_MS {
        return Err(LifetimeError::TooShort {
            text: text.to_owned(),
        });
    }
    if ms > MAX_TOKEN_LIFETIME_MS {
        return Err(LifetimeError::TooLong {
            quoted: quote(text),
        });
    }
    Ok(ms)
}

/// `"value"`, or its first characters and `…` when it is long.
fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_CHARS {
        format!("{value:?}")
    } else {
        let prefix: String = value.chars().take(QUOTE_CHARS).collect();
        format!("{prefix:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_in_every_unit() {
        assert_eq!(parse_token_lifetime("90m"), Ok(90 * MINUTE_MS));
        assert_eq!(parse_token_lifetime("1h"), Ok(HOUR_MS));
        assert_eq!(parse_token_lifetime("30d"), Ok(30 * DAY_MS));
        assert_eq!(parse_token_lifetime("8w"), Ok(8 * WEEK_MS));
        assert_eq!(parse_token_lifetime("365d"), Ok(MAX_TOKEN_LIFETIME_MS));
    }

    #[test]
    fn lifetimes_out_of_bounds_or_malformed_are_refused_with_the_rule() {
        let short = parse_token_lifetime("59m").unwrap_err().to_string();
        assert!(
            short.contains("shortest") && short.contains("1h"),
            "{short}"
        );
        let long = parse_token_lifetime("366d").unwrap_err().to_string();
        assert!(long.contains("longest") && long.contains("365d"), "{long}");
        let huge = parse_token_lifetime("99999999999999999999d")
            .unwrap_err()
            .to_string();
        assert!(huge.contains("not a lifetime"), "{huge}");
        let overflow = parse_token_lifetime("9999999999999999w")
            .unwrap_err()
            .to_string();
        assert!(overflow.contains("longest"), "{overflow}");
        for bad in ["", "d", "30", "30 days", " 30d", "1.5h", "-1h", "30D", "h1"] {
            let err = parse_token_lifetime(bad).unwrap_err().to_string();
            assert!(err.contains("not a lifetime"), "{bad}: {err}");
        }
    }

    #[test]
    fn names_are_bounded_printable_and_quoted_short() {
        assert_eq!(validate_token_name("ci"), Ok(()));
        assert_eq!(validate_token_name(&"é".repeat(64)), Ok(()));
        assert!(validate_token_name("").is_err());
        let long = validate_token_name(&"x".repeat(10_000))
            .unwrap_err()
            .to_string();
        assert!(
            long.contains("10000 characters") && long.contains("64"),
            "{long}"
        );
        assert!(long.len() < 120, "quotes only a prefix: {long}");
        assert!(
            validate_token_name("a\nb")
                .unwrap_err()
                .to_string()
                .contains("control")
        );
    }
}
