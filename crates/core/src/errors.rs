//! Error display shared by every layer: an error and all its sources on one line, for logs
//! and for messages that must say why. Our errors never repeat their source in `Display`
//! (GUIDE §3), so [`error_chain`] simply joins the chain. Some libraries do repeat it
//! (kube's `"HyperError: {0}"`, sqlx's `"error returned from database: {0}"`, each with the
//! same error as `source()`); such an error is wrapped in a [`ForeignError`] where it enters
//! our types, which keeps each text of its chain once.

use std::error::Error;
use std::fmt;

/// `error: source: source's source …`.
pub fn error_chain(err: &dyn Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A third-party error's chain, read once into text: a link whose text the chain so far
/// already ends with (the library wrote its source into its own `Display`) is left out, so
/// [`error_chain`] of a `ForeignError` says every cause once. For errors of other crates, or
/// a chain that may hold them (an `anyhow::Error` at the binary's edge); ours carry their
/// source without repeating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignError {
    text: String,
    source: Option<Box<ForeignError>>,
}

impl ForeignError {
    pub fn new(err: &dyn Error) -> Self {
        let mut texts = vec![err.to_string()];
        let mut line = texts[0].clone();
        let mut source = err.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
                texts.push(text);
            }
            source = s.source();
        }
        let text = texts.remove(0);
        let source = texts.into_iter().rev().fold(None, |next, text| {
            Some(Box::new(ForeignError { text, source: next }))
        });
        ForeignError { text, source }
    }
}

impl fmt::Display for ForeignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Error for ForeignError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::ForeignError;

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
            super::error_chain(&ForeignError::new(&e)),
            "cannot read the kubeconfig: failed to read: No such file (os error 2)"
        );
    }

    #[test]
    fn a_foreign_chain_keeps_the_causes_its_display_left_out() {
        let e = E(
            "HyperError: client error (Connect)",
            Some(Box::new(E(
                "client error (Connect)",
                Some(Box::new(E("tcp connect error", None))),
            ))),
        );
        let foreign = ForeignError::new(&e);
        assert_eq!(
            super::error_chain(&foreign),
            "HyperError: client error (Connect): tcp connect error"
        );
        assert_eq!(foreign.to_string(), "HyperError: client error (Connect)");
    }
}
