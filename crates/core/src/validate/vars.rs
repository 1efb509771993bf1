//! The rules of an app's variables: `[env]` and `[build.env]` names, and `[secrets] required`.
//!
//! One name rule for all of them ([`crate::secrets::check_name`]), the names the platform sets
//! itself, and one namespace for a replica: a name is either an `[env]` value or a secret.
//! Sizes are [`super::limits`]'s.

use std::collections::HashSet;

use satusky_types::AppSpec;

use super::limits::{build_env_field, env_field, quoted};
use super::{Errors, RESERVED_ENV_NAMES, RESERVED_ENV_PREFIX};

pub(super) fn check_env(spec: &AppSpec, e: &mut Errors) {
    for key in spec.env.keys() {
        if let Err(why) = var_name(key, "variable name", RESERVED_ENV_NAMES) {
            e.push(env_field(key), why);
        }
    }
}

/// `[build.env]`: the names follow the same rule as `[env]`, and `SATUSKY_` is the platform's
/// there too (`PORT` is not: a build has no port).
pub(super) fn check_build_env(spec: &AppSpec, e: &mut Errors) {
    for key in spec.build.env.keys() {
        if let Err(why) = var_name(key, "variable name", &[]) {
            e.push(build_env_field(key), why);
        }
    }
}

/// `[secrets] required`: valid names, each once, and none also in `[env]` (a replica's
/// variable is either a plain value or a secret, never both).
pub(super) fn check_secrets(spec: &AppSpec, e: &mut Errors) {
    let mut seen = HashSet::new();
    for (i, name) in spec.secrets.required.iter().enumerate() {
        let field = format!("secrets.required[{i}]");
        if let Err(why) = var_name(name, "secret name", RESERVED_ENV_NAMES) {
            e.push(field, why);
        } else if !seen.insert(name.as_str()) {
            e.push(
                field,
                format!("{name} is listed twice in [secrets] required: remove the duplicate"),
            );
        } else if spec.env.contains_key(name) {
            e.push(
                field,
                format!(
                    "{name} is both in [env] and [secrets] required: a key is either an env \
                     value or a secret — remove it from [env] and `1ctl secret set {name}=…`"
                ),
            );
        }
    }
}

/// Why `name` cannot name one of an app's runtime variables (an env key or a secret set
/// through the API or `1ctl`): the same rule `[env]` and `[secrets] required` follow.
pub fn app_var_name(name: &str, what: &str) -> Result<(), String> {
    var_name(name, what, RESERVED_ENV_NAMES)
}

/// Why `name` cannot name a variable (`what`: "variable name", "secret name"), if it cannot:
/// the name rule of [`crate::secrets::check_name`], then the names the platform sets (the
/// `SATUSKY_` prefix, and `reserved`).
fn var_name(name: &str, what: &str, reserved: &[&str]) -> Result<(), String> {
    if let Err(why) = crate::secrets::check_name(name) {
        return Err(format!("{} is not a valid {what}: {why}", quoted(name)));
    }
    if name.starts_with(RESERVED_ENV_PREFIX) {
        return Err(format!(
            "{} is reserved: names starting with {RESERVED_ENV_PREFIX} are set by the \
             platform; rename it",
            quoted(name)
        ));
    }
    if reserved.contains(&name) {
        return Err(format!(
            "{name:?} is reserved: the runtime sets it; read it instead of setting it"
        ));
    }
    Ok(())
}
