//! Resolving where the store is and reading `STATE_DIR/server.toml` (server settings that
//! flags and env vars override).

use std::path::Path;

use anyhow::{Context, Result};
use satusky_core::hostnames::Zone;
use satusky_core::names;
use satusky_store::Store;
use serde::Deserialize;

use crate::cli::StoreArgs;

/// Open (and migrate) the store the flags point at, creating the state dir if needed.
pub async fn open_store(args: &StoreArgs) -> Result<Store> {
    let store = match &args.database_url {
        Some(url) => Store::open(url)
            .await
            .with_context(|| format!("cannot open the database at {}", redact(url)))?,
        None => {
            std::fs::create_dir_all(&args.state_dir).with_context(|| {
                format!("cannot create the state dir {}", args.state_dir.display())
            })?;
            let path = args.state_dir.join("state.db");
            Store::open_sqlite_file(&path)
                .await
                .with_context(|| format!("cannot open the SQLite store {}", path.display()))?
        }
    };
    store
        .migrate()
        .await
        .context("cannot apply the store's migrations")?;
    Ok(store)
}

/// A URL with any password blanked, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The flags `serve --runtime kubernetes` adds to `server.toml`.
pub struct KubeFlags {
    pub state_dir: std::path::PathBuf,
    pub kubeconfig: Option<std::path::PathBuf>,
    pub probe_interval: std::time::Duration,
    pub build_timeout: Option<std::time::Duration>,
}

/// `STATE_DIR/server.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerToml {
    pub dns_zone: Option<String>,
    /// Extra records the embedded DNS server answers (`satusky dev`): e.g. a custom domain's
    /// record, to try custom domains on one machine.
    #[serde(default)]
    pub dns_records: Vec<DnsRecordToml>,
    /// Kubernetes runtime: the platform Gateway (`NAMESPACE/NAME`).
    pub gateway: Option<String>,
    /// Kubernetes runtime: serve the platform zone from the embedded authoritative DNS server
    /// on this address (UDP and TCP), its names pointing at the Gateway's addresses. Delegate
    /// the zone to it (NS records at the parent) and Satusky owns, checks and heals its
    /// records. Unset: the zone is someone else's (external-dns, a wildcard record), and a
    /// record found wrong stays a finding until they fix it.
    pub dns_listen: Option<std::net::SocketAddr>,
    /// Where the prober connects for TLS and HTTP (default: the resolved address on 443).
    pub probe_edge: Option<std::net::SocketAddr>,
    /// DNS servers the DNS plane asks (default: the system's).
    #[serde(default)]
    pub resolvers: Vec<std::net::SocketAddr>,
    /// Kubernetes: the cert-manager issuer of custom domains' certificates, `NAME` (a
    /// ClusterIssuer), `ClusterIssuer/NAME` or `Issuer/NAME` (default `satusky-acme`).
    pub cert_issuer: Option<String>,
    /// Extra trust roots (PEM files) for the TLS plane, beside webpki-roots.
    #[serde(default)]
    pub ca_files: Vec<std::path::PathBuf>,
    /// Kubernetes builds: the registry (and path) images are pushed to; without it, apps on
    /// Kubernetes deploy with an `image` only.
    pub registry: Option<String>,
    /// Kubernetes builds: the API's base URL as build pods reach it.
    pub build_api_url: Option<String>,
    /// Kubernetes builds: a dockerconfigjson Secret (in each org's namespace) with push
    /// credentials for the registry.
    pub registry_secret: Option<String>,
    /// No longer used: custom domains are routed once their ownership is proven (TXT
    /// `_satusky-challenge.HOST`; `1ctl domains setup`). Still read so older files load; a
    /// `true` here is reported at start.
    #[serde(default)]
    pub allow_unproven_domains: bool,
    /// Local runtime: who replicas and builds run as when satusky runs as root (default
    /// `satusky-app`, created as a system user if missing; `root` runs them as root,
    /// single-tenant). Ignored when satusky is not root: apps then run as its user.
    pub local_user: Option<String>,
    /// Kubernetes builds: how often a build Job is polled (default 2s).
    #[serde(default, with = "humantime_serde_opt")]
    pub build_poll: Option<std::time::Duration>,
    /// How long a build may run, counted from its first start, also across restarts (default
    /// 30m); `--build-timeout` / `SATUSKY_BUILD_TIMEOUT` override it.
    #[serde(default, with = "humantime_serde_opt")]
    pub build_timeout: Option<std::time::Duration>,
    /// Local runtime: how often a ready replica's health path is checked again (default 2s,
    /// at least 250ms); `--ready-recheck` / `SATUSKY_READY_RECHECK` override it.
    #[serde(default, with = "humantime_serde_opt")]
    pub ready_recheck: Option<std::time::Duration>,
    /// How long custom domains that existed before ownership proof keep serving unproven
    /// (e.g. `7d`, the default; `0s` stops them at once).
    #[serde(default, with = "humantime_serde_opt")]
    pub domain_grace: Option<std::time::Duration>,
    /// Local runtime: custom domains get certificates from this ACME server (the platform
    /// zone keeps the local CA). Unset: the local CA signs every hostname.
    pub acme: Option<AcmeToml>,
    /// The keys apps' secrets are sealed with, the first sealing and every one opening
    /// (`SATUSKY_SECRET_KEYS=ID=FILE,…` replaces the list). Each file holds 64 hex characters
    /// (`openssl rand -hex 32`). `satusky dev` creates one when none is set.
    #[serde(default)]
    pub secret_keys: Vec<SecretKeyToml>,
}

/// `secret_keys = [{ id = "k2", file = "/etc/satusky/k2.key" }]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyToml {
    /// 1–32 of a–z, 0–9, '-' and '_'; stored beside every value it seals.
    pub id: String,
    /// The key file.
    pub file: std::path::PathBuf,
}

/// `[acme] directory = "https://…/dir", ca_file = "…pem", email = "…"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeToml {
    /// The ACME directory URL (https).
    pub directory: String,
    /// PEM root(s) that verify the directory's TLS certificate.
    pub ca_file: std::path::PathBuf,
    /// The ACME account's contact address.
    pub email: Option<String>,
}

/// `"2s"`-style durations in server.toml.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<std::time::Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `[[dns_records]] name = "api.example.test", a = "127.0.0.1"` (or `a = ["…", "…"]`,
/// `cname = "…"`, `txt = "…"` or `txt = ["…", "…"]`). The name may have labels starting with
/// `_` (`_satusky-challenge.shop.example.test`); entries with the same name add up.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordToml {
    pub name: String,
    #[serde(default)]
    pub a: OneOrMany<std::net::IpAddr>,
    pub cname: Option<String>,
    #[serde(default)]
    pub txt: OneOrMany<String>,
}

/// One value or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T: Clone> OneOrMany<T> {
    fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

impl ServerToml {
    /// A zone holding the extra records.
    pub fn dns_records(&self) -> Result<satusky_dns::ZoneRecords> {
        let records = satusky_dns::ZoneRecords::new();
        records.replace_static(self.dns_record_sets()?);
        Ok(records)
    }

    /// The extra records, one set per name (entries with the same name merged, in order).
    pub fn dns_record_sets(&self) -> Result<Vec<(String, Vec<satusky_dns::RecordData>)>> {
        use satusky_dns::RecordData;
        let mut sets: Vec<(String, Vec<RecordData>)> = Vec::new();
        for (i, r) in self.dns_records.iter().enumerate() {
            names::validate_record_name(&r.name)
                .map_err(|e| anyhow::anyhow!("server.toml dns_records[{i}].name: {e}"))?;
            let mut data: Vec<RecordData> = r.a.to_vec().into_iter().map(RecordData::A).collect();
            if let Some(c) = &r.cname {
                names::validate_hostname(c.trim_end_matches('.'))
                    .map_err(|e| anyhow::anyhow!("server.toml dns_records[{i}].cname: {e}"))?;
                data.push(RecordData::Cname(c.clone()));
            }
            for t in r.txt.to_vec() {
                if t.len() > 255 {
                    anyhow::bail!(
                        "server.toml dns_records[{i}].txt: a TXT value holds at most 255 characters, this one {}",
                        t.len()
                    );
                }
                data.push(RecordData::Txt(t));
            }
            if data.is_empty() {
                anyhow::bail!(
                    "server.toml dns_records[{i}] ({}): give `a`, `cname` or `txt`",
                    r.name
                );
            }
            match sets.iter_mut().find(|(n, _)| *n == r.name) {
                Some((_, existing)) => existing.extend(data),
                None => sets.push((r.name.clone(), data)),
            }
        }
        for (name, data) in &sets {
            let cname = data.iter().any(|d| matches!(d, RecordData::Cname(_)));
            if cname && data.len() > 1 {
                anyhow::bail!(
                    "server.toml dns_records: {name} has a `cname` and other records; a CNAME must be the name's only record"
                );
            }
        }
        Ok(sets)
    }
}

impl ServerToml {
    /// The Kubernetes stack's settings from this file, the flags' `base` and the zone.
    pub fn kube_stack(
        &self,
        base: KubeFlags,
        zone: Zone,
    ) -> Result<satusky_stack::KubeStackConfig> {
        let builds = match (&self.registry, &self.build_api_url) {
            (Some(registry), Some(api_url)) => Some(satusky_stack::KubeBuilds {
                registry: registry.clone(),
                api_url: api_url.clone(),
                registry_secret: self.registry_secret.clone(),
                poll: self.build_poll,
            }),
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!(
                    "server.toml: builds on Kubernetes need both `registry` and `build_api_url`"
                )
            }
            (None, None) => None,
        };
        let gateway = match &self.gateway {
            Some(g) => satusky_kube::GatewayRef::parse(g)
                .map_err(|e| anyhow::anyhow!("server.toml gateway: {e}"))?,
            None => satusky_kube::GatewayRef::default(),
        };
        let extra_roots = self.extra_roots()?;
        let issuer = match &self.cert_issuer {
            Some(i) => satusky_kube::IssuerRef::parse(i)
                .map_err(|e| anyhow::anyhow!("server.toml cert_issuer: {e}"))?,
            None => satusky_kube::IssuerRef::default(),
        };
        let dns = match self.dns_listen {
            Some(addr) => Some((addr, self.dns_records()?)),
            None => None,
        };
        Ok(satusky_stack::KubeStackConfig {
            state_dir: base.state_dir,
            zone,
            kubeconfig: base.kubeconfig,
            probe_interval: base.probe_interval,
            build_timeout: build_timeout(base.build_timeout, self)?,
            gateway,
            builds,
            probe_edge: self.probe_edge,
            resolvers: self.resolvers.clone(),
            extra_roots,
            dns,
            issuer,
        })
    }

    /// The roots of `ca_files`, read and parsed; the error names the file.
    pub fn extra_roots(&self) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
        let mut extra_roots = Vec::new();
        for ca in &self.ca_files {
            let pem = std::fs::read_to_string(ca)
                .with_context(|| format!("server.toml ca_files: cannot read {}", ca.display()))?;
            extra_roots.extend(
                satusky_probe::parse_pem_certs(&pem)
                    .with_context(|| format!("server.toml ca_files: {}", ca.display()))?,
            );
        }
        Ok(extra_roots)
    }

    /// `[acme]` checked (the directory a URL, `ca_file` readable): the error names the field.
    pub fn acme(&self) -> Result<Option<satusky_local::acme::AcmeConfig>> {
        let Some(a) = &self.acme else {
            return Ok(None);
        };
        satusky_local::acme::AcmeConfig::new(&a.directory, &a.ca_file, a.email.clone())
            .map(Some)
            .map_err(|e| anyhow::anyhow!("server.toml [acme] {}", satusky_core::error_chain(&e)))
    }

    /// Who the local runtime runs apps as: the flag or env var, then `local_user`, then
    /// `default` (`None`: the control plane's own user); looked up (or created) once, now.
    pub fn isolation(
        &self,
        flag: Option<&str>,
        default: Option<&str>,
    ) -> Result<satusky_local::isolation::Isolation> {
        use satusky_local::isolation::{Isolation, resolve};
        match flag.or(self.local_user.as_deref()).or(default) {
            Some(user) => Ok(resolve(user)?),
            None => Ok(Isolation::SameUser),
        }
    }
}

/// The build timeout: the flag (or its env var), else `server.toml`, else the default. Zero is
/// refused (every build would fail at once).
pub fn build_timeout(
    flag: Option<std::time::Duration>,
    file: &ServerToml,
) -> Result<std::time::Duration> {
    let (value, source) = match (flag, file.build_timeout) {
        (Some(v), _) => (v, "--build-timeout (SATUSKY_BUILD_TIMEOUT)"),
        (None, Some(v)) => (v, "server.toml build_timeout"),
        (None, None) => return Ok(satusky_server::engine::DEFAULT_BUILD_TIMEOUT),
    };
    if value.is_zero() {
        anyhow::bail!("{source} must be longer than 0, e.g. \"30m\"");
    }
    Ok(value)
}

/// How often the local runtime re-checks a ready replica: the flag (or its env var), else
/// `server.toml`, else the default (2s). Below 250ms is refused: a replica that is not ready
/// yet is probed every 250ms, a ready one never more often.
pub fn ready_recheck(
    flag: Option<std::time::Duration>,
    file: &ServerToml,
) -> Result<std::time::Duration> {
    use satusky_local::supervisor::{READY_RECHECK, READY_RECHECK_MIN};
    let (value, source) = match (flag, file.ready_recheck) {
        (Some(v), _) => (v, "--ready-recheck (SATUSKY_READY_RECHECK)"),
        (None, Some(v)) => (v, "server.toml ready_recheck"),
        (None, None) => return Ok(READY_RECHECK),
    };
    if value < READY_RECHECK_MIN {
        anyhow::bail!(
            "{source} must be at least {}, e.g. \"{}\" (the default); it was {}",
            humantime::format_duration(READY_RECHECK_MIN),
            humantime::format_duration(READY_RECHECK),
            humantime::format_duration(value)
        );
    }
    Ok(value)
}

pub fn read_server_toml(state_dir: &Path) -> Result<ServerToml> {
    let path = state_dir.join("server.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml_parse(&text).with_context(|| format!("invalid {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ServerToml::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn toml_parse(text: &str) -> Result<ServerToml> {
    let parsed: ServerToml = toml::from_str(text)?;
    if let Some(zone) = &parsed.dns_zone {
        names::validate_hostname(zone).map_err(|e| anyhow::anyhow!("dns_zone: {e}"))?;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn server_toml_rejects_unknown_keys() {
        assert!(toml_parse("dns_zonee = \"x.test\"").is_err());
        assert_eq!(
            toml_parse("dns_zone = \"apps.example.net\"")
                .unwrap()
                .dns_zone
                .as_deref(),
            Some("apps.example.net")
        );
        assert!(toml_parse("dns_zone = \"Not A Zone\"").is_err());
    }

    #[test]
    fn build_timeout_comes_from_the_flag_then_the_file_then_the_default() {
        use std::time::Duration;
        let file = toml_parse("build_timeout = \"45m\"").unwrap();
        assert_eq!(
            build_timeout(None, &file).unwrap(),
            Duration::from_secs(45 * 60)
        );
        assert_eq!(
            build_timeout(Some(Duration::from_secs(90)), &file).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            build_timeout(None, &ServerToml::default()).unwrap(),
            Duration::from_secs(30 * 60)
        );
        let zero = toml_parse("build_timeout = \"0s\"").unwrap();
        let err = build_timeout(None, &zero).unwrap_err().to_string();
        assert!(err.contains("server.toml build_timeout"), "{err}");
        assert!(toml_parse("build_timeout = \"soon\"").is_err());
    }

    #[test]
    fn ready_recheck_comes_from_the_flag_then_the_file_then_the_default() {
        use std::time::Duration;
        let file = toml_parse("ready_recheck = \"1h\"").unwrap();
        assert_eq!(
            ready_recheck(None, &file).unwrap(),
            Duration::from_secs(3600)
        );
        assert_eq!(
            ready_recheck(Some(Duration::from_millis(250)), &file).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            ready_recheck(None, &ServerToml::default()).unwrap(),
            Duration::from_secs(2)
        );
        let err = ready_recheck(Some(Duration::from_millis(100)), &file)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--ready-recheck"), "{err}");
        assert!(err.contains("at least 250ms"), "{err}");
        assert!(err.contains("100ms"), "{err}");
        let fast = toml_parse("ready_recheck = \"0s\"").unwrap();
        let err = ready_recheck(None, &fast).unwrap_err().to_string();
        assert!(err.contains("server.toml ready_recheck"), "{err}");
        assert!(toml_parse("ready_recheck = \"often\"").is_err());
    }

    #[test]
    fn acme_is_checked_and_its_errors_name_the_field() {
        assert!(toml_parse("").unwrap().acme().unwrap().is_none());
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(&ca, cert.pem()).unwrap();
        let file = |directory: &str, ca_file: &std::path::Path| {
            toml_parse(&format!(
                "[acme]\ndirectory = \"{directory}\"\nca_file = \"{}\"\nemail = \"ops@example.test\"\n",
                ca_file.display()
            ))
            .unwrap()
        };
        let ok = file("https://127.0.0.1:14000/dir", &ca)
            .acme()
            .unwrap()
            .unwrap();
        assert_eq!(ok.directory(), "https://127.0.0.1:14000/dir");
        assert_eq!(ok.email(), Some("ops@example.test"));
        let err = file("127.0.0.1:14000", &ca).acme().unwrap_err().to_string();
        assert!(err.starts_with("server.toml [acme] directory: "), "{err}");
        let missing = dir.path().join("missing.pem");
        let err = file("https://a.test/dir", &missing)
            .acme()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "server.toml [acme] ca_file: cannot read {}",
                missing.display()
            )),
            "{err}"
        );
        assert!(
            toml_parse("[acme]\ndirectory = \"https://a.test/dir\"\n").is_err(),
            "ca_file is required"
        );
    }
}
