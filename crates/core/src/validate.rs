//! The rules of an app spec, and [`ValidatedApp`], the only way to hold a spec that passed them.
//!
//! Works on [`AppSpec`] alone — no TOML — because the server re-checks specs arriving over the
//! API with the same rules. Every error carries the dotted `satusky.toml` path of the field
//! (`app.memory`, `checks.timeout`, `domains[1].host`, `env.FOO`, `build.env.FOO`,
//! `secrets.required[0]`) so the config loader can point
//! at the offending line. All errors are collected, not just the first. Rules that need the
//! server's knowledge (the platform zone, names already taken) are not checked here.
//!
//! Size limits live in [`limits`]; a field over its limit gets that one error, and messages
//! quote at most a short prefix of any value ([`limits::quoted`]).

pub mod limits;
mod vars;

pub use vars::app_var_name;

use std::collections::HashSet;
use std::fmt;

use satusky_types::{AppSpec, PdbSpec, Strategy, VpaSpec};

use crate::expect::ExpectedStatus;
use crate::names::{validate_app_name, validate_hostname};
use crate::quantity::{Quantity, parse_cpu, parse_int_or_percent, parse_memory, parse_storage};
use limits::quoted;

/// Most replicas an app may ask for; a typo guard, well above any real single-app need.
pub const MAX_REPLICAS: u32 = 1000;
/// Env names the platform sets itself.
pub const RESERVED_ENV_PREFIX: &str = "SATUSKY_";
/// Set per replica by the runtime.
pub const RESERVED_ENV_NAMES: &[&str] = &["PORT"];

/// An [`AppSpec`] that passed [`validate_spec`]. Everything downstream (render, release,
/// store) takes this type, so an unchecked spec cannot reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedApp {
    spec: AppSpec,
}

impl ValidatedApp {
    pub fn spec(&self) -> &AppSpec {
        &self.spec
    }

    pub fn into_spec(self) -> AppSpec {
        self.spec
    }

    /// The same app run with `replicas` (a count set with `1ctl app scale`), checked again.
    pub fn with_replicas(&self, replicas: u32) -> Result<Self, ValidationErrors> {
        if replicas == self.spec.replicas {
            return Ok(self.clone());
        }
        let mut spec = self.spec.clone();
        spec.replicas = replicas;
        validate_spec(spec)
    }
}

/// A validated app reads as the spec it holds; it cannot be changed in place (no `DerefMut`),
/// so it stays validated.
impl std::ops::Deref for ValidatedApp {
    type Target = AppSpec;

    fn deref(&self) -> &AppSpec {
        &self.spec
    }
}

/// One broken rule: the dotted `satusky.toml` path of the field and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every rule a spec broke, in field order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Checks every rule of SPEC §2 and returns the spec as a [`ValidatedApp`], or all the
/// errors found.
pub fn validate_spec(spec: AppSpec) -> Result<ValidatedApp, ValidationErrors> {
    let mut errors = Errors(Vec::new());
    limits::check_limits(&spec, &mut errors);
    let over_limit: HashSet<String> = errors.0.iter().map(|e| e.field.clone()).collect();
    let limit_errors = errors.0.len();
    check_app(&spec, &mut errors);
    check_build(&spec, &mut errors);
    vars::check_build_env(&spec, &mut errors);
    check_checks(&spec, &mut errors);
    check_deploy(&spec, &mut errors);
    vars::check_env(&spec, &mut errors);
    vars::check_secrets(&spec, &mut errors);
    check_domains(&spec, &mut errors);
    check_volume(&spec, &mut errors);
    check_static(&spec, &mut errors);
    check_hpa(&spec, &mut errors);
    if let Some(vpa) = &spec.vpa {
        check_vpa(vpa, &mut errors);
    }
    if let Some(pdb) = &spec.pdb {
        check_pdb(pdb, &mut errors);
    }
    // A field over its size limit gets that one error: the other rules would only describe a
    // value nobody should have to read.
    let mut i = 0;
    errors.0.retain(|e| {
        i += 1;
        i <= limit_errors || !over_limit.contains(&e.field)
    });
    if errors.0.is_empty() {
        Ok(ValidatedApp { spec })
    } else {
        Err(ValidationErrors(errors.0))
    }
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Runs a parser, recording its error under `field`.
    fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.push(field, e.to_string())).ok()
    }
}

fn check_app(spec: &AppSpec, e: &mut Errors) {
    e.check("app.name", validate_app_name(&spec.name));
    if spec.port == 0 {
        e.push("app.port", "0 is not a valid port: use 1–65535");
    }
    if spec.replicas > MAX_REPLICAS {
        e.push(
            "app.replicas",
            format!(
                "{} replicas is more than the limit of {MAX_REPLICAS}: lower replicas",
                spec.replicas
            ),
        );
    }
    let cpu = e.check("app.cpu", parse_cpu(&spec.cpu));
    let memory = e.check("app.memory", parse_memory(&spec.memory));
    for (field, q) in [("app.cpu", &cpu), ("app.memory", &memory)] {
        if q.as_ref().is_some_and(|q| q.value() == 0) {
            e.push(
                field,
                "must be more than 0, e.g. 100m of CPU or 128Mi of memory",
            );
        }
    }
    let cpu_limit = spec.cpu_limit.as_deref().map(parse_cpu);
    let cpu_limit = cpu_limit.and_then(|r| e.check("app.cpu_limit", r));
    limit_at_least_request(e, "app.cpu_limit", "cpu", cpu.as_ref(), cpu_limit.as_ref());
    let memory_limit = spec.memory_limit.as_deref().map(parse_memory);
    let memory_limit = memory_limit.and_then(|r| e.check("app.memory_limit", r));
    limit_at_least_request(
        e,
        "app.memory_limit",
        "memory",
        memory.as_ref(),
        memory_limit.as_ref(),
    );
    if let Some(image) = &spec.image
        && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
    {
        e.push(
            "app.image",
            format!(
                "{} is not an image reference: use e.g. ghcr.io/acme/api:1.4",
                quoted(image)
            ),
        );
    }
    if let Some(command) = &spec.command
        && command.first().is_none_or(|c| c.trim().is_empty())
    {
        e.push(
            "app.command",
            "must name a program to run, e.g. [\"./server\"]; remove it to use the image's default",
        );
    }
    if let Some(zone) = &spec.zone {
        let ok = !zone.is_empty()
            && zone.len() <= 63
            && zone
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !zone.starts_with('-')
            && !zone.ends_with('-');
        if !ok {
            e.push(
                "app.zone",
                format!(
                    "{} is not a valid zone name: use lowercase letters, digits and '-', e.g. dev-1",
                    quoted(zone)
                ),
            );
        }
    }
}

fn limit_at_least_request(
    e: &mut Errors,
    field: &str,
    what: &str,
    request: Option<&Quantity>,
    limit: Option<&Quantity>,
) {
    if let (Some(request), Some(limit)) = (request, limit)
        && limit.value() < request.value()
    {
        e.push(
            field,
            format!(
                "the {what} limit {limit} is below the {what} request {request}: raise {what}_limit \
                 or lower {what}"
            ),
        );
    }
}

fn check_build(spec: &AppSpec, e: &mut Errors) {
    if spec.build.dockerfile.trim().is_empty() {
        e.push(
            "build.dockerfile",
            "must not be empty: use e.g. \"Dockerfile\"",
        );
    }
    if spec.build.context.trim().is_empty() {
        e.push(
            "build.context",
            "must not be empty: use \".\" for the folder of satusky.toml",
        );
    }
    if spec
        .build
        .command
        .as_ref()
        .is_some_and(|c| c.trim().is_empty())
    {
        e.push(
            "build.command",
            "must not be empty: give a shell command such as \"cargo build --release\", or remove it",
        );
    }
}

fn check_checks(spec: &AppSpec, e: &mut Errors) {
    let checks = &spec.checks;
    if !checks.path.starts_with('/') || checks.path.chars().any(char::is_whitespace) {
        e.push(
            "checks.path",
            format!(
                "{} is not an absolute URL path: start it with '/', e.g. /healthz",
                quoted(&checks.path)
            ),
        );
    }
    e.check("checks.expect", ExpectedStatus::parse(&checks.expect));
    if checks.timeout_ms == 0 {
        e.push("checks.timeout", "must be more than 0, e.g. 2s");
    }
}

fn check_deploy(spec: &AppSpec, e: &mut Errors) {
    let d = &spec.deploy;
    let surge = e.check("deploy.max_surge", parse_int_or_percent(&d.max_surge));
    let unavailable = e.check(
        "deploy.max_unavailable",
        parse_int_or_percent(&d.max_unavailable),
    );
    if let (Some(s), Some(u)) = (surge, unavailable)
        && s.is_zero()
        && u.is_zero()
    {
        e.push(
            "deploy.max_unavailable",
            "max_surge and max_unavailable are both 0, so a rollout could never progress: \
             set max_surge to at least 1 (or 25%)",
        );
    }
    if d.progress_deadline_seconds == 0 {
        e.push("deploy.progress_deadline", "must be more than 0, e.g. 10m");
    }
    if spec.volume.is_some() && d.strategy == Strategy::Rolling {
        e.push("deploy.strategy", VOLUME_NEEDS_RECREATE);
    }
}

/// Why `[volume]` and a rolling strategy cannot go together (the config reader makes
/// `recreate` the default when `[volume]` is there, so this is met only when asked for).
const VOLUME_NEEDS_RECREATE: &str = "\"rolling\" cannot be used with [volume]: the volume \
     (ReadWriteOnce) has one writer, so a new replica could not start beside the old one and \
     the rollout would never finish; set strategy = \"recreate\" (the default with [volume]) \
     or remove [volume]";

fn check_domains(spec: &AppSpec, e: &mut Errors) {
    // A custom domain is a public hostname: an app that is not public has none.
    if !spec.expose.is_public() && !spec.domains.is_empty() {
        e.push(
            "domains[0].host",
            format!(
                "[[domains]] needs a public app, and [app] expose = \"{}\" has no public hostname: remove the [[domains]] entries, or set expose = \"http\"",
                spec.expose
            ),
        );
    }
    let mut seen = HashSet::new();
    for (i, domain) in spec.domains.iter().enumerate() {
        let field = format!("domains[{i}].host");
        if e.check(&field, validate_hostname(&domain.host)).is_some()
            && !seen.insert(domain.host.as_str())
        {
            e.push(
                &field,
                format!(
                    "{} is listed twice: remove the duplicate [[domains]] entry",
                    quoted(&domain.host)
                ),
            );
        }
        if let Some(url) = &domain.redirect_to {
            let field = format!("domains[{i}].redirect_to");
            match redirect_host(url) {
                Some(host) if host == domain.host => e.push(
                    field,
                    format!(
                        "{} redirects {} to itself: point it at another host",
                        quoted(url),
                        domain.host
                    ),
                ),
                Some(_) => {}
                None => e.push(
                    field,
                    format!(
                        "{} is not an absolute http(s) URL: use e.g. https://api.example.com",
                        quoted(url)
                    ),
                ),
            }
        }
    }
    check_redirect_loops(spec, e);
}

/// Redirect hosts of the app that lead back to themselves (`a → b → a`): browsers would
/// follow them until they give up. One error per loop, on its first entry (a host that
/// redirects to itself is reported by `check_domains`).
fn check_redirect_loops(spec: &AppSpec, e: &mut Errors) {
    // Where a host of the app redirects to, if it is a redirect host.
    let target_of = |host: &str| {
        spec.domains
            .iter()
            .find(|d| d.host == host)
            .and_then(|d| d.redirect_to.as_deref())
            .and_then(redirect_host)
            .map(str::to_ascii_lowercase)
    };
    let mut in_reported_loop: HashSet<String> = HashSet::new();
    for (i, d) in spec.domains.iter().enumerate() {
        if in_reported_loop.contains(&d.host) {
            continue;
        }
        // Each step adds a host not seen yet, and only the app's hosts have a target: the
        // walk ends within `domains.len()` steps.
        let mut chain = vec![d.host.clone()];
        while let Some(target) = chain.last().and_then(|h| target_of(h)) {
            if target == d.host {
                if chain.len() > 1 {
                    e.push(
                        format!("domains[{i}].redirect_to"),
                        format!(
                            "{} → {} is a redirect loop: point one of them at a host that \
                             serves the app (its generated hostname or an alias)",
                            chain.join(" → "),
                            d.host
                        ),
                    );
                    in_reported_loop.extend(chain);
                }
                break;
            }
            if chain.contains(&target) {
                break; // a loop further on, reported from its own first entry
            }
            chain.push(target);
        }
    }
}

/// The host of an absolute `http://` or `https://` URL, or `None` when it is not one.
fn redirect_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return None;
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok_and(|p| p > 0) => host,
        Some(_) => return None,
        None => authority,
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    host_ok.then_some(host)
}

fn check_volume(spec: &AppSpec, e: &mut Errors) {
    let Some(volume) = &spec.volume else { return };
    if let Some(size) = e.check("volume.size", parse_storage(&volume.size))
        && size.value() == 0
    {
        e.push("volume.size", "must be more than 0, e.g. 1Gi");
    }
    let m = &volume.mount;
    if !m.starts_with('/') || m == "/" || m.split('/').any(|s| s == "..") || m.contains('\0') {
        e.push(
            "volume.mount",
            format!(
                "{} is not a mount path: use an absolute path other than /, e.g. /data",
                quoted(m)
            ),
        );
    }
    if let Some(class) = &volume.storage_class {
        let ok = !class.is_empty()
            && class.len() <= 253
            && class
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !ok {
            e.push(
                "volume.storage_class",
                format!(
                    "{} is not a storage class name: use lowercase letters, digits, '-' and '.'",
                    quoted(class)
                ),
            );
        }
    }
}

/// `[static]`: a folder of the build's output served by the edge, no process — so nothing
/// that describes a process goes with it.
fn check_static(spec: &AppSpec, e: &mut Errors) {
    let Some(site) = &spec.static_site else {
        return;
    };
    let root_ok = site.root.len() <= 200
        && !site.root.contains('\0')
        && (site.root == "." || crate::paths::clean_in_context(&site.root).is_some());
    if !root_ok {
        e.push(
            "static.root",
            format!(
                "{} is not a folder inside the build's output: use a relative path without .., e.g. \"public\" (or \".\" for all of it)",
                quoted(&site.root)
            ),
        );
    }
    let index_ok = !site.index.is_empty()
        && site.index.len() <= 100
        && site.index != "."
        && site.index != ".."
        && !site.index.contains(['/', '\0']);
    if !index_ok {
        e.push(
            "static.index",
            format!(
                "{} is not a file name: use one without /, e.g. \"index.html\"",
                quoted(&site.index)
            ),
        );
    }
    let no_process = |field: &str, what: &str| {
        format!(
            "a static site runs no process, so it takes no {what}: remove {field} (the edge serves the files of [static] itself)"
        )
    };
    if spec.command.is_some() {
        e.push("app.command", no_process("command", "command"));
    }
    if spec.image.is_some() {
        e.push("app.image", no_process("image", "image"));
    }
    if spec.volume.is_some() {
        e.push("volume", no_process("[volume]", "volume"));
    }
    if spec.hpa.is_some() {
        e.push("hpa", no_process("[hpa]", "autoscaling"));
    }
    if !spec.expose.is_public() {
        e.push(
            "app.expose",
            format!(
                "a static site is served over HTTPS by the edge: leave expose out (http), not \"{}\"",
                spec.expose
            ),
        );
    }
}

fn check_hpa(spec: &AppSpec, e: &mut Errors) {
    let Some(hpa) = &spec.hpa else { return };
    if hpa.min < 1 {
        e.push("hpa.min", "must be at least 1, e.g. min = 2");
    }
    if hpa.max < hpa.min {
        e.push(
            "hpa.max",
            format!(
                "{} is below hpa.min ({}): raise max or lower min",
                hpa.max, hpa.min
            ),
        );
    } else if hpa.max > MAX_REPLICAS {
        e.push(
            "hpa.max",
            format!(
                "{} is more than the limit of {MAX_REPLICAS} replicas",
                hpa.max
            ),
        );
    }
    for (field, target) in [
        ("hpa.cpu_target", hpa.cpu_target),
        ("hpa.memory_target", hpa.memory_target),
    ] {
        if let Some(t) = target
            && !(1..=100).contains(&t)
        {
            e.push(
                field,
                format!("{t} is not a utilisation target: use a percentage from 1 to 100"),
            );
        }
    }
}

fn check_vpa(vpa: &VpaSpec, e: &mut Errors) {
    let parse = |e: &mut Errors, field: &str, v: &Option<String>, cpu: bool| {
        let q = v.as_deref()?;
        e.check(field, if cpu { parse_cpu(q) } else { parse_memory(q) })
    };
    for (what, min_field, min, max_field, max, cpu) in [
        (
            "cpu",
            "vpa.min_cpu",
            &vpa.min_cpu,
            "vpa.max_cpu",
            &vpa.max_cpu,
            true,
        ),
        (
            "memory",
            "vpa.min_memory",
            &vpa.min_memory,
            "vpa.max_memory",
            &vpa.max_memory,
            false,
        ),
    ] {
        let min = parse(e, min_field, min, cpu);
        let max = parse(e, max_field, max, cpu);
        if let (Some(min), Some(max)) = (min, max)
            && max.value() < min.value()
        {
            e.push(
                max_field,
                format!("{max} is below min_{what} ({min}): raise max_{what} or lower min_{what}"),
            );
        }
    }
}

fn check_pdb(pdb: &PdbSpec, e: &mut Errors) {
    match (&pdb.min_available, &pdb.max_unavailable) {
        (Some(_), Some(_)) | (None, None) => e.push(
            "pdb",
            "set exactly one of min_available and max_unavailable",
        ),
        (Some(v), None) => {
            e.check("pdb.min_available", parse_int_or_percent(v));
        }
        (None, Some(v)) => {
            e.check("pdb.max_unavailable", parse_int_or_percent(v));
        }
    }
}

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod tests;
