//! The issuer's decisions, pure: what a stored certificate says about itself
//! ([`CertInfo`]), when it is renewed ([`renew_at`]), how long a failed issuance waits
//! ([`backoff`]), what to do next for a hostname ([`next_action`]), what an ACME order's
//! status means ([`order_step`]) and which TLS plane a hostname's state shows ([`plane`]).
//!
//! No I/O, no clock: callers pass `now`. The issuer (`issuer.rs`) acts on these answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use instant_acme::{OrderStatus, Problem};
use satusky_types::{Plane, PlaneState, Reason};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::config::AcmeTimings;

/// What the issuer needs to know about a certificate it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The issuing certificate's common name (its whole subject when it has no CN).
    pub issuer: String,
    /// The serial number, hex with `:` separators.
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl CertInfo {
    /// Reads a DER leaf certificate; `None` when it is not one.
    pub fn parse(der: &[u8]) -> Option<CertInfo> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let issuer = cert
            .issuer()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| cert.issuer().to_string());
        let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        Some(CertInfo {
            issuer,
            serial: cert.raw_serial_as_string(),
            not_before: at(cert.validity().not_before.timestamp()),
            not_after: at(cert.validity().not_after.timestamp()),
        })
    }

    /// Still within its validity period at `now`.
    pub fn valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// Where a hostname's issuance stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing under way (a certificate is held, or nothing was asked yet).
    Idle,
    /// An order is being placed or finalized.
    Issuing,
    /// The ACME server is validating the HTTP-01 challenge.
    ChallengePending,
    /// The last attempt failed with `problem`; attempt number `attempt` (from 1) failed, the
    /// next starts at `retry_at`.
    Failed {
        problem: String,
        attempt: u32,
        retry_at: SystemTime,
    },
}

/// A hostname's certificate (if one is held), its issuance step and how many attempts in a
/// row failed (kept while a retry runs, so the backoff keeps growing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    pub cert: Option<CertInfo>,
    pub step: Step,
    pub failures: u32,
}

impl HostStatus {
    /// Nothing held, nothing tried.
    pub fn new() -> HostStatus {
        HostStatus {
            cert: None,
            step: Step::Idle,
            failures: 0,
        }
    }

    /// `cert` was just issued (or loaded).
    pub fn issued(cert: CertInfo) -> HostStatus {
        HostStatus {
            cert: Some(cert),
            ..HostStatus::new()
        }
    }

    /// An attempt failed at `now` with `problem`: the next waits by the backoff.
    pub fn fail(&mut self, problem: String, now: SystemTime, timings: &AcmeTimings) {
        self.failures = self.failures.saturating_add(1);
        self.step = Step::Failed {
            problem,
            attempt: self.failures,
            retry_at: now + backoff(self.failures, timings.retry_base, timings.retry_cap),
        };
    }
}

impl Default for HostStatus {
    fn default() -> Self {
        HostStatus::new()
    }
}

/// When a certificate is renewed: `fraction` of its lifetime after `not_before` (two thirds
/// by default, like certbot and cert-manager: a 90-day certificate is renewed 30 days before
/// it expires, leaving room for a month of failed retries).
pub fn renew_at(cert: &CertInfo, fraction: f64) -> SystemTime {
    let lifetime = cert
        .not_after
        .duration_since(cert.not_before)
        .unwrap_or(Duration::ZERO);
    cert.not_before + lifetime.mul_f64(fraction.clamp(0.0, 1.0))
}

/// How long failed attempt number `attempt` (from 1) waits before the next: `base`, doubled
/// for each further failure, never more than `cap`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    base.saturating_mul(1u32 << doublings).min(cap)
}

/// What the issuer does next for a hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Place an order now.
    Order,
    /// Nothing to do until then.
    WaitUntil(SystemTime),
}

/// Order when no valid certificate is held or it is due for renewal — unless the last
/// attempt failed and its retry time has not come.
pub fn next_action(status: &HostStatus, now: SystemTime, timings: &AcmeTimings) -> Action {
    if let Step::Failed { retry_at, .. } = &status.step
        && now < *retry_at
    {
        return Action::WaitUntil(*retry_at);
    }
    match &status.cert {
        Some(cert) if cert.valid_at(now) => {
            let due = renew_at(cert, timings.renew_fraction);
            if now < due && !matches!(status.step, Step::Failed { .. }) {
                Action::WaitUntil(due)
            } else {
                Action::Order
            }
        }
        _ => Action::Order,
    }
}

/// What an order's status means while the issuer polls it after answering the challenge:
/// still `pending` means the server is validating; `ready`/`processing`/`valid` mean the
/// certificate is being made; `invalid` ends the order (`None`: read the problem).
pub fn order_step(status: OrderStatus) -> Option<Step> {
    match status {
        OrderStatus::Pending => Some(Step::ChallengePending),
        OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => Some(Step::Issuing),
        OrderStatus::Invalid => None,
    }
}

/// An ACME problem document as one line: `detail (type)`, then its subproblems.
pub fn problem_text(problem: &Problem) -> String {
    let mut text = match (&problem.detail, &problem.r#type) {
        (Some(d), Some(t)) => format!("{d} ({t})"),
        (Some(d), None) => d.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => "the ACME server gave no detail".to_string(),
    };
    for sub in &problem.subproblems {
        text.push_str(&format!("; {sub}"));
    }
    text
}

/// `2026-12-07T10:00:00Z`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The TLS plane of a custom domain as its issuer sees it at `now`:
/// - a valid certificate held → `ready CertificateValid` naming its issuer and expiry (a
///   renewal under way or failing is added to the message: the served certificate is fine);
/// - none: `pending Issuing`, `in_progress ChallengePending` (saying which retry it is after
///   failures), or `failed IssuanceFailed` with the problem and when the next attempt starts.
pub fn plane(status: &HostStatus, now: SystemTime, directory: &str) -> Plane {
    let retry = match status.failures {
        0 => String::new(),
        n => format!(" (retry after {n} failed attempts)"),
    };
    if let Some(cert) = status.cert.as_ref().filter(|c| c.valid_at(now)) {
        let mut message = format!(
            "issued by {} (serial {}), valid until {}",
            cert.issuer,
            cert.serial,
            timestamp(cert.not_after)
        );
        match &status.step {
            Step::Idle => {}
            Step::Issuing | Step::ChallengePending => message.push_str("; renewing"),
            Step::Failed {
                problem, retry_at, ..
            } => message.push_str(&format!(
                "; renewal failed: {problem}; retrying at {}",
                timestamp(*retry_at)
            )),
        }
        return Plane::new(PlaneState::Ready, Reason::CertificateValid, message);
    }
    match &status.step {
        Step::Idle | Step::Issuing => Plane::new(
            PlaneState::Pending,
            Reason::Issuing,
            format!("requesting a certificate from {directory}{retry}"),
        ),
        Step::ChallengePending => Plane::new(
            PlaneState::InProgress,
            Reason::ChallengePending,
            format!("{directory} is validating the http-01 challenge{retry}"),
        ),
        Step::Failed {
            problem,
            attempt,
            retry_at,
        } => Plane::new(
            PlaneState::Failed,
            Reason::IssuanceFailed,
            format!(
                "{problem}; retrying at {} (attempt {} failed)",
                timestamp(*retry_at),
                attempt
            ),
        )
        .with_remediation(format!(
            "make the hostname resolve to this edge (`1ctl domains setup HOST` prints the record) and let {directory} reach the edge's HTTP port for the http-01 challenge; it is retried on its own at {}",
            timestamp(*retry_at)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "https://acme.test/dir";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn cert(from: u64, to: u64) -> CertInfo {
        CertInfo {
            issuer: "Pebble Intermediate CA 0a1b2c".into(),
            serial: "01:02".into(),
            not_before: at(from),
            not_after: at(to),
        }
    }

    fn timings() -> AcmeTimings {
        AcmeTimings::default()
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_and_stops_at_ten_minutes() {
        let (base, cap) = (Duration::from_secs(10), Duration::from_secs(600));
        let waits: Vec<u64> = (1..=8).map(|a| backoff(a, base, cap).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff(u32::MAX, base, cap), cap, "no overflow");
        assert_eq!(backoff(0, base, cap), base);
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime() {
        let c = cert(0, 90 * 86_400);
        assert_eq!(renew_at(&c, 2.0 / 3.0), at(60 * 86_400));
        assert_eq!(renew_at(&c, 7.0), c.not_after, "clamped");
        let t = timings();
        let status = HostStatus::issued(c.clone());
        assert_eq!(
            next_action(&status, at(86_400), &t),
            Action::WaitUntil(at(60 * 86_400))
        );
        assert_eq!(next_action(&status, at(60 * 86_400), &t), Action::Order);
        assert_eq!(
            next_action(&status, at(91 * 86_400), &t),
            Action::Order,
            "expired"
        );
    }

    #[test]
    fn nothing_held_orders_at_once_and_a_failure_waits_for_its_retry_time() {
        let t = timings();
        let fresh = HostStatus::new();
        assert_eq!(next_action(&fresh, at(100), &t), Action::Order);
        let mut failed = fresh.clone();
        failed.fail("boom".into(), at(100), &t);
        assert_eq!(
            failed.step,
            Step::Failed {
                problem: "boom".into(),
                attempt: 1,
                retry_at: at(110)
            }
        );
        assert_eq!(
            next_action(&failed, at(105), &t),
            Action::WaitUntil(at(110))
        );
        assert_eq!(next_action(&failed, at(110), &t), Action::Order);
        // The retry runs (its steps replace the failure), and fails again: the backoff grows.
        failed.step = Step::ChallengePending;
        failed.fail("boom".into(), at(110), &t);
        assert!(
            matches!(failed.step, Step::Failed { attempt: 2, retry_at, .. } if retry_at == at(130))
        );
        let p = plane(
            &HostStatus {
                step: Step::Issuing,
                ..failed.clone()
            },
            at(130),
            DIR,
        );
        assert!(
            p.message.ends_with("(retry after 2 failed attempts)"),
            "{}",
            p.message
        );
        failed = HostStatus::issued(cert(0, 900));
        assert_eq!(failed.failures, 0, "a success resets the count");
    }

    #[test]
    fn a_failed_renewal_retries_on_its_backoff_not_at_the_renewal_time() {
        let t = timings();
        let status = HostStatus {
            step: Step::Failed {
                problem: "p".into(),
                attempt: 1,
                retry_at: at(700),
            },
            failures: 1,
            ..HostStatus::issued(cert(0, 900))
        };
        assert_eq!(
            next_action(&status, at(650), &t),
            Action::WaitUntil(at(700))
        );
        assert_eq!(next_action(&status, at(700), &t), Action::Order);
    }

    #[test]
    fn an_orders_status_says_which_step_it_is_in() {
        assert_eq!(
            order_step(OrderStatus::Pending),
            Some(Step::ChallengePending)
        );
        for s in [
            OrderStatus::Ready,
            OrderStatus::Processing,
            OrderStatus::Valid,
        ] {
            assert_eq!(order_step(s), Some(Step::Issuing));
        }
        assert_eq!(order_step(OrderStatus::Invalid), None);
    }

    #[test]
    fn planes_name_the_step_the_issuer_and_expiry_or_the_problem_and_retry() {
        let now = at(1_000);
        let p = plane(&HostStatus::new(), now, DIR);
        assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Issuing));
        assert!(p.message.contains(DIR), "{}", p.message);
        let p = plane(
            &HostStatus {
                step: Step::ChallengePending,
                ..HostStatus::new()
            },
            now,
            DIR,
        );
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::InProgress, Reason::ChallengePending)
        );
        let failed = Step::Failed {
            problem: "Connection refused (urn:ietf:params:acme:error:connection)".into(),
            attempt: 2,
            retry_at: at(1_020),
        };
        let p = plane(
            &HostStatus {
                step: failed.clone(),
                failures: 2,
                ..HostStatus::new()
            },
            now,
            DIR,
        );
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::IssuanceFailed)
        );
        assert_eq!(
            p.message,
            "Connection refused (urn:ietf:params:acme:error:connection); retrying at \
             1970-01-01T00:17:00Z (attempt 2 failed)"
        );
        let held = HostStatus::issued(cert(0, 2_000));
        let p = plane(&held, now, DIR);
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Ready, Reason::CertificateValid)
        );
        assert_eq!(
            p.message,
            "issued by Pebble Intermediate CA 0a1b2c (serial 01:02), valid until 1970-01-01T00:33:20Z"
        );
        let p = plane(
            &HostStatus {
                step: failed,
                ..held.clone()
            },
            now,
            DIR,
        );
        assert_eq!(p.state, PlaneState::Ready, "the served certificate is fine");
        assert!(p.message.contains("renewal failed: Connection refused"));
        let p = plane(&held, at(2_000), DIR);
        assert_eq!(
            p.reason,
            Reason::Issuing,
            "an expired certificate counts for nothing"
        );
    }

    #[test]
    fn problems_read_as_detail_then_type() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:connection","detail":"refused","status":400}"#,
        )
        .unwrap();
        assert_eq!(
            problem_text(&p),
            "refused (urn:ietf:params:acme:error:connection)"
        );
        let p: Problem = serde_json::from_str(r#"{"status":500}"#).unwrap();
        assert_eq!(problem_text(&p), "the ACME server gave no detail");
    }
}
