//! Object metadata helpers: timestamps, uids, `generateName` suffixes, name and label
//! validation, and small JSON accessors.
//!
//! Pure functions only; no store access. Validation follows the API server's rules for
//! names (RFC 1123 subdomain, or label for namespaces and services) and label syntax, and
//! reports failures as `Invalid` causes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::registry::ResourceType;
use crate::status::Cause;

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 UTC timestamp with second precision (`2025-01-02T03:04:05Z`), the format of
/// `metav1.Time`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// RFC 3339 UTC with nine fractional digits (`2026-12-07T13:45:01.123456789Z`), the stamp
/// the kubelet puts before each log line with `timestamps=true`.
pub fn rfc3339_nanos(nanos: i128) -> String {
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let frac = nanos.rem_euclid(1_000_000_000);
    let whole = rfc3339(secs);
    format!("{}.{frac:09}Z", &whole[..whole.len() - 1])
}

/// Parse an RFC 3339 time (`Z` or a `±hh:mm` offset, any fraction) to epoch nanoseconds.
pub fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    let secs = parse_rfc3339(s)? as i128;
    let rest = s.get(19..)?;
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            let digits = &r[..end.min(9)];
            let mut n: i128 = if digits.is_empty() {
                0
            } else {
                digits.parse().ok()?
            };
            for _ in digits.len()..9 {
                n *= 10;
            }
            (n, &r[end..])
        }
        None => (0, rest),
    };
    let offset = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) => {
            let h: i128 = z.get(1..3)?.parse().ok()?;
            let m: i128 = z.get(4..6)?.parse().ok()?;
            let o = (h * 3600 + m * 60) * 1_000_000_000;
            if z.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    Some(secs * 1_000_000_000 + frac - offset)
}

/// The current time as a `metav1.Time` string.
pub fn now() -> String {
    rfc3339(now_secs())
}

/// Parse `rfc3339` output back to seconds (used for ages in tables).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

// Howard Hinnant's civil date algorithms.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

static SEQ: AtomicU64 = AtomicU64::new(1);

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn random_u64() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    splitmix(nanos ^ splitmix(SEQ.fetch_add(1, Ordering::Relaxed)))
}

/// A fresh RFC 4122 version-4-shaped uid.
pub fn new_uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// A `generateName` suffix: 5 characters from the API server's alphabet.
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut r = random_u64();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(r % ALPHABET.len() as u64) as usize] as char;
            r /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 label: lowercase alphanumerics and `-`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_label_chars(s)
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label_chars)
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && s.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label or annotation key: `[prefix/]name`.
pub fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_qualified_name_part(name),
        None => is_qualified_name_part(s),
    }
}

/// A label value: empty, or a qualified-name part.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_qualified_name_part(s)
}

/// Validate the metadata the API server validates for every object: the name and labels.
pub fn validate(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = str_at(obj, &["metadata", "name"]).unwrap_or_default();
    let label_rule = rt.group.is_empty() && matches!(rt.plural, "namespaces" | "services");
    let ok = if label_rule {
        is_dns1123_label(name)
    } else {
        is_dns1123_subdomain(name)
    };
    if name.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired",
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        });
    } else if !ok {
        let what = if label_rule {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        } else {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        };
        causes.push(Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: \"{name}\": {what}"),
            field: "metadata.name".into(),
        });
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                causes.push(Cause {
                    reason: "FieldValueInvalid",
                    message: format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                    field: "metadata.labels".into(),
                });
            }
            match v.as_str() {
                Some(s) if is_label_value(s) => {}
                _ => causes.push(Cause {
                    reason: "FieldValueInvalid",
                    message: format!("Invalid value: {v}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                    field: format!("metadata.labels.{k}"),
                }),
            }
        }
    }
    causes
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What kube-apiserver does to a Secret's write-only `stringData`: each entry is
/// base64-encoded into `data` (winning over `data`), and `stringData` is dropped.
pub fn fold_string_data(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    let Some(Value::Object(sd)) = m.remove("stringData") else {
        return;
    };
    let data = ensure_object(m.entry("data").or_insert_with(|| Value::Object(Map::new())));
    for (k, v) in sd {
        let text = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        data.insert(k, Value::String(base64(text.as_bytes())));
    }
}

/// Whether `s` is standard base64 with padding (RFC 4648), as Go's decoder of a `[]byte` JSON
/// field reads it (line breaks ignored).
pub fn is_base64(s: &str) -> bool {
    let bytes: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let pad = bytes.iter().rev().take_while(|b| **b == b'=').count();
    pad <= 2
        && bytes[..bytes.len() - pad]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
}

/// What kube-apiserver answers when a Secret's `data` holds something that is not a base64
/// string (the JSON form of `[]byte`): `None` when every value is one. Like the real message,
/// it names the key, never the value.
pub fn secret_data_error(obj: &Value) -> Option<String> {
    let Some(Value::Object(data)) = obj.get("data") else {
        return None;
    };
    data.iter()
        .find(|(_, v)| !v.as_str().is_some_and(is_base64) && !v.is_null())
        .map(|(k, _)| {
            format!("Secret in version \"v1\" cannot be handled as a Secret: data[{k}]: illegal base64 data")
        })
}

/// The string at a path of object keys.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

/// Make `v` an object (replacing any other value) and return its map.
pub fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("the value was just made an object"),
    }
}

/// The `metadata` map, created if missing.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let md = ensure_object(obj)
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    ensure_object(md)
}

/// The object's labels (empty when absent).
pub fn labels(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The object's finalizers.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the object carries a deletionTimestamp.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// A copy of the object without `metadata`, `status`, `apiVersion` and `kind`: what a
/// generation bump compares.
pub fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400));
        let n = 951_782_400_123_456_789;
        assert_eq!(rfc3339_nanos(n), "2000-02-29T00:00:00.123456789Z");
        assert_eq!(parse_rfc3339_nanos(&rfc3339_nanos(n)), Some(n));
        assert_eq!(
            parse_rfc3339_nanos("2000-02-29T01:00:00.5+01:00"),
            Some(951_782_400_500_000_000)
        );
        let n = now_secs();
        assert_eq!(parse_rfc3339(&rfc3339(n)), Some(n));
    }

    #[test]
    fn uids_look_like_uuids_and_differ() {
        let (a, b) = (new_uid(), new_uid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }

    #[test]
    fn base64_checks() {
        for ok in ["", "Zg==", "Zm8=", "Zm9vYmFy", "Zm9v\nYmFy", "a+/9"] {
            assert!(is_base64(ok), "{ok:?}");
        }
        for bad in ["Zg", "Zg=", "Z===", "hunter2!", "Zm9v YmFy", "=Zg="] {
            assert!(!is_base64(bad), "{bad:?}");
        }
        let s = serde_json::json!({"data": {"A": "Zg==", "B": "s3cr3t"}});
        let message = secret_data_error(&s).unwrap();
        assert!(
            message.contains("data[B]") && !message.contains("s3cr3t"),
            "{message}"
        );
        assert!(secret_data_error(&serde_json::json!({"data": {"A": 1}})).is_some());
    }

    #[test]
    fn base64_and_string_data() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        let mut s = serde_json::json!({"data": {"a": "eA=="}, "stringData": {"b": "hello"}});
        fold_string_data(&mut s);
        assert_eq!(secret_data_error(&s), None);
        assert_eq!(
            s,
            serde_json::json!({"data": {"a": "eA==", "b": "aGVsbG8="}})
        );
    }

    #[test]
    fn names_and_labels() {
        assert!(is_dns1123_subdomain("web.v1-2"));
        assert!(!is_dns1123_subdomain("Web"));
        assert!(!is_dns1123_label("a.b"));
        assert!(is_qualified_name("app.kubernetes.io/managed-by"));
        assert!(!is_qualified_name("-x"));
        assert!(is_label_value(""));
        assert!(!is_label_value("a b"));
    }
}
