//! The local runtime stack: local CA (and with `[acme]` the ACME issuer for custom domains),
//! the platform zone's DNS server, embedded edge, local runtime, prober and lifecycle engine,
//! wired to a store. `satusky dev` and `satusky serve
//! --runtime local` both start it (only what they add around it differs), and so do
//! in-process tests, which keep the route table and zone records to edit them out of band.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use satusky_core::contexts::ContextStore;
use satusky_core::hostnames::Zone;
use satusky_core::runtime::DnsZone;
use satusky_dns::{DnsServer, ZoneRecords};
use satusky_local::acme::{AcmeConfig, AcmeIssuer, AcmeTimings};
use satusky_local::ca::LocalCa;
use satusky_local::edge::{self, Edge, EdgeConfig};
use satusky_local::isolation::Isolation;
use satusky_local::routes::RouteTable;
use satusky_local::runtime::{LocalConfig, LocalRuntime};
use satusky_probe::{ProbeConfig, Prober, Timeouts, parse_pem_certs};
use satusky_server::{AppState, Engine, EngineConfig, Settings};
use satusky_store::Store;

use crate::ledger::StoreLedger;
use crate::{StackError, failed};

/// Each probe's timeout (everything is on loopback: a slow answer is a broken one).
const LOCAL_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the stack listens and how it behaves.
pub struct LocalStackConfig {
    pub state_dir: PathBuf,
    pub zone: Zone,
    pub http_addr: SocketAddr,
    pub https_addr: SocketAddr,
    pub dns_addr: SocketAddr,
    pub probe_interval: Duration,
    /// Who the local runtime's replicas and builds run as.
    pub isolation: Isolation,
    /// How long a build may run (`satusky_server::engine::DEFAULT_BUILD_TIMEOUT` unless set).
    pub build_timeout: Duration,
    /// How often the local runtime re-checks a ready replica's health path
    /// (`satusky_local::supervisor::READY_RECHECK` unless set).
    pub ready_recheck: Duration,
    /// `[acme]`: custom domains get their certificates from this ACME directory (the
    /// platform zone keeps the local CA). `None`: every hostname gets the local CA's. The
    /// ACME account and keys are sealed with the store's key ring (`Store::with_keys`) when
    /// it has one.
    pub acme: Option<AcmeConfig>,
    /// Roots the TLS plane trusts beside the local CA and webpki-roots (`server.toml
    /// ca_files`: e.g. a test ACME server's issuing root).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// A running stack. [`LocalStack::state`] is what the API serves.
pub struct LocalStack {
    pub state: AppState,
    pub engine: Engine,
    pub store: Store,
    pub ca: Arc<LocalCa>,
    /// The ACME issuer, when `[acme]` is configured.
    pub acme: Option<AcmeIssuer>,
    pub runtime: Arc<LocalRuntime>,
    pub edge: Edge,
    pub dns: DnsServer,
    /// The edge's route table and the DNS zone's records (tests edit them out of band).
    pub routes: RouteTable,
    pub records: ZoneRecords,
}

impl LocalStack {
    pub async fn start(
        config: LocalStackConfig,
        store: Store,
        records: ZoneRecords,
    ) -> Result<LocalStack, StackError> {
        let LocalStackConfig {
            state_dir,
            zone,
            http_addr,
            https_addr,
            dns_addr,
            probe_interval,
            isolation,
            build_timeout,
            ready_recheck,
            acme,
            extra_roots,
        } = config;
        let ca = Arc::new(
            LocalCa::load_or_create(&state_dir.join("ca"))
                .map_err(failed("cannot set up the local CA"))?,
        );
        let dns = satusky_dns::start(dns_addr, &zone, records.clone())
            .await
            .map_err(failed(format!("cannot start the DNS server on {dns_addr}")))?;
        // The store's key ring (secret_keys) also seals the ACME account and keys: one ring.
        let acme = acme
            .map(|c| AcmeIssuer::start(c, &state_dir, AcmeTimings::default(), store.shared_keys()))
            .transpose()
            .map_err(failed("cannot set up the ACME issuer"))?;
        let routes = RouteTable::new();
        let edge = edge::start_with_acme(
            EdgeConfig {
                http_addr,
                https_addr,
            },
            routes.clone(),
            ca.clone(),
            acme.as_ref().map(AcmeIssuer::serving),
        )
        .await
        .map_err(failed("cannot start the edge"))?;
        let runtime = Arc::new(
            LocalRuntime::start_with_acme(
                LocalConfig {
                    state_dir: state_dir.clone(),
                    zone: zone.clone(),
                    edge_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                    probe_addr: Some(edge.https_addr()),
                    isolation,
                    ready_recheck,
                },
                routes.clone(),
                Arc::new(records.clone()) as Arc<dyn DnsZone>,
                Arc::new(StoreLedger::new(store.clone())),
                acme.clone(),
            )
            .await
            .map_err(failed("cannot start the local runtime"))?,
        );
        let prober = Prober::new(ProbeConfig {
            resolvers: vec![dns.local_addr()],
            edge: Some(edge.https_addr()),
            extra_roots: parse_pem_certs(ca.ca_pem())
                .map_err(failed("the local CA's certificate"))?
                .into_iter()
                .chain(extra_roots)
                .collect(),
            timeouts: Timeouts::uniform(LOCAL_PROBE_TIMEOUT),
            ..ProbeConfig::default()
        })
        .map_err(failed("cannot set up the prober"))?;
        let contexts: Arc<dyn ContextStore> = Arc::new(runtime.builder().contexts.clone());
        let settings = Settings {
            dns_zone: zone.clone(),
            contexts: Some(contexts),
        };
        let (state, engine) = AppState::new(store.clone(), settings).with_runtime(
            runtime.clone(),
            Some(Arc::new(prober)),
            EngineConfig {
                probe_interval,
                dns_zone: zone.clone(),
                build_timeout,
            },
        );
        Ok(LocalStack {
            state,
            engine,
            store,
            ca,
            acme,
            runtime,
            edge,
            dns,
            routes,
            records,
        })
    }

    /// Stop every replica, then the edge and the DNS server.
    pub async fn shutdown(self) {
        self.runtime.shutdown().await;
        self.edge.shutdown().await;
        let _ = self.dns.shutdown().await;
    }
}
