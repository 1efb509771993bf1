//! `satusky serve --runtime kubernetes`: the control plane driving a cluster. The client comes
//! from `--kubeconfig FILE`, `KUBECONFIG`/`~/.kube/config`, or the in-cluster service account;
//! the Gateway, registry, API URL for build pods, resolvers and trust roots for the prober
//! come from the binary (`server.toml`), and so does `dns_listen`: serve the platform zone
//! from the embedded DNS server (`satusky-dns`), programmed by the runtime with the Gateway's
//! addresses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use satusky_core::contexts::ContextStore;
use satusky_core::hostnames::Zone;
use satusky_dns::{DnsServer, ZoneRecords};
use satusky_kube::GatewayRef;
use satusky_kube::build;
use satusky_kube::runtime::{ImageBuilder, KubeConfig, KubeRuntime};
use satusky_probe::{ProbeConfig, Prober};
use satusky_server::build_token::BuildTokens;
use satusky_server::{AppState, Engine, EngineConfig, Settings};
use satusky_store::Store;

use crate::{StackError, failed};

/// The running control plane over Kubernetes.
pub struct KubeStack {
    pub state: AppState,
    pub engine: Engine,
    /// The platform zone's DNS server, when [`KubeStackConfig::dns`] asks for it.
    pub dns: Option<DnsServer>,
}

/// Kaniko builds: where images are pushed and how build pods reach the API.
#[derive(Debug, Clone)]
pub struct KubeBuilds {
    /// The registry (and path) images are pushed to.
    pub registry: String,
    /// The API's base URL as build pods reach it.
    pub api_url: String,
    /// A dockerconfigjson Secret (in each org's namespace) with push credentials.
    pub registry_secret: Option<String>,
    /// How often a build Job is polled (`None`: the builder's default).
    pub poll: Option<Duration>,
}

/// What the Kubernetes stack needs, already parsed.
pub struct KubeStackConfig {
    pub state_dir: PathBuf,
    pub zone: Zone,
    pub kubeconfig: Option<PathBuf>,
    pub probe_interval: Duration,
    pub build_timeout: Duration,
    /// The platform Gateway.
    pub gateway: GatewayRef,
    /// `None`: apps on Kubernetes deploy with an `image` only.
    pub builds: Option<KubeBuilds>,
    /// Where the prober connects for TLS and HTTP (default: the resolved address on 443).
    pub probe_edge: Option<SocketAddr>,
    /// DNS servers the DNS plane asks (empty: the zone's own server when it is served here,
    /// else the system's).
    pub resolvers: Vec<SocketAddr>,
    /// Trust roots for the TLS plane beside webpki-roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Serve the platform zone on this address, starting from these (static) records; the
    /// runtime writes each app's names into them.
    pub dns: Option<(SocketAddr, ZoneRecords)>,
    /// The cert-manager issuer of custom domains' Certificates (`server.toml cert_issuer`;
    /// default `ClusterIssuer satusky-acme`).
    pub issuer: satusky_kube::IssuerRef,
}

/// Build a kube client: an explicit kubeconfig file, else the usual inference.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, StackError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(failed(format!(
                "cannot read the kubeconfig {}",
                path.display()
            )))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(failed(format!(
                    "the kubeconfig {} is not usable",
                    path.display()
                )))?
        }
        None => kube::Config::infer().await.map_err(failed(
            "no Kubernetes configuration found: pass --kubeconfig FILE, set KUBECONFIG, or run in a cluster",
        ))?,
    };
    kube::Client::try_from(config).map_err(failed("cannot build the Kubernetes client"))
}

/// No randomness for a new build-token key.
#[derive(Debug, thiserror::Error)]
#[error("the system gave no randomness")]
struct NoRandomness;

/// The key that signs build tokens, kept in the state dir (created on first use, mode 0600).
fn build_token_key(state_dir: &Path) -> Result<Vec<u8>, StackError> {
    let path = state_dir.join("build-token.key");
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() >= 32
    {
        return Ok(bytes);
    }
    let key = BuildTokens::generate_secret()
        .map_err(|_| NoRandomness)
        .map_err(failed("cannot make the build-token key"))?;
    write_secret(&path, &key).map_err(failed(format!("cannot write {}", path.display())))?;
    Ok(key.to_vec())
}

/// A file that is `0600` from its creation: never readable by anyone else, even for a moment.
fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

/// Kaniko builds whose Jobs fetch their context with build tokens signed by `key`.
fn image_builder(client: &kube::Client, builds: &KubeBuilds, key: &[u8]) -> Arc<dyn ImageBuilder> {
    let tokens = BuildTokens::new(key);
    let deadline_ms = i64::try_from(build::ACTIVE_DEADLINE.as_millis()).unwrap_or(i64::MAX);
    let mint: build::TokenMinter = Arc::new(move |org: &str, context: &str| {
        // A Job cannot start after its deadline: that expiry is enough.
        tokens.mint(
            org,
            context,
            satusky_core::time::now_ms().saturating_add(deadline_ms),
        )
    });
    let mut bc = build::BuildConfig::new(builds.api_url.clone(), builds.registry.clone());
    bc.registry_secret = builds.registry_secret.clone();
    if let Some(p) = builds.poll {
        bc.poll = p;
    }
    Arc::new(build::KanikoBuilder::new(client.clone(), bc, mint))
}

impl KubeStack {
    pub async fn start(config: KubeStackConfig, store: Store) -> Result<KubeStack, StackError> {
        let KubeStackConfig {
            state_dir,
            zone,
            kubeconfig,
            probe_interval,
            build_timeout,
            gateway,
            builds,
            probe_edge,
            mut resolvers,
            extra_roots,
            dns,
            issuer,
        } = config;
        let client = client(kubeconfig.as_deref()).await?;
        let key = build_token_key(&state_dir)?;
        let builder = builds.as_ref().map(|b| image_builder(&client, b, &key));
        let mut runtime = KubeRuntime::new(
            client,
            KubeConfig {
                zone: zone.clone(),
                gateway,
                issuer,
                probe_addr: probe_edge,
            },
            builder,
        );
        let dns = match dns {
            Some((addr, records)) => {
                let server = satusky_dns::start(addr, &zone, records.clone())
                    .await
                    .map_err(failed(format!(
                        "cannot serve the platform zone's DNS on {addr}"
                    )))?;
                runtime = runtime.with_zone(Arc::new(records));
                // The DNS plane asks the zone's own server unless told otherwise.
                if resolvers.is_empty() {
                    resolvers.push(server.local_addr());
                }
                Some(server)
            }
            None => None,
        };
        let prober = Prober::new(ProbeConfig {
            resolvers,
            edge: probe_edge,
            extra_roots,
            ..ProbeConfig::default()
        })
        .map_err(failed("cannot set up the prober"))?;
        let contexts: Arc<dyn ContextStore> = Arc::new(satusky_local::contexts::ContextStore::new(
            state_dir.join("contexts"),
        ));
        let settings = Settings {
            dns_zone: zone.clone(),
            contexts: Some(contexts),
        };
        let (state, engine) = AppState::new(store, settings)
            .with_build_tokens(BuildTokens::new(&key))
            .with_runtime(
                Arc::new(runtime),
                Some(Arc::new(prober)),
                EngineConfig {
                    probe_interval,
                    dns_zone: zone.clone(),
                    build_timeout,
                },
            );
        Ok(KubeStack { state, engine, dns })
    }
}
