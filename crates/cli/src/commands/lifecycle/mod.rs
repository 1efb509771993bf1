//! Following a release the control plane accepted — a deploy's or a rollback's — to its
//! verdict, the same way for both (SPEC §3: a rollback goes through a deploy's lifecycle).
//!
//! [`follow`] does everything after the `202`: `--no-wait`, the wait with its progress on
//! stderr, the lines explaining a non-zero verdict, and then either the summary with the
//! URLs (table mode, on stdout) or exactly one JSON document (`-o json`: the readiness report
//! plus `exit_code`). The exit codes are `deploy`'s (SPEC §5): 0, 10, 11, 12, 13, 14.
//!
//! - [`wait`]: polling for the verdict while the event stream shows progress;
//! - [`display`]: the live (terminal) or plain progress display.

mod display;
mod wait;

use satusky_types::ReadinessReport;

use crate::cli::{WaitArgs, WaitFor};
use crate::client::Client;
use crate::commands::Env;
use crate::exit::{self, CliError};
use crate::output;
use crate::verdict::{details, explain};

use display::Display;
use wait::Target;

/// What made the release being followed; only the words differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deploy,
    /// A rollback to the snapshot of release `from`.
    Rollback {
        from: u64,
    },
    /// An env or secret change: the artifact of release `from` with the new config.
    Config {
        from: u64,
    },
    /// `app scale` / `app restart` of the active release (no new release): followed until
    /// the report describes the app's generation `generation` or later.
    Operation {
        name: &'static str,
        generation: u64,
        /// The seq of the operation's event: the progress shown starts there.
        event_seq: u64,
    },
}

/// The release to follow.
pub struct Release<'a> {
    pub client: &'a Client,
    pub org: &'a str,
    pub app: &'a str,
    /// The release the control plane accepted (pending).
    pub version: u64,
    pub kind: Kind,
    /// The edge's HTTPS port when it is not 443, as the control plane said on accepting.
    pub https_port: Option<u16>,
}

/// Waits for the release's verdict (unless `--no-wait`) and reports it. `Ok` holds 0; every
/// other verdict comes back as a [`CliError::Verdict`] carrying its code and why.
pub async fn follow(release: &Release<'_>, args: &WaitArgs, env: &Env) -> Result<u8, CliError> {
    let target = Target {
        client: release.client,
        org: release.org,
        app: release.app,
    };
    if args.no_wait {
        if env.json() {
            let report = target.status().await?;
            print_json(&report, exit::OK)?;
        }
        return Ok(exit::OK);
    }
    let mut display = Display::new(output::stderr_is_live());
    let gate = match release.kind {
        Kind::Operation {
            generation,
            event_seq,
            ..
        } => Some(wait::Gate {
            generation,
            events_after: event_seq.saturating_sub(1),
        }),
        _ => None,
    };
    let outcome = wait::wait(
        &target,
        release.version,
        gate,
        args.wait_for,
        args.timeout,
        &mut display,
    )
    .await?;
    let (code, report) = (outcome.code, &outcome.report);
    for line in details(code, report, &outcome.build_tail) {
        output::note(&line);
    }
    if env.json() {
        print_json(report, code)?;
    } else if matches!(code, exit::OK | exit::DEGRADED) {
        print_summary(report, release, args.wait_for, code);
    }
    let why = match release.kind {
        Kind::Deploy => explain(code, report, release.version),
        Kind::Rollback { from } => explain_rollback(code, report, release.version, from),
        Kind::Config { from } => explain_config(code, report, release.version, from),
        Kind::Operation { name, .. } => explain_operation(code, report, release.version, name),
    };
    match why {
        Some(message) => Err(CliError::Verdict { code, message }),
        None => Ok(code),
    }
}

/// Why a rollback ended with `code`: `deploy`'s words where they fit, its own where they
/// would mislead (a rollback never rebuilds; its failure leaves the active release be).
pub fn explain_rollback(
    code: u8,
    report: &ReadinessReport,
    release: u64,
    from: u64,
) -> Option<String> {
    let app = &report.app;
    let what = format!("the rollback of {app} to v{from} (release v{release})");
    let msg = match code {
        // The failed plane itself (state, reason, message, fix) is printed above, once.
        exit::WORKLOAD_FAILED => format!(
            "{what} failed at its workload (the cause is above): v{from}'s image may no longer run; the release that was active stays active: roll back to another release (`1ctl app releases {app}`) or deploy a fix"
        ),
        exit::BUILD_FAILED => format!(
            "{what} could not reuse v{from}'s image (the cause is above): roll back to another release (`1ctl app releases {app}`)"
        ),
        exit::SUPERSEDED => format!(
            "{what} was superseded by a newer release (now v{}): follow that one with `1ctl app status {app} --watch`",
            report.target_release.unwrap_or_default()
        ),
        exit::TIMED_OUT => format!(
            "--timeout passed before {what} was ready (build {}, workload {}): it may still finish; follow it with `1ctl app status {app} --watch`",
            report.build.state, report.workload.plane.state
        ),
        _ => return explain(code, report, release),
    };
    Some(msg)
}

/// Why a config release ended with `code`: its failure leaves the active release serving.
pub fn explain_config(
    code: u8,
    report: &ReadinessReport,
    release: u64,
    from: u64,
) -> Option<String> {
    let app = &report.app;
    let msg = match code {
        exit::WORKLOAD_FAILED => format!(
            "release v{release} (v{from} with the new config) failed at its workload (the cause is above): the active release keeps serving with the old config; fix the value and set it again"
        ),
        _ => return explain(code, report, release),
    };
    let _ = app;
    Some(msg)
}

/// Why a scale or restart ended with `code`: it never fails the release, which stays active.
pub fn explain_operation(
    code: u8,
    report: &ReadinessReport,
    release: u64,
    name: &str,
) -> Option<String> {
    let app = &report.app;
    let msg = match code {
        exit::OK => return None,
        exit::WORKLOAD_FAILED => format!(
            "the {name} of {app} (v{release}) did not come up (the cause is above): v{release} is still the active release; its replicas that were ready keep serving. Look at `1ctl logs {app}`, fix it and deploy, or scale/restart again"
        ),
        exit::TIMED_OUT => format!(
            "--timeout passed before the {name} of {app} was done (workload {}): it may still finish; follow it with `1ctl app status {app} --watch`",
            report.workload.plane.state
        ),
        _ => return explain(code, report, release),
    };
    Some(msg)
}

/// The end of a wait that got somewhere: app, release, phase, the URL of each served hostname
/// (with the edge's port when the control plane named one) and the internal address.
fn print_summary(report: &ReadinessReport, release: &Release<'_>, wait_for: WaitFor, code: u8) {
    let what = match (code, wait_for) {
        (exit::DEGRADED, _) => "degraded",
        (_, WaitFor::Build) => "built",
        (_, WaitFor::Workload) => "running",
        (_, WaitFor::Endpoint) => "ready",
    };
    let which = match release.kind {
        Kind::Deploy => format!("v{}", release.version),
        Kind::Rollback { from } => format!("v{} (rollback to v{from})", release.version),
        Kind::Config { from } => format!("v{} (v{from} with the new config)", release.version),
        Kind::Operation { name, .. } => format!("v{} (after the {name})", release.version),
    };
    output::line(&format!(
        "{} {which} is {what} (org {}, phase {})",
        report.app, report.org, report.phase
    ));
    // A hostname of an app that is not public is reserved, not served: no URL for it.
    let served = report
        .endpoints
        .iter()
        .filter(|e| e.http.reason != satusky_types::Reason::NotPublic);
    for e in served {
        output::line(&format!("  {}", url(&e.hostname, release.https_port)));
    }
    if let Some(address) = &report.internal_address {
        output::line(&format!(
            "  {}",
            crate::commands::app::internal_address_line(address)
        ));
    }
}

/// `https://HOST`, or `https://HOST:PORT` when the edge listens on another port than 443.
pub fn url(host: &str, https_port: Option<u16>) -> String {
    match https_port.filter(|p| *p != 443) {
        Some(port) => format!("https://{host}:{port}"),
        None => format!("https://{host}"),
    }
}

/// The report with `exit_code` added: the one JSON document of `-o json`.
fn print_json(report: &ReadinessReport, code: u8) -> Result<(), CliError> {
    let mut value = serde_json::to_value(report)
        .map_err(|e| CliError::Unexpected(format!("cannot encode the report: {e}")))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("exit_code".into(), code.into());
    }
    output::json(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use satusky_types::{Phase, Plane, PlaneState, Reason, ReplicaCounts, WorkloadPlane};

    fn report(workload: Plane) -> ReadinessReport {
        ReadinessReport {
            app: "web".into(),
            org: "acme".into(),
            generation: 4,
            observed_generation: None,
            active_release: Some(3),
            target_release: Some(4),
            internal_address: None,
            phase: Phase::Failed,
            build: Plane::new(
                PlaneState::Ready,
                Reason::Built,
                "reusing sha256:abc (rollback(from=v1); not rebuilt)",
            ),
            workload: WorkloadPlane {
                plane: workload,
                replicas: ReplicaCounts::default(),
            },
            endpoints: Vec::new(),
        }
    }

    #[test]
    fn a_failed_rollback_names_the_snapshot_and_what_to_do() {
        let r = report(Plane::new(
            PlaneState::Failed,
            Reason::ImagePullBackOff,
            "manifest unknown",
        ));
        let m = explain_rollback(exit::WORKLOAD_FAILED, &r, 4, 1).unwrap_or_default();
        assert!(
            m.starts_with(
                "the rollback of web to v1 (release v4) failed at its workload (the cause is above)"
            ),
            "{m}"
        );
        // The plane is said once, above the error line, not again in it.
        let above = details(exit::WORKLOAD_FAILED, &r, &[]);
        assert_eq!(
            above,
            vec!["workload failed (ImagePullBackOff): manifest unknown".to_string()]
        );
        assert!(
            !m.contains("ImagePullBackOff") && !m.contains("manifest unknown"),
            "{m}"
        );
        assert!(
            m.contains("the release that was active stays active"),
            "{m}"
        );
        assert!(m.contains("1ctl app releases web"), "{m}");
        assert!(!m.contains("deploy again"), "{m}");
    }

    #[test]
    fn urls_name_the_edge_port_unless_it_is_443() {
        assert_eq!(
            url("web-dev.satusky.localhost", Some(8443)),
            "https://web-dev.satusky.localhost:8443"
        );
        assert_eq!(url("web.example.com", Some(443)), "https://web.example.com");
        assert_eq!(url("web.example.com", None), "https://web.example.com");
    }

    #[test]
    fn other_rollback_verdicts() {
        let r = report(Plane::new(PlaneState::InProgress, Reason::Progressing, ""));
        assert_eq!(explain_rollback(exit::OK, &r, 4, 1), None);
        let m = explain_rollback(exit::TIMED_OUT, &r, 4, 1).unwrap_or_default();
        assert!(m.contains("before the rollback of web to v1"), "{m}");
        let mut newer = r.clone();
        newer.target_release = Some(5);
        let m = explain_rollback(exit::SUPERSEDED, &newer, 4, 1).unwrap_or_default();
        assert!(m.contains("superseded by a newer release (now v5)"), "{m}");
        // Degraded reads as for a deploy.
        assert_eq!(
            explain_rollback(exit::DEGRADED, &r, 4, 1),
            explain(exit::DEGRADED, &r, 4)
        );
    }
}
