//! Conversions between Rust values and what the tables hold: unsigned counters stored as
//! BIGINT, documents stored as JSON text, enums stored as their wire strings. A row that does
//! not decode is reported as [`StoreError::Corrupt`], never papered over.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};

/// A stored counter or version (BIGINT) as the `u64` the API uses.
pub(crate) fn to_u64(what: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::corrupt(what, format!("negative value {value}")))
}

/// An optional stored counter as `Option<u64>`.
pub(crate) fn to_opt_u64(what: &str, value: Option<i64>) -> Result<Option<u64>> {
    value.map(|v| to_u64(what, v)).transpose()
}

/// A caller's `u64` as a BIGINT; `None` when it cannot exist in the table.
pub(crate) fn to_i64(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

/// Decodes a JSON column.
pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(what, e))
}

/// Encodes a value for a JSON column.
pub(crate) fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(what, e))
}

/// Decodes an enum column with the type's own `parse`.
pub(crate) fn parse_enum<T>(what: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(text).ok_or_else(|| StoreError::corrupt(what, format!("unknown value {text:?}")))
}
