//! `satusky probe HOST…`: the flags ([`ProbeArgs`], clap derive) and [`run_cli`], which checks
//! the hostnames with `satusky_probe::Prober` and prints a table per hostname or, with
//! `-o json`, an array of `{"hostname", "dns", "tls", "http"}` planes in the SPEC §4 plane
//! format.
//!
//! Exit codes (mirroring `1ctl deploy`): **0** every plane of every hostname is ready
//! (`ExpiringSoon` counts as ready), **12** some plane is not ready ("degraded"), **2**
//! invalid input (an unreadable `--ca` file, a PEM without certificates); an error building
//! the prober (e.g. no system resolver configuration) is returned as `Err` (exit 1).
//!
//! DNS expectation: `--expect-address` / `--expect-cname`; without either, the `--edge`
//! address's IP is the expected address; without `--edge` too, any answer counts. Hostnames
//! outside `--zone` (all of them when it is not given) are custom domains: a DNS failure's
//! remediation names the exact record to create.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use comfy_table::{Cell, ContentArrangement, Table, presets};
use satusky_core::ExpectedStatus;
use satusky_core::hostnames::Zone;
use satusky_core::runtime::{EdgeInfo, EndpointTarget, ProbedEndpoint};
use satusky_probe::{
    DEFAULT_CONCURRENCY, ProbeConfig, ProbeError, Prober, Timeouts, parse_pem_certs,
};
use satusky_types::HostnameKind;

/// Exit code: every plane ready.
pub const EXIT_READY: i32 = 0;
/// Exit code: invalid input, nothing was checked.
pub const EXIT_INVALID: i32 = 2;
/// Exit code: some plane is not ready (same as `1ctl deploy`'s "degraded").
pub const EXIT_NOT_READY: i32 = 12;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Flags of `satusky probe`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "probe",
    about = "Check the DNS, TLS and HTTP planes of hostnames, standalone"
)]
pub struct ProbeArgs {
    /// Hostnames to check.
    #[arg(value_name = "HOST", required = true)]
    pub hosts: Vec<String>,
    /// DNS server to ask (repeatable); default: the system's resolvers.
    #[arg(long = "resolver", value_name = "IP:PORT")]
    pub resolvers: Vec<SocketAddr>,
    /// Where TLS and HTTP connect; default: the resolved address on port 443.
    #[arg(long, value_name = "IP:PORT")]
    pub edge: Option<SocketAddr>,
    /// PEM file of trust roots added to webpki-roots (repeatable).
    #[arg(long = "ca", value_name = "PEM")]
    pub ca: Vec<PathBuf>,
    /// Path of the HTTP check.
    #[arg(long, default_value = "/", value_parser = parse_path)]
    pub path: String,
    /// Expected HTTP statuses: classes and codes, e.g. `2xx`, `2xx,3xx`, `200,204`.
    #[arg(long, default_value = "2xx", value_parser = parse_expect)]
    pub expect: ExpectedStatus,
    /// The `x-satusky-release` the answer must carry, e.g. `acme/web@v4`.
    #[arg(long, value_name = "ORG/APP@vN")]
    pub expect_release: Option<String>,
    /// The hosts are redirect hosts: expect 301/308 to this URL.
    #[arg(long, value_name = "URL")]
    pub redirect_to: Option<String>,
    /// An edge address DNS must resolve to (repeatable); default: the `--edge` IP.
    #[arg(long = "expect-address", value_name = "IP")]
    pub expect_addresses: Vec<IpAddr>,
    /// A CNAME target DNS may lead through instead.
    #[arg(long, value_name = "NAME")]
    pub expect_cname: Option<String>,
    /// The platform zone: hostnames outside it are custom domains (default: all are).
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub zone: Option<Zone>,
    /// Time limit of each step (DNS, connect, TLS handshake, HTTP).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Hostnames checked at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(usize))]
    pub concurrency: usize,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

fn parse_expect(s: &str) -> Result<ExpectedStatus, satusky_core::expect::ExpectError> {
    ExpectedStatus::parse(s)
}

fn parse_zone(s: &str) -> Result<Zone, satusky_core::hostnames::ZoneError> {
    Zone::parse(s)
}

fn parse_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && !s.contains(char::is_whitespace) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a path: it must start with / and hold no spaces"
        ))
    }
}

/// Runs `satusky probe`: checks, prints (stdout), returns the exit code.
pub async fn run_cli(args: ProbeArgs) -> anyhow::Result<i32> {
    let (text, code) = run_cli_captured(args).await?;
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is not an error of the probe.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(code)
}

/// [`run_cli`] without printing: the text it would print and the exit code. Input errors are
/// printed on stderr and give [`EXIT_INVALID`] with no output.
pub async fn run_cli_captured(args: ProbeArgs) -> anyhow::Result<(String, i32)> {
    let (config, targets) = match plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {}", satusky_core::error_chain(&e));
            return Ok((String::new(), EXIT_INVALID));
        }
    };
    let prober = Prober::new(config).context("cannot set up the prober")?;
    let results = prober.check_all(&targets).await;
    let code = if results.iter().all(ProbedEndpoint::is_ready) {
        EXIT_READY
    } else {
        EXIT_NOT_READY
    };
    let text = match args.output {
        Output::Json => {
            let mut s = serde_json::to_string_pretty(&results).context("encoding JSON")?;
            s.push('\n');
            s
        }
        Output::Table => render_tables(&results),
    };
    Ok((text, code))
}

/// Input `satusky probe` cannot use: nothing is checked.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read --ca {}", path.display())]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--ca {}", path.display())]
    BadCa {
        path: PathBuf,
        #[source]
        source: ProbeError,
    },
}

/// Flags → prober configuration and targets.
pub fn plan(args: &ProbeArgs) -> Result<(ProbeConfig, Vec<EndpointTarget>), PlanError> {
    let mut extra_roots = Vec::new();
    for path in &args.ca {
        let pem = std::fs::read_to_string(path).map_err(|source| PlanError::ReadCa {
            path: path.clone(),
            source,
        })?;
        let certs = parse_pem_certs(&pem).map_err(|source| PlanError::BadCa {
            path: path.clone(),
            source,
        })?;
        extra_roots.extend(certs);
    }
    let config = ProbeConfig {
        resolvers: args.resolvers.clone(),
        edge: args.edge,
        extra_roots,
        timeouts: Timeouts::uniform(args.timeout),
        concurrency: args.concurrency.max(1),
    };
    let mut addresses = args.expect_addresses.clone();
    if addresses.is_empty()
        && args.expect_cname.is_none()
        && let Some(edge) = args.edge
    {
        addresses.push(edge.ip());
    }
    let edge = EdgeInfo {
        addresses,
        cname_target: args.expect_cname.clone(),
        probe_addr: args.edge,
    };
    let targets = args
        .hosts
        .iter()
        .map(|host| {
            let platform_owned = args.zone.as_ref().is_some_and(|zone| zone.contains(host));
            EndpointTarget {
                hostname: host.trim_end_matches('.').to_string(),
                kind: match (&args.redirect_to, platform_owned) {
                    (Some(_), _) => HostnameKind::Redirect,
                    (None, true) => HostnameKind::Generated,
                    (None, false) => HostnameKind::Alias,
                },
                platform_owned,
                path: args.path.clone(),
                expect: args.expect.to_string(),
                expect_release: args.expect_release.clone(),
                redirect_to: args.redirect_to.clone(),
                edge: edge.clone(),
                http_timeout: None,
            }
        })
        .collect();
    Ok((config, targets))
}

/// One plain table per hostname: plane, state, reason, message, remediation.
pub fn render_tables(results: &[ProbedEndpoint]) -> String {
    let mut out = String::new();
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let verdict = if r.is_ready() { "ready" } else { "not ready" };
        let _ = writeln!(out, "{} ({verdict})", r.hostname);
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .force_no_tty()
            .set_header(["PLANE", "STATE", "REASON", "MESSAGE", "REMEDIATION"].map(Cell::new));
        for (name, p) in r.planes() {
            table.add_row([
                name.to_string(),
                p.state.to_string(),
                p.reason.to_string(),
                p.message.clone(),
                p.remediation.clone().unwrap_or_default(),
            ]);
        }
        for line in table.lines() {
            // The preset pads every cell by one space: drop the padding at the edges.
            let line = line.strip_prefix(' ').unwrap_or(&line);
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn flags_default_as_documented() {
        let args = ProbeArgs::try_parse_from(["probe", "a.example"]).unwrap();
        assert_eq!(args.path, "/");
        assert_eq!(args.expect.to_string(), "2xx");
        assert_eq!(args.timeout, Duration::from_secs(5));
        assert_eq!(args.output, Output::Table);
        assert!(
            ProbeArgs::try_parse_from(["probe"]).is_err(),
            "a host is required"
        );
        assert!(ProbeArgs::try_parse_from(["probe", "a", "--path", "x"]).is_err());
        assert!(ProbeArgs::try_parse_from(["probe", "a", "--expect", "2xz"]).is_err());
    }

    #[test]
    fn the_edge_ip_is_the_default_dns_expectation_and_zone_marks_custom_domains() {
        let args = ProbeArgs::try_parse_from([
            "probe",
            "web-acme.apps.test",
            "shop.example.com",
            "--edge",
            "127.0.0.1:8443",
            "--zone",
            "apps.test",
            "--expect-release",
            "acme/web@v4",
            "--timeout",
            "250ms",
        ])
        .unwrap();
        let (config, targets) = plan(&args).unwrap();
        assert_eq!(config.timeouts.tls, Duration::from_millis(250));
        assert_eq!(
            targets[0].edge.addresses,
            ["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert!(targets[0].platform_owned);
        assert!(!targets[1].platform_owned);
        assert_eq!(targets[1].expect_release.as_deref(), Some("acme/web@v4"));
    }

    #[test]
    fn zone_membership_is_by_whole_labels() {
        let zone = |z: &str| Zone::parse(z).unwrap();
        assert!(zone("apps.test.").contains("web-acme.apps.test"));
        assert!(zone("apps.test").contains("APPS.test"));
        assert!(!zone("apps.test").contains("evilapps.test"));
        assert!(!zone("apps.test").contains("apps.test.example"));
    }

    #[test]
    fn an_unreadable_ca_is_invalid_input() {
        let args = ProbeArgs::try_parse_from(["probe", "a.example", "--ca", "/nonexistent/ca.pem"])
            .unwrap();
        let err = satusky_core::error_chain(&plan(&args).unwrap_err());
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod cli_tests;
