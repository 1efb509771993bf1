//! Metrics (GUIDE §3): the `metrics` facade with the Prometheus recorder, installed once per
//! process, and the text `GET /metrics` serves (the handler is in `routes/meta.rs`).
//!
//! What is recorded, and where:
//! - `satusky_reconciles_total{runtime,result}` and `satusky_reconcile_seconds{runtime}`: every
//!   `Runtime::apply` of the engine and every drift heal (`result` = `ok`, or the error's
//!   `RuntimeError::category`: `unavailable` | `invalid` | `failed` | `unsupported`);
//! - `satusky_probes_total{plane,state}`: one per probed plane (dns, tls, http) per hostname;
//!   `satusky_probe_seconds`: one probe pass over an app's hostnames (they run concurrently);
//! - `satusky_drift_check_seconds`: one drift check of one app (probing included);
//! - `satusky_drift_findings{plane}`: open findings, read from the store at each scrape. It is
//!   written by the handler, not kept in the recorder: every server (tests run many in one
//!   process) shows its own store's findings, and a plane whose findings all healed reads 0.
//!
//! The recorder is process-wide (`metrics` allows one): counters from every server of a
//! process add up. If something else installed a recorder first, ours is not the global one
//! and only the drift gauge is served. Owns no state beyond the handle; depends on nothing
//! else in this crate (the engine, the drift checker and the routes call it).

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use satusky_core::runtime::RuntimeError;
use satusky_core::time::parse_rfc3339_ms;
use satusky_types::{Phase, Plane, PlaneState, ReadinessReport};

/// Histogram buckets (seconds): probes and checks take milliseconds on loopback and up to the
/// probe timeouts (seconds) on the internet; a reconcile can take as long as an API server.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The planes the drift gauge always reports (0 when none is open).
pub const DRIFT_PLANES: [&str; 4] = ["route", "dns", "tls", "http"];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the Prometheus recorder (once per process; later calls return the same handle).
/// `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets(BUCKETS) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: bad bucket configuration");
                    PrometheusBuilder::new()
                }
            };
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: another recorder is installed; /metrics serves only the drift gauge");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        "satusky_reconciles_total",
        "Runtime applies (deploys, restores and drift heals) by runtime and result"
    );
    metrics::describe_histogram!(
        "satusky_reconcile_seconds",
        metrics::Unit::Seconds,
        "Duration of one runtime apply"
    );
    metrics::describe_counter!(
        "satusky_probes_total",
        "Probed endpoint planes (dns, tls, http) by plane and resulting state"
    );
    metrics::describe_histogram!(
        "satusky_probe_seconds",
        metrics::Unit::Seconds,
        "Duration of one probe pass over an app's hostnames"
    );
    metrics::describe_histogram!(
        "satusky_drift_check_seconds",
        metrics::Unit::Seconds,
        "Duration of one drift check of one app, probing included"
    );
}

/// One runtime apply (or heal) finished.
pub(crate) fn reconcile(runtime: &'static str, outcome: &Result<(), RuntimeError>, took: Duration) {
    let result = match outcome {
        Ok(()) => "ok",
        Err(e) => e.category(),
    };
    metrics::counter!("satusky_reconciles_total", "runtime" => runtime, "result" => result)
        .increment(1);
    metrics::histogram!("satusky_reconcile_seconds", "runtime" => runtime)
        .record(took.as_secs_f64());
}

/// One probe pass finished with these plane results.
pub(crate) fn probes(planes: impl IntoIterator<Item = (&'static str, PlaneState)>, took: Duration) {
    for (plane, state) in planes {
        metrics::counter!("satusky_probes_total", "plane" => plane, "state" => state.as_str())
            .increment(1);
    }
    metrics::histogram!("satusky_probe_seconds").record(took.as_secs_f64());
}

/// One drift check of one app finished.
pub(crate) fn drift_check(took: Duration) {
    metrics::histogram!("satusky_drift_check_seconds").record(took.as_secs_f64());
}

/// Fold recorded histogram samples into their buckets, so memory stays flat when nobody
/// scrapes (the sweep calls it every pass).
pub(crate) fn upkeep() {
    if let Some(h) = install() {
        h.run_upkeep();
    }
}

/// The drift gauge's lines for `open` (plane, count) pairs; planes without open findings
/// read 0.
pub fn drift_gauge_text(open: &[(String, u64)]) -> String {
    let mut out = String::from(
        "# HELP satusky_drift_findings Open drift findings by plane\n# TYPE satusky_drift_findings gauge\n",
    );
    let mut planes: Vec<&str> = DRIFT_PLANES.to_vec();
    for (p, _) in open {
        if !planes.contains(&p.as_str()) {
            planes.push(p);
        }
    }
    for plane in planes {
        let n = open
            .iter()
            .find(|(p, _)| p == plane)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        let _ = writeln!(out, "satusky_drift_findings{{plane=\"{plane}\"}} {n}");
    }
    out
}

/// Every plane state, in the order the per-app series list them.
const PLANE_STATES: [PlaneState; 6] = [
    PlaneState::Pending,
    PlaneState::InProgress,
    PlaneState::Ready,
    PlaneState::Failed,
    PlaneState::Unknown,
    PlaneState::NotApplicable,
];
/// Every phase, in the order the per-app series list them.
const PHASES: [Phase; 6] = [
    Phase::Accepted,
    Phase::Building,
    Phase::RollingOut,
    Phase::Ready,
    Phase::Degraded,
    Phase::Failed,
];

/// The per-app series, in kube-state-metrics' style (one series per possible value, 1 for
/// the current one): `satusky_app_phase{org,app,phase}`, `satusky_app_plane_state{org,app,
/// hostname,plane,state}` (`hostname=""` for build and workload) and
/// `satusky_app_active_release{org,app}`, and the time each plane entered its state,
/// `satusky_app_plane_last_transition_time{org,app,hostname,plane}`. Per app: 6 phase series,
/// 7 × (2 + 5 × hostnames) plane series and one release series — 56 for an app with one
/// hostname.
pub fn app_series_text(reports: &[ReadinessReport]) -> String {
    let mut out = String::from(
        "# HELP satusky_app_phase The app's phase (1 for the current one)\n\
         # TYPE satusky_app_phase gauge\n",
    );
    for r in reports {
        let app = format!("org=\"{}\",app=\"{}\"", r.org, r.app);
        let phases = PHASES.iter().map(|p| (p.as_str(), r.phase == *p));
        one_hot(&mut out, "satusky_app_phase", &app, "phase", phases);
    }
    out.push_str(
        "# HELP satusky_app_plane_state Each plane's state (1 for the current one)\n\
         # TYPE satusky_app_plane_state gauge\n",
    );
    for r in reports {
        for (host, name, plane) in app_planes(r) {
            let labels = format!(
                "org=\"{}\",app=\"{}\",hostname=\"{host}\",plane=\"{name}\"",
                r.org, r.app
            );
            let states = PLANE_STATES.iter().map(|s| (s.as_str(), plane.state == *s));
            one_hot(
                &mut out,
                "satusky_app_plane_state",
                &labels,
                "state",
                states,
            );
        }
    }
    out.push_str(
        "# HELP satusky_app_plane_last_transition_time When each plane entered its current state (unix seconds; time in state = now - this)\n\
         # TYPE satusky_app_plane_last_transition_time gauge\n",
    );
    for r in reports {
        for (host, name, plane) in app_planes(r) {
            let Some(since) = plane.since.as_deref().and_then(parse_rfc3339_ms) else {
                continue;
            };
            let _ = writeln!(
                out,
                "satusky_app_plane_last_transition_time{{org=\"{}\",app=\"{}\",hostname=\"{host}\",plane=\"{name}\"}} {:.3}",
                r.org,
                r.app,
                since as f64 / 1000.0
            );
        }
    }
    out.push_str(
        "# HELP satusky_app_active_release The release serving the app (0: none yet)\n\
         # TYPE satusky_app_active_release gauge\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "satusky_app_active_release{{org=\"{}\",app=\"{}\"}} {}",
            r.org,
            r.app,
            r.active_release.unwrap_or(0)
        );
    }
    out
}

/// Every plane of a report with its hostname (`""` for build and workload) and name.
fn app_planes(r: &ReadinessReport) -> Vec<(&str, &str, &Plane)> {
    let mut planes: Vec<(&str, &str, &Plane)> =
        vec![("", "build", &r.build), ("", "workload", &r.workload.plane)];
    for e in &r.endpoints {
        planes.extend(e.planes().map(|(name, p)| (e.hostname.as_str(), name, p)));
    }
    planes
}

/// One series of `metric` per possible value of `label`: 1 for the current one, 0 for the
/// others.
fn one_hot<'a>(
    out: &mut String,
    metric: &str,
    labels: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, bool)>,
) {
    for (value, current) in values {
        let _ = writeln!(
            out,
            "{metric}{{{labels},{label}=\"{value}\"}} {}",
            u8::from(current)
        );
    }
}

/// The Prometheus text of everything recorded in this process (empty when another recorder
/// was installed first).
pub(crate) fn render() -> String {
    let mut text = install().map(|h| h.render()).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_lists_every_plane_with_zeros() {
        let text = drift_gauge_text(&[("dns".into(), 2), ("route".into(), 1)]);
        assert!(text.contains("# TYPE satusky_drift_findings gauge\n"));
        assert!(text.contains("satusky_drift_findings{plane=\"dns\"} 2\n"));
        assert!(text.contains("satusky_drift_findings{plane=\"route\"} 1\n"));
        assert!(text.contains("satusky_drift_findings{plane=\"tls\"} 0\n"));
        assert!(text.contains("satusky_drift_findings{plane=\"http\"} 0\n"));
    }

    #[test]
    fn every_app_gets_one_series_per_possible_value() {
        let plane = |state| {
            let mut p = Plane::new(state, satusky_types::Reason::Waiting, "x");
            p.since = Some("2026-12-07T06:00:00.250Z".into());
            p
        };
        let report = ReadinessReport {
            app: "web".into(),
            org: "acme".into(),
            generation: 1,
            observed_generation: None,
            active_release: Some(3),
            target_release: Some(3),
            internal_address: None,
            phase: Phase::Degraded,
            build: plane(PlaneState::Ready),
            workload: satusky_types::WorkloadPlane {
                plane: plane(PlaneState::Ready),
                replicas: Default::default(),
            },
            endpoints: vec![satusky_types::EndpointReport {
                hostname: "web-acme.apps.test".into(),
                kind: satusky_types::HostnameKind::Generated,
                metadata: plane(PlaneState::Ready),
                route: plane(PlaneState::Ready),
                dns: plane(PlaneState::Ready),
                tls: plane(PlaneState::Failed),
                http: plane(PlaneState::Unknown),
            }],
        };
        let text = app_series_text(&[report]);
        let series = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(series("satusky_app_phase{"), 6);
        assert_eq!(
            series("satusky_app_plane_state{"),
            6 * 7,
            "build, workload, 5 endpoint planes"
        );
        assert_eq!(series("satusky_app_active_release{"), 1);
        assert_eq!(series("satusky_app_plane_last_transition_time{"), 7);
        assert!(text.contains(
            "satusky_app_plane_last_transition_time{org=\"acme\",app=\"web\",hostname=\"\",plane=\"workload\"} 1796623200.250\n"
        ));
        assert!(text.contains("satusky_app_phase{org=\"acme\",app=\"web\",phase=\"degraded\"} 1"));
        assert!(text.contains(
            "plane_state{org=\"acme\",app=\"web\",hostname=\"web-acme.apps.test\",plane=\"tls\",state=\"failed\"} 1"
        ));
        assert!(text.contains(
            "plane_state{org=\"acme\",app=\"web\",hostname=\"\",plane=\"workload\",state=\"ready\"} 1"
        ));
        let ones = text
            .lines()
            .filter(|l| l.starts_with("satusky_app_plane_state") && l.ends_with(" 1"))
            .count();
        assert_eq!(ones, 7, "exactly one current state per plane");
        assert!(text.contains("satusky_app_active_release{org=\"acme\",app=\"web\"} 3"));
    }

    #[test]
    fn installing_twice_gives_the_same_recorder() {
        let a = install().map(|h| h as *const PrometheusHandle);
        let b = install().map(|h| h as *const PrometheusHandle);
        assert!(a.is_some());
        assert_eq!(a, b);
        reconcile("test", &Ok(()), Duration::from_millis(3));
        reconcile(
            "test",
            &Err(RuntimeError::unavailable("the API server is down")),
            Duration::from_millis(3),
        );
        let text = install().map(|h| h.render()).unwrap_or_default();
        assert!(
            text.contains("satusky_reconciles_total{runtime=\"test\",result=\"ok\"}"),
            "{text}"
        );
        assert!(
            text.contains("satusky_reconciles_total{runtime=\"test\",result=\"unavailable\"}"),
            "{text}"
        );
        assert!(text.contains("satusky_reconcile_seconds_bucket"), "{text}");
    }
}
