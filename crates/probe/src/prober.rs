//! The prober: runs the DNS, TLS and HTTP checks of an [`EndpointTarget`] and assembles the
//! three planes into a [`ProbedEndpoint`]; runs batches with bounded concurrency. Reusable: it
//! holds the resolver and the TLS client configuration, and no per-check state survives a
//! check. It is the engine's `satusky_core::runtime::EndpointProber` as it is: the trait's
//! target and result types are the ones it checks and returns.
//!
//! How the planes depend on each other (SPEC §4: probed independently where possible):
//! - With an edge address configured, DNS runs *alongside* TLS + HTTP; the edge is dialled
//!   whatever DNS says. Without one, TLS dials the first resolved address on 443, and when DNS
//!   gave none, TLS and HTTP are `pending`/`Waiting`.
//! - A certificate failure (unknown issuer, wrong name, expired, not yet valid) does **not**
//!   stop HTTP: the handshake completes (the verifier only records), so the HTTP plane still
//!   tells what the edge serves. The request carries no credentials, so nothing leaks to an
//!   unverified peer. Both problems show at once and each plane keeps its own reason.
//! - A TLS protocol failure leaves HTTP `pending`/`Waiting`; a refused, reset or timed-out
//!   connection fails HTTP with the matching reason too (see [`crate::tls_verdict`]).
//! - A redirect host that redirects as it should has its chain followed through hostnames
//!   this prober checks the same way: the configured edge (or the address the same resolver
//!   gives, on the `Location`'s port or 443), SNI and `Host` = the hop's host, each request
//!   bounded by the check's HTTP timeout, at most
//!   [`crate::http_verdict::MAX_REDIRECT_HOPS`] more requests. Coming back is `RedirectLoop`.
//!
//! The HTTP timeout of every request of a check — the first and each hop — is the target's
//! `http_timeout` (`[checks] timeout`) when it has one, else the configured `timeouts.http`.
//!
//! Every plane gets `checked_at` (RFC 3339) when the check ends; `since` is left to the
//! caller, which knows the previous state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use satusky_core::runtime::{BoxFuture, EndpointProber, EndpointTarget, ProbedEndpoint};
use satusky_types::{Plane, PlaneState, Reason};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ProbeError;
use crate::config::{HTTPS_PORT, ProbeConfig};
use crate::dns::DnsClient;
use crate::dns_verdict::{DnsObservation, dns_plane};
use crate::http;
use crate::http_verdict::{
    ChainStep, HopUrl, HttpObservation, RedirectChain, chain_plane, http_plane,
};
use crate::tls::{TlsClient, TlsSession};
use crate::tls_verdict::{LeafInfo, failure_planes, tls_plane};

/// Runs checks. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct Prober {
    inner: Arc<Inner>,
}

struct Inner {
    dns: DnsClient,
    tls: TlsClient,
    config: ProbeConfig,
}

impl Prober {
    /// Builds the resolver (the configured servers, or the system's) and the TLS client
    /// (webpki-roots plus `extra_roots`, ring provider).
    pub fn new(config: ProbeConfig) -> Result<Prober, ProbeError> {
        let dns = DnsClient::new(&config.resolvers, config.timeouts.dns, config.concurrency)?;
        let tls = TlsClient::new(&config.extra_roots)?;
        Ok(Prober {
            inner: Arc::new(Inner { dns, tls, config }),
        })
    }

    pub fn config(&self) -> &ProbeConfig {
        &self.inner.config
    }

    /// Checks one hostname: DNS, TLS and HTTP.
    pub async fn check(&self, target: &EndpointTarget) -> ProbedEndpoint {
        let inner = &self.inner;
        let (dns, tls, http) = match inner.config.edge {
            Some(edge) => {
                let (obs, (tls, http)) = tokio::join!(
                    inner.dns.observe(&target.hostname),
                    self.tls_and_http(edge, target)
                );
                (dns_plane(&obs, target), tls, http)
            }
            None => {
                let obs = inner.dns.observe(&target.hostname).await;
                let dns = dns_plane(&obs, target);
                let (tls, http) = match first_address(&obs) {
                    Some(addr) => self.tls_and_http(addr, target).await,
                    None => waiting_for_dns(&dns),
                };
                (dns, tls, http)
            }
        };
        let now = satusky_core::time::rfc3339_ms(satusky_core::time::now_ms());
        let stamp = |mut p: Plane| {
            p.checked_at = Some(now.clone());
            p
        };
        ProbedEndpoint {
            hostname: target.hostname.clone(),
            dns: stamp(dns),
            tls: stamp(tls),
            http: stamp(http),
        }
    }

    /// Checks every target, at most `config.concurrency` at once, each check on its own task
    /// (so a batch uses every core). Results come back in input order.
    pub async fn check_all(&self, targets: &[EndpointTarget]) -> Vec<ProbedEndpoint> {
        let limit = Arc::new(Semaphore::new(self.inner.config.concurrency.max(1)));
        let mut tasks: JoinSet<(usize, ProbedEndpoint)> = JoinSet::new();
        let mut results: Vec<Option<ProbedEndpoint>> = vec![None; targets.len()];
        for (i, target) in targets.iter().enumerate() {
            // Acquire before spawning: never more than `concurrency` tasks alive.
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            let prober = self.clone();
            let target = target.clone();
            tasks.spawn(async move {
                let planes = prober.check(&target).await;
                drop(permit);
                (i, planes)
            });
            // Collect what has finished so far, keeping memory flat on big batches.
            while let Some(done) = tasks.try_join_next() {
                if let Ok((i, planes)) = done {
                    results[i] = Some(planes);
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, planes)) = done {
                results[i] = Some(planes);
            }
        }
        results
            .into_iter()
            .zip(targets)
            .map(|(r, t)| r.unwrap_or_else(|| lost(t)))
            .collect()
    }

    async fn tls_and_http(&self, addr: SocketAddr, target: &EndpointTarget) -> (Plane, Plane) {
        let t = self.inner.config.timeouts;
        let addr_text = addr.to_string();
        match self
            .inner
            .tls
            .connect(addr, &target.hostname, t.connect, t.tls)
            .await
        {
            Err(failure) => failure_planes(&addr_text, &failure, (t.connect, t.tls)),
            Ok(connected) => {
                let host = target.hostname.trim_end_matches('.');
                let tls = match &connected.seen {
                    Some(seen) => {
                        let leaf = seen.chain.first().and_then(|c| LeafInfo::parse(c));
                        tls_plane(host, &seen.verdict, leaf.as_ref(), unix_now())
                    }
                    None => Plane::new(
                        PlaneState::Unknown,
                        Reason::HandshakeFailed,
                        "the handshake completed without a certificate to verify",
                    ),
                };
                let limit = target.http_timeout.unwrap_or(t.http);
                let obs = http::get(connected.stream, &target.hostname, &target.path, limit).await;
                let plane = http_plane(&obs, target);
                if target.redirect_to.is_none() || plane.reason != Reason::Redirects {
                    return (tls, plane);
                }
                let chain = self.follow_chain(target, obs, limit).await;
                (tls, chain_plane(plane, &chain, target))
            }
        }
    }

    /// Follows a redirect host's chain from `first`, the answer to the target's own request:
    /// requests each URL the chain leads to, within `limit` each, until it loops or ends (the
    /// chain bounds the hops; a hop that cannot be dialled ends it).
    async fn follow_chain(
        &self,
        target: &EndpointTarget,
        first: HttpObservation,
        limit: Duration,
    ) -> RedirectChain {
        let mut chain = RedirectChain::start(target);
        let mut obs = first;
        while let ChainStep::Follow(next) = chain.step(&obs) {
            let Some(stream) = self.dial(&next).await else {
                break;
            };
            obs = http::get(stream, &next.host, &next.path, limit).await;
        }
        chain
    }

    /// A TLS session to a hop of a redirect chain, dialled as a check of its host would be;
    /// `None` when there is none to be had (no address, refused, handshake failed).
    async fn dial(&self, hop: &HopUrl) -> Option<TlsSession> {
        let t = self.inner.config.timeouts;
        let addr = match self.inner.config.edge {
            Some(edge) => edge,
            None => {
                let obs = self.inner.dns.observe(&hop.host).await;
                let ip = *obs.addresses().first()?;
                SocketAddr::new(ip, hop.port.unwrap_or(HTTPS_PORT))
            }
        };
        let connected = self
            .inner
            .tls
            .connect(addr, &hop.host, t.connect, t.tls)
            .await
            .ok()?;
        Some(connected.stream)
    }
}

fn first_address(obs: &DnsObservation) -> Option<SocketAddr> {
    obs.addresses()
        .first()
        .map(|ip| SocketAddr::new(*ip, HTTPS_PORT))
}

fn waiting_for_dns(dns: &Plane) -> (Plane, Plane) {
    let message = format!(
        "not attempted: DNS gave no address to connect to ({})",
        dns.reason
    );
    (
        Plane::new(PlaneState::Pending, Reason::Waiting, message.clone()),
        Plane::new(PlaneState::Pending, Reason::Waiting, message),
    )
}

/// A check whose task died (a panic in a dependency): say so instead of dropping the host.
fn lost(target: &EndpointTarget) -> ProbedEndpoint {
    let p = Plane::new(
        PlaneState::Unknown,
        Reason::NotChecked,
        "the check did not complete",
    );
    ProbedEndpoint {
        hostname: target.hostname.clone(),
        dns: p.clone(),
        tls: p.clone(),
        http: p,
    }
}

/// The engine's prober: checks every target, results in their order.
impl EndpointProber for Prober {
    fn check(&self, targets: Vec<EndpointTarget>) -> BoxFuture<'_, Vec<ProbedEndpoint>> {
        Box::pin(async move { self.check_all(&targets).await })
    }

    fn txt(
        &self,
        name: String,
    ) -> BoxFuture<'_, Result<Vec<String>, satusky_core::runtime::TxtLookupError>> {
        Box::pin(async move { self.inner.dns.txt(&name).await })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
