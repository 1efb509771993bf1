//! Content digests as text: lowercase hex, and the `sha256:HEX` ids of contexts and
//! artifacts. Pure; hashing itself is done by callers (ring), this only spells and parses.

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The 64 lowercase hex digits of a `sha256:HEX` id; `None` when it is not one.
pub fn sha256_hex(id: &str) -> Option<&str> {
    let h = id.strip_prefix("sha256:")?;
    (h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_and_parses() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
        let id = format!("sha256:{}", "a1".repeat(32));
        assert_eq!(sha256_hex(&id), Some(&id[7..]));
        for bad in [
            "sha256:".to_string(),
            format!("sha256:{}", "A1".repeat(32)),
            format!("sha512:{}", "a1".repeat(32)),
            format!("sha256:{}", "a1".repeat(31)),
        ] {
            assert_eq!(sha256_hex(&bad), None, "{bad}");
        }
    }
}
