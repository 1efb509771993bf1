//! Resolved outputs: the texts a binding writes into another app's secrets, with the
//! template's parameters filled in and the internal address (`{host}`, `{port}`) left for
//! the caller, who knows it once the app is placed. An output holding a secret parameter
//! keeps it as a `SecretValue`, so no `Debug` of a resolution shows it.

use satusky_core::secrets::SecretValue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Secret(SecretValue),
    Host,
    Port,
}

/// One resolved output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub(crate) parts: Vec<Part>,
}

impl Output {
    /// Whether the output holds a secret parameter's value (then it is only ever written
    /// as a secret).
    pub fn is_secret(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Secret(_)))
    }

    /// Whether it needs the app's internal address.
    pub fn needs_address(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Host | Part::Port))
    }

    /// The output with the app's internal address filled in.
    pub fn fill(&self, host: &str, port: u16) -> SecretValue {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Secret(s) => out.push_str(s.expose()),
                Part::Host => out.push_str(host),
                Part::Port => out.push_str(&port.to_string()),
            }
        }
        SecretValue::new(out)
    }

    /// The output as text with secrets shown as `<redacted>` and the address as
    /// `{host}`/`{port}`: for showing what a binding will write.
    pub fn redacted(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Secret(_) => out.push_str("<redacted>"),
                Part::Host => out.push_str("{host}"),
                Part::Port => out.push_str("{port}"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filling_the_address_and_hiding_secrets() {
        let out = Output {
            parts: vec![
                Part::Text("redis://:".into()),
                Part::Secret(SecretValue::new("s3cret")),
                Part::Text("@".into()),
                Part::Host,
                Part::Text(":".into()),
                Part::Port,
            ],
        };
        assert!(out.is_secret());
        assert!(out.needs_address());
        assert_eq!(
            out.fill("cache.acme.internal", 6379).expose(),
            "redis://:s3cret@cache.acme.internal:6379"
        );
        assert_eq!(out.redacted(), "redis://:<redacted>@{host}:{port}");
        assert!(!format!("{out:?}").contains("s3cret"));
    }
}
