//! The size limits of an app spec (SPEC §10 "Limits") and how messages quote user values.
//!
//! Every client-controlled string and list of a spec is bounded here, once: the server checks
//! specs arriving over the API and `1ctl` checks `satusky.toml` with the same constants, so a
//! spec the CLI accepts is never refused for its size by the server. A spec is copied into the
//! app row, every release and the events about it; the limits keep each of those small enough to
//! store and stream cheaply, and are far above what a real app needs.
//!
//! A field over its limit gets one error, naming the limit; the other rules of that field are
//! not reported on top (see `validate_spec`). Messages never echo a whole user value: they
//! quote at most [`QUOTE_CHARS`] characters of it ([`quoted`]).

use std::collections::BTreeMap;

use satusky_types::AppSpec;

use super::Errors;

/// One kibibyte, for readable limits.
pub const KIB: usize = 1024;

/// An env variable's (or a secret's) name, in bytes: the name rule's own bound
/// ([`crate::secrets::MAX_NAME_LEN`]), so an env name and a secret name are alike. Real names
/// are tens of bytes.
pub const MAX_ENV_KEY: usize = crate::secrets::MAX_NAME_LEN;
/// An env variable's value, in bytes: a certificate chain or a small JSON config fits; data
/// files belong in the image or the build context.
pub const MAX_ENV_VALUE: usize = 32 * KIB;
/// Env variables per app (and build-time variables per app, and required secrets per app);
/// real apps have tens.
pub const MAX_ENV_VARS: usize = 512;
/// Arguments of `app.command` (program included); real commands have a handful.
pub const MAX_COMMAND_ARGS: usize = 64;
/// One argument of `app.command`, in bytes: a long inline shell script fits.
pub const MAX_COMMAND_ARG: usize = 8 * KIB;
/// All arguments of `app.command` together, in bytes.
pub const MAX_COMMAND_TOTAL: usize = 16 * KIB;
/// `build.command`, in bytes: one shell command line; longer belongs in a script.
pub const MAX_BUILD_COMMAND: usize = 8 * KIB;
/// `checks.path`, in bytes: a URL path and query (proxies refuse request lines past ~8 KiB;
/// real health paths are a few bytes).
pub const MAX_CHECKS_PATH: usize = 2 * KIB;
/// `app.image`, in bytes: registry host, repository (≤ 255 by the distribution spec), tag
/// (≤ 128) and digest (71) fit.
pub const MAX_IMAGE: usize = 512;
/// `build.dockerfile`, `build.context` and `volume.mount`, in bytes: file paths, usually short.
pub const MAX_PATH: usize = KIB;
/// `[[domains]]` entries per app.
pub const MAX_DOMAINS: usize = 100;
/// `domains[].redirect_to`, in bytes: a URL (browsers handle ~2 KiB everywhere).
pub const MAX_REDIRECT_URL: usize = 2 * KIB;
/// Short scalar strings — quantities (`cpu`, `memory`, …), `checks.expect`, `max_surge`,
/// `max_unavailable`, `volume.size`, `pdb.*` — in bytes; real values are a few bytes. (Names
/// such as `app.zone` and `volume.storage_class` have their own DNS-length rules.)
pub const MAX_SCALAR: usize = 64;
/// The whole spec as JSON, in bytes: what the API receives, the store keeps per release and
/// a deploy's events refer to.
pub const MAX_SPEC: usize = 256 * KIB;
/// How many characters of a user value a message quotes before `…`: enough to recognise the
/// value, short enough that an error line stays one line.
pub const QUOTE_CHARS: usize = 40;

/// `value` Debug-quoted, cut to its first [`QUOTE_CHARS`] characters (then `…` and its size)
/// when longer: `"AAAA…" (1.0 MiB)`.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!(
            "\"{}…\" ({})",
            value[..cut].escape_debug(),
            format_size(value.len())
        ),
    }
}

/// `value` cut to its first [`QUOTE_CHARS`] characters plus `…` when longer, unquoted: for
/// names inside a field path (`env.AAAA…`).
pub fn shortened(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => value.to_owned(),
        Some((cut, _)) => format!("{}…", &value[..cut]),
    }
}

/// A byte count for people: `300 bytes`, `32 KiB`, `1.5 KiB`, `1.0 MiB`.
pub fn format_size(bytes: usize) -> String {
    const MIB: usize = KIB * KIB;
    // Display only: the precision lost converting to f64 does not show at one decimal.
    #[allow(clippy::cast_precision_loss)]
    let f = |unit: usize| bytes as f64 / unit as f64;
    if bytes < KIB {
        format!("{bytes} bytes")
    } else if bytes < MIB {
        if bytes.is_multiple_of(KIB) {
            format!("{} KiB", bytes / KIB)
        } else {
            format!("{:.1} KiB", f(KIB))
        }
    } else if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{:.1} MiB", f(MIB))
    }
}

/// The field path of an env variable, its name shortened when it is over [`MAX_ENV_KEY`].
pub fn env_field(key: &str) -> String {
    var_field("env", key)
}

/// The field path of a build-time variable (`build.env.KEY`), shortened like [`env_field`].
pub fn build_env_field(key: &str) -> String {
    var_field("build.env", key)
}

/// `table.KEY`, the name shortened when it is over [`MAX_ENV_KEY`].
fn var_field(table: &str, key: &str) -> String {
    if key.len() > MAX_ENV_KEY {
        format!("{table}.{}", shortened(key))
    } else {
        format!("{table}.{key}")
    }
}

/// Records `field` over `limit` bytes, naming `what` the limit is for and the fix.
fn over(e: &mut Errors, field: &str, len: usize, limit: usize, what: &str, fix: &str) -> bool {
    if len <= limit {
        return false;
    }
    e.push(
        field,
        format!(
            "{} is over the limit of {} for {what}: {fix}",
            format_size(len),
            format_size(limit)
        ),
    );
    true
}

/// Checks every size limit of `spec`, recording each broken one in `e`. The whole-spec limit
/// is checked only when every field is within its own (one cause, one message).
pub(super) fn check_limits(spec: &AppSpec, e: &mut Errors) {
    let before = e.0.len();
    check_strings(spec, e);
    check_vars(e, "env", &spec.env, env_field);
    check_vars(e, "build.env", &spec.build.env, build_env_field);
    check_secrets(spec, e);
    check_command(spec, e);
    if spec.domains.len() > MAX_DOMAINS {
        e.push(
            "domains",
            format!(
                "{} domains is over the limit of {MAX_DOMAINS} per app: split the app or use \
                 fewer hostnames",
                spec.domains.len()
            ),
        );
    } else {
        for (i, d) in spec.domains.iter().enumerate() {
            if let Some(url) = &d.redirect_to {
                let field = format!("domains[{i}].redirect_to");
                let fix = "redirect to a shorter URL";
                over(
                    e,
                    &field,
                    url.len(),
                    MAX_REDIRECT_URL,
                    "a redirect URL",
                    fix,
                );
            }
        }
    }
    if e.0.len() == before {
        check_total(spec, e);
    }
}

fn check_strings(spec: &AppSpec, e: &mut Errors) {
    let scalar_fix = "use a short value, e.g. 250m, 256Mi, 25% or 2xx";
    let mut scalars: Vec<(&str, &str)> = vec![
        ("app.cpu", &spec.cpu),
        ("app.memory", &spec.memory),
        ("checks.expect", &spec.checks.expect),
        ("deploy.max_surge", &spec.deploy.max_surge),
        ("deploy.max_unavailable", &spec.deploy.max_unavailable),
    ];
    let optional = [
        ("app.cpu_limit", spec.cpu_limit.as_deref()),
        ("app.memory_limit", spec.memory_limit.as_deref()),
        ("volume.size", spec.volume.as_ref().map(|v| v.size.as_str())),
        (
            "vpa.min_cpu",
            spec.vpa.as_ref().and_then(|v| v.min_cpu.as_deref()),
        ),
        (
            "vpa.max_cpu",
            spec.vpa.as_ref().and_then(|v| v.max_cpu.as_deref()),
        ),
        (
            "vpa.min_memory",
            spec.vpa.as_ref().and_then(|v| v.min_memory.as_deref()),
        ),
        (
            "vpa.max_memory",
            spec.vpa.as_ref().and_then(|v| v.max_memory.as_deref()),
        ),
        (
            "pdb.min_available",
            spec.pdb.as_ref().and_then(|p| p.min_available.as_deref()),
        ),
        (
            "pdb.max_unavailable",
            spec.pdb.as_ref().and_then(|p| p.max_unavailable.as_deref()),
        ),
    ];
    scalars.extend(optional.into_iter().filter_map(|(f, v)| Some((f, v?))));
    for (field, value) in scalars {
        over(
            e,
            field,
            value.len(),
            MAX_SCALAR,
            "this setting",
            scalar_fix,
        );
    }
    if let Some(image) = &spec.image {
        let fix = "use a registry/repository:tag reference";
        over(
            e,
            "app.image",
            image.len(),
            MAX_IMAGE,
            "an image reference",
            fix,
        );
    }
    let path_fix = "use a shorter path";
    let mut paths = vec![
        ("build.dockerfile", spec.build.dockerfile.as_str()),
        ("build.context", spec.build.context.as_str()),
    ];
    if let Some(v) = &spec.volume {
        paths.push(("volume.mount", v.mount.as_str()));
    }
    for (field, path) in paths {
        over(e, field, path.len(), MAX_PATH, "a path", path_fix);
    }
    if let Some(command) = &spec.build.command {
        let fix = "put the steps in a script in the build context and run that";
        over(
            e,
            "build.command",
            command.len(),
            MAX_BUILD_COMMAND,
            "a build command",
            fix,
        );
    }
    let fix = "use a short health path such as /healthz";
    over(
        e,
        "checks.path",
        spec.checks.path.len(),
        MAX_CHECKS_PATH,
        "a check path",
        fix,
    );
}

/// The limits of a table of variables (`[env]` or `[build.env]`, named `table`): how many,
/// and each name and value.
fn check_vars(
    e: &mut Errors,
    table: &str,
    vars: &BTreeMap<String, String>,
    field_of: fn(&str) -> String,
) {
    if vars.len() > MAX_ENV_VARS {
        e.push(
            table,
            format!(
                "{} variables is over the limit of {MAX_ENV_VARS} env variables: group related \
                 settings into one variable or a config file",
                vars.len()
            ),
        );
        return;
    }
    for (key, value) in vars {
        let field = field_of(key);
        let fix = "use a shorter variable name";
        if over(e, &field, key.len(), MAX_ENV_KEY, "an env name", fix) {
            continue;
        }
        let fix = "keep large data in a file in the build context or the image, not in the spec";
        over(e, &field, value.len(), MAX_ENV_VALUE, "an env value", fix);
    }
}

/// `[secrets] required`: how many names, and each name's length.
fn check_secrets(spec: &AppSpec, e: &mut Errors) {
    let required = &spec.secrets.required;
    if required.len() > MAX_ENV_VARS {
        e.push(
            "secrets.required",
            format!(
                "{} names is over the limit of {MAX_ENV_VARS} required secrets: group related \
                 settings into one secret",
                required.len()
            ),
        );
        return;
    }
    for (i, name) in required.iter().enumerate() {
        let fix = "use a shorter secret name";
        let field = format!("secrets.required[{i}]");
        over(e, &field, name.len(), MAX_ENV_KEY, "a secret name", fix);
    }
}

fn check_command(spec: &AppSpec, e: &mut Errors) {
    let Some(command) = &spec.command else { return };
    if command.len() > MAX_COMMAND_ARGS {
        e.push(
            "app.command",
            format!(
                "{} arguments is over the limit of {MAX_COMMAND_ARGS} for a command: run a \
                 script that holds the arguments",
                command.len()
            ),
        );
        return;
    }
    let fix = "move long inline scripts into a file in the image and run that";
    let mut long_arg = false;
    for (i, arg) in command.iter().enumerate() {
        let field = format!("app.command[{i}]");
        long_arg |= over(
            e,
            &field,
            arg.len(),
            MAX_COMMAND_ARG,
            "a command argument",
            fix,
        );
    }
    if !long_arg {
        let total = command.iter().map(String::len).sum();
        over(
            e,
            "app.command",
            total,
            MAX_COMMAND_TOTAL,
            "a whole command",
            fix,
        );
    }
}

/// The whole spec as JSON; the error names the largest part, so the config loader points at
/// the section most likely to shrink.
fn check_total(spec: &AppSpec, e: &mut Errors) {
    let Ok(serde_json::Value::Object(parts)) = serde_json::to_value(spec) else {
        return;
    };
    let size = |v: &serde_json::Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    let total = size(&serde_json::Value::Object(parts.clone()));
    if total <= MAX_SPEC {
        return;
    }
    let Some((key, largest)) = parts
        .iter()
        .map(|(k, v)| (k.as_str(), size(v)))
        .max_by_key(|(_, n)| *n)
    else {
        return;
    };
    let field = match key {
        "build" | "checks" | "deploy" | "env" | "secrets" | "domains" | "volume" | "hpa"
        | "vpa" | "pdb" => key.to_owned(),
        app_key => format!("app.{app_key}"),
    };
    e.push(
        field.as_str(),
        format!(
            "the whole spec is {} as JSON, over the limit of {} for a spec; {field} is its \
             largest part ({}): keep large data in files in the build context or the image",
            format_size(total),
            format_size(MAX_SPEC),
            format_size(largest)
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_short_values_whole_and_long_ones_cut() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(
            quoted(&"a".repeat(QUOTE_CHARS)),
            format!("{:?}", "a".repeat(40))
        );
        let long = "é".repeat(1024 * 1024);
        let q = quoted(&long);
        assert_eq!(q, format!("\"{}…\" (2 MiB)", "é".repeat(QUOTE_CHARS)));
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert_eq!(
            quoted(&format!("{}\n{}", "b".repeat(39), "c".repeat(50))),
            format!("\"{}\\n…\" (90 bytes)", "b".repeat(39))
        );
        assert_eq!(shortened("KEY"), "KEY");
        assert_eq!(shortened(&"K".repeat(300)), format!("{}…", "K".repeat(40)));
    }

    #[test]
    fn sizes_read_naturally() {
        for (bytes, text) in [
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1 KiB"),
            (1536, "1.5 KiB"),
            (32 * KIB, "32 KiB"),
            (1_000_000, "976.6 KiB"),
            (KIB * KIB, "1 MiB"),
            (KIB * KIB + KIB * KIB / 10, "1.1 MiB"),
        ] {
            assert_eq!(format_size(bytes), text, "{bytes}");
        }
    }
}
