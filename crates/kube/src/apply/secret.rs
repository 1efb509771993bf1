//! The app's Secret `{app}-secrets` as it is sent: the render gives it without `data` (keys'
//! versions in the `satusky.io/secret-versions` annotation); here its `data` is filled from the
//! values the runtime holds in memory, on the decoded request body, immediately before the
//! server-side apply. Nothing else of the applier ever sees a value.
//!
//! What stays behind once the request is sent:
//! - **the applier's memory of what it sent** holds, for the Secret, an HMAC-SHA256 of the
//!   filled body under a key drawn from the operating system's random source when the
//!   [`Applier`](super::Applier) is made and never leaving it ([`Filler::digest`]). A digest of
//!   the form actually sent (rather than of the dataless render, or of the versions) means
//!   "unchanged" is "byte-identical request": a value that changed under the same version
//!   (a restored store, a hand-edited row) is still sent. Keyed, so the memory is no oracle
//!   against which a guessed value could be checked without the process's key.
//! - **error messages**: whatever the API server or the transport says about the Secret goes
//!   through [`Scrub`], which replaces each value and its base64 form with `<redacted>`, in
//!   conflict and refusal messages, client errors and the conflict warning alike.
//! - the body itself, the request bytes and the server's answer are dropped when the apply of
//!   the Secret returns (not zeroized: no buffer of the HTTP stack is ours to wipe).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use kube::api::DynamicObject;
use ring::hmac;
use satusky_core::ForeignError;
use satusky_core::secrets::Secrets;
use serde_json::Value;

use crate::render::labels::SECRET_VERSIONS;
use crate::render::names;

/// What replaces a secret value in a message.
const REDACTED: &str = "<redacted>";

/// Fills the app's Secret and digests it under the applier's own key.
pub(super) struct Filler {
    key: hmac::Key,
}

/// The versions a rendered Secret and the values handed to the applier disagree about.
#[derive(Debug)]
pub(super) struct Mismatch {
    pub rendered: String,
    pub given: String,
}

impl Filler {
    pub(super) fn new() -> Self {
        // Failing to draw 32 bytes from the OS means no randomness anywhere in the process;
        // fall back to a fixed key rather than refuse to apply (the digest then only loses
        // its resistance to guessing, not its job of spotting a change).
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, b"satusky-applier"));
        Filler { key }
    }

    /// Whether `(kind, name)` is the Secret the applier fills for `app`.
    pub(super) fn is_app_secret(kind: &str, name: &str, app: &str) -> bool {
        kind == "Secret" && name == names::secret(app)
    }

    /// Checks that the rendered Secret pins exactly the versions of `secrets` (`rendered` is
    /// `None` when the render holds no Secret of the app: then there must be no secrets).
    pub(super) fn check(
        rendered: Option<&DynamicObject>,
        secrets: &Secrets,
    ) -> Result<(), Mismatch> {
        let given: BTreeMap<&str, u64> = secrets
            .iter()
            .map(|(k, e)| (k.as_str(), e.version))
            .collect();
        let annotation = rendered.map(|obj| {
            obj.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SECRET_VERSIONS))
                .cloned()
                .unwrap_or_default()
        });
        let pinned: Option<BTreeMap<&str, u64>> = annotation.as_deref().map(|a| {
            a.split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k, v.parse().unwrap_or(u64::MAX))
                })
                .collect()
        });
        let agree = match &pinned {
            Some(p) => *p == given,
            None => given.is_empty(),
        };
        if agree {
            return Ok(());
        }
        let text = |m: &BTreeMap<&str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        Err(Mismatch {
            rendered: annotation.unwrap_or_else(|| "no Secret".to_owned()),
            given: text(&given),
        })
    }

    /// Sets `data` of the decoded Secret body to the values, base64-encoded as the API's JSON
    /// form of `[]byte` wants.
    pub(super) fn fill(
        body: &mut DynamicObject,
        secrets: &Secrets,
    ) -> Result<(), serde_json::Error> {
        let data: BTreeMap<&str, ByteString> = secrets
            .iter()
            .map(|(k, e)| (k.as_str(), ByteString(e.value.expose().as_bytes().to_vec())))
            .collect();
        let data = serde_json::to_value(data)?;
        match &mut body.data {
            Value::Object(fields) => {
                fields.insert("data".to_owned(), data);
            }
            other => *other = serde_json::json!({ "data": data }),
        }
        Ok(())
    }

    /// `hmac-sha256:<hex>` of the body as it is sent.
    pub(super) fn digest(&self, body: &DynamicObject) -> Result<String, serde_json::Error> {
        let bytes = serde_json::to_vec(body)?;
        let tag = hmac::sign(&self.key, &bytes);
        Ok(format!(
            "hmac-sha256:{}",
            tag.as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ))
    }
}

/// What goes into a message about an object: as is, or with the app's secret values (plain
/// and base64) replaced by `<redacted>` when the object is the filled Secret.
#[derive(Clone, Copy)]
pub(super) enum Scrub<'a> {
    Nothing,
    Values(&'a Secrets),
}

impl Scrub<'_> {
    pub(super) fn text(&self, text: &str) -> String {
        let Scrub::Values(secrets) = self else {
            return text.to_owned();
        };
        let mut out = text.to_owned();
        for entry in secrets.values() {
            let plain = entry.value.expose();
            if plain.is_empty() {
                continue;
            }
            let encoded = serde_json::to_value(ByteString(plain.as_bytes().to_vec()))
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            // The longer first, so a value inside its own encoding cannot leave a fragment.
            let (first, second) = if encoded.len() >= plain.len() {
                (encoded.as_str(), plain)
            } else {
                (plain, encoded.as_str())
            };
            for needle in [first, second] {
                if !needle.is_empty() {
                    out = out.replace(needle, REDACTED);
                }
            }
        }
        out
    }

    /// A client error as a [`ForeignError`], its chain scrubbed.
    pub(super) fn foreign(&self, e: &kube::Error) -> ForeignError {
        match self {
            Scrub::Nothing => ForeignError::new(e),
            Scrub::Values(_) => ForeignError::new(&Scrubbed(
                self.text(&satusky_core::error_chain(&ForeignError::new(e))),
            )),
        }
    }
}

/// A client error's whole chain, scrubbed, as one text.
#[derive(Debug)]
struct Scrubbed(String);

impl std::fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Scrubbed {}

#[cfg(test)]
mod tests {
    use satusky_core::secrets::{SecretEntry, SecretValue};
    use serde_json::json;

    use super::*;

    fn secrets(pairs: &[(&str, u64, &str)]) -> Secrets {
        pairs
            .iter()
            .map(|(k, version, v)| {
                (
                    (*k).to_owned(),
                    SecretEntry {
                        version: *version,
                        value: SecretValue::new(*v),
                    },
                )
            })
            .collect()
    }

    fn rendered(versions: &str) -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web-secrets", "annotations": {SECRET_VERSIONS: versions}},
            "type": "Opaque"}))
        .unwrap()
    }

    #[test]
    fn fill_writes_base64_data_and_keeps_the_rest() {
        let mut body = rendered("API_KEY=1");
        Filler::fill(&mut body, &secrets(&[("API_KEY", 1, "hunter2")])).unwrap();
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["data"], json!({"API_KEY": "aHVudGVyMg=="}));
        assert_eq!(v["type"], "Opaque");
    }

    #[test]
    fn versions_must_agree() {
        let s = secrets(&[("A", 2, "x"), ("B", 1, "y")]);
        assert!(Filler::check(Some(&rendered("A=2,B=1")), &s).is_ok());
        let m = Filler::check(Some(&rendered("A=1,B=1")), &s).unwrap_err();
        assert_eq!(
            (m.rendered.as_str(), m.given.as_str()),
            ("A=1,B=1", "A=2,B=1")
        );
        assert!(Filler::check(Some(&rendered("A=2")), &s).is_err());
        assert!(Filler::check(None, &s).is_err());
        assert!(Filler::check(None, &Secrets::new()).is_ok());
        assert!(Filler::check(Some(&rendered("A=1")), &Secrets::new()).is_err());
    }

    #[test]
    fn the_digest_follows_the_values_and_is_keyed() {
        let f = Filler::new();
        let digest = |value: &str| {
            let mut body = rendered("K=1");
            Filler::fill(&mut body, &secrets(&[("K", 1, value)])).unwrap();
            f.digest(&body).unwrap()
        };
        assert_eq!(digest("a"), digest("a"));
        assert_ne!(digest("a"), digest("b"));
        let mut body = rendered("K=1");
        Filler::fill(&mut body, &secrets(&[("K", 1, "a")])).unwrap();
        assert_ne!(
            Filler::new().digest(&body).unwrap(),
            digest("a"),
            "another applier, another key"
        );
    }

    #[test]
    fn scrub_hides_values_and_their_base64() {
        let s = secrets(&[("K", 1, "hunter2")]);
        let scrub = Scrub::Values(&s);
        assert_eq!(
            scrub.text("bad data hunter2 / aHVudGVyMg=="),
            "bad data <redacted> / <redacted>"
        );
        assert_eq!(Scrub::Nothing.text("hunter2"), "hunter2");
    }
}
