//! The command line of `1ctl` (clap derive): global options and the command tree.
//!
//! Only the shape of the arguments lives here; what each command does is in `commands/`.
//! Global options are `global = true` so they are accepted before or after the subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default API address: `satusky dev` and `satusky serve` listen here.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:7070";

/// The help section listing the options every command accepts.
const GLOBAL: &str = "Global options";

/// `1ctl`: deploy and operate apps on a Satusky control plane.
#[derive(Debug, Parser)]
#[command(name = "1ctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Profile to use (default: the current profile of $SATUSKY_HOME/config.toml).
    #[arg(long, global = true, env = "SATUSKY_PROFILE", value_name = "NAME", help_heading = GLOBAL)]
    pub profile: Option<String>,
    /// Control plane API URL [default: the profile's, else http://127.0.0.1:7070].
    #[arg(long, global = true, env = "SATUSKY_API_URL", value_name = "URL", help_heading = GLOBAL)]
    pub api_url: Option<String>,
    /// API token (prefer SATUSKY_TOKEN: flags show up in process lists).
    #[arg(
        long,
        global = true,
        env = "SATUSKY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = GLOBAL
    )]
    pub token: Option<String>,
    /// Organisation [default: the profile's, else the token's org].
    #[arg(long, global = true, value_name = "ORG", help_heading = GLOBAL)]
    pub org: Option<String>,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Table, help_heading = GLOBAL)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in, log out, show who you are.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Manage profiles (API URL, token and org per control plane).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Show the organisation commands act on.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Write a satusky.toml for this folder (the build and start commands detected from it).
    #[command(alias = "launch")]
    Init(InitArgs),
    /// Deploy the app of this folder and wait until it is ready.
    Deploy(Box<DeployArgs>),
    /// Inspect and operate apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Create, list and revoke the org's API tokens (admin tokens only).
    #[command(subcommand)]
    Token(TokenCommand),
    /// An app's custom domains: add, list, check, setup, remove.
    ///
    /// A custom domain is routed, certified and served only once its ownership is proven: a
    /// TXT record `_satusky-challenge.HOST` holding your org's value (`setup` prints it).
    #[command(subcommand)]
    Domains(DomainsCommand),
    /// An app's log lines (or, with --build, a release's build log).
    ///
    /// One line per log line, prefixed with its release, replica and (for stderr) stream;
    /// `-o json` gives one JSON object per line.
    Logs(Box<LogsArgs>),
    /// An app's env values: set, unset, list (values shown, with who set each).
    ///
    /// A change of an app that runs is a new release of the same artifact (no rebuild),
    /// rolled out and waited for like a deploy.
    #[command(subcommand)]
    Env(EnvCommand),
    /// An app's secrets: set, unset, list (names and versions; values are never shown).
    ///
    /// Admin tokens only. A change of an app that runs is a new release of the same artifact
    /// (no rebuild), rolled out and waited for like a deploy.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// The template catalog: list, get, deploy and upgrade apps made from templates.
    ///
    /// A template (redis, postgres, a static site, …) resolves into an ordinary app spec and
    /// deploys through the same lifecycle as `1ctl deploy`: same progress, exit codes and
    /// `-o json` document; its releases say `template(NAME@VERSION)`.
    #[command(subcommand)]
    Marketplace(MarketplaceCommand),
    /// Write an output of a service made from a template (e.g. its URL) into another app's
    /// secret, and roll that app (members may; the value is never shown).
    Bind(Box<BindArgs>),
}

#[derive(Debug, Subcommand)]
pub enum MarketplaceCommand {
    /// Every template of the catalog (newest version).
    List,
    /// One template: its parameters, outputs and what it needs on each runtime.
    #[command(disable_version_flag = true)]
    Get {
        /// NAME or NAME@VERSION.
        #[arg(value_name = "NAME[@VERSION]")]
        template: String,
    },
    /// Deploy an app from a template (or redeploy it with new values) and wait until it is
    /// ready.
    #[command(disable_version_flag = true)]
    Deploy(Box<MarketplaceDeployArgs>),
    /// Move an app made from a template to a newer template version (its stored values kept,
    /// checked against that version before anything changes).
    #[command(disable_version_flag = true)]
    Upgrade(Box<MarketplaceUpgradeArgs>),
}

#[derive(Debug, Args)]
pub struct MarketplaceDeployArgs {
    /// NAME or NAME@VERSION (`1ctl marketplace list` shows them).
    #[arg(value_name = "NAME[@VERSION]")]
    pub template: String,
    /// The app to create (default: the template's name).
    #[arg(value_name = "APP")]
    pub app: Option<String>,
    /// A parameter's value, NAME=VALUE (repeat for several).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The template version (same as NAME@VERSION).
    #[arg(long, value_name = "V")]
    pub version: Option<u32>,
    /// Bind the new service into this app (its url output into the app's secret, e.g.
    /// DATABASE_URL); repeat for several.
    #[arg(long, value_name = "APP")]
    pub bind: Vec<String>,
    /// The folder a template that serves your files uploads (default: this folder).
    #[arg(long, value_name = "PATH")]
    pub dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct MarketplaceUpgradeArgs {
    /// The app made from a template.
    #[arg(value_name = "APP")]
    pub app: String,
    /// The version to move to (default: the newest).
    #[arg(long, value_name = "V")]
    pub version: Option<u32>,
    /// A parameter's value, NAME=VALUE (repeat for several).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct BindArgs {
    /// The service (an app made from a template), e.g. db.
    #[arg(value_name = "SERVICE")]
    pub service: String,
    /// The app whose secret receives the output, e.g. web.
    #[arg(value_name = "APP")]
    pub target: String,
    /// Which output (default: url; `1ctl marketplace get NAME` lists them).
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// The secret to write (default: the template's, e.g. DATABASE_URL for postgres).
    #[arg(long = "as", value_name = "SECRET")]
    pub secret: Option<String>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: AppTarget,
    /// The newest N lines (1–10000).
    #[arg(long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub tail: u32,
    /// Only lines from this long ago on, e.g. 10m.
    #[arg(long, value_name = "D")]
    pub since: Option<String>,
    /// Only this release's replicas, e.g. v3.
    #[arg(long, value_name = "vN")]
    pub release: Option<String>,
    /// Only this replica.
    #[arg(long, value_name = "R")]
    pub replica: Option<String>,
    /// Keep printing new lines until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print a release's build log instead (default: the latest release), also after the
    /// deploy that ran it has exited.
    #[arg(long, value_name = "vN", num_args = 0..=1, default_missing_value = None,
          conflicts_with_all = ["follow", "since", "replica", "release"])]
    pub build: Option<Option<String>>,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Set env values: KEY=VALUE …
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Record the change for the app's next deploy instead of rolling it out now (also
        /// while a deploy is in flight).
        #[arg(long)]
        stage: bool,
        #[command(flatten)]
        target: DomainsTarget,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Remove env keys: KEY …
    Unset {
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Record the change for the app's next deploy instead of rolling it out now (also
        /// while a deploy is in flight).
        #[arg(long)]
        stage: bool,
        #[command(flatten)]
        target: DomainsTarget,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List the app's env values and who set each (satusky.toml or the CLI).
    List {
        #[command(flatten)]
        target: DomainsTarget,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set secrets: KEY=VALUE, KEY=@FILE (the file's bytes) or KEY=- (standard input).
    Set {
        #[arg(required = true, value_name = "KEY=VALUE|KEY=@FILE|KEY=-")]
        pairs: Vec<String>,
        /// Record the change for the app's next deploy instead of rolling it out now (also
        /// while a deploy is in flight).
        #[arg(long)]
        stage: bool,
        #[command(flatten)]
        target: DomainsTarget,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Remove secrets: KEY …
    Unset {
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
        /// Record the change for the app's next deploy instead of rolling it out now (also
        /// while a deploy is in flight).
        #[arg(long)]
        stage: bool,
        #[command(flatten)]
        target: DomainsTarget,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List the app's secrets: names, versions, when each changed (never values).
    List {
        #[command(flatten)]
        target: DomainsTarget,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// Add a custom domain to the app; prints the DNS records to create.
    Add {
        /// The hostname, e.g. shop.example.com.
        host: String,
        /// Make it a redirect host: answer 308 to this URL (e.g. https://example.com).
        #[arg(long, value_name = "URL")]
        redirect_to: Option<String>,
        /// Also add www.HOST, redirecting to HOST.
        #[arg(long)]
        with_www: bool,
        #[command(flatten)]
        target: DomainsTarget,
    },
    /// List the app's domains with their source, ownership proof and certificate.
    List {
        #[command(flatten)]
        target: DomainsTarget,
    },
    /// Look the ownership proof up and read route, DNS, TLS and HTTP now, each with its fix.
    ///
    /// Exits 0 when every plane is ready, 12 when one is not.
    Check {
        host: String,
        #[command(flatten)]
        target: DomainsTarget,
    },
    /// Print the DNS records to create: the ownership TXT, then a CNAME (subdomain) or A/AAAA
    /// records (apex) pointing at the edge.
    Setup {
        host: String,
        #[command(flatten)]
        target: DomainsTarget,
    },
    /// Remove a domain: it stops being served at once (admin tokens only).
    Remove {
        host: String,
        /// Confirm the removal.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        target: DomainsTarget,
    },
}

/// Which app a `domains` command is about.
#[derive(Debug, Args)]
pub struct DomainsTarget {
    /// App name [default: `[app] name` of satusky.toml in the current folder].
    #[arg(long, value_name = "APP")]
    pub app: Option<String>,
    /// Read the default app name from satusky.NAME.toml.
    #[arg(long, value_name = "NAME")]
    pub config: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (alone on stdout; it is shown this once).
    Create {
        /// The new token's role.
        #[arg(long, value_enum, default_value_t = RoleArg::Member)]
        role: RoleArg,
        /// Lifetime, e.g. 12h, 30d, 8w (1h to 365d) [default: it does not expire].
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// What the token is for (1–64 characters), e.g. ci.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the org's tokens (never their secrets): live ones first.
    List,
    /// Revoke a token by id (`tok_…`, from `1ctl token list`); it is refused from the next
    /// request on. Revoking the token you are using is allowed.
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// A token's role, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Admin,
    Member,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Verify a token and store it in the current (or --profile) profile.
    ///
    /// The token comes from --token, else from stdin when it is not a terminal, else from a
    /// prompt.
    Login,
    /// Remove the stored token from the current (or --profile) profile.
    Logout,
    /// Show who you are, which API you talk to and where the credentials come from.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create a profile from --api-url (required), --token and --org.
    Create {
        /// Profile name.
        name: String,
    },
    /// Make a profile the current one.
    Use { name: String },
    /// List the profiles.
    List,
    /// Show the current profile.
    Current,
    /// Delete a profile.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// List the orgs you can act on (a token belongs to one org).
    List,
    /// Show the org commands act on, and where it comes from.
    Current,
    /// Store ORG as the org of the current (or --profile) profile.
    Switch { org: String },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Write satusky.NAME.toml instead of satusky.toml.
    #[arg(long, value_name = "NAME")]
    pub config: Option<String>,
    /// App name [default: the folder name, made into a valid app name].
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Folder to write into [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Never ask (init asks nothing today; scripts pass it so they keep working if it does).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Which dimension `deploy` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    Build,
    Workload,
    Endpoint,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Read satusky.NAME.toml instead of satusky.toml.
    #[arg(long, value_name = "NAME")]
    pub config: Option<String>,
    /// Folder holding the config [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// How `deploy` and `app rollback` wait for the release they started (same exit codes).
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// What must be ready before exiting 0.
    #[arg(long, value_enum, default_value_t = WaitFor::Endpoint)]
    pub wait_for: WaitFor,
    /// Exit once the control plane accepted the release.
    #[arg(long, conflicts_with = "wait_for")]
    pub no_wait: bool,
    /// Give up waiting after this long (exit 13, or 12 if only endpoints are not ready).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15m")]
    pub timeout: Duration,
}

/// Flags overriding `satusky.toml` fields.
#[derive(Debug, Args)]
pub struct OverrideArgs {
    /// [app] name.
    #[arg(long)]
    pub name: Option<String>,
    /// [app] port.
    #[arg(long)]
    pub port: Option<u16>,
    /// [app] replicas.
    #[arg(long)]
    pub replicas: Option<u32>,
    /// [app] cpu (request), e.g. 250m.
    #[arg(long)]
    pub cpu: Option<String>,
    /// [app] cpu_limit.
    #[arg(long)]
    pub cpu_limit: Option<String>,
    /// [app] memory (request), e.g. 256Mi.
    #[arg(long)]
    pub memory: Option<String>,
    /// [app] memory_limit.
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// [app] image: deploy a prebuilt image (skips the build).
    #[arg(long)]
    pub image: Option<String>,
    /// [app] zone.
    #[arg(long)]
    pub zone: Option<String>,
    /// [app] command: repeat once per argument (`--command ./server --command -v`), or give
    /// one TOML/JSON array (`--command '["./server", "-v"]'`). Never shell-split.
    #[arg(long, allow_hyphen_values = true, value_name = "ARG")]
    pub command: Vec<String>,
    /// [build] command (local runtime).
    #[arg(long)]
    pub build_command: Option<String>,
    /// [checks] path, e.g. /healthz.
    #[arg(long)]
    pub checks_path: Option<String>,
    /// [checks] expect, e.g. 2xx.
    #[arg(long)]
    pub checks_expect: Option<String>,
    /// [checks] timeout, e.g. 2s.
    #[arg(long)]
    pub checks_timeout: Option<String>,
    /// [deploy] strategy: rolling or recreate.
    #[arg(long)]
    pub strategy: Option<String>,
    /// [deploy] progress_deadline, e.g. 10m.
    #[arg(long)]
    pub progress_deadline: Option<String>,
    /// [app] expose: http (public hostnames), tcp (a TCP service inside the org) or none.
    #[arg(long)]
    pub expose: Option<String>,
    /// [env] entry KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List the org's apps.
    List,
    /// Show an app: spec, releases, hostnames.
    Get(AppTarget),
    /// Show the readiness report: build, workload, and every plane of every hostname.
    Status {
        #[command(flatten)]
        target: AppTarget,
        /// Then follow the app's events (phase, build log, rollout, planes) until Ctrl-C; the
        /// current release's earlier events come first, between marker lines.
        #[arg(long)]
        watch: bool,
    },
    /// List the app's releases, newest first (`*` marks the active one).
    Releases(AppTarget),
    /// Show the app's events — phases, releases, build log, rollouts, planes, drift,
    /// domains — one line each (`-o json`: one event per line).
    ///
    /// The last N come first, marked as earlier events; `--follow` then shows live ones
    /// until Ctrl-C.
    Events {
        #[command(flatten)]
        target: AppTarget,
        /// How many of the latest events to show first.
        #[arg(long, default_value_t = 20, value_name = "N",
              value_parser = clap::value_parser!(u64).range(0..=10_000))]
        last: u64,
        /// Then follow live events until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Roll back to an older release's snapshot: a new release, never rebuilt.
    ///
    /// The new release is waited on like a deploy, with the same exit codes (0, 11 when the
    /// old image no longer runs, 12, 13, 14) and the same `-o json` document. The app stays
    /// pinned to it until the next `1ctl deploy`. Volume data and the DNS records of custom
    /// domains are not reverted.
    #[command(disable_version_flag = true)]
    Rollback(Box<RollbackArgs>),
    /// Run N replicas of the active release (no new release).
    ///
    /// Waited on like `deploy --wait-for workload` (exit 0, 11 when the replicas do not come
    /// up, 13 at --timeout). The count is kept across control-plane restarts, env/secret
    /// changes and rollbacks, until a deploy whose satusky.toml sets `replicas`. Refused while
    /// [hpa] scales the app.
    Scale(ScaleArgs),
    /// Replace every replica of the active release, a new one ready before an old one stops
    /// (no new release).
    ///
    /// Waited on like `deploy --wait-for workload` (exit 0, 11, 13).
    Restart(RestartArgs),
    /// Show drift: where routes, DNS, certificates or HTTP answers differ from the store.
    ///
    /// Open findings first, then healed ones; drift the platform owns (routes, records in its
    /// zone) heals on its own, drift you own (a custom domain's DNS) comes with the fix. A
    /// report: exits 0 whatever it finds.
    Drift {
        #[command(flatten)]
        target: AppTarget,
        /// Run a drift check now and show its fresh findings.
        #[arg(long)]
        check: bool,
    },
    /// Delete the app, its releases and hostnames. Its volumes ([volume]) and their data are
    /// kept and listed — an app deployed again under the same name uses them — unless
    /// --purge-volumes.
    Destroy {
        #[command(flatten)]
        target: AppTarget,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
        /// Delete the app's volumes and their data too. Also for an app already destroyed:
        /// deletes the volumes it kept.
        #[arg(long)]
        purge_volumes: bool,
    },
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: AppTarget,
    /// The release whose snapshot to run again [default: the previous active release].
    #[arg(long = "version", id = "rollback_version", value_name = "N")]
    pub version: Option<u64>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// How many replicas to run (0–1000).
    #[arg(value_name = "N")]
    pub replicas: u32,
    #[command(flatten)]
    pub target: DomainsTarget,
    #[command(flatten)]
    pub wait: OperationWait,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub target: AppTarget,
    #[command(flatten)]
    pub wait: OperationWait,
}

/// How `app scale` and `app restart` wait: for the workload, like `deploy --wait-for
/// workload`.
#[derive(Debug, Args)]
pub struct OperationWait {
    /// Exit once the control plane accepted it.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this long (exit 13).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15m")]
    pub timeout: Duration,
}

impl OperationWait {
    /// The same wait as `deploy --wait-for workload`.
    pub fn as_wait(&self) -> WaitArgs {
        WaitArgs {
            wait_for: WaitFor::Workload,
            no_wait: self.no_wait,
            timeout: self.timeout,
        }
    }
}

/// Which app: the argument, else `[app] name` of the folder's config.
#[derive(Debug, Args)]
pub struct AppTarget {
    /// App name [default: `[app] name` of satusky.toml in the current folder].
    pub app: Option<String>,
    /// Read the default app name from satusky.NAME.toml.
    #[arg(long, value_name = "NAME")]
    pub config: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn output_is_accepted_before_and_after_the_subcommand() {
        let before = Cli::try_parse_from(["1ctl", "-o", "json", "app", "list"]).map(|c| c.global);
        let after = Cli::try_parse_from(["1ctl", "app", "list", "-o", "json"]).map(|c| c.global);
        assert_eq!(before.map(|g| g.output).ok(), Some(Output::Json));
        assert_eq!(after.map(|g| g.output).ok(), Some(Output::Json));
    }

    #[test]
    fn command_accepts_repeats_and_hyphens() {
        let cli = Cli::try_parse_from([
            "1ctl",
            "deploy",
            "--command",
            "./server",
            "--command",
            "-v",
            "--port",
            "9000",
        ]);
        let Ok(Cli {
            command: Command::Deploy(args),
            ..
        }) = cli
        else {
            panic!("deploy did not parse");
        };
        assert_eq!(args.overrides.command, vec!["./server", "-v"]);
        assert_eq!(args.overrides.port, Some(9000));
        assert_eq!(args.wait.timeout, Duration::from_secs(15 * 60));
    }

    #[test]
    fn rollback_takes_a_version_and_the_wait_flags() {
        let cli = Cli::try_parse_from([
            "1ctl",
            "app",
            "rollback",
            "web",
            "--version",
            "1",
            "--wait-for",
            "workload",
            "--timeout",
            "2m",
        ]);
        let Ok(Cli {
            command: Command::App(AppCommand::Rollback(args)),
            ..
        }) = cli
        else {
            panic!("rollback did not parse");
        };
        assert_eq!(args.target.app.as_deref(), Some("web"));
        assert_eq!(args.version, Some(1));
        assert_eq!(args.wait.wait_for, WaitFor::Workload);
        assert_eq!(args.wait.timeout, Duration::from_secs(120));
        assert!(!args.wait.no_wait);
        let conflict = Cli::try_parse_from([
            "1ctl",
            "app",
            "rollback",
            "--no-wait",
            "--wait-for",
            "build",
        ]);
        assert!(conflict.is_err(), "--no-wait conflicts with --wait-for");
        // `1ctl --version` still prints the version.
        let top = Cli::try_parse_from(["1ctl", "--version"])
            .map(|_| ())
            .map_err(|e| e.kind());
        assert_eq!(top, Err(clap::error::ErrorKind::DisplayVersion));
    }
}
