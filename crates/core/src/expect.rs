//! `checks.expect`: which HTTP statuses count as healthy — classes such as `2xx` or exact codes
//! such as `204`, comma-separated. Owns the syntax and the match; the probes call `matches`.

use std::fmt;

use crate::validate::limits::quoted;

/// One item of an expect list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// `2xx`: the hundreds digit (1–5).
    Class(u16),
    /// An exact code, 100–599.
    Code(u16),
}

/// A `checks.expect` that is not a list of classes and codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{quoted} is not a list of expected statuses: use classes such as 2xx or exact \
     codes from 100 to 599, separated by commas, e.g. \"2xx,3xx\" or \"200,204\""
)]
pub struct ExpectError {
    /// The value, quoted.
    quoted: String,
}

/// A parsed `checks.expect`, e.g. `2xx,3xx` or `200,204`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedStatus(Vec<StatusMatch>);

impl ExpectedStatus {
    /// Parses a comma-separated list of classes (`1xx`–`5xx`) and codes (100–599); spaces
    /// around items are allowed.
    pub fn parse(expect: &str) -> Result<Self, ExpectError> {
        let items: Option<Vec<StatusMatch>> = expect.split(',').map(|i| item(i.trim())).collect();
        items.map(ExpectedStatus).ok_or_else(|| ExpectError {
            quoted: quoted(expect),
        })
    }

    /// Whether an HTTP status code is one of the expected ones.
    pub fn matches(&self, code: u16) -> bool {
        self.0.iter().any(|m| match *m {
            StatusMatch::Class(c) => code / 100 == c,
            StatusMatch::Code(c) => code == c,
        })
    }

    pub fn items(&self) -> &[StatusMatch] {
        &self.0
    }
}

fn item(s: &str) -> Option<StatusMatch> {
    match s.as_bytes() {
        [c @ b'1'..=b'5', b'x', b'x'] => Some(StatusMatch::Class(u16::from(c - b'0'))),
        [b'1'..=b'5', d1, d2] if d1.is_ascii_digit() && d2.is_ascii_digit() => {
            s.parse().ok().map(StatusMatch::Code)
        }
        _ => None,
    }
}

impl fmt::Display for ExpectedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match m {
                StatusMatch::Class(c) => write!(f, "{c}xx")?,
                StatusMatch::Code(c) => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_classes_and_codes() {
        let e = ExpectedStatus::parse("2xx, 301").unwrap();
        assert_eq!(e.items(), [StatusMatch::Class(2), StatusMatch::Code(301)]);
        assert!(e.matches(200) && e.matches(299) && e.matches(301));
        assert!(!e.matches(302) && !e.matches(404));
        assert_eq!(e.to_string(), "2xx,301");
        assert!(ExpectedStatus::parse("100,599").is_ok());
    }

    #[test]
    fn rejects_bad_items() {
        for bad in [
            "", "2XX", "6xx", "0xx", "99", "600", "2xx,", "200;204", "ok", "2x", "1000",
        ] {
            let err = ExpectedStatus::parse(bad).unwrap_err().to_string();
            assert!(err.contains("is not a list of expected statuses"), "{bad}");
        }
    }
}
