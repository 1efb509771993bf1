//! The hostnames an app answers on: the generated `APP-ORG.ZONE` first, then its custom domains
//! (aliases, or redirects when `redirect_to` is set) in the order the spec lists them.
//!
//! Pure naming: whether a hostname is free across orgs, and whether a custom domain illegally
//! falls under the platform zone, is for the server to decide.

use satusky_types::{AppSpec, Hostname, HostnameKind};

/// The platform DNS zone when the server is not told another (resolves to loopback by RFC 6761).
pub const DEFAULT_ZONE: &str = "satusky.localhost";

/// `APP-ORG.ZONE`. Unambiguous because org names have no '-'.
pub fn generated_hostname(app: &str, org: &str, zone: &str) -> String {
    format!("{app}-{org}.{zone}")
}

/// Whether `host` is `zone` itself or a name under it — case-insensitive, a trailing dot on
/// either ignored. The one owner of "is this host in the platform zone": the API (custom
/// domains may not be in it), the engine and drift checker (the platform owns its records),
/// the runtimes (which names they write to the zone) and `satusky probe` all ask here.
pub fn is_in_zone(host: &str, zone: &str) -> bool {
    let (h, z) = (
        host.trim_end_matches('.').as_bytes(),
        zone.trim_matches('.').as_bytes(),
    );
    if z.is_empty() || h.len() < z.len() {
        return false;
    }
    let (head, tail) = h.split_at(h.len() - z.len());
    tail.eq_ignore_ascii_case(z) && (head.is_empty() || head.ends_with(b"."))
}

/// The names among `hostnames` that lie inside the platform `zone` (lowercased): the ones
/// whose DNS records the platform writes.
pub fn in_zone(hostnames: &[Hostname], zone: &str) -> Vec<String> {
    hostnames
        .iter()
        .filter(|h| is_in_zone(&h.hostname, zone))
        .map(|h| h.hostname.to_ascii_lowercase())
        .collect()
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
    fn is_in_zone_ignores_case_and_trailing_dots_and_needs_a_label_boundary() {
        for (host, zone, inside) in [
            ("web-acme.apps.test", "apps.test", true),
            ("Web-Acme.APPS.test.", "apps.test.", true),
            ("apps.test", "apps.test", true),
            ("notapps.test", "apps.test", false),
            ("apps.test.example", "apps.test", false),
            ("test", "apps.test", false),
            ("a.b", "", false),
            ("é.apps.test", "apps.test", true),
        ] {
            assert_eq!(is_in_zone(host, zone), inside, "{host} in {zone}");
        }
    }

    #[test]
    fn in_zone_keeps_the_zones_names_only() {
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
        assert_eq!(in_zone(&names, "apps.test."), ["web-acme.apps.test"]);
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
