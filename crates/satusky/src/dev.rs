//! `satusky dev`: the embedded default on one machine. It wires the control plane (SQLite
//! store, API, lifecycle engine) to the local runtime, the embedded DNS server, the embedded
//! edge and a local CA — all on loopback, no root needed — creates a default org and token,
//! writes `STATE_DIR/dev.json` and a `1ctl` profile, and (with `--deploy DIR`) deploys DIR
//! through the real `1ctl` so one command shows the whole product working — the server's
//! own log lines below WARN going to `STATE_DIR/dev-deploy.log` meanwhile, so they do not
//! interleave with `1ctl`'s output ([`crate::logs`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use satusky_store::Store;
use satusky_types::Role;
use serde::{Deserialize, Serialize};

use crate::cli::DevArgs;
use crate::config::{open_store, read_server_toml};
use satusky_core::hostnames::Zone;
use satusky_stack::{LocalStack, LocalStackConfig};

/// The org `satusky dev` creates and its token acts for.
const DEV_ORG: &str = "dev";

/// Where, in the state dir, the server's log lines below WARN go while `--deploy` runs.
const DEPLOY_LOG: &str = "dev-deploy.log";

/// `STATE_DIR/dev.json` (SPEC §1).
#[derive(Debug, Serialize, Deserialize)]
pub struct DevInfo {
    pub api_url: String,
    pub token: String,
    pub org: String,
    pub http_addr: String,
    pub https_addr: String,
    pub dns_addr: String,
    pub ca_pem: PathBuf,
    pub dns_zone: String,
}

pub async fn run(args: DevArgs) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let logs =
        crate::serve::init_tracing("warn,satusky=info,satusky_server=info,satusky_local=info");
    // Before dev.json says we are up: a Ctrl-C right after must not be lost.
    let shutdown = crate::serve::shutdown_signal();
    let state_dir = absolute(&args.store.state_dir)?;
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state dir {}", state_dir.display()))?;
    let toml_seen = crate::dns_reload::modified(&state_dir.join("server.toml"));
    let file = read_server_toml(&state_dir)?;
    let zone = args
        .dns_zone
        .clone()
        .or(file.dns_zone.clone())
        .unwrap_or_else(|| satusky_core::DEFAULT_ZONE.to_string());
    let platform_zone = Zone::parse(&zone).map_err(|e| anyhow::anyhow!("--dns-zone: {e}"))?;
    // One developer on their own machine: apps run as that developer (their toolchains —
    // cargo in ~/.cargo — are where builds need them) unless a user is named.
    let isolation = file.isolation(args.local_user.as_deref(), None)?;
    let apps_line = isolation.describe();
    let mut store_args = args.store.clone();
    store_args.state_dir = state_dir.clone();
    let store = open_store(&store_args).await?;
    let keys = crate::keys::load(&state_dir, &file, true)?;
    let store = crate::keys::attach(store, keys).await?;
    crate::serve::upgrade_notes(&store, &file).await?;

    let stack = LocalStack::start(
        LocalStackConfig {
            state_dir: state_dir.clone(),
            zone: platform_zone,
            http_addr: args.http_addr,
            https_addr: args.https_addr,
            dns_addr: args.dns_addr,
            probe_interval: args.probe_interval,
            isolation,
            build_timeout: crate::config::build_timeout(args.build_timeout, &file)?,
            ready_recheck: crate::config::ready_recheck(args.ready_recheck, &file)?,
            acme: file.acme()?,
            extra_roots: file.extra_roots()?,
        },
        store.clone(),
        file.dns_records()?,
    )
    .await?;

    let listener = crate::serve::bind_api(args.listen).await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let token = dev_token(&store, &state_dir).await?;
    let info = DevInfo {
        api_url: api_url.clone(),
        token: token.clone(),
        org: DEV_ORG.to_string(),
        http_addr: stack.edge.http_addr().to_string(),
        https_addr: stack.edge.https_addr().to_string(),
        dns_addr: stack.dns.local_addr().to_string(),
        ca_pem: stack.ca.ca_pem_path(),
        dns_zone: zone.clone(),
    };
    write_dev_json(&state_dir, &info)?;
    let profile = write_profile(&info).unwrap_or_else(|e| {
        eprintln!("satusky dev: could not write the 1ctl profile ({e:#}); use SATUSKY_API_URL and SATUSKY_TOKEN");
        None
    });
    print_banner(&info, &state_dir, profile.as_deref(), &apps_line);

    let state = stack
        .state
        .clone()
        .with_idempotency(crate::serve::idempotency(&state_dir)?);
    stack.engine.start().await;
    tokio::spawn(crate::dns_reload::follow(
        state_dir.clone(),
        toml_seen,
        stack.records.clone(),
        state.notices.clone(),
    ));
    let server = tokio::spawn(satusky_server::serve_state(listener, state, shutdown));
    if let Some(dir) = args.deploy.clone() {
        let info_api = info.api_url.clone();
        let token = info.token.clone();
        let store = store.clone();
        let https = stack.edge.https_addr();
        let ca_path = info.ca_pem.clone();
        let log_file = state_dir.join(DEPLOY_LOG);
        tokio::spawn(async move {
            // The server's own lines would interleave with 1ctl's on the same stderr.
            let diverted = match logs.divert_to(&log_file) {
                Ok(()) => {
                    eprintln!(
                        "satusky dev: while `1ctl deploy` runs, the server's log goes to {} (warnings still show here)",
                        log_file.display()
                    );
                    true
                }
                Err(e) => {
                    eprintln!(
                        "satusky dev: cannot write {} ({e}); the server's log stays here",
                        log_file.display()
                    );
                    false
                }
            };
            deploy(&dir, &info_api, &token).await;
            print_urls(&store, https, &ca_path).await;
            logs.restore();
            if diverted {
                eprintln!("satusky dev: the server's log is back here");
            }
        });
    }
    let served = server.await;
    eprintln!("satusky dev: stopping replicas…");
    stack.shutdown().await;
    eprintln!("satusky dev: stopped");
    served
        .context("the API task failed")?
        .context("the API server failed")?;
    Ok(())
}

/// `p` made absolute, without `.` components (paths printed for the user stay clean).
fn absolute(p: &Path) -> Result<PathBuf> {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    Ok(joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect())
}

/// Reuse the token in `dev.json` while the store accepts it; otherwise create the org and a
/// new token.
async fn dev_token(store: &Store, state_dir: &Path) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(state_dir.join("dev.json"))
        && let Ok(old) = serde_json::from_str::<DevInfo>(&text)
        && let Ok(Some(t)) = store.authenticate(&old.token).await
        && t.org == DEV_ORG
    {
        return Ok(old.token);
    }
    store
        .ensure_org(DEV_ORG)
        .await
        .context("cannot create the dev org")?;
    let new = satusky_store::NewToken {
        role: Role::Admin,
        name: Some("dev"),
        expires_at_ms: None,
        created_by: Some("satusky dev"),
        max_live: None,
    };
    let (token, _) = store
        .create_token_with(DEV_ORG, &new, satusky_core::time::now_ms())
        .await
        .context("cannot create the dev token")?;
    Ok(token)
}

fn write_dev_json(state_dir: &Path, info: &DevInfo) -> Result<()> {
    let path = state_dir.join("dev.json");
    let text = serde_json::to_string_pretty(info)?;
    write_private(&path, &text).with_context(|| format!("cannot write {}", path.display()))
}

/// Write `text` to `path` through a temporary file that is `0600` from its creation (never
/// readable by anyone else, not even for a moment).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    std::fs::rename(&tmp, path)
}

/// Add (or refresh) the `dev` profile in `1ctl`'s config and make it current. Returns the
/// file written.
fn write_profile(info: &DevInfo) -> Result<Option<PathBuf>> {
    let dir = match std::env::var_os("SATUSKY_HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h),
        None => match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".satusky"),
            None => return Ok(None),
        },
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("config.toml");
    let mut doc: toml::Table = match std::fs::read_to_string(&path) {
        Ok(t) => t
            .parse()
            .with_context(|| format!("{} is not valid TOML", path.display()))?,
        Err(_) => toml::Table::new(),
    };
    let mut profile = toml::Table::new();
    profile.insert("api_url".into(), info.api_url.clone().into());
    profile.insert("token".into(), info.token.clone().into());
    profile.insert("org".into(), info.org.clone().into());
    let profiles = doc
        .entry("profiles")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = profiles {
        t.insert("dev".into(), toml::Value::Table(profile));
    }
    doc.insert("current".into(), "dev".into());
    write_private(&path, &toml::to_string(&doc)?)?;
    Ok(Some(path))
}

fn print_banner(info: &DevInfo, state_dir: &Path, profile: Option<&Path>, apps: &str) {
    eprintln!("satusky dev — everything on loopback");
    eprintln!("  API      {}", info.api_url);
    eprintln!("  HTTP     http://{}", info.http_addr);
    eprintln!("  HTTPS    https://{}", info.https_addr);
    eprintln!("  DNS      {} (zone {})", info.dns_addr, info.dns_zone);
    eprintln!("  CA       {}", info.ca_pem.display());
    eprintln!("  org      {}", info.org);
    eprintln!("  apps     run as {apps}");
    eprintln!(
        "  state    {}  (dev.json has the token)",
        state_dir.display()
    );
    if let Some(p) = profile {
        eprintln!(
            "  1ctl     profile \"dev\" written to {} — `1ctl deploy` works now",
            p.display()
        );
    }
    eprintln!("Ctrl-C stops everything.");
}

/// Run `1ctl deploy` in `dir` (the `1ctl` next to this binary), streaming its output.
async fn deploy(dir: &Path, api_url: &str, token: &str) {
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name(format!("1ctl{}", std::env::consts::EXE_SUFFIX)));
    let Some(exe) = exe.filter(|p| p.exists()) else {
        eprintln!(
            "satusky dev: cannot find 1ctl next to satusky; build it (`cargo build`) and run `1ctl deploy` in {}",
            dir.display()
        );
        return;
    };
    eprintln!(
        "satusky dev: deploying {} with {}",
        dir.display(),
        exe.display()
    );
    let status = tokio::process::Command::new(&exe)
        .arg("deploy")
        .current_dir(dir)
        .env("SATUSKY_API_URL", api_url)
        .env("SATUSKY_TOKEN", token)
        .env_remove("SATUSKY_PROFILE")
        .status()
        .await;
    match status {
        Ok(s) => eprintln!(
            "satusky dev: `1ctl deploy` exited with {} — still serving",
            s.code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into())
        ),
        Err(e) => eprintln!("satusky dev: cannot run {}: {e}", exe.display()),
    }
}

/// How to reach each app from a shell: curl with the local CA and --resolve.
async fn print_urls(store: &Store, https: std::net::SocketAddr, ca: &Path) {
    let Ok(apps) = store.list_apps(DEV_ORG).await else {
        return;
    };
    for app in apps {
        for h in &app.hostnames {
            eprintln!(
                "  curl --cacert {} --resolve {host}:{port}:{ip} https://{host}:{port}/",
                ca.display(),
                host = h.hostname,
                port = https.port(),
                ip = https.ip()
            );
        }
    }
}
