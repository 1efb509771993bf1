//! The value conversions shared by `satusky.toml` and the command-line flags: a deploy
//! strategy, durations in whole milliseconds or seconds, TOML integers of any radix.

use std::time::Duration;

use satusky_types::{Expose, Strategy};
use toml::de::DeValue;

use crate::quantity::{ValueError, parse_duration};
use crate::validate::limits::quoted;

/// A value given as text (in the file or as a flag) that does not convert to its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ConvertError {
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error("{quoted} is not a deploy strategy: use \"rolling\" or \"recreate\"")]
    Strategy { quoted: String },
    #[error(
        "{quoted} is not a way to expose an app: use \"http\" (public hostnames, the default), \"tcp\" (a TCP service reached inside the org) or \"none\" (not reached at all)"
    )]
    Expose { quoted: String },
    #[error(
        "{} is finer than a millisecond: use whole milliseconds, e.g. 500ms",
        humantime::format_duration(*.0)
    )]
    FinerThanMillis(Duration),
    #[error("is too long: use e.g. 2s")]
    TooLong,
    #[error(
        "{} is not a whole number of seconds: use e.g. 90s or 10m",
        humantime::format_duration(*.0)
    )]
    NotWholeSeconds(Duration),
}

/// `rolling` or `recreate` (any case).
pub(super) fn parse_strategy(raw: &str) -> Result<Strategy, ConvertError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "rolling" => Ok(Strategy::Rolling),
        "recreate" => Ok(Strategy::Recreate),
        _ => Err(ConvertError::Strategy {
            quoted: quoted(raw),
        }),
    }
}

/// `http`, `tcp` or `none` (any case).
pub(super) fn parse_expose(raw: &str) -> Result<Expose, ConvertError> {
    Expose::parse(&raw.trim().to_ascii_lowercase()).ok_or_else(|| ConvertError::Expose {
        quoted: quoted(raw),
    })
}

/// A duration such as `2s`, in whole units of `unit` ([`millis`] or [`seconds`]).
pub(super) fn duration_in(
    text: &str,
    unit: fn(Duration) -> Result<u64, ConvertError>,
) -> Result<u64, ConvertError> {
    unit(parse_duration(text)?)
}

/// Whole milliseconds of a duration.
pub(super) fn millis(d: Duration) -> Result<u64, ConvertError> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(ConvertError::FinerThanMillis(d));
    }
    u64::try_from(d.as_millis()).map_err(|_| ConvertError::TooLong)
}

/// Whole seconds of a duration.
pub(super) fn seconds(d: Duration) -> Result<u64, ConvertError> {
    if d.subsec_nanos() != 0 {
        return Err(ConvertError::NotWholeSeconds(d));
    }
    Ok(d.as_secs())
}

pub(super) fn integer(value: &DeValue<'_>) -> Option<i128> {
    let i = value.as_integer()?;
    i128::from_str_radix(i.as_str(), i.radix()).ok()
}
