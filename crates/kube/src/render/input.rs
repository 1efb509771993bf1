//! What a render reads ([`RenderInput`] and the references in it), and the checks the
//! platform's part of an input must pass before anything is built: names of the org,
//! namespace, Gateway and issuer, and secret keys. The app and its hostnames arrive validated
//! ([`ValidatedApp`], [`AppHostnames`]) and are not checked again; the hostnames are only
//! sorted into serving, custom and redirect hosts — "custom" meaning outside the platform
//! zone, by [`Zone::contains`] and nothing else. Pure.

use std::collections::BTreeSet;

use satusky_core::desired::HostRole;
use satusky_core::hostnames::Zone;
use satusky_core::{AppHostnames, ValidatedApp};

use super::{RenderError, config, names};

/// The platform Gateway when the server is not told another (`NAMESPACE/NAME`).
pub const DEFAULT_GATEWAY: &str = "satusky-system/satusky";
/// The cert-manager issuer of custom domains' certificates when the server is not told another.
pub const DEFAULT_CLUSTER_ISSUER: &str = "satusky-acme";

/// The Gateway every route attaches to (and custom-domain listeners join).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRef {
    pub namespace: String,
    pub name: String,
    /// Attach the app routes to this listener of the Gateway only.
    pub section_name: Option<String>,
}

/// A Gateway reference that is not `NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a Gateway reference: use NAMESPACE/NAME, e.g. {DEFAULT_GATEWAY}")]
pub struct InvalidGatewayRef {
    pub given: String,
}

impl GatewayRef {
    /// Parses `NAMESPACE/NAME`.
    pub fn parse(s: &str) -> Result<Self, InvalidGatewayRef> {
        match s.split_once('/') {
            Some((namespace, name))
                if names::is_dns1123_label(namespace) && names::is_dns1123_subdomain(name) =>
            {
                Ok(GatewayRef {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    section_name: None,
                })
            }
            _ => Err(InvalidGatewayRef {
                given: s.to_owned(),
            }),
        }
    }
}

impl Default for GatewayRef {
    fn default() -> Self {
        GatewayRef {
            namespace: "satusky-system".to_owned(),
            name: "satusky".to_owned(),
            section_name: None,
        }
    }
}

/// The cert-manager issuer of custom domains' certificates (each Certificate's
/// `spec.issuerRef`, group `cert-manager.io`). Platform hostnames never get a Certificate:
/// the platform Gateway's own listener (a wildcard of the zone) serves them.
///
/// Default: `ClusterIssuer` [`DEFAULT_CLUSTER_ISSUER`] — a cluster-wide ACME issuer the
/// platform installs once, so every org's namespace can use it. An `Issuer` is looked up by
/// cert-manager in each org's namespace, so it must exist in every one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRef {
    /// `ClusterIssuer` (default) or `Issuer`.
    #[serde(default = "cluster_issuer")]
    pub kind: String,
    pub name: String,
}

fn cluster_issuer() -> String {
    "ClusterIssuer".to_owned()
}

/// An issuer reference that is not `[KIND/]NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a cert-manager issuer: use NAME, ClusterIssuer/NAME or Issuer/NAME, \
     e.g. ClusterIssuer/{DEFAULT_CLUSTER_ISSUER}"
)]
pub struct InvalidIssuerRef {
    pub given: String,
}

impl IssuerRef {
    /// Parses `NAME` (a ClusterIssuer), `ClusterIssuer/NAME` or `Issuer/NAME`.
    pub fn parse(s: &str) -> Result<Self, InvalidIssuerRef> {
        let (kind, name) = s.split_once('/').unwrap_or(("ClusterIssuer", s));
        if matches!(kind, "ClusterIssuer" | "Issuer") && names::is_dns1123_subdomain(name) {
            Ok(IssuerRef {
                kind: kind.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(InvalidIssuerRef {
                given: s.to_owned(),
            })
        }
    }
}

impl Default for IssuerRef {
    fn default() -> Self {
        IssuerRef {
            kind: "ClusterIssuer".to_owned(),
            name: DEFAULT_CLUSTER_ISSUER.to_owned(),
        }
    }
}

/// One secret of the app: its key and the version the release pins. Never its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    pub key: String,
    pub version: u64,
}

/// Everything a render reads.
#[derive(Debug, Clone)]
pub struct RenderInput<'a> {
    pub org: String,
    pub app: &'a ValidatedApp,
    /// The release being rendered (`N` of `vN`): annotations and `x-satusky-release`.
    pub release: u64,
    /// The pinned image (`image@sha256:…` once built).
    pub image: String,
    /// The org's namespace (default `satusky-{org}`).
    pub namespace: String,
    pub gateway: GatewayRef,
    /// The app's hostnames as stored (`satusky_core::hostnames`): the generated one, aliases
    /// and redirect hosts.
    pub hostnames: AppHostnames,
    /// The app's secrets: keys and versions only.
    pub secrets: Vec<SecretRef>,
    /// When `1ctl app restart` last asked for fresh pods (epoch ms): the pod template's
    /// `satusky.io/restarted-at`, so a new value rolls every pod.
    pub restarted_at_ms: Option<i64>,
    pub issuer: IssuerRef,
    /// The platform zone: hostnames inside it are served by the Gateway's own (wildcard)
    /// listener; every other one is a custom domain with its own listener and Certificate.
    pub zone: Zone,
}

impl<'a> RenderInput<'a> {
    /// The defaults: namespace `satusky-{org}`, the default Gateway and issuer, no secrets,
    /// and the zone the app's generated hostname lies in ([`zone_of`]; set
    /// [`RenderInput::zone`] to the server's zone when it is known).
    pub fn new(
        org: &str,
        app: &'a ValidatedApp,
        release: u64,
        image: impl Into<String>,
        hostnames: AppHostnames,
    ) -> Self {
        RenderInput {
            org: org.to_owned(),
            app,
            release,
            image: image.into(),
            namespace: names::default_namespace(org),
            gateway: GatewayRef::default(),
            secrets: Vec::new(),
            restarted_at_ms: None,
            issuer: IssuerRef::default(),
            zone: zone_of(org, app, &hostnames),
            hostnames,
        }
    }
}

/// The zone an app's generated hostname (`APP-ORG.ZONE`) was made under; the default zone
/// when the app has none, or one not of that form.
pub fn zone_of(org: &str, app: &ValidatedApp, hostnames: &AppHostnames) -> Zone {
    let prefix = format!("{}-{org}.", app.spec().name);
    hostnames
        .roles()
        .find_map(|role| match role {
            HostRole::Generated(host) => host.strip_prefix(&prefix),
            _ => None,
        })
        .and_then(|zone| Zone::parse(zone).ok())
        .unwrap_or_default()
}

/// The app's hostnames sorted into what each route needs.
#[derive(Default)]
pub(crate) struct Hosts<'a> {
    /// Generated first, then aliases by name: the hosts that serve the app.
    pub serving: Vec<&'a str>,
    /// Every hostname outside the platform zone, by name (aliases and redirect hosts): the
    /// hosts needing a listener and a Certificate of their own.
    pub custom: Vec<&'a str>,
    /// Redirect hosts by name, with their targets.
    pub redirects: Vec<(&'a str, &'a str)>,
}

pub(crate) fn sort_hosts<'a>(hostnames: &'a AppHostnames, zone: &Zone) -> Hosts<'a> {
    let (mut generated, mut aliases, mut redirects) = (Vec::new(), Vec::new(), Vec::new());
    for role in hostnames.roles() {
        match role {
            HostRole::Generated(host) => generated.push(host),
            HostRole::Alias(host) => aliases.push(host),
            HostRole::Redirect { host, to } => redirects.push((host, to)),
        }
    }
    aliases.sort_unstable();
    redirects.sort_unstable();
    let mut custom: Vec<&str> = hostnames
        .iter()
        .map(|h| h.hostname.as_str())
        .filter(|h| !zone.contains(h))
        .collect();
    custom.sort_unstable();
    generated.extend(aliases);
    Hosts {
        serving: generated,
        custom,
        redirects,
    }
}

pub(crate) fn check_input(input: &RenderInput<'_>) -> Result<(), RenderError> {
    satusky_core::validate_org_name(&input.org).map_err(|m| RenderError::input("org", m))?;
    if !names::is_dns1123_label(&input.namespace) {
        return Err(RenderError::input(
            "namespace",
            format!(
                "{:?} is not a namespace name (DNS-1123 label)",
                input.namespace
            ),
        ));
    }
    let gw = &input.gateway;
    let section_ok = gw
        .section_name
        .as_deref()
        .is_none_or(names::is_dns1123_subdomain);
    if !names::is_dns1123_label(&gw.namespace) || !names::is_dns1123_subdomain(&gw.name) {
        return Err(RenderError::input(
            "gateway",
            format!("{}/{} is not a Gateway reference", gw.namespace, gw.name),
        ));
    }
    if !section_ok {
        return Err(RenderError::input(
            "gateway.section_name",
            format!("{:?} is not a listener name", gw.section_name),
        ));
    }
    if input.image.trim().is_empty() || input.image.chars().any(char::is_whitespace) {
        return Err(RenderError::input(
            "image",
            format!("{:?} is not an image reference", input.image),
        ));
    }
    if !matches!(input.issuer.kind.as_str(), "ClusterIssuer" | "Issuer")
        || !names::is_dns1123_subdomain(&input.issuer.name)
    {
        return Err(RenderError::input(
            "issuer",
            format!(
                "{} {:?} is not a cert-manager issuer: use ClusterIssuer or Issuer and a DNS name",
                input.issuer.kind, input.issuer.name
            ),
        ));
    }
    let mut keys = BTreeSet::new();
    for s in &input.secrets {
        if !config::is_secret_key(&s.key) {
            return Err(RenderError::input(
                "secrets",
                format!(
                    "{:?} is not a secret key: use letters, digits and '_', e.g. API_KEY",
                    s.key
                ),
            ));
        }
        if !keys.insert(s.key.as_str()) {
            return Err(RenderError::input(
                "secrets",
                format!("{:?} is listed twice", s.key),
            ));
        }
    }
    Ok(())
}
