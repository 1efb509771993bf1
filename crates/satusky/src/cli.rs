//! Command-line flags of `satusky` (SPEC §1). Every flag has a `SATUSKY_*` env fallback.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "satusky",
    version,
    about = "The Satusky deployment control plane"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane: HTTP API, WebSocket events, lifecycle engine.
    Serve(ServeArgs),
    /// The embedded default on one machine: serve with the local runtime, SQLite, an
    /// embedded DNS server, the embedded edge (HTTP + HTTPS) and a local CA, all on loopback.
    Dev(DevArgs),
    /// Print the Kubernetes objects a deploy would apply (no cluster).
    Render(crate::render::RenderArgs),
    /// Check hostnames' DNS, TLS and HTTP planes now, with real protocols.
    Probe(crate::probe::ProbeArgs),
    /// Apply the store's migrations and exit.
    Migrate(StoreArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the keys apps' secrets are sealed with.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

/// `satusky secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-seal every stored secret with the first key of the ring (server.toml secret_keys or
    /// SATUSKY_SECRET_KEYS, the new key listed first). Safe to interrupt and run again; once
    /// it reports every value under the first key, the old keys can leave the ring.
    RotateKey(RotateKeyArgs),
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Values re-sealed per batch (each value is its own write either way).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
}

/// Where the state lives: a SQLite file in the state dir, or a PostgreSQL URL.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Folder for the SQLite store (`state.db`), `server.toml` and other local state.
    #[arg(long, env = "SATUSKY_STATE_DIR", default_value = "./.satusky")]
    pub state_dir: PathBuf,
    /// Use this database instead of the state dir's SQLite file (`postgres://…` or `sqlite://…`).
    #[arg(long, env = "SATUSKY_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address of the HTTP API.
    #[arg(long, env = "SATUSKY_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// The platform DNS zone; apps get `APP-ORG.ZONE` (overrides `server.toml`).
    #[arg(long, env = "SATUSKY_DNS_ZONE")]
    pub dns_zone: Option<String>,
    /// What runs the apps: `local` (supervised processes, embedded edge, DNS and CA),
    /// `kubernetes` (a cluster, through --kubeconfig, KUBECONFIG or in-cluster) or `none`
    /// (the API alone: deploys are recorded, not run).
    #[arg(long, env = "SATUSKY_RUNTIME", value_enum, default_value = "local")]
    pub runtime: RuntimeArg,
    /// The edge's plain HTTP address (local runtime).
    #[arg(long, env = "SATUSKY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// The edge's HTTPS address (local runtime).
    #[arg(long, env = "SATUSKY_HTTPS_ADDR", default_value = "127.0.0.1:8443")]
    pub https_addr: SocketAddr,
    /// The embedded DNS server's address (local runtime).
    #[arg(long, env = "SATUSKY_DNS_ADDR", default_value = "127.0.0.1:5353")]
    pub dns_addr: SocketAddr,
    /// How often every app's endpoints are re-probed.
    #[arg(long, env = "SATUSKY_PROBE_INTERVAL", default_value = "30s", value_parser = humantime_duration)]
    pub probe_interval: std::time::Duration,
    /// The kubeconfig for `--runtime kubernetes` (default: KUBECONFIG, ~/.kube/config, or
    /// in-cluster).
    #[arg(long, env = "SATUSKY_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Who the local runtime runs apps as when satusky runs as root (overrides `server.toml`
    /// `local_user`; default: the developer's own user, single-tenant; e.g. `satusky-app`,
    /// created if missing, keeps apps out of the state dir).
    #[arg(long, env = "SATUSKY_LOCAL_USER")]
    pub local_user: Option<String>,
    /// How long a build may run, from its first start, across restarts (overrides
    /// `server.toml build_timeout`; default 30m).
    #[arg(long, env = "SATUSKY_BUILD_TIMEOUT", value_parser = humantime_duration)]
    pub build_timeout: Option<std::time::Duration>,
    /// Local runtime: how often a ready replica's health path is checked again (overrides
    /// `server.toml ready_recheck`; default 2s, at least 250ms). One request per ready
    /// replica per interval.
    #[arg(long, env = "SATUSKY_READY_RECHECK", value_name = "DURATION", value_parser = humantime_duration)]
    pub ready_recheck: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeArg {
    Local,
    Kubernetes,
    None,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address of the HTTP API.
    #[arg(long, env = "SATUSKY_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// The edge's plain HTTP address.
    #[arg(long, env = "SATUSKY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// The edge's HTTPS address.
    #[arg(long, env = "SATUSKY_HTTPS_ADDR", default_value = "127.0.0.1:8443")]
    pub https_addr: SocketAddr,
    /// The embedded DNS server's address (UDP and TCP).
    #[arg(long, env = "SATUSKY_DNS_ADDR", default_value = "127.0.0.1:5353")]
    pub dns_addr: SocketAddr,
    /// The platform DNS zone; apps get `APP-ORG.ZONE` (overrides `server.toml`).
    #[arg(long, env = "SATUSKY_DNS_ZONE")]
    pub dns_zone: Option<String>,
    /// How often every app's endpoints are re-probed.
    #[arg(long, env = "SATUSKY_PROBE_INTERVAL", default_value = "10s", value_parser = humantime_duration)]
    pub probe_interval: std::time::Duration,
    /// Also deploy this folder (with `1ctl deploy`) and stream its lifecycle.
    #[arg(long, value_name = "DIR")]
    pub deploy: Option<PathBuf>,
    /// Who the local runtime runs apps as when satusky runs as root (overrides `server.toml`
    /// `local_user`; default `satusky-app`, created if missing; `root` = single-tenant).
    #[arg(long, env = "SATUSKY_LOCAL_USER")]
    pub local_user: Option<String>,
    /// How long a build may run, from its first start, across restarts (overrides
    /// `server.toml build_timeout`; default 30m).
    #[arg(long, env = "SATUSKY_BUILD_TIMEOUT", value_parser = humantime_duration)]
    pub build_timeout: Option<std::time::Duration>,
    /// Local runtime: how often a ready replica's health path is checked again (overrides
    /// `server.toml ready_recheck`; default 2s, at least 250ms). One request per ready
    /// replica per interval.
    #[arg(long, env = "SATUSKY_READY_RECHECK", value_name = "DURATION", value_parser = humantime_duration)]
    pub ready_recheck: Option<std::time::Duration>,
}

fn humantime_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 10s or 1m: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for an org (the org is created if it does not exist); prints the token.
    Create(TokenCreateArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The org the token acts for.
    #[arg(long)]
    pub org: String,
    #[arg(long, value_enum, default_value = "admin")]
    pub role: RoleArg,
    /// Lifetime of the token, e.g. 12h, 30d, 8w (1h to 365d) [default: it does not expire].
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// What the token is for (1–64 characters), shown by `1ctl token list`.
    #[arg(long)]
    pub name: Option<String>,
}
