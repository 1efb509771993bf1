//! The marketplace on the wire (SPEC §6, §10 "Templates"): the catalog's templates, a
//! template deploy (or upgrade) and its answer, and bindings of a service's outputs into
//! another app's secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::DeployAccepted;
use crate::config::ConfigChanged;

/// One template of the catalog, at its newest version (`GET /v1/templates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateSummary {
    pub name: String,
    /// The newest version.
    pub version: u32,
    /// Every version the catalog holds, oldest first.
    pub versions: Vec<u32>,
    pub description: String,
    /// `http`, `tcp` or `none`.
    pub expose: String,
    /// The runtimes it runs on (`local`, `kubernetes`).
    pub runtimes: Vec<String>,
    /// Whether it runs on this control plane's runtime.
    pub runs_here: bool,
}

/// One template version in full (`GET /v1/templates/{name}?version=V`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateDetail {
    pub name: String,
    pub version: u32,
    pub versions: Vec<u32>,
    pub description: String,
    pub expose: String,
    /// Where its build context comes from: `none`, `bundled` (shipped with the template) or
    /// `user` (the folder deployed, e.g. a static site's files).
    pub context: String,
    pub runtimes: Vec<TemplateRuntime>,
    pub runs_here: bool,
    /// The secret `--bind APP` writes the `url` output into (e.g. `DATABASE_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_as: Option<String>,
    /// In the template's order.
    pub parameters: Vec<TemplateParameter>,
    /// What a binding can write into another app's secrets (secrets shown as `<redacted>`,
    /// the service's address as `{host}:{port}`).
    pub outputs: Vec<TemplateOutput>,
}

/// One runtime a template runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateRuntime {
    pub runtime: String,
    pub notes: String,
    /// Programs the machine must have (local runtime).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<String>,
}

/// One typed parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateParameter {
    pub name: String,
    /// `string`, `int`, `bool`, `enum`, `quantity` or `secret`.
    pub kind: String,
    pub description: String,
    /// Its default (never shown for a secret, which is generated when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Given with `--set` or refused.
    pub required: bool,
    /// The rule a value must keep, in words (bounds, choices, pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A secret parameter: the app secret its value is written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One output of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateOutput {
    pub name: String,
    /// The text with secrets redacted and the address left as `{host}:{port}`.
    pub text: String,
}

/// `POST /v1/orgs/{org}/templates/{name}/deploy`: deploy (or upgrade) `app` from a template.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateDeployRequest {
    /// The app to create or update (`[a-z][a-z0-9-]*`, like any app).
    pub app: String,
    /// The template version; default: the version the app runs (an existing app), else the
    /// newest — with `upgrade`, the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Parameter values (`--set NAME=VALUE`); the others keep what the app stored, else their
    /// default, else a generated value (secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// An upgrade: the app must exist and run this template.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upgrade: bool,
    /// The uploaded folder (`sha256:…`) of a template whose context is the user's (a static
    /// site's files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Apps of the org to bind the new service to once it is recorded (its default output
    /// into each app's secret; each gets a config release).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind: Vec<String>,
}

/// `202` answer to a template deploy: the ordinary deploy's answer plus what the template
/// decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateDeployed {
    #[serde(flatten)]
    pub deploy: DeployAccepted,
    /// `NAME@VERSION`.
    pub template: String,
    /// The version the app ran before (an upgrade or a redeploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<u32>,
    /// Parameters whose value was generated now (secrets; never shown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated: Vec<String>,
    /// Stored parameters the new version no longer has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Every parameter's value as the release uses it (secrets as `<secret NAME>`).
    pub parameters: BTreeMap<String, String>,
    /// The bindings made (`bind`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<BindingAccepted>,
}

/// `POST /v1/orgs/{org}/apps/{app}/bindings`: bind `app` (a service) into `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindRequest {
    /// The app whose secret receives the output.
    pub target: String,
    /// Which output (default: `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The target's secret to write (default: the template's name for it, e.g.
    /// `DATABASE_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One binding: `service`'s output written into `target`'s secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BindingInfo {
    pub service: String,
    pub output: String,
    pub target: String,
    pub secret: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `202` answer to a binding: what was written, and the target's secret change (its config
/// release, as `1ctl secret set` would have made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BindingAccepted {
    pub binding: BindingInfo,
    pub change: ConfigChanged,
}
