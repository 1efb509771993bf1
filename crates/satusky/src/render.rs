//! `satusky render [DIR|FILE]` (SPEC §1): print every Kubernetes object a deploy of that
//! config would apply, as multi-document YAML or a JSON `List`. Pure: reads the config file,
//! touches no cluster and no store.
//!
//! What a deploy pins is stood in for: the release is 1; the image is `[app] image`, or
//! `registry.invalid/ORG/APP:unbuilt` when the app is built (a deploy replaces it with the
//! built `image@sha256:…`); secrets are the `--secret` keys given (no values, ever).
//!
//! `--template NAME[@VERSION]` renders a catalog template instead, resolved for Kubernetes as
//! an app of the template's name with its defaults (or `--set` values): the secrets it writes
//! are rendered as keys (their generated values are dropped unseen). CI validates the
//! catalog's objects this way (scripts/validate-rendered.sh).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use satusky_core::{AppHostnames, DEFAULT_ZONE, Overrides, ValidatedApp};
use satusky_kube::render::DEFAULT_GATEWAY;
use satusky_kube::{GatewayRef, RenderInput, SecretRef, render, to_json_list, to_yaml};
use satusky_templates::{
    Catalog, Request, RuntimeKind, StoredParameters, SystemRandom, parse_reference,
};

/// Output format of `satusky render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Multi-document YAML, `---` before each object.
    Yaml,
    /// One JSON object: `{"apiVersion": "v1", "kind": "List", "items": […]}`.
    Json,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The app's folder (reads satusky.toml there) or a config file.
    #[arg(value_name = "DIR|FILE", default_value = ".")]
    pub path: PathBuf,
    /// The org the app belongs to (its namespace is `satusky-ORG`).
    #[arg(long, default_value = "dev")]
    pub org: String,
    /// Read `satusky.NAME.toml` in DIR instead of satusky.toml.
    #[arg(long, value_name = "NAME")]
    pub config: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: Format,
    /// The platform Gateway the routes attach to, `NAMESPACE/NAME`.
    #[arg(long, env = "SATUSKY_GATEWAY", value_name = "NS/NAME", default_value = DEFAULT_GATEWAY)]
    pub gateway: String,
    /// The platform DNS zone; the app is served at `APP-ORG.ZONE`.
    #[arg(long, env = "SATUSKY_DNS_ZONE", default_value = DEFAULT_ZONE)]
    pub zone: String,
    /// A secret the app has, as `KEY` or `KEY@VERSION` (repeatable). Never a value: values
    /// are filled in by the control plane when it applies.
    #[arg(long = "secret", value_name = "KEY[@VERSION]")]
    pub secrets: Vec<String>,
    /// Render a catalog template (its newest version unless @VERSION) instead of a config.
    #[arg(long, value_name = "NAME[@VERSION]", conflicts_with = "config")]
    pub template: Option<String>,
    /// A template parameter, `NAME=VALUE` (repeatable; with --template).
    #[arg(long = "set", value_name = "NAME=VALUE", requires = "template")]
    pub set: Vec<String>,
}

fn parse_secret(arg: &str) -> anyhow::Result<SecretRef> {
    if arg.contains('=') {
        bail!(
            "--secret {arg:?}: give the key only (KEY or KEY@VERSION); secret values are never \
             rendered"
        );
    }
    let (key, version) = match arg.split_once('@') {
        Some((key, version)) => {
            let version = version
                .parse::<u64>()
                .with_context(|| format!("--secret {arg:?}: {version:?} is not a version"))?;
            (key, version)
        }
        None => (arg, 1),
    };
    Ok(SecretRef {
        key: key.to_owned(),
        version,
    })
}

/// The catalog template `reference`, resolved for Kubernetes as an app of its own name: the
/// app and the keys of the secrets it writes.
fn resolve_template(
    reference: &str,
    set: &[String],
) -> anyhow::Result<(ValidatedApp, Vec<SecretRef>)> {
    let catalog = Catalog::builtin().map_err(|e| anyhow::anyhow!(satusky_core::error_chain(&e)))?;
    let (name, version) =
        parse_reference(reference).map_err(|e| anyhow::anyhow!("--template: {e}"))?;
    let template = &catalog
        .get(name, version)
        .map_err(|e| anyhow::anyhow!("--template: {e}"))?
        .template;
    let given = set
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => bail!("--set {pair:?}: use NAME=VALUE"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stored = StoredParameters::new();
    let request = Request {
        app: template.name(),
        runtime: RuntimeKind::Kubernetes,
        given: &given,
        stored: &stored,
    };
    let resolved = satusky_templates::resolve(template, &request, &SystemRandom::new())
        .map_err(|e| anyhow::anyhow!(satusky_core::error_chain(&e)))?;
    let secrets = resolved
        .secrets
        .keys()
        .map(|key| SecretRef {
            key: key.clone(),
            version: 1,
        })
        .collect();
    Ok((resolved.spec, secrets))
}

fn load(args: &RenderArgs) -> anyhow::Result<ValidatedApp> {
    let overrides = Overrides::default();
    if args.path.is_file() {
        if args.config.is_some() {
            bail!(
                "--config picks a file in a folder: give the folder, or the file without --config"
            );
        }
        let text = std::fs::read_to_string(&args.path)
            .with_context(|| format!("could not read {}", args.path.display()))?;
        return Ok(satusky_core::parse_str(&text, &args.path, &overrides)?);
    }
    Ok(satusky_core::load(&args.path, args.config.as_deref(), &overrides)?.app)
}

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    satusky_core::validate_org_name(&args.org).map_err(|m| anyhow::anyhow!("--org: {m}"))?;
    let gateway =
        GatewayRef::parse(&args.gateway).map_err(|m| anyhow::anyhow!("--gateway: {m}"))?;
    let mut secrets = args
        .secrets
        .iter()
        .map(|s| parse_secret(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let app = match &args.template {
        Some(reference) => {
            let (app, written) = resolve_template(reference, &args.set)?;
            for w in written {
                if !secrets.iter().any(|s| s.key == w.key) {
                    secrets.push(w);
                }
            }
            app
        }
        None => load(&args)?,
    };
    let spec = app.spec();
    let image = spec
        .image
        .clone()
        .unwrap_or_else(|| format!("registry.invalid/{}/{}:unbuilt", args.org, spec.name));
    let hostnames = AppHostnames::of_app(&args.org, &args.zone, &app)
        .map_err(|e| anyhow::anyhow!("--zone: {e}"))?;
    let mut input = RenderInput::new(&args.org, &app, 1, image, hostnames);
    input.gateway = gateway;
    input.secrets = secrets;
    let objects = render(&input)?;
    let text = match args.output {
        Format::Yaml => to_yaml(&objects)?,
        Format::Json => to_json_list(&objects)?,
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_args() {
        assert_eq!(
            parse_secret("API_KEY").unwrap(),
            SecretRef {
                key: "API_KEY".into(),
                version: 1
            }
        );
        assert_eq!(parse_secret("API_KEY@4").unwrap().version, 4);
        assert!(parse_secret("API_KEY=hunter2").is_err());
        assert!(parse_secret("API_KEY@x").is_err());
    }

    #[test]
    fn a_template_renders_as_an_app_of_its_name_with_the_keys_of_its_secrets() {
        let (app, secrets) = resolve_template("redis@1", &[]).unwrap();
        assert_eq!(app.spec().name, "redis");
        assert_eq!(app.spec().image.as_deref(), Some("redis:7"));
        assert_eq!(
            secrets,
            [SecretRef {
                key: "REDIS_PASSWORD".into(),
                version: 1
            }]
        );
        let (app, _) = resolve_template("postgres", &["user=orders".into()]).unwrap();
        assert_eq!(app.spec().env["POSTGRES_USER"], "orders");
        let e = resolve_template("postgres", &["user".into()]).unwrap_err();
        assert!(e.to_string().contains("use NAME=VALUE"), "{e}");
        let e = resolve_template("static-site", &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("does not run on the kubernetes runtime"),
            "{e}"
        );
    }
}
