//! The narrow handle the engine's executor and the drift checker act through: the store, the
//! runtime, the prober and the event hub, with the few operations both need — load an app,
//! save a status document with its events (the ONE save-and-diff path, for deploys, the sweep,
//! the restore and drift), and read an app's endpoints (routes from the runtime, DNS/TLS/HTTP
//! from the prober). What the readings mean is `satusky_core::engine`'s decision.

use std::sync::Arc;

use satusky_core::engine::{
    AppView, RouteReading, StatusDoc, endpoint_reports, endpoint_targets, status_events,
};
use satusky_core::hostnames::Zone;
use satusky_core::runtime::{EndpointProber, ProbedEndpoint, Runtime};
use satusky_core::time::now_ms;
use satusky_store::{Store, StoreError};
use satusky_types::{EndpointReport, EventType};
use serde_json::Value;

use crate::error::error_chain;
use crate::hub::EventHub;

/// What the engine and the drift checker share.
#[derive(Clone)]
pub struct Handle {
    pub(crate) store: Store,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) prober: Option<Arc<dyn EndpointProber>>,
    pub(crate) hub: EventHub,
    /// The platform DNS zone (hostnames inside it are platform-owned).
    pub(crate) zone: Zone,
    /// Held while a status document of an app at rest is read, changed and saved (the sweep's
    /// endpoints, the observer's workload plane), so neither overwrites the other's change.
    /// Held for a load and a save only, never across a probe.
    pub(crate) at_rest: Arc<tokio::sync::Mutex<()>>,
}

/// Why a release cannot be handed to the runtime.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("the stored release no longer validates")]
    Spec(#[source] satusky_core::DesiredError),
    #[error("the app's secrets cannot be opened")]
    Secrets(#[source] StoreError),
}

impl Handle {
    /// `release` of `app` as the engine sees it (routing its routed hostnames, with its
    /// scaled count and last restart), with the app's secrets as they are now opened in memory
    /// (a rollback keeps the current secrets).
    pub(crate) async fn release_view(
        &self,
        app: &AppView,
        release: &satusky_store::ReleaseRecord,
    ) -> Result<satusky_core::engine::ReleaseView, Unusable> {
        let mut view = release.view(app).map_err(Unusable::Spec)?;
        view.secrets = self
            .store
            .open_secrets(&app.org, &app.name)
            .await
            .map_err(Unusable::Secrets)?;
        Ok(view)
    }

    /// What the runtime must make true for `release` of `app` (see [`Handle::release_view`]).
    pub(crate) async fn desired(
        &self,
        app: &AppView,
        release: &satusky_store::ReleaseRecord,
    ) -> Result<satusky_core::runtime::DesiredWorkload, Unusable> {
        Ok(self
            .release_view(app, release)
            .await?
            .desired(&app.org, &app.name))
    }

    /// Read `org/app` as the engine sees it; `None` when it does not exist.
    pub(crate) async fn load(&self, org: &str, app: &str) -> Result<Option<AppView>, StoreError> {
        Ok(self.store.get_app(org, app).await?.map(|r| r.view()))
    }

    /// Save `doc` as the app's status with `events` (computed by
    /// `satusky_core::engine::status_events` against the stored document). `Ok(false)` when
    /// the document's release is no longer the app's target or the app moved past `app`'s
    /// generation (a newer deploy, scale or restart overtook it); nothing is written then.
    pub(crate) async fn save_status(
        &self,
        app: &AppView,
        doc: &StatusDoc,
        events: &[(EventType, Value)],
    ) -> Result<bool, StoreError> {
        let saved = self
            .store
            .save_status(&app.org, &app.name, doc, events, app.generation, now_ms())
            .await?;
        if saved && !events.is_empty() {
            self.hub.notify(&app.org, &app.name);
        }
        Ok(saved)
    }

    /// Read the app's route planes from the runtime and probe its hostnames, expecting
    /// `serving` to answer (`None` probes: no prober is configured).
    pub(crate) async fn read_endpoints(
        &self,
        app: &AppView,
        serving: u64,
    ) -> (RouteReading, Option<Vec<ProbedEndpoint>>) {
        // An app that is not public has nothing routed or served to read: its planes are
        // `NotPublic` whatever a reading would say.
        if !app.spec.expose.is_public() {
            return (Ok(Vec::new()), None);
        }
        let routes = self
            .runtime
            .routes(app.org.clone(), app.name.clone(), app.hostnames.clone())
            .await;
        let probed = match &self.prober {
            Some(p) => {
                let targets = endpoint_targets(app, serving, &self.zone, &self.runtime.edge());
                // The runtime's issuer (ACME, cert-manager) names the certificate's step. Read
                // before the handshake: an issuer holds its certificate (the edge serves it)
                // before it says so, so a step read as held was probed with that certificate —
                // read after, an issuance finishing meanwhile would let a handshake with the
                // certificate served before it (the local CA's) stand as the plane.
                let certs = self
                    .runtime
                    .certificates(app.org.clone(), app.name.clone(), app.hostnames.clone())
                    .await;
                let started = std::time::Instant::now();
                let mut probed = p.check(targets).await;
                if let Ok(certs) = certs {
                    satusky_core::endpoints::with_issuer(&mut probed, &certs);
                }
                // Metrics: one count per probed plane, one duration per pass.
                let planes = probed.iter().flat_map(|e| {
                    [
                        ("dns", e.dns.state),
                        ("tls", e.tls.state),
                        ("http", e.http.state),
                    ]
                });
                crate::metrics::probes(planes, started.elapsed());
                Some(probed)
            }
            None => None,
        };
        (routes, probed)
    }

    /// Re-probe the app's endpoints and save them (the sweep's pass, which the drift checker
    /// makes too); the endpoints, or `None` when the app has pending work, no active release
    /// or no status document for its target release (`satusky_core::engine::recheck`).
    pub(crate) async fn recheck(&self, app: &AppView) -> Option<Vec<EndpointReport>> {
        let (serving, _) = satusky_core::engine::recheck(app)?;
        let (routes, probed) = self.read_endpoints(app, serving).await;
        let mut endpoints = None;
        let saved = self
            .update_at_rest(&app.org, &app.name, |fresh| {
                // The document as it is now (the observer may have changed its workload plane
                // while the probes ran), still for the release probed.
                let (now_serving, old) = satusky_core::engine::recheck(fresh)?;
                if now_serving != serving {
                    return None;
                }
                let mut doc = old.clone();
                doc.endpoints = endpoint_reports(fresh, old, &routes, probed.as_deref(), now_ms());
                endpoints = Some(doc.endpoints.clone());
                let events = status_events(fresh, &doc);
                Some((doc, events))
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!(org = %app.org, app = %app.name, error = %error_chain(&e), "sweep: cannot save");
        }
        endpoints
    }

    /// Load `org/app`, let `change` decide its new status document and events from what is
    /// stored now, and save them — one at a time across apps at rest ([`Handle::at_rest`]).
    /// `Ok(false)` when nothing was saved (no change, or a newer deploy overtook it).
    pub(crate) async fn update_at_rest(
        &self,
        org: &str,
        app: &str,
        change: impl FnOnce(&AppView) -> Option<(StatusDoc, Vec<(EventType, Value)>)>,
    ) -> Result<bool, StoreError> {
        let _one = self.at_rest.lock().await;
        let Some(view) = self.load(org, app).await? else {
            return Ok(false);
        };
        match change(&view) {
            Some((doc, events)) => self.save_status(&view, &doc, &events).await,
            None => Ok(false),
        }
    }
}
