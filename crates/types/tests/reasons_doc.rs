//! Every reason code is documented in docs/reasons.md, and nothing documented is unknown.

use satusky_types::Reason;

#[test]
fn every_reason_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/reasons.md"
    ))
    .expect("docs/reasons.md");
    for r in Reason::ALL {
        let code = format!("| `{r}` |");
        assert!(doc.contains(&code), "docs/reasons.md lacks {code}");
    }
    // Every documented code is a real one (catches renames).
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let code = line.trim_start_matches("| `").split('`').next().unwrap();
        let parsed: Result<Reason, _> = serde_json::from_value(serde_json::json!(code));
        assert!(
            parsed.is_ok(),
            "docs/reasons.md documents unknown reason {code}"
        );
    }
}

#[test]
fn all_lists_every_variant_once() {
    let mut seen = std::collections::HashSet::new();
    for r in Reason::ALL {
        assert!(seen.insert(r.code()), "duplicate {r}");
        // The wire form is the code itself.
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!(r.code())
        );
    }
}
