//! `satusky serve --runtime kubernetes`: the control plane driving a cluster. The client comes
//! from `--kubeconfig FILE`, `KUBECONFIG`/`~/.kube/config`, or the in-cluster service account;
//! the Gateway, registry, API URL for build pods, resolvers and trust roots for the prober
//! come from `server.toml`, and so does `dns_listen`: serve the platform zone from the embedded
//! DNS server, programmed by the runtime with the Gateway's addresses.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use satusky_core::runtime::Runtime;
use satusky_kube::GatewayRef;
use satusky_kube::build;
use satusky_kube::runtime::{ImageBuilder, KubeConfig, KubeRuntime};
use satusky_probe::{ProbeConfig, Prober, parse_pem_certs};
use satusky_server::build_token::BuildTokens;
use satusky_server::prober::ProbeAdapter;
use satusky_server::{AppState, Engine, EngineConfig, Settings};
use satusky_store::Store;

use crate::config::ServerToml;

/// The running control plane over Kubernetes.
pub struct KubeStack {
    pub state: AppState,
    pub engine: Engine,
    /// The platform zone's DNS server, when server.toml's `dns_listen` asks for it.
    pub dns: Option<satusky_local::dns::DnsServer>,
}

/// Build a kube client: an explicit kubeconfig file, else the usual inference.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("the kubeconfig {} is not usable", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "no Kubernetes configuration found: pass --kubeconfig FILE, set KUBECONFIG, or run in a cluster",
        )?,
    };
    kube::Client::try_from(config).context("cannot build the Kubernetes client")
}

/// The key that signs build tokens, kept in the state dir (created on first use, mode 0600).
fn build_token_key(state_dir: &Path) -> Result<Vec<u8>> {
    let path = state_dir.join("build-token.key");
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() >= 32
    {
        return Ok(bytes);
    }
    let key = BuildTokens::generate_secret()
        .map_err(|_| anyhow::anyhow!("no randomness for the build-token key"))?;
    write_secret(&path, &key).with_context(|| format!("cannot write {}", path.display()))?;
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

pub struct KubeStackConfig {
    pub state_dir: PathBuf,
    pub zone: String,
    pub kubeconfig: Option<PathBuf>,
    pub probe_interval: Duration,
    pub build_timeout: Duration,
}

impl KubeStack {
    pub async fn start(
        config: KubeStackConfig,
        store: Store,
        file: &ServerToml,
    ) -> Result<KubeStack> {
        let client = client(config.kubeconfig.as_deref()).await?;
        let key = build_token_key(&config.state_dir)?;
        let builder: Option<Arc<dyn ImageBuilder>> = match (&file.registry, &file.build_api_url) {
            (Some(registry), Some(api_url)) => {
                let tokens = BuildTokens::new(&key);
                let deadline_ms =
                    i64::try_from(build::ACTIVE_DEADLINE.as_millis()).unwrap_or(i64::MAX);
                let mint: build::TokenMinter = Arc::new(move |org: &str, context: &str| {
                    // A Job cannot start after its deadline: that expiry is enough.
                    tokens.mint(
                        org,
                        context,
                        satusky_core::time::now_ms().saturating_add(deadline_ms),
                    )
                });
                let mut bc = build::BuildConfig::new(api_url.clone(), registry.clone());
                bc.registry_secret = file.registry_secret.clone();
                if let Some(p) = file.build_poll {
                    bc.poll = p;
                }
                Some(Arc::new(build::KanikoBuilder::new(
                    client.clone(),
                    bc,
                    mint,
                )))
            }
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!(
                    "server.toml: builds on Kubernetes need both `registry` and `build_api_url`"
                )
            }
            (None, None) => None,
        };
        let gateway = match &file.gateway {
            Some(g) => {
                GatewayRef::parse(g).map_err(|e| anyhow::anyhow!("server.toml gateway: {e}"))?
            }
            None => GatewayRef::default(),
        };
        let mut runtime = KubeRuntime::new(
            client,
            KubeConfig {
                zone: config.zone.clone(),
                gateway,
                issuer: Default::default(),
                probe_addr: file.probe_edge,
            },
            builder,
        );
        let mut resolvers = file.resolvers.clone();
        let dns = match file.dns_listen {
            Some(addr) => {
                let records = file.dns_records()?;
                let server = satusky_local::dns::start(addr, config.zone.clone(), records.clone())
                    .await
                    .with_context(|| {
                        format!("server.toml dns_listen: cannot serve DNS on {addr}")
                    })?;
                runtime = runtime.with_zone(Arc::new(records));
                // The DNS plane asks the zone's own server unless told otherwise.
                if resolvers.is_empty() {
                    resolvers.push(server.local_addr());
                }
                Some(server)
            }
            None => None,
        };
        let runtime = Arc::new(runtime);
        let mut roots = Vec::new();
        for ca in &file.ca_files {
            let pem = std::fs::read_to_string(ca)
                .with_context(|| format!("server.toml ca_files: cannot read {}", ca.display()))?;
            roots.extend(
                parse_pem_certs(&pem)
                    .with_context(|| format!("server.toml ca_files: {}", ca.display()))?,
            );
        }
        let prober = Prober::new(ProbeConfig {
            resolvers,
            edge: file.probe_edge,
            extra_roots: roots,
            ..ProbeConfig::default()
        })
        .context("cannot set up the prober")?;
        let settings = Settings {
            dns_zone: config.zone.clone(),
            contexts: Some(satusky_local::contexts::ContextStore::new(
                config.state_dir.join("contexts"),
            )),
            allow_unproven_domains: false,
        };
        let tokens = BuildTokens::new(&key);
        let state = AppState::new(store.clone(), settings).with_build_tokens(tokens);
        let engine = Engine::new(
            store,
            runtime as Arc<dyn Runtime>,
            Some(Arc::new(ProbeAdapter::new(prober))),
            state.hub.clone(),
            EngineConfig {
                probe_interval: config.probe_interval,
                dns_zone: config.zone,
                build_timeout: config.build_timeout,
            },
        );
        let state = state.with_engine(engine.clone());
        Ok(KubeStack { state, engine, dns })
    }
}
