//! The TLS plane of a custom domain as cert-manager sees it: its `Certificate`
//! (cert-manager.io/v1) and, while that is not ready, the chain of the latest issuance — the
//! `CertificateRequest` the Certificate controls, the ACME `Order` that request controls and
//! the `Challenge`s of that Order (acme.cert-manager.io/v1) — become one [`Plane`] with the
//! issuance step (`Runtime::certificates`). Pure: JSON objects in, a plane out; the caller
//! reads them and passes the time.
//!
//! The steps, first match wins:
//!
//! | what the objects say | plane |
//! |---|---|
//! | no Certificate | `pending Issuing` (not created yet) |
//! | `Ready=True` at the current generation | `ready CertificateValid`, `notAfter` and the issuer |
//! | the latest Challenge `invalid`/`errored`, or its Order `invalid`/`errored`/`expired`, or the request `Failed`/`Denied`/`InvalidRequest`, or the Certificate `Issuing`/`Ready=False` with reason `Failed` | `failed IssuanceFailed`, quoting the reason, with `lastFailureTime`, when cert-manager retries (`1h × 2^(failedIssuanceAttempts−1)`, at most 32 h) and `nextPrivateKeySecretName` when set |
//! | a Challenge `pending`/`processing` | `in_progress ChallengePending`, quoting its `status.reason` |
//! | a request open, an Order pending, or `Issuing=True` | `in_progress Issuing` |
//! | a Certificate cert-manager has not acted on | `pending Issuing` |
//!
//! The "latest" request is the one with the highest `cert-manager.io/certificate-revision`
//! (then the newest) among those the Certificate controls or that name it in
//! `cert-manager.io/certificate-name`; earlier attempts' objects never decide the plane.

use satusky_types::{Plane, PlaneState, Reason};
use serde_json::Value;

use crate::render::IssuerRef;

/// The annotation naming a CertificateRequest's Certificate.
pub const CERTIFICATE_NAME: &str = "cert-manager.io/certificate-name";
/// The annotation holding a CertificateRequest's revision.
pub const CERTIFICATE_REVISION: &str = "cert-manager.io/certificate-revision";
/// The longest wait cert-manager's exponential backoff reaches between failed issuances.
const MAX_BACKOFF_HOURS: i64 = 32;

/// What was read for one custom domain's Certificate. `requests`, `orders` and `challenges`
/// may hold any objects of the namespace: those of this Certificate are picked by ownership.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The Certificate's name, as rendered (`{app}.{host}`, shortened when long).
    pub name: &'a str,
    pub certificate: Option<&'a Value>,
    pub requests: &'a [Value],
    pub orders: &'a [Value],
    pub challenges: &'a [Value],
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == kind)
}

fn is(c: Option<&Value>, status: &str) -> bool {
    c.is_some_and(|c| c["status"] == status)
}

fn reason_of(c: Option<&Value>) -> &str {
    c.and_then(|c| c["reason"].as_str()).unwrap_or("")
}

fn message_of(c: Option<&Value>) -> &str {
    c.and_then(|c| c["message"].as_str()).unwrap_or("")
}

/// Whether `obj`'s ownerReferences name `owner`'s uid.
fn owned_by(obj: &Value, owner: &Value) -> bool {
    let Some(uid) = str_at(owner, "/metadata/uid") else {
        return false;
    };
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}

fn created(obj: &Value) -> &str {
    str_at(obj, "/metadata/creationTimestamp").unwrap_or("")
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// The request of the latest issuance of `cert` (named `name`).
fn latest_request<'a>(cert: &Value, name: &str, requests: &'a [Value]) -> Option<&'a Value> {
    requests
        .iter()
        .filter(|r| owned_by(r, cert) || annotation(r, CERTIFICATE_NAME) == Some(name))
        .max_by(|a, b| {
            let rev = |r: &Value| {
                annotation(r, CERTIFICATE_REVISION)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            (rev(a), created(a)).cmp(&(rev(b), created(b)))
        })
}

/// The issuer the Certificate names (`Kind name`), else the configured one.
fn issuer_of(cert: &Value, configured: &IssuerRef) -> String {
    let kind = str_at(cert, "/spec/issuerRef/kind").unwrap_or(&configured.kind);
    let name = str_at(cert, "/spec/issuerRef/name").unwrap_or(&configured.name);
    format!("{kind} {name}")
}

/// RFC 3339 at second precision, as Kubernetes writes times.
fn time(ms: i64) -> String {
    satusky_core::time::rfc3339_ms(ms).replace(".000Z", "Z")
}

/// `lastFailureTime`, the retry time cert-manager's backoff gives, and the next key's Secret,
/// as far as the Certificate says.
fn retry_note(cert: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(failed) = str_at(cert, "/status/lastFailureTime") {
        let attempts = cert
            .pointer("/status/failedIssuanceAttempts")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1);
        parts.push(format!("attempt {attempts} failed at {failed}"));
        if let Some(at) = satusky_core::time::parse_rfc3339_ms(failed) {
            let hours = 1_i64
                .checked_shl(u32::try_from(attempts - 1).unwrap_or(u32::MAX))
                .filter(|h| *h > 0 && *h <= MAX_BACKOFF_HOURS)
                .unwrap_or(MAX_BACKOFF_HOURS);
            parts.push(format!(
                "cert-manager retries after {} ({hours} h backoff)",
                time(at + hours * 3_600_000)
            ));
        }
    }
    if let Some(key) = str_at(cert, "/status/nextPrivateKeySecretName") {
        parts.push(format!("next private key in Secret {key}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

fn plane(state: PlaneState, reason: Reason, message: String) -> Plane {
    Plane::new(state, reason, message)
}

/// The TLS plane of `host` from cert-manager's objects (see the module docs); `issuer` is the
/// configured one, named when the Certificate does not say.
pub fn certificate_plane(host: &str, issuer: &IssuerRef, seen: &Observed<'_>) -> Plane {
    let Some(cert) = seen.certificate else {
        return plane(
            PlaneState::Pending,
            Reason::Issuing,
            format!(
                "the cert-manager Certificate {} for {host} is not created yet",
                seen.name
            ),
        );
    };
    let issuer = issuer_of(cert, issuer);
    let generation = cert.pointer("/metadata/generation").and_then(Value::as_i64);
    let ready = condition(cert, "Ready");
    let current = |c: Option<&Value>| {
        let observed = c.and_then(|c| c["observedGeneration"].as_i64());
        observed.is_none() || observed == generation
    };
    if is(ready, "True") && current(ready) {
        let until = str_at(cert, "/status/notAfter").unwrap_or("an unknown date");
        return plane(
            PlaneState::Ready,
            Reason::CertificateValid,
            format!("issued by {issuer} through cert-manager, valid until {until}"),
        );
    }

    let request = latest_request(cert, seen.name, seen.requests);
    let order = request.and_then(|r| {
        seen.orders
            .iter()
            .filter(|o| owned_by(o, r))
            .max_by_key(|o| created(o))
    });
    let challenges: Vec<&Value> = order
        .map(|o| seen.challenges.iter().filter(|c| owned_by(c, o)).collect())
        .unwrap_or_default();
    let retry = retry_note(cert);
    let failed = |message: String| {
        plane(
            PlaneState::Failed,
            Reason::IssuanceFailed,
            format!("{message} ({issuer}){retry}"),
        )
        .with_remediation(format!(
            "`kubectl describe certificate {}` shows cert-manager's events; check that {host} resolves to the Gateway and that the {issuer} can solve its challenge; cert-manager retries on its own",
            seen.name
        ))
    };
    let challenge_says = |c: &Value| {
        let kind = str_at(c, "/spec/type").unwrap_or("ACME");
        let name = str_at(c, "/spec/dnsName").unwrap_or(host);
        let state = str_at(c, "/status/state").unwrap_or("pending");
        match str_at(c, "/status/reason").filter(|r| !r.is_empty()) {
            Some(reason) => format!("{kind} challenge for {name} {state}: {reason}"),
            None => format!("{kind} challenge for {name} {state}"),
        }
    };

    // Failures, from the most precise object up.
    let state = |o: &Value| str_at(o, "/status/state").unwrap_or("").to_owned();
    if let Some(c) = challenges
        .iter()
        .find(|c| matches!(state(c).as_str(), "invalid" | "errored"))
    {
        return failed(challenge_says(c));
    }
    if let Some(o) =
        order.filter(|o| matches!(state(o).as_str(), "invalid" | "errored" | "expired"))
    {
        let name = str_at(o, "/metadata/name").unwrap_or("");
        return failed(
            match str_at(o, "/status/reason").filter(|r| !r.is_empty()) {
                Some(reason) => format!("ACME order {name} {}: {reason}", state(o)),
                None => format!("ACME order {name} {}", state(o)),
            },
        );
    }
    if let Some(r) = request {
        let name = str_at(r, "/metadata/name").unwrap_or("");
        let ready = condition(r, "Ready");
        let refused = ["Denied", "InvalidRequest"]
            .into_iter()
            .map(|kind| condition(r, kind))
            .find(|c| is(*c, "True"));
        if let Some(c) = refused {
            return failed(format!(
                "CertificateRequest {name} {}: {}",
                reason_of(c),
                message_of(c)
            ));
        }
        if is(ready, "False") && reason_of(ready) == "Failed" {
            return failed(format!(
                "CertificateRequest {name} failed: {}",
                message_of(ready)
            ));
        }
    }
    let issuing = condition(cert, "Issuing");
    for c in [issuing, ready] {
        if is(c, "False") && reason_of(c) == "Failed" {
            return failed(message_of(c).to_owned());
        }
    }

    // Still going.
    if let Some(c) = challenges.iter().find(|c| {
        matches!(state(c).as_str(), "pending" | "processing" | "")
            && c.pointer("/status/processing").and_then(Value::as_bool) != Some(false)
    }) {
        return plane(
            PlaneState::InProgress,
            Reason::ChallengePending,
            format!("{} ({issuer})", challenge_says(c)),
        );
    }
    if let Some(o) = order.filter(|o| !matches!(state(o).as_str(), "valid")) {
        let name = str_at(o, "/metadata/name").unwrap_or("");
        let st = Some(state(o)).filter(|s| !s.is_empty());
        return plane(
            PlaneState::InProgress,
            Reason::Issuing,
            format!(
                "ACME order {name} {} ({issuer})",
                st.as_deref().unwrap_or("created")
            ),
        );
    }
    if let Some(r) = request {
        let name = str_at(r, "/metadata/name").unwrap_or("");
        let ready = condition(r, "Ready");
        let what = match message_of(ready) {
            "" => "open".to_owned(),
            m => format!("open: {m}"),
        };
        if !is(ready, "True") {
            return plane(
                PlaneState::InProgress,
                Reason::Issuing,
                format!("CertificateRequest {name} to {issuer} {what}"),
            );
        }
    }
    if is(issuing, "True") {
        return plane(
            PlaneState::InProgress,
            Reason::Issuing,
            format!(
                "requesting a certificate from {issuer}: {}",
                message_of(issuing)
            ),
        );
    }
    let why = match (ready, is(ready, "True")) {
        (None, _) => "cert-manager has not acted on it yet: is cert-manager running?".to_owned(),
        (Some(_), true) => format!(
            "cert-manager has not yet seen its current spec (generation {})",
            generation.unwrap_or(0)
        ),
        (Some(c), false) => format!("{}: {}", reason_of(Some(c)), message_of(Some(c))),
    };
    plane(
        PlaneState::Pending,
        Reason::Issuing,
        format!("Certificate {} from {issuer}: {why}", seen.name),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOST: &str = "shop.example.com";
    const NAME: &str = "web.shop.example.com";

    fn issuer() -> IssuerRef {
        IssuerRef::default()
    }

    /// A Certificate as cert-manager v1.x leaves it, with `status` as given.
    fn certificate(generation: i64, status: Value) -> Value {
        json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": NAME, "namespace": "satusky-acme", "uid": "c-uid", "generation": generation,
                "creationTimestamp": "2026-12-07T09:00:00Z"},
            "spec": {"secretName": "web.shop.example.com-tls", "dnsNames": [HOST],
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"}},
            "status": status,
        })
    }

    fn request(name: &str, revision: &str, ready: Value) -> Value {
        json!({
            "apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": {"name": name, "uid": format!("{name}-uid"), "creationTimestamp": "2026-12-07T09:00:01Z",
                "annotations": {CERTIFICATE_NAME: NAME, CERTIFICATE_REVISION: revision,
                    "cert-manager.io/private-key-secret-name": "web.shop.example.com-8xq2z"},
                "ownerReferences": [{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": NAME,
                    "uid": "c-uid", "controller": true, "blockOwnerDeletion": true}]},
            "status": {"conditions": [
                {"type": "Approved", "status": "True", "reason": "cert-manager.io",
                 "message": "Certificate request has been approved by cert-manager.io"},
                ready,
            ]},
        })
    }

    fn order(state: &str, reason: Option<&str>) -> Value {
        let mut o = json!({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Order",
            "metadata": {"name": "web.shop.example.com-1-3046130366", "uid": "o-uid",
                "creationTimestamp": "2026-12-07T09:00:02Z",
                "ownerReferences": [{"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
                    "name": "web.shop.example.com-1", "uid": "web.shop.example.com-1-uid", "controller": true}]},
            "spec": {"dnsNames": [HOST]},
            "status": {"state": state, "url": "https://acme-v02.api.letsencrypt.org/acme/order/1/2"},
        });
        if let Some(r) = reason {
            o["status"]["reason"] = json!(r);
        }
        o
    }

    fn challenge(state: &str, processing: bool, reason: &str) -> Value {
        json!({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": {"name": "web.shop.example.com-1-3046130366-2811217539", "uid": "ch-uid",
                "ownerReferences": [{"apiVersion": "acme.cert-manager.io/v1", "kind": "Order",
                    "name": "web.shop.example.com-1-3046130366", "uid": "o-uid", "controller": true}]},
            "spec": {"dnsName": HOST, "type": "HTTP-01", "token": "tok", "wildcard": false},
            "status": {"presented": processing, "processing": processing, "state": state, "reason": reason},
        })
    }

    fn issuing_status() -> Value {
        json!({
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "DoesNotExist",
                 "message": "Issuing certificate as Secret does not exist", "observedGeneration": 1},
                {"type": "Issuing", "status": "True", "reason": "DoesNotExist",
                 "message": "Issuing certificate as Secret does not exist", "observedGeneration": 1},
            ],
            "nextPrivateKeySecretName": "web.shop.example.com-8xq2z",
        })
    }

    fn pending_request() -> Value {
        request(
            "web.shop.example.com-1",
            "1",
            json!({"type": "Ready", "status": "False", "reason": "Pending",
                "message": "Waiting on certificate issuance from order satusky-acme/web.shop.example.com-1-3046130366: \"pending\""}),
        )
    }

    fn see(
        cert: Option<&Value>,
        requests: &[Value],
        orders: &[Value],
        challenges: &[Value],
    ) -> Plane {
        certificate_plane(
            HOST,
            &issuer(),
            &Observed {
                name: NAME,
                certificate: cert,
                requests,
                orders,
                challenges,
            },
        )
    }

    #[test]
    fn no_certificate_is_pending_not_created_yet() {
        let p = see(None, &[], &[], &[]);
        assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Issuing));
        assert!(p.message.contains("not created yet"), "{}", p.message);
    }

    #[test]
    fn ready_at_the_current_generation_is_valid_with_its_expiry_and_issuer() {
        let cert = certificate(
            2,
            json!({
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                    "message": "Certificate is up to date and has not expired", "observedGeneration": 2,
                    "lastTransitionTime": "2026-12-07T09:01:00Z"}],
                "notBefore": "2026-12-07T08:01:00Z", "notAfter": "2027-03-07T08:01:00Z",
                "renewalTime": "2027-02-05T08:01:00Z", "revision": 1,
            }),
        );
        let p = see(Some(&cert), &[], &[], &[]);
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Ready, Reason::CertificateValid)
        );
        assert_eq!(
            p.message,
            "issued by ClusterIssuer letsencrypt through cert-manager, valid until 2027-03-07T08:01:00Z"
        );
        // Ready for an older spec (a dnsNames change not yet seen) is not valid for this one.
        let mut stale = cert.clone();
        stale["metadata"]["generation"] = json!(3);
        let p = see(Some(&stale), &[], &[], &[]);
        assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Issuing));
        assert!(p.message.contains("generation 3"), "{}", p.message);
    }

    #[test]
    fn an_open_request_and_a_pending_order_are_issuing() {
        let cert = certificate(1, issuing_status());
        let p = see(Some(&cert), &[], &[], &[]);
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::InProgress, Reason::Issuing)
        );
        assert!(p.message.contains("Secret does not exist"), "{}", p.message);
        let p = see(Some(&cert), &[pending_request()], &[], &[]);
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::InProgress, Reason::Issuing)
        );
        assert!(
            p.message.starts_with("CertificateRequest web.shop.example.com-1 to ClusterIssuer letsencrypt open: Waiting on certificate issuance"),
            "{}",
            p.message
        );
        let p = see(
            Some(&cert),
            &[pending_request()],
            &[order("pending", None)],
            &[],
        );
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::InProgress, Reason::Issuing)
        );
        assert_eq!(
            p.message,
            "ACME order web.shop.example.com-1-3046130366 pending (ClusterIssuer letsencrypt)"
        );
    }

    #[test]
    fn a_pending_challenge_quotes_its_reason() {
        let cert = certificate(1, issuing_status());
        let reason = "Waiting for HTTP-01 challenge propagation: failed to perform self check GET request 'http://shop.example.com/.well-known/acme-challenge/tok': Get \"http://shop.example.com/.well-known/acme-challenge/tok\": dial tcp: lookup shop.example.com: no such host";
        let p = see(
            Some(&cert),
            &[pending_request()],
            &[order("pending", None)],
            &[challenge("pending", true, reason)],
        );
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::InProgress, Reason::ChallengePending)
        );
        assert!(
            p.message
                .starts_with("HTTP-01 challenge for shop.example.com pending: Waiting for HTTP-01"),
            "{}",
            p.message
        );
        assert!(p.message.contains("no such host"));
    }

    fn failed_status(attempts: i64) -> Value {
        json!({
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "DoesNotExist",
                 "message": "Issuing certificate as Secret does not exist", "observedGeneration": 1},
                {"type": "Issuing", "status": "False", "reason": "Failed", "observedGeneration": 1,
                 "message": "The certificate request has failed to complete and will be retried: Failed to wait for order resource \"web.shop.example.com-1-3046130366\" to become ready: order is in \"invalid\" state: "},
            ],
            "lastFailureTime": "2026-12-07T09:05:00Z",
            "failedIssuanceAttempts": attempts,
        })
    }

    fn failed_request() -> Value {
        request(
            "web.shop.example.com-1",
            "1",
            json!({"type": "Ready", "status": "False", "reason": "Failed",
                "message": "Failed to wait for order resource \"web.shop.example.com-1-3046130366\" to become ready: order is in \"invalid\" state: "}),
        )
    }

    const REFUSED: &str = "Error accepting authorization: acme: authorization error for shop.example.com: 403 urn:ietf:params:acme:error:unauthorized: 203.0.113.9: Invalid response from http://shop.example.com/.well-known/acme-challenge/tok: 404";

    #[test]
    fn an_invalid_challenge_fails_quoting_the_acme_problem_and_the_retry() {
        let cert = certificate(1, failed_status(1));
        let p = see(
            Some(&cert),
            &[failed_request()],
            &[order("invalid", None)],
            &[challenge("invalid", false, REFUSED)],
        );
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::IssuanceFailed)
        );
        assert_eq!(
            p.message,
            format!(
                "HTTP-01 challenge for shop.example.com invalid: {REFUSED} (ClusterIssuer letsencrypt); \
                 attempt 1 failed at 2026-12-07T09:05:00Z, cert-manager retries after 2026-12-07T10:05:00Z (1 h backoff)"
            )
        );
        // The backoff doubles per attempt and stops at 32 h.
        let cert = certificate(1, failed_status(3));
        let p = see(Some(&cert), &[failed_request()], &[], &[]);
        assert!(
            p.message
                .contains("retries after 2026-12-07T13:05:00Z (4 h backoff)"),
            "{}",
            p.message
        );
        let cert = certificate(1, failed_status(40));
        let p = see(Some(&cert), &[], &[], &[]);
        assert!(p.message.contains("(32 h backoff)"), "{}", p.message);
        assert!(
            p.message.starts_with("The certificate request has failed"),
            "{}",
            p.message
        );
    }

    #[test]
    fn an_invalid_or_errored_order_fails_with_its_reason() {
        let cert = certificate(1, issuing_status());
        let p = see(
            Some(&cert),
            &[pending_request()],
            &[order(
                "errored",
                Some("429 urn:ietf:params:acme:error:rateLimited: too many certificates"),
            )],
            &[],
        );
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::IssuanceFailed)
        );
        assert!(
            p.message
                .contains("errored: 429 urn:ietf:params:acme:error:rateLimited"),
            "{}",
            p.message
        );
        assert!(
            p.message
                .contains("next private key in Secret web.shop.example.com-8xq2z"),
            "{}",
            p.message
        );
    }

    #[test]
    fn a_denied_request_or_a_failed_ready_condition_fails() {
        let cert = certificate(1, issuing_status());
        let mut denied = pending_request();
        denied["status"]["conditions"][0] = json!({"type": "Denied", "status": "True",
            "reason": "policy.cert-manager.io", "message": "No policy approved this request"});
        let p = see(Some(&cert), &[denied], &[], &[]);
        assert_eq!(p.state, PlaneState::Failed);
        assert!(
            p.message.contains("No policy approved this request"),
            "{}",
            p.message
        );
        let cert = certificate(
            1,
            json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Failed",
                "message": "Referenced \"ClusterIssuer\" not found", "observedGeneration": 1}]}),
        );
        let p = see(Some(&cert), &[], &[], &[]);
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::IssuanceFailed)
        );
        assert!(
            p.message
                .starts_with("Referenced \"ClusterIssuer\" not found"),
            "{}",
            p.message
        );
    }

    #[test]
    fn only_the_latest_issuance_decides() {
        // Revision 1 failed; the retry (revision 2, same owner) is waiting on its order.
        let cert = certificate(1, issuing_status());
        let mut retry = pending_request();
        retry["metadata"]["name"] = json!("web.shop.example.com-2");
        retry["metadata"]["uid"] = json!("r2-uid");
        retry["metadata"]["annotations"][CERTIFICATE_REVISION] = json!("2");
        let p = see(
            Some(&cert),
            &[failed_request(), retry],
            &[order("invalid", None)],
            &[challenge("invalid", false, REFUSED)],
        );
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::InProgress, Reason::Issuing)
        );
        assert!(
            p.message.contains("web.shop.example.com-2"),
            "{}",
            p.message
        );
    }

    #[test]
    fn a_certificate_without_status_waits_for_cert_manager() {
        let cert = certificate(1, json!({}));
        let p = see(Some(&cert), &[], &[], &[]);
        assert_eq!((p.state, p.reason), (PlaneState::Pending, Reason::Issuing));
        assert!(
            p.message.contains("is cert-manager running"),
            "{}",
            p.message
        );
    }
}
