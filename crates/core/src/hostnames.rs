//! The hostnames an app answers on: the generated `APP-ORG.ZONE` first, then its custom domains
//! (aliases, or redirects when `redirect_to` is set) in the order the spec lists them.
//!
//! [`Zone`] is the platform zone and the one answer to "is this host in it". Pure naming:
//! whether a hostname is free across orgs, and whether a custom domain illegally falls under
//! the platform zone, is for the server to decide.

use satusky_types::{AppSpec, Hostname, HostnameKind};

/// The platform DNS zone when the server is not told another (resolves to loopback by RFC 6761).
pub const DEFAULT_ZONE: &str = "satusky.localhost";

/// `APP-ORG.ZONE`. Unambiguous because org names have no '-'.
pub fn generated_hostname(app: &str, org: &str, zone: &str) -> String {
    format!("{app}-{org}.{zone}")
}

/// The platform DNS zone (e.g. `satusky.localhost`): a valid hostname, stored lower-case and
/// without a trailing dot. The one owner of "is this host in the platform zone": the API
/// (custom domains may not be in it), the engine and drift checker (the platform owns its
/// records), the runtimes and the DNS server (which names they write and answer for
/// authoritatively) and `satusky probe` all ask [`Zone::contains`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Zone(String);

/// A zone name that is not a valid hostname.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{zone:?} is not a DNS zone name: {reason}")]
pub struct ZoneError {
    pub zone: String,
    /// Why, from the hostname rules (`names::validate_hostname`).
    pub reason: String,
}

impl Zone {
    /// Parses a zone name in any case, with or without one trailing dot.
    pub fn parse(zone: &str) -> Result<Zone, ZoneError> {
        let name = zone.strip_suffix('.').unwrap_or(zone).to_ascii_lowercase();
        crate::names::validate_hostname(&name).map_err(|e| ZoneError {
            zone: zone.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Zone(name))
    }

    /// The zone's name: lower-case, no trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `host` is the zone itself or a name under it — case-insensitive, a trailing dot
    /// ignored, only at a label boundary (`notapps.test` is not in `apps.test`).
    pub fn contains(&self, host: &str) -> bool {
        let (h, z) = (host.trim_end_matches('.').as_bytes(), self.0.as_bytes());
        if h.len() < z.len() {
            return false;
        }
        let (head, tail) = h.split_at(h.len() - z.len());
        tail.eq_ignore_ascii_case(z) && (head.is_empty() || head.ends_with(b"."))
    }

    /// The names among `hostnames` that lie inside the zone (lowercased): the ones whose DNS
    /// records the platform writes.
    pub fn names_in(&self, hostnames: &[Hostname]) -> Vec<String> {
        hostnames
            .iter()
            .filter(|h| self.contains(&h.hostname))
            .map(|h| h.hostname.to_ascii_lowercase())
            .collect()
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Zone {
    type Err = ZoneError;

    fn from_str(s: &str) -> Result<Zone, ZoneError> {
        Zone::parse(s)
    }
}

/// The default platform zone ([`DEFAULT_ZONE`]).
impl Default for Zone {
    fn default() -> Self {
        Zone(DEFAULT_ZONE.to_string())
    }
}

/// Every hostname of the app: the generated one, then each `[[domains]]` entry in order.
pub fn hostnames(org: &str, zone: &str, spec: &AppSpec) -> Vec<Hostname> {
    let generated = Hostname {
        hostname: generated_hostname(&spec.name, org, zone),
        kind: HostnameKind::Generated,
        redirect_to: None,
    };
    let custom = spec.domains.iter().map(|d| Hostname {
        hostname: d.host.clone(),
        kind: if d.redirect_to.is_some() {
            HostnameKind::Redirect
        } else {
            HostnameKind::Alias
        },
        redirect_to: d.redirect_to.clone(),
    });
    std::iter::once(generated).chain(custom).collect()
}

#[cfg(test)]
mod tests {
    use satusky_types::DomainSpec;

    use super::*;
    use crate::config::{Overrides, parse_str};

    #[test]
    fn membership_ignores_case_and_trailing_dots_on_both_sides() {
        for (host, zone, inside) in [
            ("web-acme.apps.test", "apps.test", true),
            ("Web-Acme.APPS.test.", "apps.test.", true),
            ("apps.test", "apps.test", true),
            ("notapps.test", "apps.test", false),
            ("apps.test.example", "apps.test", false),
            ("test", "apps.test", false),
            ("é.apps.test", "apps.test", true),
        ] {
            let z = Zone::parse(zone).unwrap();
            assert_eq!(z.contains(host), inside, "{host} in {zone}");
        }
    }

    #[test]
    fn a_zone_parses_in_any_case_with_a_trailing_dot_and_stores_neither() {
        let z = Zone::parse("Apps.Example.NET.").unwrap();
        assert_eq!(z.as_str(), "apps.example.net");
        assert_eq!(z.to_string(), "apps.example.net");
        assert_eq!(z, "apps.example.net".parse::<Zone>().unwrap());
        for bad in [
            "",
            ".",
            "localhost",
            "apps..test",
            "a b.test",
            "https://apps.test",
        ] {
            assert!(Zone::parse(bad).is_err(), "{bad:?}");
        }
        let err = Zone::parse("a b.test").unwrap_err();
        assert_eq!(err.zone, "a b.test");
        assert!(
            err.to_string()
                .starts_with("\"a b.test\" is not a DNS zone name: "),
            "{err}"
        );
    }

    #[test]
    fn zone_contains_ignores_case_and_trailing_dots_and_needs_a_label_boundary() {
        let z = Zone::parse("apps.test.").unwrap();
        assert!(z.contains("web-acme.apps.test"));
        assert!(z.contains("Web-Acme.APPS.test."));
        assert!(z.contains("APPS.test"));
        assert!(!z.contains("evilapps.test"));
        assert!(!z.contains("apps.test.example"));
        assert!(!z.contains("test"));
        assert!(!z.contains(""));
    }

    #[test]
    fn names_in_keeps_the_zones_names_only() {
        let h = |name: &str| Hostname {
            hostname: name.into(),
            kind: HostnameKind::Alias,
            redirect_to: None,
        };
        let names = [
            h("Web-Acme.Apps.Test"),
            h("shop.example.com"),
            h("apps.test.example.com"),
            h("notapps.test"),
        ];
        let zone = Zone::parse("apps.test.").unwrap();
        assert_eq!(zone.names_in(&names), ["web-acme.apps.test"]);
    }

    #[test]
    fn generated_first_then_domains_in_order() {
        let app = parse_str(
            "[app]\nname = \"my-api\"\n\
             [[domains]]\nhost = \"www.example.com\"\nredirect_to = \"https://api.example.com\"\n\
             [[domains]]\nhost = \"api.example.com\"\n",
            std::path::Path::new("satusky.toml"),
            &Overrides::default(),
        )
        .unwrap();
        let mut spec = app.into_spec();
        let names = hostnames("acme", DEFAULT_ZONE, &spec);
        assert_eq!(
            names,
            [
                Hostname {
                    hostname: "my-api-acme.satusky.localhost".into(),
                    kind: HostnameKind::Generated,
                    redirect_to: None,
                },
                Hostname {
                    hostname: "www.example.com".into(),
                    kind: HostnameKind::Redirect,
                    redirect_to: Some("https://api.example.com".into()),
                },
                Hostname {
                    hostname: "api.example.com".into(),
                    kind: HostnameKind::Alias,
                    redirect_to: None,
                },
            ]
        );
        spec.domains = vec![DomainSpec {
            host: "x.example.com".into(),
            redirect_to: None,
        }];
        assert_eq!(
            hostnames("o", "z.test", &spec)[0].hostname,
            "my-api-o.z.test"
        );
        assert_eq!(hostnames("o", "z.test", &spec).len(), 2);
    }

    #[test]
    fn generated_hostname_format() {
        assert_eq!(
            generated_hostname("web", "acme", "apps.example.com"),
            "web-acme.apps.example.com"
        );
    }
}
