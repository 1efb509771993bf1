//! An app's domains as the API and `1ctl domains` show them (SPEC §6): one object per
//! hostname with where it came from, its ownership proof and its certificate — the same shape
//! in `domains list`, `app get` and the deploy's answer — and the bodies of the `domains`
//! operations (`add`, `check`, `setup`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::readiness::Plane;
use crate::spec::HostnameKind;

/// Who put a hostname on the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainSource {
    /// The platform's `APP-ORG.ZONE`.
    Generated,
    /// `[[domains]]` in `satusky.toml` (a deploy adds, updates and removes these).
    File,
    /// `1ctl domains add` (a deploy keeps these; only `domains remove` removes them).
    Cli,
}

impl DomainSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainSource::Generated => "generated",
            DomainSource::File => "file",
            DomainSource::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "generated" => Some(DomainSource::Generated),
            "file" => Some(DomainSource::File),
            "cli" => Some(DomainSource::Cli),
            _ => None,
        }
    }
}

/// Where a hostname's ownership proof stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OwnershipState {
    /// In the platform zone: the platform owns it, no proof needed.
    NotRequired,
    /// The TXT proof has not been seen (or another org's value is published too): not
    /// routed, no certificate, not served.
    Pending,
    /// Proven for this org (once; re-checked only when another org claims it). Routed.
    Verified,
    /// Kept from before ownership proof existed: still served until `serving_until`, then
    /// only once proven.
    Grace,
    /// Another org proved ownership and took the hostname: this app no longer serves it.
    Lost,
}

impl OwnershipState {
    /// Whether a claim in this state is routed (generated, proven, or in its grace period) —
    /// the one list of routed states (the store's partial unique index `domains_routed` and
    /// its queries name the same three).
    pub fn is_routed(self) -> bool {
        matches!(
            self,
            OwnershipState::NotRequired | OwnershipState::Verified | OwnershipState::Grace
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OwnershipState::NotRequired => "not_required",
            OwnershipState::Pending => "pending",
            OwnershipState::Verified => "verified",
            OwnershipState::Grace => "grace",
            OwnershipState::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "not_required" => Some(OwnershipState::NotRequired),
            "pending" => Some(OwnershipState::Pending),
            "verified" => Some(OwnershipState::Verified),
            "grace" => Some(OwnershipState::Grace),
            "lost" => Some(OwnershipState::Lost),
            _ => None,
        }
    }
}

/// A hostname's ownership proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ownership {
    pub state: OwnershipState,
    /// The TXT record's name (`_satusky-challenge.HOST`); absent when no proof is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txt_name: Option<String>,
    /// The value this org must publish there (bound to org and hostname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txt_value: Option<String>,
    /// RFC 3339: when the proof was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// RFC 3339: the last check of the TXT record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
    /// RFC 3339: a domain kept through the upgrade that introduced ownership proof is served
    /// until then unless proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_until: Option<String>,
    /// What the last check saw (`no TXT record at …`, `found "x", expected "y"`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// One domain of an app (`GET …/apps/{app}/domains`, `1ctl domains list -o json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Domain {
    pub hostname: String,
    pub kind: HostnameKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
    pub source: DomainSource,
    pub ownership: Ownership,
    /// Whether the runtime routes it now (generated, verified, or in its grace period).
    pub routed: bool,
    /// The TLS plane of the app's last readiness report for this hostname, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Plane>,
    /// RFC 3339.
    pub created_at: String,
}

impl Domain {
    /// The hostname as the runtimes and releases carry it.
    pub fn hostname(&self) -> crate::spec::Hostname {
        crate::spec::Hostname {
            hostname: self.hostname.clone(),
            kind: self.kind,
            redirect_to: self.redirect_to.clone(),
        }
    }
}

/// `POST …/apps/{app}/domains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddDomainRequest {
    pub hostname: String,
    /// Make it a redirect host answering 308 to this URL (or bare hostname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
    /// Also add `www.HOSTNAME` as a redirect to `https://HOSTNAME/`.
    #[serde(default)]
    pub with_www: bool,
}

/// The answer to `POST …/apps/{app}/domains`: the domains added (with the records to create).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainsAdded {
    pub app: String,
    pub org: String,
    pub added: Vec<Domain>,
    /// Per added hostname, the DNS records that prove and point it.
    pub setup: Vec<DomainSetup>,
}

/// The answer to `DELETE …/apps/{app}/domains/{host}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainRemoved {
    pub app: String,
    pub org: String,
    pub hostname: String,
}

/// One DNS record a user creates at their DNS provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DnsRecord {
    pub name: String,
    /// `TXT`, `A`, `AAAA` or `CNAME`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// `GET …/apps/{app}/domains/{host}/setup`: the records to create for one hostname —
/// the ownership TXT, then A/AAAA to the edge for an apex or a CNAME to the app's generated
/// hostname for a subdomain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainSetup {
    pub hostname: String,
    /// Whether the hostname is a registrable domain's apex (decided with the public suffix
    /// list): apexes cannot hold a CNAME.
    pub apex: bool,
    pub records: Vec<DnsRecord>,
}

/// `GET …/apps/{app}/domains/{host}/check`: every plane of one hostname now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainCheck {
    pub hostname: String,
    pub ownership: Plane,
    pub route: Plane,
    pub dns: Plane,
    pub tls: Plane,
    pub http: Plane,
}
