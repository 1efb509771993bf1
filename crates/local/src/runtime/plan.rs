//! The local runtime's decisions as pure functions: whether a spec can run here, whether an
//! apply changes the processes (or restarts them), the route table entries of a release,
//! what replicas' statuses say in an observation, and the route plane of a hostname read
//! from the table. No I/O: it must not touch processes or the tables; [`super`] calls these.

use std::net::SocketAddr;

use satusky_core::runtime::{DesiredWorkload, WorkloadObservation};
use satusky_core::secrets::versions;
use satusky_types::{AppSpec, Hostname, HostnameKind, Plane, PlaneState, Reason, Strategy};

use crate::routes::{Route, RouteTable};
use crate::supervisor::ReplicaStatus;

/// The message of an app that only names an image.
pub const IMAGE_ONLY: &str = "this runtime runs commands, not containers: give [app] a command (and [build] command), or deploy to Kubernetes";
/// The message of an app with a built artifact but no command.
pub const NO_COMMAND: &str = "this runtime starts [app] command in the built artifact, and the app has none: add command = [\"./your-server\"] to [app] (it must listen on $PORT)";

/// Why this runtime refuses a spec before anything is recorded: one with neither a command
/// nor an image could never start (an image-only spec is accepted and fails at apply with
/// [`IMAGE_ONLY`], as SPEC §8 says).
pub(super) fn refused(spec: &AppSpec) -> Option<(Reason, String)> {
    let has_command = spec
        .command
        .as_ref()
        .is_some_and(|c| c.first().is_some_and(|p| !p.is_empty()));
    // A static site runs no process: the edge serves its files.
    (!has_command && spec.image.is_none() && spec.static_site.is_none())
        .then(|| (Reason::NoCommand, NO_COMMAND_AT_ALL.to_string()))
}

/// The message of an app with neither a command nor an image.
pub const NO_COMMAND_AT_ALL: &str = "this runtime starts [app] command, and the app has none (and no image): add command = [\"./your-server\"] to [app] — it must listen on $PORT — and [build] command if it needs building";

/// Why this runtime cannot run the spec, if it cannot.
pub(super) fn unsupported(spec: &AppSpec, artifact: Option<&str>) -> Option<(Reason, String)> {
    let has_command = spec
        .command
        .as_ref()
        .is_some_and(|c| c.first().is_some_and(|p| !p.is_empty()));
    if spec.static_site.is_some() {
        None
    } else if artifact.is_none() && spec.image.is_some() {
        Some((
            Reason::ImageRequiresContainerRuntime,
            IMAGE_ONLY.to_string(),
        ))
    } else if !has_command {
        Some((Reason::NoCommand, NO_COMMAND.to_string()))
    } else {
        None
    }
}

/// Same release running the same processes (the replica count and hostnames may differ):
/// the same spec and artifact, the same secret versions — a heal of the release after a
/// secret changed starts new replicas with the new value — and the same restart request.
pub(super) fn same_workload(a: &DesiredWorkload, b: &DesiredWorkload) -> bool {
    same_but_restart(a, b) && a.restarted_at_ms == b.restarted_at_ms
}

/// `b` asks to restart `a`'s replicas: the same workload (the count and hostnames may
/// differ) but for another restart request.
fn restarted(a: &DesiredWorkload, b: &DesiredWorkload) -> bool {
    same_but_restart(a, b) && a.restarted_at_ms != b.restarted_at_ms
}

/// What an apply of `d` does with the app's processes, given what runs: the serving
/// generation, a rollout on its way, a restart of the serving one in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// The restart in progress asked for again: take its hostnames and count.
    ContinueRestart,
    /// The serving workload: scale it in place (a restart in progress is given up).
    Scale,
    /// The serving workload with a new restart request, rolling: replace its replicas one
    /// by one.
    Restart,
    /// The rollout on its way: take its hostnames.
    SameRollout,
    /// Anything else: start a whole new generation (after stopping everything, with the
    /// recreate strategy).
    Replace,
}

pub(super) fn change(
    serving: Option<&DesiredWorkload>,
    rollout: Option<&DesiredWorkload>,
    restart: Option<&DesiredWorkload>,
    d: &DesiredWorkload,
) -> Change {
    let rolling = d.spec.deploy.strategy == Strategy::Rolling;
    if restart.is_some_and(|r| same_workload(r, d)) {
        Change::ContinueRestart
    } else if serving.is_some_and(|s| same_workload(s, d)) {
        Change::Scale
    } else if rolling && serving.is_some_and(|s| restarted(s, d)) {
        Change::Restart
    } else if rollout.is_some_and(|r| same_workload(r, d) && r.spec.replicas == d.spec.replicas) {
        Change::SameRollout
    } else {
        Change::Replace
    }
}

fn same_but_restart(a: &DesiredWorkload, b: &DesiredWorkload) -> bool {
    let strip = |d: &DesiredWorkload| {
        let mut s = d.spec.spec().clone();
        s.replicas = 0;
        s.domains.clear();
        s
    };
    a.org == b.org
        && a.app == b.app
        && a.release == b.release
        && a.artifact == b.artifact
        && strip(a) == strip(b)
        && versions(&a.secrets) == versions(&b.secrets)
}

pub(super) fn crash_loop(statuses: &[ReplicaStatus]) -> Option<(Reason, String)> {
    statuses
        .iter()
        .find_map(|s| s.crash_loop.clone())
        .map(|m| (Reason::CrashLoopBackOff, m))
}

/// What the replicas' statuses say beyond their counts: why running ones are not ready (the
/// first in `statuses` that says), how one last exited, and how many are back but recent.
pub(super) fn describe(obs: &mut WorkloadObservation, statuses: &[ReplicaStatus]) {
    obs.waiting = statuses
        .iter()
        .filter(|s| !s.ready && s.pid.is_some())
        .find_map(|s| s.waiting.clone());
    obs.exited = statuses.iter().find_map(|s| s.last_exit.clone());
    obs.recovering = statuses
        .iter()
        .filter(|s| s.ready && s.last_exit.is_some())
        .count() as u32;
}

pub(super) fn upstreams<'a>(
    statuses: impl IntoIterator<Item = &'a ReplicaStatus>,
) -> Vec<SocketAddr> {
    statuses
        .into_iter()
        .map(|s| SocketAddr::from(([127, 0, 0, 1], s.port)))
        .collect()
}

/// The route table entries of a release: generated and alias hosts serve it, redirect hosts
/// redirect.
pub(super) fn route_entries(d: &DesiredWorkload, upstreams: &[SocketAddr]) -> Vec<(String, Route)> {
    let mut out = Vec::new();
    for h in &d.hostnames {
        let route = match (h.kind, &h.redirect_to) {
            (HostnameKind::Redirect, Some(to)) => Route::Redirect {
                org: d.org.clone(),
                app: d.app.clone(),
                to: to.clone(),
            },
            (HostnameKind::Redirect, None) => {
                tracing::warn!(host = %h.hostname, "redirect host without a target; not routed");
                continue;
            }
            _ => Route::Serve {
                org: d.org.clone(),
                app: d.app.clone(),
                release_id: d.release_id(),
                upstreams: upstreams.to_vec(),
            },
        };
        out.push((h.hostname.to_ascii_lowercase(), route));
    }
    out
}

/// The route table entries of a static site's release: its files at `root` in place of
/// replicas (redirect hosts redirect as always).
pub(super) fn static_entries(d: &DesiredWorkload, root: &std::path::Path) -> Vec<(String, Route)> {
    let index = d
        .spec
        .static_site
        .as_ref()
        .map_or_else(|| "index.html".to_string(), |s| s.index.clone());
    route_entries(d, &[])
        .into_iter()
        .map(|(host, route)| match route {
            Route::Serve {
                org,
                app,
                release_id,
                ..
            } => (
                host,
                Route::Static {
                    org,
                    app,
                    release_id,
                    root: root.to_path_buf(),
                    index: index.clone(),
                },
            ),
            other => (host, other),
        })
        .collect()
}

/// The route plane of one hostname from the table: `Waiting` until a release of the app
/// serves (or while its route has no replica behind it), `Accepted` when the entry does what
/// the hostname's kind asks, `RouteMissing` / `HostnamesMismatch` (with the fix) otherwise.
/// Pure; public so tests outside the crate can walk every plane it decides.
pub fn route_plane(table: &RouteTable, org: &str, app: &str, h: &Hostname, serving: bool) -> Plane {
    let host = &h.hostname;
    let entry = table.lookup(host);
    if let Some(route) = &entry
        && route.owner() != (org, app)
    {
        let (o, a) = route.owner();
        return Plane::new(
            PlaneState::Failed,
            Reason::HostnamesMismatch,
            format!("{host} is routed to {o}/{a}, not to this app"),
        )
        .with_remediation(format!(
            "the local edge still routes {host} to {o}/{a}: `1ctl app drift --check` finds it \
             and routes the hostname as the store says; if it stays, `1ctl deploy` this app again"
        ));
    }
    if !serving {
        return Plane::new(
            PlaneState::Pending,
            Reason::Waiting,
            "waiting for a release of the app to become ready",
        );
    }
    match (entry, h.kind) {
        (None, _) => Plane::new(
            PlaneState::Failed,
            Reason::RouteMissing,
            format!("the local edge has no route for {host}"),
        )
        .with_remediation(format!(
            "`1ctl app drift --check` finds the missing route for {host} and restores it; if \
             it stays missing, `1ctl deploy` again"
        )),
        (Some(Route::Redirect { to, .. }), HostnameKind::Redirect)
            if h.redirect_to.as_deref() == Some(to.as_str()) =>
        {
            Plane::new(
                PlaneState::Ready,
                Reason::Accepted,
                format!("redirected by the local edge → {to}"),
            )
        }
        (
            Some(Route::Serve {
                release_id,
                upstreams,
                ..
            }),
            kind,
        ) if kind != HostnameKind::Redirect => {
            let version = release_id
                .rsplit('@')
                .next()
                .unwrap_or(&release_id)
                .to_string();
            match upstreams.len() {
                0 => Plane::new(
                    PlaneState::Pending,
                    Reason::Waiting,
                    format!("the route to {version} has no replica behind it yet"),
                ),
                n => Plane::new(
                    PlaneState::Ready,
                    Reason::Accepted,
                    format!(
                        "served by the local edge → {version} ({n} upstream{})",
                        if n == 1 { "" } else { "s" }
                    ),
                ),
            }
        }
        (Some(Route::Static { release_id, .. }), kind) if kind != HostnameKind::Redirect => {
            let version = release_id.rsplit('@').next().unwrap_or(&release_id);
            Plane::new(
                PlaneState::Ready,
                Reason::Accepted,
                format!("served by the local edge → {version} (a static site's files)"),
            )
        }
        (Some(route), _) => Plane::new(
            PlaneState::Failed,
            Reason::HostnamesMismatch,
            mismatch(h, &route),
        )
        .with_remediation(format!(
            "`1ctl app drift --check` rewrites the route of {host} from the store (its kind \
             and `redirect_to` in [[domains]]); if it stays, `1ctl deploy` again"
        )),
    }
}

/// What is wrong with a route of the app that does not do what the hostname's kind asks.
fn mismatch(h: &Hostname, route: &Route) -> String {
    let host = &h.hostname;
    let want = h.redirect_to.as_deref().unwrap_or("its stored target");
    match (route, h.kind) {
        (Route::Redirect { to, .. }, HostnameKind::Redirect) => {
            format!("{host} redirects to {to}, not to {want}")
        }
        (
            Route::Serve { release_id, .. } | Route::Static { release_id, .. },
            HostnameKind::Redirect,
        ) => {
            format!("{host} serves {release_id} instead of redirecting to {want}")
        }
        (Route::Redirect { to, .. }, kind) => format!(
            "{host} redirects to {to} instead of serving the app ({} hostname)",
            kind.as_str()
        ),
        (Route::Serve { .. } | Route::Static { .. }, kind) => format!(
            "{host} is routed differently from its stored kind ({})",
            kind.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(org: &str, app: &str, n: usize) -> Route {
        Route::Serve {
            org: org.into(),
            app: app.into(),
            release_id: format!("{org}/{app}@v3"),
            upstreams: (0..n)
                .map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16)))
                .collect(),
        }
    }

    fn h(name: &str, kind: HostnameKind, to: Option<&str>) -> Hostname {
        Hostname {
            hostname: name.into(),
            kind,
            redirect_to: to.map(str::to_string),
        }
    }

    #[test]
    fn route_planes() {
        let t = RouteTable::new();
        let alias = h("a.test", HostnameKind::Alias, None);
        let plane = |host: &Hostname, serving| route_plane(&t, "acme", "web", host, serving);
        let p = plane(&alias, false);
        assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Waiting));
        let p = plane(&alias, true);
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::RouteMissing)
        );
        t.set_host("a.test", serve("acme", "web", 0));
        let p = plane(&alias, true);
        assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Waiting));
        t.set_host("a.test", serve("acme", "web", 1));
        let p = plane(&alias, true);
        assert_eq!(p.message, "served by the local edge → v3 (1 upstream)");
        t.set_host("a.test", serve("other", "web", 1));
        for serving in [false, true] {
            let p = plane(&alias, serving);
            assert_eq!(
                (p.state, p.reason),
                (PlaneState::Failed, Reason::HostnamesMismatch)
            );
        }
        // A redirect host served as an alias, or redirecting elsewhere, is a mismatch.
        let redirect = h("r.test", HostnameKind::Redirect, Some("https://a.test"));
        t.set_host("r.test", serve("acme", "web", 1));
        let p = plane(&redirect, true);
        assert_eq!(p.reason, Reason::HostnamesMismatch);
        assert_eq!(
            p.message,
            "r.test serves acme/web@v3 instead of redirecting to https://a.test"
        );
        let to = |to: &str| Route::Redirect {
            org: "acme".into(),
            app: "web".into(),
            to: to.into(),
        };
        t.set_host("r.test", to("https://elsewhere.test"));
        let p = plane(&redirect, true);
        assert_eq!(p.reason, Reason::HostnamesMismatch);
        assert_eq!(
            p.message,
            "r.test redirects to https://elsewhere.test, not to https://a.test"
        );
        t.set_host("a.test", to("https://elsewhere.test"));
        assert_eq!(
            plane(&alias, true).message,
            "a.test redirects to https://elsewhere.test instead of serving the app (alias hostname)"
        );
        t.set_host("r.test", to("https://a.test"));
        assert_eq!(plane(&redirect, true).state, PlaneState::Ready);
    }

    #[test]
    fn what_runs_here() {
        let mut spec: AppSpec = serde_json::from_value(serde_json::json!({
            "name": "web", "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
            "command": ["./server"],
            "build": {"dockerfile": "Dockerfile", "context": "."},
            "checks": {"path": "/", "expect": "2xx", "timeout_ms": 1000},
            "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                       "progress_deadline_seconds": 600}
        }))
        .unwrap();
        assert_eq!(unsupported(&spec, None), None);
        spec.image = Some("ghcr.io/acme/web:1".into());
        let r = unsupported(&spec, None).unwrap();
        assert_eq!(
            r,
            (Reason::ImageRequiresContainerRuntime, IMAGE_ONLY.into())
        );
        assert_eq!(unsupported(&spec, Some("sha256:ab")), None);
        spec.command = Some(vec![]);
        let r = unsupported(&spec, Some("sha256:ab")).unwrap();
        assert_eq!(r.1, NO_COMMAND);
    }

    fn workload(replicas: u32, strategy: &str, restarted_at_ms: Option<i64>) -> DesiredWorkload {
        let spec: AppSpec = serde_json::from_value(serde_json::json!({
            "name": "web", "port": 8080, "replicas": replicas, "cpu": "250m", "memory": "256Mi",
            "command": ["./server"],
            "build": {"dockerfile": "Dockerfile", "context": "."},
            "checks": {"path": "/", "expect": "2xx", "timeout_ms": 1000},
            "deploy": {"strategy": strategy, "max_surge": "25%", "max_unavailable": "0",
                       "progress_deadline_seconds": 600}
        }))
        .unwrap();
        DesiredWorkload {
            org: "acme".into(),
            app: "web".into(),
            release: 3,
            spec: satusky_core::validate_spec(spec).unwrap(),
            artifact: None,
            hostnames: satusky_core::AppHostnames::new(Vec::new()).unwrap(),
            secrets: Default::default(),
            restarted_at_ms,
        }
    }

    #[test]
    fn what_an_apply_changes() {
        let serving = workload(3, "rolling", None);
        let s = Some(&serving);
        // The same workload, any count: in place.
        assert_eq!(change(s, None, None, &serving), Change::Scale);
        assert_eq!(
            change(s, None, None, &workload(5, "rolling", None)),
            Change::Scale
        );
        // A new restart stamp: one by one when rolling (with a new count too)…
        let restart = workload(3, "rolling", Some(1));
        assert_eq!(change(s, None, None, &restart), Change::Restart);
        assert_eq!(
            change(s, None, None, &workload(2, "rolling", Some(1))),
            Change::Restart
        );
        // …a whole new generation with recreate, or when nothing serves.
        let recreate = workload(3, "recreate", Some(1));
        let serving_recreate = workload(3, "recreate", None);
        assert_eq!(
            change(Some(&serving_recreate), None, None, &recreate),
            Change::Replace
        );
        assert_eq!(change(None, None, None, &restart), Change::Replace);
        // The restart in progress, again or scaled; another stamp restarts again; the
        // serving stamp gives the restart up.
        let r = Some(&restart);
        assert_eq!(change(s, None, r, &restart), Change::ContinueRestart);
        assert_eq!(
            change(s, None, r, &workload(4, "rolling", Some(1))),
            Change::ContinueRestart
        );
        assert_eq!(
            change(s, None, r, &workload(3, "rolling", Some(2))),
            Change::Restart
        );
        assert_eq!(change(s, None, r, &serving), Change::Scale);
        // Another release: a rollout, kept when asked again with the same count.
        let mut next = workload(3, "rolling", None);
        next.release = 4;
        assert_eq!(change(s, None, None, &next), Change::Replace);
        assert_eq!(change(s, Some(&next), None, &next), Change::SameRollout);
        let mut bigger = workload(4, "rolling", None);
        bigger.release = 4;
        assert_eq!(change(s, Some(&next), None, &bigger), Change::Replace);
    }

    #[test]
    fn another_secret_version_is_another_workload() {
        use satusky_core::secrets::{SecretEntry, SecretValue};
        let spec: AppSpec = serde_json::from_value(serde_json::json!({
            "name": "web", "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
            "command": ["./server"],
            "build": {"dockerfile": "Dockerfile", "context": "."},
            "checks": {"path": "/", "expect": "2xx", "timeout_ms": 1000},
            "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                       "progress_deadline_seconds": 600}
        }))
        .unwrap();
        let entry = |version, value: &str| SecretEntry {
            version,
            value: SecretValue::new(value),
        };
        let d = DesiredWorkload {
            org: "acme".into(),
            app: "web".into(),
            release: 3,
            spec: satusky_core::validate_spec(spec).unwrap(),
            artifact: None,
            hostnames: satusky_core::AppHostnames::new(Vec::new()).unwrap(),
            secrets: [("API_KEY".to_string(), entry(1, "a"))].into(),
            restarted_at_ms: None,
        };
        assert!(same_workload(&d, &d.clone()));
        let mut rotated = d.clone();
        rotated.secrets.insert("API_KEY".into(), entry(2, "b"));
        assert!(!same_workload(&d, &rotated), "a new version of a secret");
        let mut added = d.clone();
        added.secrets.insert("DATABASE_URL".into(), entry(1, "c"));
        assert!(!same_workload(&d, &added), "a secret set");
        let mut removed = d.clone();
        removed.secrets.clear();
        assert!(!same_workload(&d, &removed), "a secret deleted");
    }
}
