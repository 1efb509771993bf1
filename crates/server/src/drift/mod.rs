//! The drift checker (SPEC §7): for every app with an active release, compare what the store
//! holds (hostnames, active release `ORG/APP@vN`) with what the runtime's routes serve, what
//! DNS answers, the certificate served and the release header — and heal what the platform
//! owns by reconciling the active release again.
//!
//! One check of one app ([`Drift::check_view`]): re-probe the endpoints through the handle (the same
//! pass the sweep makes, saved with its `plane` events), read back the runtime's served
//! hostnames, compare ([`compare`], pure), and record: `observe_finding` for each finding
//! (first_seen / last_seen), `heal_finding` for each open finding the check judged and no
//! longer saw, and a `drift` event when a finding opens or closes (not on every refresh).
//! When the platform owns a finding, `Runtime::heal` reconciles the **active** release again
//! and the app is checked once more right away; what that check no longer sees gets
//! `healed_at`. `healed_at` means "no longer observed": user-owned drift (a custom domain's
//! DNS) is never healed by us — it closes when the user fixes it.
//!
//! A peer of the engine: it acts through the same narrow [`Handle`] (store, runtime, prober)
//! and asks the engine's [`Claims`] whether a deploy is in progress; the engine's sweep calls
//! [`Drift::check_view`] for every app.
//!
//! Background-loop rules (GUIDE §2): runs on the sweep's timer and on demand
//! ([`Drift::check`]), idempotent, no retry inside (the next sweep is the
//! retry), one check per app at a time. Never heals while a deploy is in progress: the
//! driver owns the app then.
//!
//! Owns the drift findings' lifecycle and the checker's in-memory state (when each app was
//! last checked). Must not touch releases, the work document or the status document (the
//! engine's sweep writes that).

pub mod compare;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use satusky_core::engine::AppView;
use satusky_core::runtime::release_id;
use satusky_core::time::{now_ms, rfc3339_ms};
use satusky_store::{FindingChange, StoreError};
use satusky_types::{EndpointReport, EventType, Hostname};
use serde_json::{Value, json};

use crate::claims::Claims;
use crate::error::error_chain;
use crate::handle::Handle;
use compare::{Expected, Finding, Observed, compare};

/// After a heal, how long the data planes get before the re-check: the local edge's routes
/// are rewritten before `heal` returns, but a Gateway programs its data plane on its own
/// schedule. What is still not converged then is checked again by the next sweep.
const HEAL_SETTLE: Duration = Duration::from_millis(300);

type Key = (String, String);

/// The checker's memory: when each app was last checked, and one lock per app so a check on
/// demand and the sweep's never interleave.
#[derive(Default)]
struct DriftState {
    checked: Mutex<HashMap<Key, i64>>,
    /// Open findings after each app's last check; an app with none and no new finding needs
    /// no store access. Unknown (first check in this process): read the store.
    open: Mutex<HashMap<Key, usize>>,
    locks: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl DriftState {
    fn lock_for(&self, org: &str, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks
            .entry((org.to_string(), app.to_string()))
            .or_default()
            .clone()
    }

    fn set_checked(&self, org: &str, app: &str, at_ms: i64) {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked.insert((org.to_string(), app.to_string()), at_ms);
    }

    /// Drop what is kept of a deleted app.
    fn forget(&self, org: &str, app: &str) {
        let key = (org.to_string(), app.to_string());
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    fn set_open(&self, org: &str, app: &str, open: usize) {
        let mut m = self.open.lock().unwrap_or_else(|e| e.into_inner());
        m.insert((org.to_string(), app.to_string()), open);
    }

    fn open(&self, org: &str, app: &str) -> Option<usize> {
        let m = self.open.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&(org.to_string(), app.to_string())).copied()
    }

    fn checked_at(&self, org: &str, app: &str) -> Option<i64> {
        let checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked.get(&(org.to_string(), app.to_string())).copied()
    }
}

/// What one check of one app did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckOutcome {
    /// Findings opened (new, or back after they had healed).
    pub opened: usize,
    /// Findings no longer observed (they got `healed_at`).
    pub closed: usize,
    /// Findings open after the check.
    pub open: usize,
    /// Whether the platform reconciled the active release again to heal its drift.
    pub healed: bool,
}

/// The drift checker.
pub struct Drift {
    handle: Handle,
    claims: Arc<dyn Claims>,
    state: DriftState,
}

impl Drift {
    pub(crate) fn new(handle: Handle, claims: Arc<dyn Claims>) -> Self {
        Drift {
            handle,
            claims,
            state: DriftState::default(),
        }
    }

    /// Check `org/app` for drift now, healing what the platform owns. `None` when there is
    /// nothing to check: the app does not exist, has no active release, or a deploy is in
    /// progress.
    pub async fn check(&self, org: &str, app: &str) -> Result<Option<CheckOutcome>, StoreError> {
        match self.handle.load(org, app).await? {
            Some(view) => self.check_view(&view).await,
            None => Ok(None),
        }
    }

    /// When the drift checker last finished a check of `org/app` (epoch ms), in this process.
    pub fn checked_at(&self, org: &str, app: &str) -> Option<i64> {
        self.state.checked_at(org, app)
    }

    /// Forget `org/app` (it was deleted).
    pub(crate) fn forget(&self, org: &str, app: &str) {
        self.state.forget(org, app);
    }

    /// Check one app (the sweep's pass over it), given a view just loaded from the store.
    pub(crate) async fn check_view(
        &self,
        rec: &AppView,
    ) -> Result<Option<CheckOutcome>, StoreError> {
        let lock = self.state.lock_for(&rec.org, &rec.name);
        let (_one_at_a_time, waited) = match lock.clone().try_lock_owned() {
            Ok(guard) => (guard, false),
            Err(_) => (lock.lock_owned().await, true),
        };
        let started = Instant::now();
        // After waiting for another check, the view may predate what that check (or a
        // deploy meanwhile) did: load it again.
        let fresh;
        let rec = if waited {
            match self.handle.load(&rec.org, &rec.name).await? {
                Some(r) => {
                    fresh = r;
                    &fresh
                }
                None => return Ok(None),
            }
        } else {
            rec
        };
        let outcome = check_locked(self, rec).await;
        crate::metrics::drift_check(started.elapsed());
        outcome
    }
}

/// What the store expects: the active release's number and hostnames.
struct Active {
    version: u64,
    hostnames: Vec<Hostname>,
}

async fn check_locked(d: &Drift, rec: &AppView) -> Result<Option<CheckOutcome>, StoreError> {
    // A driver (a deploy's, or a re-route after a domain changed) owns the app now: what it is
    // about to route is not drift yet.
    if d.claims.is_driving(&rec.org, &rec.name) {
        return Ok(None);
    }
    let Some(active) = active_release(d, rec).await? else {
        return Ok(None);
    };
    let Some(endpoints) = d.handle.recheck(rec).await else {
        return Ok(None);
    };
    let first = judge(d, rec, &active, &endpoints).await?;
    let mut outcome = first.outcome;
    if first.platform_owned
        && let Some(now) = may_heal(d, rec, active.version).await?
    {
        outcome.healed = heal(d, &now, active.version).await?;
        tokio::time::sleep(HEAL_SETTLE).await;
        let again = match d.handle.load(&rec.org, &rec.name).await? {
            Some(rec) if may_check(&rec, active.version) => match d.handle.recheck(&rec).await {
                Some(endpoints) => Some(judge(d, &rec, &active, &endpoints).await?),
                None => None,
            },
            _ => None,
        };
        if let Some(again) = again {
            outcome.opened += again.outcome.opened;
            outcome.closed += again.outcome.closed;
            outcome.open = again.outcome.open;
        }
    }
    d.state.set_checked(&rec.org, &rec.name, now_ms());
    Ok(Some(outcome))
}

/// No pending work, and `active` still the active release.
fn may_check(rec: &AppView, active: u64) -> bool {
    rec.work.is_none() && rec.active_release == Some(active)
}

/// The active release's number and the hostnames it must serve: the app's routed domains
/// (domains are app-level state; unproven ones must not be served, and are drift if they are).
async fn active_release(_d: &Drift, rec: &AppView) -> Result<Option<Active>, StoreError> {
    let Some(version) = rec.active_release.filter(|_| rec.work.is_none()) else {
        return Ok(None);
    };
    Ok(Some(Active {
        version,
        hostnames: rec.routed_hostnames(),
    }))
}

/// Heal only when no deploy is under way: re-read the app (a deploy may have been accepted,
/// or a domain added or removed, since the check began) and ask whether a driver runs. The
/// app as it is now, which is what the heal must route.
async fn may_heal(d: &Drift, rec: &AppView, active: u64) -> Result<Option<AppView>, StoreError> {
    if d.claims.is_driving(&rec.org, &rec.name) {
        return Ok(None);
    }
    Ok(d.handle
        .load(&rec.org, &rec.name)
        .await?
        .filter(|r| may_check(r, active)))
}

/// Reconcile the active release again, with the app's routed domains as `rec` (read just
/// now) holds them. `true` when the runtime accepted it.
async fn heal(d: &Drift, rec: &AppView, version: u64) -> Result<bool, StoreError> {
    let Some(release) = d
        .handle
        .store
        .get_release(&rec.org, &rec.name, version)
        .await?
    else {
        return Ok(false);
    };
    let desired = match d.handle.desired(rec, &release).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "drift: the heal was refused; the next sweep tries again");
            return Ok(false);
        }
    };
    if d.claims.is_driving(&rec.org, &rec.name) {
        return Ok(false); // a deploy or a re-route began meanwhile: it routes the app itself
    }
    let runtime = &d.handle.runtime;
    let started = Instant::now();
    let result = runtime.heal(desired).await;
    crate::metrics::reconcile(runtime.name(), &result, started.elapsed());
    match result {
        Ok(()) => {
            tracing::info!(org = %rec.org, app = %rec.name, release = version, "drift: reconciled the active release again");
            Ok(true)
        }
        Err(e) => {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "drift: the heal was refused; the next sweep tries again");
            Ok(false)
        }
    }
}

struct Judged {
    outcome: CheckOutcome,
    platform_owned: bool,
}

/// Compare and record.
async fn judge(
    d: &Drift,
    rec: &AppView,
    active: &Active,
    endpoints: &[EndpointReport],
) -> Result<Judged, StoreError> {
    let (org, app) = (rec.org.as_str(), rec.name.as_str());
    let runtime = &d.handle.runtime;
    let served = match runtime.served_hosts(org.to_string(), app.to_string()).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!(%org, %app, error = %error_chain(&e), "drift: served hostnames unknown; checking one way");
            None
        }
    };
    // Only routed hostnames are the app's to serve: an unproven one on its route is drift.
    let held: HashSet<String> = active
        .hostnames
        .iter()
        .map(|h| h.hostname.to_ascii_lowercase())
        .collect();
    let edge = runtime.edge();
    let release_id = release_id(org, app, active.version);
    let expected = Expected {
        org,
        app,
        release_id: &release_id,
        hostnames: &active.hostnames,
        held: &held,
        zone: &d.handle.zone,
        edge: &edge,
    };
    let observed = Observed {
        endpoints,
        served: served.as_deref(),
    };
    let cmp = compare(&expected, &observed);
    // Nothing open before and nothing found now: nothing to read or write.
    if cmp.findings.is_empty() && d.state.open(org, app) == Some(0) {
        return Ok(Judged {
            outcome: CheckOutcome::default(),
            platform_owned: false,
        });
    }
    let before = d.handle.store.list_findings(org, app).await?;
    let now = now_ms();
    let mut outcome = CheckOutcome::default();
    let mut events = Vec::new();
    for f in &cmp.findings {
        let o = satusky_store::Observed {
            hostname: &f.hostname,
            plane: f.plane.as_str(),
            expected: &f.expected,
            observed: &f.observed,
            owner: f.owner,
            remediation: f.remediation.as_deref(),
        };
        if d.handle.store.observe_finding(org, app, &o, now).await? == FindingChange::Opened {
            outcome.opened += 1;
            tracing::info!(%org, %app, hostname = %f.hostname, plane = f.plane.as_str(), owner = f.owner.as_str(), observed = %f.observed, "drift found");
            events.push(opened_event(f, now));
        }
    }
    let mut still_open = 0;
    for r in before.iter().filter(|r| r.healed_at_ms.is_none()) {
        if !cmp.gone(&r.hostname, &r.plane) {
            still_open += usize::from(!cmp.found(&r.hostname, &r.plane));
            continue;
        }
        if d.handle
            .store
            .heal_finding(org, app, &r.hostname, &r.plane, now)
            .await?
        {
            outcome.closed += 1;
            tracing::info!(%org, %app, hostname = %r.hostname, plane = %r.plane, "drift no longer observed");
            let mut closed = r.clone();
            closed.healed_at_ms = Some(now);
            events.push(event_data(&closed.to_wire()));
        }
    }
    outcome.open = cmp.findings.len() + still_open;
    d.state.set_open(org, app, outcome.open);
    if !events.is_empty() {
        match d.handle.store.append_events(org, app, &events, now).await {
            Ok(()) => d.handle.hub.notify(org, app),
            Err(e) => {
                tracing::warn!(%org, %app, error = %error_chain(&e), "drift: cannot write events")
            }
        }
    }
    Ok(Judged {
        outcome,
        platform_owned: cmp.platform_owned(),
    })
}

/// The `drift` event of a finding that just opened.
fn opened_event(f: &Finding, now: i64) -> (EventType, Value) {
    let at = rfc3339_ms(now);
    event_data(&satusky_types::DriftFinding {
        hostname: f.hostname.clone(),
        plane: f.plane.as_str().to_string(),
        expected: f.expected.clone(),
        observed: f.observed.clone(),
        owner: f.owner,
        remediation: f.remediation.clone(),
        first_seen: at.clone(),
        last_seen: at,
        healed_at: None,
    })
}

/// `{hostname, plane, expected, observed, owner, remediation?, first_seen, last_seen,
/// healed_at}`: the finding as the API shows it.
fn event_data(f: &satusky_types::DriftFinding) -> (EventType, Value) {
    let mut data = json!({
        "hostname": f.hostname,
        "plane": f.plane,
        "expected": f.expected,
        "observed": f.observed,
        "owner": f.owner,
        "first_seen": f.first_seen,
        "last_seen": f.last_seen,
        "healed_at": f.healed_at,
    });
    if let Some(r) = &f.remediation {
        data["remediation"] = json!(r);
    }
    (EventType::Drift, data)
}
