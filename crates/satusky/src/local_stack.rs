//! The local runtime stack: local CA, embedded DNS server, embedded edge, local runtime,
//! prober and lifecycle engine, wired to a store. `satusky dev` and `satusky serve --runtime
//! local` both start it; only what they add around it differs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use satusky_core::runtime::Runtime;
use satusky_local::ca::LocalCa;
use satusky_local::dns::DnsServer;
use satusky_local::edge::{self, Edge, EdgeConfig};
use satusky_local::routes::RouteTable;
use satusky_local::runtime::{LocalConfig, LocalRuntime};
use satusky_local::zone::ZoneRecords;
use satusky_probe::{ProbeConfig, Prober, Timeouts, parse_pem_certs};
use satusky_server::ledger::StoreLedger;
use satusky_server::prober::ProbeAdapter;
use satusky_server::{AppState, Engine, EngineConfig, Settings};
use satusky_store::Store;

use crate::config::ServerToml;

/// Each probe's timeout (everything is on loopback: a slow answer is a broken one).
const LOCAL_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the stack listens and how it behaves.
pub struct LocalStackConfig {
    pub state_dir: PathBuf,
    pub zone: String,
    pub http_addr: SocketAddr,
    pub https_addr: SocketAddr,
    pub dns_addr: SocketAddr,
    pub probe_interval: Duration,
}

/// A running stack. [`LocalStack::state`] is what the API serves.
pub struct LocalStack {
    pub state: AppState,
    pub engine: Engine,
    pub store: Store,
    pub ca: Arc<LocalCa>,
    pub runtime: Arc<LocalRuntime>,
    pub edge: Edge,
    pub dns: DnsServer,
}

impl LocalStack {
    pub async fn start(
        config: LocalStackConfig,
        store: Store,
        file: &ServerToml,
    ) -> Result<LocalStack> {
        let LocalStackConfig {
            state_dir,
            zone,
            http_addr,
            https_addr,
            dns_addr,
            probe_interval,
        } = config;
        let ca = Arc::new(
            LocalCa::load_or_create(&state_dir.join("ca")).context("cannot set up the local CA")?,
        );
        let records = ZoneRecords::new();
        file.apply_dns_records(&records)?;
        let dns = satusky_local::dns::start(dns_addr, zone.clone(), records.clone())
            .await
            .with_context(|| format!("cannot start the DNS server on {dns_addr}"))?;
        let routes = RouteTable::new();
        let edge = edge::start(
            EdgeConfig {
                http_addr,
                https_addr,
            },
            routes.clone(),
            ca.clone(),
        )
        .await
        .context("cannot start the edge")?;
        let runtime = Arc::new(
            LocalRuntime::start(
                LocalConfig {
                    state_dir: state_dir.clone(),
                    zone: zone.clone(),
                    edge_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                    probe_addr: Some(edge.https_addr()),
                },
                routes,
                records,
                Arc::new(StoreLedger::new(store.clone())),
            )
            .await
            .context("cannot start the local runtime")?,
        );
        let prober = Prober::new(ProbeConfig {
            resolvers: vec![dns.local_addr()],
            edge: Some(edge.https_addr()),
            extra_roots: parse_pem_certs(ca.ca_pem()).context("the local CA's certificate")?,
            timeouts: Timeouts::uniform(LOCAL_PROBE_TIMEOUT),
            ..ProbeConfig::default()
        })
        .context("cannot set up the prober")?;
        let settings = Settings {
            dns_zone: zone.clone(),
            contexts_dir: Some(state_dir.join("contexts")),
        };
        let state = AppState::new(store.clone(), settings);
        let engine = Engine::new(
            store.clone(),
            runtime.clone() as Arc<dyn Runtime>,
            Some(Arc::new(ProbeAdapter::new(prober))),
            state.hub.clone(),
            EngineConfig {
                probe_interval,
                dns_zone: zone,
            },
        );
        let state = state.with_engine(engine.clone());
        Ok(LocalStack {
            state,
            engine,
            store,
            ca,
            runtime,
            edge,
            dns,
        })
    }

    /// Stop every replica, then the edge and the DNS server.
    pub async fn shutdown(self) {
        self.runtime.shutdown().await;
        self.edge.shutdown().await;
        let _ = self.dns.shutdown().await;
    }
}
