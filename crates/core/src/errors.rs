//! Error display shared by every layer: an error and all its sources on one line, for logs
//! and for messages that must say why (GUIDE §3: `Display` never repeats the source, so the
//! chain is assembled here). Libraries that do repeat their source in `Display` would print
//! it twice: a source whose text the line already ends with is left out.

/// `error: source: source's source …`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn joins_every_source() {
        let e = E(
            "cannot start",
            Some(Box::new(E("bind", Some(Box::new(E("in use", None)))))),
        );
        assert_eq!(super::error_chain(&e), "cannot start: bind: in use");
    }

    #[test]
    fn a_source_already_in_the_message_is_not_repeated() {
        let e = E(
            "cannot read the kubeconfig: failed to read: No such file (os error 2)",
            Some(Box::new(E(
                "failed to read: No such file (os error 2)",
                Some(Box::new(E("No such file (os error 2)", None))),
            ))),
        );
        assert_eq!(
            super::error_chain(&e),
            "cannot read the kubeconfig: failed to read: No such file (os error 2)"
        );
    }
}
