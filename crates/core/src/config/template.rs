//! The commented `satusky.toml` that `1ctl init` writes: every section shown, required and
//! defaulted settings active, optional ones commented out — and the commands detected for
//! the folder's app (`super::detect`) active.
//!
//! Convention: `# ` starts prose; `#` directly followed by a setting or a header is an optional
//! setting — deleting that one `#` enables it, and enabling all of them still gives a valid app.

use super::detect::Detected;

/// The template, with `app_name` filled in (the caller validates it first).
pub fn init_template(app_name: &str) -> String {
    TEMPLATE.replace("{NAME}", &toml_string(app_name))
}

/// The template for an app whose commands were detected: `[app] command` and (when it needs
/// one) `[build] command` written active, with a comment naming what told.
pub fn init_template_for(app_name: &str, detected: &Detected) -> String {
    let command: Vec<String> = detected.command.iter().map(|c| toml_string(c)).collect();
    let mut text = init_template(app_name).replace(
        COMMAND_LINE,
        &format!(
            "command = [{}]   # {} ({}); it must listen on $PORT",
            command.join(", "),
            detected.language,
            detected.marker
        ),
    );
    if let Some(build) = &detected.build {
        text = text.replace(
            BUILD_COMMAND_LINE,
            &format!(
                "command = {}   # the local runtime's build step",
                toml_string(build)
            ),
        );
    }
    text
}

/// The template's `[app] command` line, commented out.
const COMMAND_LINE: &str =
    "#command = [\"./server\"]           # required by the local runtime; listen on $PORT";
/// The template's `[build] command` line, commented out.
const BUILD_COMMAND_LINE: &str =
    "#command = \"cargo build --release\"   # the local runtime's build step";

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const TEMPLATE: &str = r#"# satusky.toml — how Satusky builds, runs and exposes this app. `1ctl deploy` reads it;
# its flags override these values. Settings written `#key = …` are optional: delete the `#`.
# Secrets never go here: use `1ctl secret set KEY=VALUE` (and see [secrets] below).

[app]
name = {NAME}
port = 8080             # the container port; the local runtime sets $PORT per replica instead
replicas = 1
cpu = "100m"            # CPU request: 1000m is one core
memory = "128Mi"        # memory request, also the limit unless memory_limit is set
#cpu_limit = "500m"
#memory_limit = "256Mi"
#image = "ghcr.io/acme/api:1.4"   # a prebuilt image: skips the build
#command = ["./server"]           # required by the local runtime; listen on $PORT
#zone = "dev-1"                   # which cluster (zone) runs the app
#expose = "http"                  # or "tcp" (no public hostname), or "none"

[build]
dockerfile = "Dockerfile"   # Kubernetes runtime (Kaniko), relative to the context
context = "."               # relative to the folder of this file
#command = "cargo build --release"   # the local runtime's build step
#[build.env]                # the only variables the build sees; changing one rebuilds
#NODE_ENV = "production"

[checks]                # the readiness probe, and the path the HTTP check requests
path = "/"
expect = "2xx"          # or "2xx,3xx", or exact codes such as "200,204"
timeout = "2s"

[deploy]
# strategy = "rolling" (the default) or "recreate" (the default with [volume]: one writer)
max_surge = "25%"
max_unavailable = "0"
progress_deadline = "10m"   # the workload fails (exit 11) if not ready by then

[env]                   # plain settings for the app (its replicas; the build sees [build.env])
#LOG_LEVEL = "info"

# Secrets never go in this file: `1ctl secret set DATABASE_URL=…` stores one sealed, and the
# app reads it from its environment like [env]. List the ones a deploy must not go without.
#[secrets]
#required = ["DATABASE_URL"]

# Custom domains, one [[domains]] table each; redirect_to makes it a redirect host.
#[[domains]]
#host = "api.example.com"
#[[domains]]
#host = "www.example.com"
#redirect_to = "https://api.example.com"

# A persistent volume.
#[volume]
#size = "1Gi"
#mount = "/data"
#storage_class = "standard"

# Horizontal autoscaling between min and max replicas; targets are percentages.
#[hpa]
#min = 2
#max = 5
#cpu_target = 70
#memory_target = 80

# Vertical autoscaling: mode = "Off" (recommend only), "Initial" or "Auto".
#[vpa]
#mode = "Off"
#min_cpu = "100m"
#max_cpu = "2"
#min_memory = "128Mi"
#max_memory = "1Gi"

# A disruption budget: set min_available or max_unavailable (a count or a percentage).
#[pdb]
#min_available = "1"
"#;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use satusky_types::AppSpec;

    use super::init_template;
    use crate::config::{Overrides, parse_str};

    fn parse(text: &str) -> AppSpec {
        parse_str(text, Path::new("satusky.toml"), &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_spec()
    }

    #[test]
    fn the_template_parses_as_written_and_fully_uncommented() {
        let spec = parse(&init_template("my-app"));
        assert_eq!(spec, parse("[app]\nname = \"my-app\"\n"));
        let uncommented: String = init_template("my-app")
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if !rest.starts_with(' ') && !rest.is_empty() => format!("{rest}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        let full = parse(&uncommented);
        assert!(
            full.volume.is_some() && full.hpa.is_some() && full.vpa.is_some() && full.pdb.is_some()
        );
        assert_eq!((full.domains.len(), full.env.len()), (2, 1));
        assert_eq!(full.build.env.len(), 1);
        assert_eq!(full.secrets.required, ["DATABASE_URL"]);
        let text = init_template("my-app");
        let secret_line = text.find("1ctl secret set DATABASE_URL=").unwrap();
        let section = text.find("#[secrets]").unwrap();
        assert!(
            secret_line < section && text[secret_line..section].lines().count() <= 3,
            "the [secrets] example sits next to the comment about `1ctl secret set`"
        );
        assert!(full.image.is_some() && full.command.is_some() && full.build.command.is_some());
        assert!(init_template("a\"b").contains("name = \"a\\\"b\""));
    }

    #[test]
    fn detected_commands_are_written_active() {
        let detected = crate::config::detect::Detected {
            language: "Python",
            marker: "requirements.txt",
            build: Some(
                "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt".into(),
            ),
            command: vec![".venv/bin/python".into(), "app.py".into()],
        };
        let text = super::init_template_for("web", &detected);
        assert!(
            text.contains("# Python (requirements.txt); it must listen on $PORT"),
            "{text}"
        );
        let spec = parse(&text);
        assert_eq!(
            spec.command,
            Some(vec![".venv/bin/python".into(), "app.py".into()])
        );
        assert_eq!(spec.build.command, detected.build);
        let no_build = crate::config::detect::Detected {
            build: None,
            ..detected
        };
        let spec = parse(&super::init_template_for("web", &no_build));
        assert_eq!(spec.build.command, None);
        assert!(spec.command.is_some());
    }
}
