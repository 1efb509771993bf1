//! `1ctl init` (alias `launch`): write `satusky.toml` (or `satusky.NAME.toml`) from the
//! template of `satusky-core`, named after the folder unless `--name` says otherwise, with the
//! build and start commands `satusky_core::config::detect` finds for the folder's app (Rust,
//! Node.js, Python, Go, Ruby) written active. Never overwrites without `--force`. Local only.

use std::path::{Path, PathBuf};

use satusky_core::config::detect;

use crate::cli::InitArgs;
use crate::commands::{Env, current_dir};
use crate::exit::{self, CliError, io_error};
use crate::output;

/// The name used when the folder name has nothing usable in it.
const FALLBACK_APP_NAME: &str = "app";

pub fn run(args: &InitArgs, env: &Env) -> Result<u8, CliError> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => current_dir()?,
    };
    let name = match &args.name {
        Some(n) => n.clone(),
        None => app_name_from_dir(&dir),
    };
    satusky_core::names::validate_app_name(&name)
        .map_err(|e| CliError::Invalid(format!("{e} (pass --name)")))?;
    if let Some(c) = &args.config {
        satusky_core::config::validate_config_name(c)
            .map_err(|e| CliError::Invalid(e.to_string()))?;
    }
    let file = satusky_core::config::config_file_name(args.config.as_deref());
    let path = dir.join(&file);
    if path.exists() && !args.force {
        return Err(CliError::Invalid(format!(
            "{} already exists: edit it, or pass --force to overwrite it",
            path.display()
        )));
    }
    let detected = detect::detect(&|file| read_small(&dir, file));
    let text = match &detected {
        Some(d) => satusky_core::config::init_template_for(&name, d),
        None => satusky_core::config::init_template(&name),
    };
    std::fs::write(&path, text).map_err(|e| io_error("write", &path, &e))?;
    // Name the file as the user would type it: relative unless --dir was given.
    let shown = if args.dir.is_some() {
        path.clone()
    } else {
        PathBuf::from(&file)
    };
    let deploy = match &args.config {
        Some(c) => format!("1ctl deploy --config {c}"),
        None => "1ctl deploy".to_string(),
    };
    if env.json() {
        let detected = detected.as_ref().map(|d| {
            serde_json::json!({
                "language": d.language, "marker": d.marker,
                "build": d.build, "command": d.command,
            })
        });
        output::json(&serde_json::json!({"path": shown, "app": name, "detected": detected}))?;
        return Ok(exit::OK);
    }
    match &detected {
        Some(d) => {
            let build = d
                .build
                .as_deref()
                .map(|b| format!("builds with `{b}`, "))
                .unwrap_or_default();
            output::line(&format!(
                "wrote {} for app {name}: a {} app ({}), {build}starts with `{}` — it must \
                 listen on $PORT; deploy it with `{deploy}`",
                shown.display(),
                d.language,
                d.marker,
                d.command.join(" ")
            ));
        }
        None => output::line(&format!(
            "wrote {} for app {name}; no app was recognised here (looked for {}): set [app] \
             command (and [build] command if it needs building) before `{deploy}` on the \
             local runtime, or [app] image for Kubernetes",
            shown.display(),
            detect::MARKERS.join(", ")
        )),
    }
    Ok(exit::OK)
}

/// The contents of `dir/name` when it is a regular file of at most 1 MiB (what detection
/// reads: manifests, and only whether entry files exist).
fn read_small(dir: &Path, name: &str) -> Option<String> {
    const MAX: u64 = 1024 * 1024;
    let path = dir.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX {
        return None;
    }
    std::fs::read_to_string(&path).ok()
}

/// The folder name made into a DNS-1035 label of at most 40 characters.
pub fn app_name_from_dir(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    sanitize_app_name(&raw)
}

/// Lowercase; anything but `[a-z0-9]` becomes one `-`; starts with a letter; ends with a
/// letter or digit; at most 40 characters.
pub fn sanitize_app_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || (c.is_ascii_digit() && !out.is_empty()) {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(satusky_core::names::MAX_APP_NAME_LEN);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        FALLBACK_APP_NAME.to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_become_valid_app_names() {
        let cases = [
            ("my-api", "my-api"),
            ("My_API v2", "my-api-v2"),
            ("2fast", "fast"),
            ("--x--", "x"),
            ("日本", "app"),
            ("", "app"),
            ("api.example.com", "api-example-com"),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_app_name(raw), want, "{raw:?}");
        }
        let long = "a".repeat(39) + "-b";
        let got = sanitize_app_name(&long);
        assert_eq!(got, "a".repeat(39));
        for raw in ["x", "A-b-C", &"z-".repeat(50), "9-9-a"] {
            let name = sanitize_app_name(raw);
            assert!(
                satusky_core::names::validate_app_name(&name).is_ok(),
                "{raw:?} → {name:?}"
            );
        }
    }
}
