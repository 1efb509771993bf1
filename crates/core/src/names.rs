//! Naming rules: org names, app names (DNS-1035 labels) and hostnames (FQDNs).
//!
//! Owns only the syntax of names. Whether a name is free, or whether a hostname falls under the
//! platform zone, is decided by the server, which knows the store and the zone.
//! Every error ([`NameError`]) names the bad value (at most a short prefix of it) and says how
//! to fix it.

use crate::validate::limits::quoted;

/// Longest app name: `APP-ORG` must stay a DNS label (≤ 63) with an org of up to 20 characters.
pub const MAX_APP_NAME_LEN: usize = 40;
/// Longest org name (SPEC §2).
pub const MAX_ORG_NAME_LEN: usize = 20;
/// Longest DNS label (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest hostname in text form, without the trailing dot (RFC 1035).
pub const MAX_HOSTNAME_LEN: usize = 253;

/// The org rule as an (anchored, ECMA) regular expression, for the OpenAPI document.
pub const ORG_NAME_PATTERN: &str = "^[a-z][a-z0-9]{0,19}$";
/// The app rule as an (anchored, ECMA) regular expression, for the OpenAPI document.
pub const APP_NAME_PATTERN: &str = "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$";
/// A hostname as an (anchored, ECMA) regular expression; the 253-character limit is a
/// separate bound.
pub const HOSTNAME_PATTERN: &str =
    "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// An uploaded context's digest.
pub const CONTEXT_DIGEST_PATTERN: &str = "^sha256:[0-9a-f]{64}$";

/// A name that breaks its rule. The message quotes the value (at most a short prefix of it,
/// [`quoted`]) and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{quoted} is not a valid org name: use 1–{MAX_ORG_NAME_LEN} lowercase letters and \
         digits, starting with a letter (no '-')"
    )]
    Org { quoted: String },
    #[error(
        "{quoted} is not a valid app name: use 1–{MAX_APP_NAME_LEN} lowercase letters, \
         digits and '-', starting with a letter and ending with a letter or digit"
    )]
    App { quoted: String },
    #[error("{quoted} is not a valid hostname: {problem}")]
    Hostname {
        quoted: String,
        problem: HostnameProblem,
    },
    #[error("{quoted} is not a valid DNS record name: {problem} (a label may also start with '_')")]
    RecordName {
        quoted: String,
        problem: HostnameProblem,
    },
}

/// Which hostname rule a name breaks: part of [`NameError::Hostname`]'s message (after the
/// name, with the fix), not a cause of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameProblem {
    #[error("it is empty; use a name such as api.example.com")]
    Empty,
    #[error("use lowercase letters only, e.g. {lowercase}")]
    Uppercase {
        /// The lowercase name, quoted.
        lowercase: String,
    },
    #[error("give the bare hostname, without scheme or path, e.g. api.example.com")]
    SchemeOrPath,
    #[error("remove the trailing '.'")]
    TrailingDot,
    #[error("it has {len} characters; the limit is {MAX_HOSTNAME_LEN}")]
    TooLong { len: usize },
    #[error("use a fully qualified name with at least two labels, e.g. api.example.com")]
    OneLabel,
    #[error("each dot-separated label must have 1–{MAX_LABEL_LEN} characters")]
    LabelLength,
    #[error("labels may hold only lowercase letters, digits and '-'")]
    LabelCharacters,
    #[error("the label {label} must not start or end with '-'")]
    LabelHyphen {
        /// The label, quoted.
        label: String,
    },
}

/// An org is `[a-z][a-z0-9]{0,19}`: no hyphen, so the generated hostname `APP-ORG.ZONE` is
/// unambiguous.
pub fn validate_org_name(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if starts_with_letter && rest_ok && name.len() <= MAX_ORG_NAME_LEN {
        Ok(())
    } else {
        Err(NameError::Org {
            quoted: quoted(name),
        })
    }
}

/// An app is a DNS-1035 label of 1–40 characters: lowercase letters, digits and '-', starting
/// with a letter and ending with a letter or digit.
pub fn validate_app_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_APP_NAME_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(NameError::App {
            quoted: quoted(name),
        })
    }
}

/// A fully qualified hostname such as `api.example.com`: at least two labels of 1–63 characters
/// (lowercase letters, digits and '-', not starting or ending with '-'), 253 characters at most,
/// lowercase only, without a trailing dot.
pub fn validate_hostname(host: &str) -> Result<(), NameError> {
    hostname_problem(host, false).map_or(Ok(()), |problem| {
        Err(NameError::Hostname {
            quoted: quoted(host),
            problem,
        })
    })
}

/// The owner name of a DNS record: a hostname whose labels may also start with `_` (service
/// and verification names such as `_satusky-challenge.shop.example.com`, `_acme-challenge.…`).
pub fn validate_record_name(name: &str) -> Result<(), NameError> {
    hostname_problem(name, true).map_or(Ok(()), |problem| {
        Err(NameError::RecordName {
            quoted: quoted(name),
            problem,
        })
    })
}

fn hostname_problem(host: &str, underscore_labels: bool) -> Option<HostnameProblem> {
    if host.is_empty() {
        return Some(HostnameProblem::Empty);
    }
    if host.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(HostnameProblem::Uppercase {
            lowercase: quoted(&host.to_ascii_lowercase()),
        });
    }
    if host.contains("://") || host.contains('/') {
        return Some(HostnameProblem::SchemeOrPath);
    }
    if host.ends_with('.') {
        return Some(HostnameProblem::TrailingDot);
    }
    if host.len() > MAX_HOSTNAME_LEN {
        return Some(HostnameProblem::TooLong { len: host.len() });
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Some(HostnameProblem::OneLabel);
    }
    for label in labels {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Some(HostnameProblem::LabelLength);
        }
        let label = match label.strip_prefix('_') {
            Some(rest) if underscore_labels && !rest.is_empty() => rest,
            _ => label,
        };
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Some(HostnameProblem::LabelCharacters);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(HostnameProblem::LabelHyphen {
                label: quoted(label),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn record_names_may_have_underscore_labels_hostnames_may_not() {
        for ok in [
            "_satusky-challenge.shop.example.test",
            "_acme-challenge.example.com",
            "api.example.com",
        ] {
            assert_eq!(validate_record_name(ok), Ok(()), "{ok}");
        }
        assert!(validate_hostname("_satusky-challenge.shop.example.test").is_err());
        for bad in ["_.example.com", "a_b.example.com", "_x", "_X.example.com"] {
            let err = validate_record_name(bad).unwrap_err().to_string();
            assert!(err.contains("DNS record name"), "{err}");
        }
    }

    #[test]
    fn org_names() {
        for ok in ["a", "acme", "acme2", "abcdefghijklmnopqrst"] {
            assert_eq!(validate_org_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "2acme",
            "ac-me",
            "Acme",
            "ac_me",
            "abcdefghijklmnopqrstu",
        ] {
            let err = validate_org_name(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("org name"), "{err}");
        }
    }

    #[test]
    fn app_names() {
        for ok in ["a", "my-api", "a1", "a-b-c", &"a".repeat(40)] {
            assert_eq!(validate_app_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "1api",
            "-api",
            "api-",
            "My_App",
            "my_app",
            "my.app",
            "mY",
            &"a".repeat(41),
        ] {
            assert!(validate_app_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_app_name("My_App").unwrap_err().to_string(),
            "\"My_App\" is not a valid app name: use 1–40 lowercase letters, digits and '-', \
             starting with a letter and ending with a letter or digit"
        );
    }

    #[test]
    fn hostnames_accepted() {
        for ok in [
            "api.example.com",
            "a.b",
            "x-1.example.co.uk",
            "1.example.com",
            &format!("{}.com", "a".repeat(63)),
        ] {
            assert_eq!(validate_hostname(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn hostnames_rejected() {
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        for (bad, why) in [
            ("", "empty"),
            ("localhost", "two labels"),
            ("Api.Example.com", "lowercase"),
            ("api.example.com.", "trailing"),
            ("https://api.example.com", "without scheme"),
            ("-api.example.com", "start or end"),
            ("api-.example.com", "start or end"),
            ("api..example.com", "1–63"),
            ("api_x.example.com", "only lowercase letters, digits"),
            ("*.example.com", "only lowercase letters, digits"),
            (long.as_str(), "limit is 253"),
            (&format!("{}.com", "a".repeat(64)), "1–63"),
        ] {
            let err = validate_hostname(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains(&quoted(bad)), "{err}");
        }
        assert!(
            validate_hostname("Api.Example.com")
                .unwrap_err()
                .to_string()
                .contains("api.example.com")
        );
    }

    /// The patterns the OpenAPI document publishes, without their anchors (proptest
    /// generates strings from a regex).
    fn unanchored(p: &str) -> &str {
        p.trim_start_matches('^').trim_end_matches('$')
    }

    proptest! {
        #[test]
        fn generated_app_names_pass(name in unanchored(APP_NAME_PATTERN)) {
            prop_assert_eq!(validate_app_name(&name), Ok(()));
        }

        #[test]
        fn hostnames_matching_the_published_pattern_pass(
            host in unanchored(HOSTNAME_PATTERN).prop_filter("253 at most", |h| h.len() <= MAX_HOSTNAME_LEN),
        ) {
            prop_assert_eq!(validate_hostname(&host), Ok(()));
        }

        #[test]
        fn app_names_with_uppercase_or_underscore_fail(
            prefix in "[a-z][a-z0-9-]{0,18}",
            bad in "[A-Z_]",
            suffix in "[a-z0-9]{0,19}",
        ) {
            let name = format!("{prefix}{bad}{suffix}");
            prop_assert!(validate_app_name(&name).is_err());
        }

        #[test]
        fn generated_org_names_pass(name in unanchored(ORG_NAME_PATTERN)) {
            prop_assert_eq!(validate_org_name(&name), Ok(()));
        }
    }
}
