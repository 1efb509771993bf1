//! Adapts `satusky-probe` to the engine's `EndpointProber` seam: engine targets in, the DNS,
//! TLS and HTTP planes out, checked with bounded concurrency.

use satusky_core::runtime::{BoxFuture, EndpointProber, EndpointTarget, ProbedEndpoint};
use satusky_probe::{Prober, StatusSet, Target};

/// The prober the engine uses.
pub struct ProbeAdapter {
    prober: Prober,
}

impl ProbeAdapter {
    pub fn new(prober: Prober) -> Self {
        ProbeAdapter { prober }
    }
}

fn target(t: &EndpointTarget) -> Target {
    let mut x = Target::new(t.hostname.clone())
        .with_addresses(t.edge.addresses.clone())
        .custom_domain(!t.platform_owned)
        .with_path(t.path.clone());
    if let Ok(expect) = StatusSet::parse(&t.expect) {
        x = x.with_expect(expect);
    }
    if let Some(c) = &t.edge.cname_target {
        x = x.with_cname(c.clone());
    }
    if let Some(r) = &t.expect_release {
        x = x.with_release(r.clone());
    }
    if let Some(r) = &t.redirect_to {
        x = x.with_redirect_to(r.clone());
    }
    x
}

impl EndpointProber for ProbeAdapter {
    fn check(&self, targets: Vec<EndpointTarget>) -> BoxFuture<'_, Vec<ProbedEndpoint>> {
        Box::pin(async move {
            let ts: Vec<Target> = targets.iter().map(target).collect();
            self.prober
                .check_all(&ts)
                .await
                .into_iter()
                .map(|p| ProbedEndpoint {
                    dns: p.dns,
                    tls: p.tls,
                    http: p.http,
                })
                .collect()
        })
    }
}
