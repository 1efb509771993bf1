//! The desired state of one app: what `satusky.toml` (plus flags) describes once validated.
//!
//! Every field is in canonical form: quantities as Kubernetes quantity strings, durations as
//! whole seconds or milliseconds. `satusky-core` turns raw TOML into this and checks every
//! rule; the server re-checks specs it receives over the API with the same rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The full, validated spec of an app (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// DNS-1035 label, 1–40 characters.
    pub name: String,
    /// The container port on Kubernetes; the local runtime sets `$PORT` per replica instead.
    pub port: u16,
    pub replicas: u32,
    /// CPU request, e.g. `250m`.
    pub cpu: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    /// Memory request (also the limit unless `memory_limit` is set), e.g. `256Mi`.
    pub memory: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    /// A prebuilt image; when set, the build is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The command a replica runs (the local runtime requires it; it listens on `$PORT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Which cluster (zone) runs the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// How the app is reached: public HTTP (the default), TCP inside the org, or not at all.
    /// Left out when `http`, so specs stored before it existed keep their form and digest.
    #[serde(default, skip_serializing_if = "Expose::is_http")]
    pub expose: Expose,
    pub build: BuildSpec,
    pub checks: ChecksSpec,
    pub deploy: DeploySpec,
    /// Runtime variables of the app's replicas (not of its build: see [`BuildSpec::env`]).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Which of the app's secrets it needs; their values are never in the spec.
    #[serde(default, skip_serializing_if = "SecretsSpec::is_empty")]
    pub secrets: SecretsSpec,
    #[serde(default)]
    pub domains: Vec<DomainSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeSpec>,
    /// A static site: the edge serves these files of the build's output itself, with no
    /// process (`[static]`; the local runtime only).
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    pub static_site: Option<StaticSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<HpaSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpa: Option<VpaSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<PdbSpec>,
}

/// How an app is reached (`[app] expose`). Every app also has an `internal_address` inside
/// its org, whatever this says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expose {
    /// Public hostnames (generated and custom), all five endpoint planes, HTTP readiness.
    #[default]
    Http,
    /// No public hostname; a TCP readiness check; reached at its internal address.
    Tcp,
    /// No public hostname and no readiness check beyond the process running (a worker).
    None,
}

impl Expose {
    /// Every value, in the order the docs list them.
    pub const ALL: [Expose; 3] = [Expose::Http, Expose::Tcp, Expose::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Expose::Http => "http",
            Expose::Tcp => "tcp",
            Expose::None => "none",
        }
    }

    /// `http`, `tcp` or `none`, exactly (lower-case, as the wire form).
    pub fn parse(s: &str) -> Option<Self> {
        Expose::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The default: left out of a serialized spec.
    pub fn is_http(&self) -> bool {
        *self == Expose::Http
    }

    /// Served on public hostnames (only `http`).
    pub fn is_public(self) -> bool {
        self == Expose::Http
    }
}

impl std::fmt::Display for Expose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// Dockerfile path, relative to the context (Kubernetes runtime, Kaniko).
    pub dockerfile: String,
    /// Build context directory, relative to the folder holding `satusky.toml`.
    pub context: String,
    /// The local runtime's build step, run in the unpacked context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Build-time variables (`[build.env]`): the only variables a build sees besides the
    /// runtime's pass-through ones, and the only ones in the build's cache key — so changing
    /// the app's `[env]` or a secret never rebuilds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// The `[secrets]` section: names only. Values are set with `1ctl secret set NAME=…`, stored
/// sealed, and handed to the workload at deploy time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsSpec {
    /// Secrets a deploy refuses to go without: each must be set for the app before it deploys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
}

impl SecretsSpec {
    /// Nothing declared (the section is left out when serialized).
    pub fn is_empty(&self) -> bool {
        self.required.is_empty()
    }
}

/// The readiness probe and the HTTP plane's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksSpec {
    /// Absolute path, e.g. `/healthz`.
    pub path: String,
    /// `2xx`, `2xx,3xx`, or exact codes such as `200,204`.
    pub expect: String,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Rolling,
    Recreate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploySpec {
    pub strategy: Strategy,
    /// An integer or a percentage, e.g. `25%`.
    pub max_surge: String,
    /// An integer or a percentage, e.g. `0`.
    pub max_unavailable: String,
    pub progress_deadline_seconds: u64,
}

/// A custom domain: an alias serving the app, or (with `redirect_to`) a redirect host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainSpec {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    pub size: String,
    pub mount: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// `[static]`: which folder of the build's output the edge serves, and the file it answers
/// a folder's address with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticSpec {
    /// A relative path inside the build's output (`.` = all of it).
    pub root: String,
    /// A file name, e.g. `index.html`.
    pub index: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HpaSpec {
    pub min: u32,
    pub max: u32,
    /// Target average CPU utilisation, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_target: Option<u32>,
    /// Target average memory utilisation, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_target: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum VpaMode {
    Off,
    Initial,
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VpaSpec {
    pub mode: VpaMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<String>,
}

/// Exactly one of the two is set; each is an integer or a percentage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PdbSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<String>,
}

/// How a hostname relates to its app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostnameKind {
    /// `APP-ORG.ZONE`, owned by the platform.
    Generated,
    /// A custom domain serving the app.
    Alias,
    /// A custom domain answering with a redirect.
    Redirect,
}

impl HostnameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostnameKind::Generated => "generated",
            HostnameKind::Alias => "alias",
            HostnameKind::Redirect => "redirect",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "generated" => Some(HostnameKind::Generated),
            "alias" => Some(HostnameKind::Alias),
            "redirect" => Some(HostnameKind::Redirect),
            _ => None,
        }
    }
}

/// One hostname of an app, as stored (unique across all orgs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Hostname {
    pub hostname: String,
    pub kind: HostnameKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec stored before `[build.env]` and `[secrets]` existed.
    const OLD: &str = r#"{"name":"web","port":8080,"replicas":1,"cpu":"100m","memory":"128Mi",
        "build":{"dockerfile":"Dockerfile","context":"."},
        "checks":{"path":"/","expect":"2xx","timeout_ms":2000},
        "deploy":{"strategy":"rolling","max_surge":"25%","max_unavailable":"0",
                  "progress_deadline_seconds":600},
        "env":{"LOG":"info"}}"#;

    #[test]
    fn an_old_spec_reads_with_no_build_env_and_no_secrets_and_writes_back_the_same() {
        let spec: AppSpec = serde_json::from_str(OLD).unwrap();
        assert!(spec.build.env.is_empty());
        assert!(spec.secrets.is_empty());
        let json = serde_json::to_value(&spec).unwrap();
        assert!(json["build"].get("env").is_none(), "{json}");
        assert!(json.get("secrets").is_none(), "{json}");
        assert_eq!(spec.expose, Expose::Http);
        assert!(json.get("expose").is_none(), "{json}");
    }

    #[test]
    fn expose_is_written_only_when_not_http_and_reads_lowercase() {
        let mut spec: AppSpec = serde_json::from_str(OLD).unwrap();
        spec.expose = Expose::Tcp;
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["expose"], "tcp");
        assert_eq!(serde_json::from_value::<AppSpec>(json).unwrap(), spec);
        let bad = OLD.replace(r#""port""#, r#""expose":"TCP","port""#);
        assert!(serde_json::from_str::<AppSpec>(&bad).is_err());
        for e in Expose::ALL {
            assert_eq!(Expose::parse(e.as_str()), Some(e));
        }
        assert_eq!(Expose::parse("udp"), None);
    }

    #[test]
    fn build_env_and_required_secrets_round_trip() {
        let mut spec: AppSpec = serde_json::from_str(OLD).unwrap();
        spec.build
            .env
            .insert("NODE_ENV".into(), "production".into());
        spec.secrets.required = vec!["DATABASE_URL".into()];
        let json = serde_json::to_string(&spec).unwrap();
        assert!(
            json.contains(r#""secrets":{"required":["DATABASE_URL"]}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<AppSpec>(&json).unwrap(), spec);
        let unknown = json.replace(r#""required""#, r#""optional""#);
        assert!(serde_json::from_str::<AppSpec>(&unknown).is_err());
    }
}
