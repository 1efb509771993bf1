//! The exit code of `deploy` and `app rollback` (SPEC §5), as a pure function of what the
//! control plane says.
//!
//! [`verdict`] looks at one readiness report, our release number, what `GET …/releases`
//! said about our release (when asked), the dimension waited for, whether `--timeout`
//! has passed and whether an endpoint plane failed for good ([`crate::settle`]). `None`
//! means "keep waiting". No I/O, no clock: the caller polls. [`explain`] and [`details`]
//! say why, for stderr.

use satusky_types::{Plane, PlaneState, ReadinessReport, ReleaseInfo, ReleaseStatus};

use crate::cli::WaitFor;
use crate::events::first_line;
use crate::exit;

/// The deploy's exit code, or `None` to keep waiting.
///
/// - 14 when our release is `superseded`, or a newer release is the target while ours was
///   still pending (it has been overtaken);
/// - 10 / 11 when the build / workload of our release failed;
/// - 0 when the asked dimension is ready: `build` ready or not applicable; `workload`
///   ready; `endpoint` = workload ready and every plane of every hostname ready or not
///   applicable;
/// - 12 when the workload is ready and an endpoint plane `failed_for_good` (a failure that
///   waiting does not fix, seen to persist: the rule is in [`crate::settle`]);
/// - at the deadline: 12 if the workload is ready (endpoints are not), else 13.
///
/// Other endpoint planes that are not ready do not end the wait: DNS and certificates
/// settle on their own time, so they get until `--timeout`.
pub fn verdict(
    report: &ReadinessReport,
    our_release: u64,
    releases: &[ReleaseInfo],
    wait_for: WaitFor,
    timed_out: bool,
    failed_for_good: bool,
) -> Option<u8> {
    let ours = releases.iter().find(|r| r.version == our_release);
    if ours.is_some_and(|r| r.status == ReleaseStatus::Superseded) {
        return Some(exit::SUPERSEDED);
    }
    let timeout = || timed_out.then_some(exit::TIMED_OUT);
    match report.target_release {
        Some(target) if target == our_release => {}
        Some(target) if target > our_release => {
            // The report describes a newer release; judge ours by its release status.
            return match ours.map(|r| r.status) {
                Some(ReleaseStatus::Failed) => Some(failed_release_code(ours)),
                Some(ReleaseStatus::Active) if wait_for != WaitFor::Endpoint => Some(exit::OK),
                // Pending (overtaken), active but its endpoints are now a newer release's.
                Some(_) => Some(exit::SUPERSEDED),
                None => timeout(),
            };
        }
        // Older or no target: the report predates our deploy.
        _ => return timeout(),
    }

    let build = report.build.state;
    if build == PlaneState::Failed {
        return Some(exit::BUILD_FAILED);
    }
    let workload = report.workload.plane.state;
    if workload == PlaneState::Failed {
        return Some(exit::WORKLOAD_FAILED);
    }
    if ours.is_some_and(|r| r.status == ReleaseStatus::Failed) {
        return Some(failed_release_code(ours));
    }
    if wait_for == WaitFor::Build {
        return if build.is_satisfied() {
            Some(exit::OK)
        } else {
            timeout()
        };
    }
    if workload != PlaneState::Ready || !build.is_satisfied() {
        return timeout();
    }
    if wait_for == WaitFor::Workload || report.endpoints.iter().all(|e| e.is_ready()) {
        return Some(exit::OK);
    }
    (timed_out || failed_for_good).then_some(exit::DEGRADED)
}

/// A failed release whose image never got set failed in its build.
fn failed_release_code(ours: Option<&ReleaseInfo>) -> u8 {
    match ours.and_then(|r| r.image.as_ref()) {
        None => exit::BUILD_FAILED,
        Some(_) => exit::WORKLOAD_FAILED,
    }
}

/// Whether the caller should ask `GET …/releases` before calling [`verdict`]: only when the
/// report is about another release (superseded or failed releases are told there).
pub fn needs_releases(report: &ReadinessReport, our_release: u64) -> bool {
    report.target_release != Some(our_release)
}

/// One line saying why the deploy ended with `code` (for stderr), or `None` for 0.
///
/// It comes last, under [`details`], and repeats none of them: a failed dimension's state,
/// reason, message and fix are said once, above; this line says which release failed where
/// and what to do when the control plane gave no fix.
pub fn explain(code: u8, report: &ReadinessReport, our_release: u64) -> Option<String> {
    let app = &report.app;
    let failed_at = |dimension: &str, p: &Plane, todo: &str| match p.remediation {
        Some(_) => format!(
            "release v{our_release} of {app} failed at its {dimension}: the cause and the fix are above"
        ),
        None => format!(
            "release v{our_release} of {app} failed at its {dimension} (the cause is above): {todo}"
        ),
    };
    let msg = match code {
        exit::OK => return None,
        exit::SUPERSEDED => format!(
            "release v{our_release} of {app} was superseded by a newer deploy (now v{}): follow that one with `1ctl app status {app} --watch`",
            report.target_release.unwrap_or_default()
        ),
        exit::BUILD_FAILED => failed_at("build", &report.build, "fix the build and deploy again"),
        exit::WORKLOAD_FAILED => failed_at(
            "workload",
            &report.workload.plane,
            "change the app or its satusky.toml, then deploy again",
        ),
        exit::DEGRADED => {
            let planes = unready_planes(report);
            match planes.first() {
                Some((host, name, p)) => {
                    let todo = match p.remediation {
                        Some(_) => "apply the fix above",
                        None => "see the planes above",
                    };
                    let more = match planes.len() - 1 {
                        0 => String::new(),
                        1 => " (and 1 more plane)".to_string(),
                        n => format!(" (and {n} more planes)"),
                    };
                    format!(
                        "degraded: the workload of {app} is ready but {host} {name} is not{more}: {todo}, then check with `1ctl app status {app}`"
                    )
                }
                None => format!("degraded: the workload of {app} is ready but an endpoint is not"),
            }
        }
        exit::TIMED_OUT => format!(
            "--timeout passed before {app} v{our_release} was ready (build {}, workload {}): it may still finish; follow it with `1ctl app status {app} --watch` or deploy with a longer --timeout",
            report.build.state, report.workload.plane.state
        ),
        other => format!("deploy of {app} ended with exit code {other}"),
    };
    Some(msg)
}

/// The lines printed above the error line, each thing once: a failed build or workload as
/// `DIMENSION STATE (REASON): first line`, the rest of its message (the build: the log's
/// tail) under it, then its fix (10, 11); every endpoint plane not ready with its fix (12).
/// Empty for the other codes.
pub fn details(code: u8, report: &ReadinessReport, build_tail: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    match code {
        exit::BUILD_FAILED => {
            let b = &report.build;
            out.push(format!("build {}", plane_text(b)));
            if build_tail.is_empty() {
                out.extend(rest_of_message(&b.message));
            } else {
                out.push(format!("build log (last {} lines):", build_tail.len()));
                out.extend(build_tail.iter().map(|l| format!("  │ {l}")));
            }
            out.extend(fix_lines(b, "  "));
        }
        exit::WORKLOAD_FAILED => {
            let w = &report.workload.plane;
            out.push(format!("workload {}", plane_text(w)));
            out.extend(rest_of_message(&w.message));
            out.extend(fix_lines(w, "  "));
        }
        exit::DEGRADED => {
            for (host, name, p) in unready_planes(report) {
                out.push(format!("{host}  {name} {}", plane_text(p)));
                out.extend(fix_lines(p, "    "));
            }
        }
        _ => {}
    }
    out
}

/// A message's lines after its first (which [`plane_text`] shows), as `  │ line`.
fn rest_of_message(message: &str) -> Vec<String> {
    message
        .lines()
        .filter(|l| !l.trim().is_empty())
        .skip(1)
        .map(|l| format!("  │ {l}"))
        .collect()
}

/// A plane's remediation as `INDENTfix: line`, one per line of it; none without one.
fn fix_lines(p: &Plane, indent: &str) -> Vec<String> {
    p.remediation
        .iter()
        .flat_map(|fix| fix.lines())
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{indent}fix: {l}"))
        .collect()
}

/// Every endpoint plane that is not ready, failed ones first.
fn unready_planes(report: &ReadinessReport) -> Vec<(&str, &'static str, &Plane)> {
    let mut planes: Vec<_> = report
        .endpoints
        .iter()
        .flat_map(|e| {
            e.planes()
                .into_iter()
                .filter(|(_, p)| !p.state.is_satisfied())
                .map(move |(name, p)| (e.hostname.as_str(), name, p))
        })
        .collect();
    planes.sort_by_key(|(_, _, p)| p.state != PlaneState::Failed);
    planes
}

/// `failed (CrashLoopBackOff): exited with status 1` — the message's first line only.
pub fn plane_text(p: &Plane) -> String {
    let mut s = format!("{} ({})", p.state, p.reason);
    let message = first_line(&p.message).trim_end_matches([':', ' ']);
    if !message.is_empty() {
        s.push_str(": ");
        s.push_str(message);
    }
    s
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
