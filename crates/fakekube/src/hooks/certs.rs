//! cert-manager hooks: what cert-manager (v1.x, an ACME issuer) writes while it issues a
//! Certificate, one step at a time ([`Issuance`]).
//!
//! The chain, as cert-manager builds it: a `Certificate` (cert-manager.io/v1) gets a
//! `CertificateRequest` per issuance attempt, named `{certificate}-{revision}`, controlled by
//! the Certificate (ownerReference) and annotated `cert-manager.io/certificate-name` and
//! `cert-manager.io/certificate-revision`; an ACME issuer answers it with an `Order`
//! (acme.cert-manager.io/v1, controlled by the request), which gets one `Challenge` per DNS
//! name (controlled by the Order). Status fields written are the real ones:
//!
//! - Certificate: `Ready` and `Issuing` conditions with `observedGeneration`;
//!   `nextPrivateKeySecretName` while `Issuing` is true; on failure `Issuing=False` with the
//!   request's reason (`Failed`), `lastFailureTime` and `failedIssuanceAttempts` (cert-manager
//!   backs off `1h × 2^(attempts−1)` before it retries); once issued `Ready=True` with
//!   `notBefore`, `notAfter` (90 days, as Let's Encrypt's), `renewalTime` and `revision`.
//! - CertificateRequest: `Approved` and `Ready` (`Pending` / `Failed` with `failureTime` /
//!   `Issued`).
//! - Order: `state` (`pending`, `valid`, `invalid`), `reason`, `failureTime`.
//! - Challenge: `state`, `reason`, `presented`, `processing`.
//!
//! Issued writes the Secret `spec.secretName` (type `kubernetes.io/tls`, cert-manager's
//! annotations; the key pair is a placeholder, not a real certificate). What fakekube does
//! not play: the self check, key generation, renewal at `renewalTime`, and cleaning up
//! Challenges once an Order is valid (they are marked `valid` instead).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{condition, generation, get, owned_by, owner_ref, rt, store_update, write_status};
use crate::FakeKube;
use crate::meta;
use crate::status::ApiError;
use crate::store::Inner;

/// Manager names of cert-manager's controllers.
pub mod managers {
    /// Certificate `Ready`.
    pub const READINESS: &str = "cert-manager-certificates-readiness";
    /// Certificate `Issuing`, failure fields, and the Secret.
    pub const ISSUING: &str = "cert-manager-certificates-issuing";
    /// CertificateRequests.
    pub const REQUEST_MANAGER: &str = "cert-manager-certificates-request-manager";
    /// Orders.
    pub const ORDERS: &str = "cert-manager-orders";
    /// Challenges.
    pub const CHALLENGES: &str = "cert-manager-challenges";
}

/// The annotation naming a CertificateRequest's (and the Secret's) Certificate.
pub const CERTIFICATE_NAME: &str = "cert-manager.io/certificate-name";
/// The annotation holding a CertificateRequest's revision.
pub const CERTIFICATE_REVISION: &str = "cert-manager.io/certificate-revision";
/// `acme.cert-manager.io/v1`, of Orders and Challenges.
pub const ACME_API_VERSION: &str = "acme.cert-manager.io/v1";

/// How far cert-manager got with a Certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Issuance {
    /// An issuance started: the request open (`Pending`), its Order `pending`, no Challenge
    /// yet.
    Requested,
    /// The Challenges presented and being validated: `pending`, `processing`, with
    /// cert-manager's `reason` (e.g. the self check's result).
    Challenging { reason: String },
    /// The ACME server refused: Challenges and Order `invalid` with `reason`, the request
    /// `Failed`, the Certificate `Issuing=False` (reason `Failed`) with `lastFailureTime` and
    /// one more `failedIssuanceAttempts`.
    Failed { reason: String },
    /// Issued: the Secret written, the request `Issued`, Order and Challenges `valid`, the
    /// Certificate `Ready=True` with its validity times and the next `revision`.
    Issued,
}

/// FNV-1a of `s`: cert-manager names Orders and Challenges with a hash of their spec; a hash
/// of the name is enough here, and deterministic.
fn hash(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn conditions_of(obj: &Value) -> Option<&Value> {
    obj.pointer("/status/conditions")
}

fn dns_names(cert: &Value) -> Vec<String> {
    cert.pointer("/spec/dnsNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// Write `status` through the status subresource as `manager` ([`super::write_status`]).
fn set_status(
    g: &mut Inner,
    plural: (&str, &str, &str),
    ns: &str,
    name: &str,
    manager: &str,
    status: Value,
) -> Result<Arc<Value>, ApiError> {
    let t = rt(plural.0, plural.1, plural.2)?;
    write_status(g, t, ns, name, manager, status)
}

/// The object `name` of a type, created as `manager` from `body` when it is missing.
fn ensure(
    g: &mut Inner,
    plural: (&str, &str, &str),
    ns: &str,
    name: &str,
    manager: &str,
    body: Value,
) -> Result<Arc<Value>, ApiError> {
    let t = rt(plural.0, plural.1, plural.2)?;
    match g.get(t, ns, name) {
        Some(o) => Ok(o),
        None => store_update(g, t, ns, name, None, body, manager, None),
    }
}

const REQUESTS: (&str, &str, &str) = ("cert-manager.io", "v1", "certificaterequests");
const ORDERS: (&str, &str, &str) = ("acme.cert-manager.io", "v1", "orders");
const CHALLENGES: (&str, &str, &str) = ("acme.cert-manager.io", "v1", "challenges");

/// The request of the issuance in flight (`{certificate}-{revision + 1}`), created when
/// missing.
fn request(
    g: &mut Inner,
    ns: &str,
    cert: &Value,
    revision: i64,
    key_secret: &str,
) -> Result<Arc<Value>, ApiError> {
    let name = meta::str_at(cert, &["metadata", "name"]).unwrap_or("");
    let body = json!({
        "metadata": {
            "annotations": {
                CERTIFICATE_NAME: name,
                CERTIFICATE_REVISION: revision.to_string(),
                "cert-manager.io/private-key-secret-name": key_secret,
            },
            "ownerReferences": [owner_ref("cert-manager.io/v1", "Certificate", cert)],
        },
        "spec": {
            "issuerRef": cert.pointer("/spec/issuerRef").cloned().unwrap_or(json!({})),
            "request": meta::base64(b"-----BEGIN CERTIFICATE REQUEST-----\nfakekube\n-----END CERTIFICATE REQUEST-----\n"),
            "usages": ["digital signature", "key encipherment"],
        },
    });
    ensure(
        g,
        REQUESTS,
        ns,
        &format!("{name}-{revision}"),
        managers::REQUEST_MANAGER,
        body,
    )
}

/// The request's Order, created when missing.
fn order(g: &mut Inner, ns: &str, cr: &Value, cert: &Value) -> Result<Arc<Value>, ApiError> {
    let cr_name = meta::str_at(cr, &["metadata", "name"]).unwrap_or("");
    let name = format!("{cr_name}-{}", hash(cr_name));
    let body = json!({
        "metadata": {
            "annotations": {
                CERTIFICATE_NAME: meta::str_at(cert, &["metadata", "name"]),
            },
            "ownerReferences": [owner_ref("cert-manager.io/v1", "CertificateRequest", cr)],
        },
        "spec": {
            "request": cr.pointer("/spec/request").cloned().unwrap_or(Value::Null),
            "issuerRef": cr.pointer("/spec/issuerRef").cloned().unwrap_or(json!({})),
            "dnsNames": dns_names(cert),
        },
    });
    ensure(g, ORDERS, ns, &name, managers::ORDERS, body)
}

/// The Order's Challenge for `host` (HTTP-01), created when missing.
fn challenge(g: &mut Inner, ns: &str, order: &Value, host: &str) -> Result<Arc<Value>, ApiError> {
    let order_name = meta::str_at(order, &["metadata", "name"]).unwrap_or("");
    let name = format!("{order_name}-{}", hash(host));
    let token = format!("{:08x}", hash(&name));
    let body = json!({
        "metadata": {
            "ownerReferences": [owner_ref(ACME_API_VERSION, "Order", order)],
        },
        "spec": {
            "dnsName": host,
            "type": "HTTP-01",
            "wildcard": false,
            "token": token,
            "key": format!("{token}.fakekube"),
            "url": format!("https://acme.fakekube.invalid/chall/{token}"),
            "authorizationURL": format!("https://acme.fakekube.invalid/authz/{token}"),
            "issuerRef": order.pointer("/spec/issuerRef").cloned().unwrap_or(json!({})),
            "solver": {"http01": {"gatewayHTTPRoute": {}}},
        },
    });
    ensure(g, CHALLENGES, ns, &name, managers::CHALLENGES, body)
}

/// Move a Certificate's issuance to `step`; returns the Certificate as written.
pub(crate) fn issue(
    g: &mut Inner,
    ns: &str,
    name: &str,
    step: &Issuance,
) -> Result<Arc<Value>, ApiError> {
    let c_rt = rt("cert-manager.io", "v1", "certificates")?;
    let cert = get(g, c_rt, ns, name)?;
    let observed_gen = Some(generation(&cert));
    let prev_conditions = conditions_of(&cert).cloned();
    let prev = prev_conditions.as_ref();
    let mut status = cert.get("status").cloned().unwrap_or(json!({}));
    let revision = status["revision"].as_i64().unwrap_or(0) + 1;
    let key_secret = status["nextPrivateKeySecretName"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{name}-{}", meta::name_suffix()));
    let cr = request(g, ns, &cert, revision, &key_secret)?;
    let cr_name = meta::str_at(&cr, &["metadata", "name"])
        .unwrap_or("")
        .to_owned();
    let order = order(g, ns, &cr, &cert)?;
    let order_name = meta::str_at(&order, &["metadata", "name"])
        .unwrap_or("")
        .to_owned();
    let hosts = dns_names(&cert);
    let now = meta::now();
    let approved = |cr: &Value| {
        condition(
            conditions_of(cr),
            "Approved",
            true,
            "cert-manager.io",
            "Certificate request has been approved by cert-manager.io",
            None,
        )
    };

    // Challenges and Order.
    let (order_state, challenge_state, reason) = match step {
        Issuance::Requested => ("pending", None, None),
        Issuance::Challenging { reason } => ("pending", Some("pending"), Some(reason.as_str())),
        Issuance::Failed { reason } => ("invalid", Some("invalid"), Some(reason.as_str())),
        Issuance::Issued => ("valid", Some("valid"), None),
    };
    if let Some(state) = challenge_state {
        let existing = !owned_by(g, CHALLENGES, ns, &order).is_empty();
        // Issued without a validation seen (e.g. the auto controller): no Challenges made up.
        if existing || !matches!(step, Issuance::Issued) {
            for host in &hosts {
                let ch = challenge(g, ns, &order, host)?;
                let ch_name = meta::str_at(&ch, &["metadata", "name"])
                    .unwrap_or("")
                    .to_owned();
                let pending = state == "pending";
                let mut s = json!({"state": state, "presented": pending, "processing": pending});
                if let Some(r) = reason {
                    s["reason"] = json!(r);
                }
                set_status(g, CHALLENGES, ns, &ch_name, managers::CHALLENGES, s)?;
            }
        }
    }
    let mut order_status = json!({
        "state": order_state,
        "url": format!("https://acme.fakekube.invalid/order/{}", hash(&order_name)),
        "finalizeURL": format!("https://acme.fakekube.invalid/finalize/{}", hash(&order_name)),
    });
    if let Issuance::Failed { reason } = step {
        order_status["reason"] = json!(reason);
        order_status["failureTime"] = json!(now);
    }
    set_status(g, ORDERS, ns, &order_name, managers::ORDERS, order_status)?;

    // The CertificateRequest.
    let cr_conditions = conditions_of(&cr).cloned();
    let cr_prev = cr_conditions.as_ref();
    let cr_status = match step {
        Issuance::Requested | Issuance::Challenging { .. } => json!({"conditions": [
            approved(&cr),
            condition(cr_prev, "Ready", false, "Pending",
                &format!("Waiting on certificate issuance from order {ns}/{order_name}: \"pending\""), None),
        ]}),
        Issuance::Failed { reason } => json!({
            "failureTime": now,
            "conditions": [
                approved(&cr),
                condition(cr_prev, "Ready", false, "Failed",
                    &format!("Failed to wait for order resource \"{order_name}\" to become ready: order is in \"invalid\" state: {reason}"), None),
            ],
        }),
        Issuance::Issued => json!({
            "certificate": meta::base64(PLACEHOLDER_CERT.as_bytes()),
            "conditions": [
                approved(&cr),
                condition(cr_prev, "Ready", true, "Issued", "Certificate fetched from issuer successfully", None),
            ],
        }),
    };
    let cr_message = cr_status
        .pointer("/conditions/1/message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    set_status(
        g,
        REQUESTS,
        ns,
        &cr_name,
        managers::REQUEST_MANAGER,
        cr_status,
    )?;

    // The Certificate (and its Secret once issued).
    let fields = meta::ensure_object(&mut status);
    match step {
        Issuance::Requested | Issuance::Challenging { .. } => {
            let msg = "Issuing certificate as Secret does not exist";
            fields.insert(
                "conditions".into(),
                json!([
                    condition(prev, "Ready", false, "DoesNotExist", msg, observed_gen),
                    condition(prev, "Issuing", true, "DoesNotExist", msg, observed_gen),
                ]),
            );
            fields.insert("nextPrivateKeySecretName".into(), json!(key_secret));
        }
        Issuance::Failed { .. } => {
            let attempts = fields
                .get("failedIssuanceAttempts")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            fields.insert(
                "conditions".into(),
                json!([
                    condition(prev, "Ready", false, "DoesNotExist",
                        "Issuing certificate as Secret does not exist", observed_gen),
                    condition(prev, "Issuing", false, "Failed",
                        &format!("The certificate request has failed to complete and will be retried: {cr_message}"),
                        observed_gen),
                ]),
            );
            fields.insert("lastFailureTime".into(), json!(now));
            fields.insert("failedIssuanceAttempts".into(), json!(attempts));
            // The key manager drops the next key once Issuing is no longer true.
            fields.remove("nextPrivateKeySecretName");
        }
        Issuance::Issued => {
            secret(g, ns, &cert)?;
            let now_s = meta::now_secs();
            fields.insert(
                "conditions".into(),
                json!([condition(
                    prev,
                    "Ready",
                    true,
                    "Ready",
                    "Certificate is up to date and has not expired",
                    observed_gen
                )]),
            );
            fields.insert("notBefore".into(), json!(meta::rfc3339(now_s)));
            fields.insert("notAfter".into(), json!(meta::rfc3339(now_s + 90 * 86_400)));
            fields.insert(
                "renewalTime".into(),
                json!(meta::rfc3339(now_s + 60 * 86_400)),
            );
            fields.insert("revision".into(), json!(revision));
            for gone in [
                "lastFailureTime",
                "failedIssuanceAttempts",
                "nextPrivateKeySecretName",
            ] {
                fields.remove(gone);
            }
        }
    }
    let manager = if matches!(step, Issuance::Issued) {
        managers::READINESS
    } else {
        managers::ISSUING
    };
    write_status(g, c_rt, ns, name, manager, status)
}

/// A placeholder, not a parseable certificate: nothing in fakekube's tests reads its bytes.
const PLACEHOLDER_CERT: &str =
    "-----BEGIN CERTIFICATE-----\nZmFrZWt1YmU=\n-----END CERTIFICATE-----\n";

/// The Secret `spec.secretName` as cert-manager writes it (labels and annotations included).
fn secret(g: &mut Inner, ns: &str, cert: &Value) -> Result<Arc<Value>, ApiError> {
    let s_rt = rt("", "v1", "secrets")?;
    let Some(secret_name) = cert.pointer("/spec/secretName").and_then(Value::as_str) else {
        return Err(ApiError::bad_request(
            "the Certificate has no spec.secretName".to_owned(),
        ));
    };
    let issuer = |k: &str| {
        cert.pointer(&format!("/spec/issuerRef/{k}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let live = g.get(s_rt, ns, secret_name);
    let mut new = live
        .as_deref()
        .cloned()
        .unwrap_or_else(|| json!({"type": "kubernetes.io/tls"}));
    let md = meta::metadata_mut(&mut new);
    let labels = md.entry("labels").or_insert_with(|| json!({}));
    meta::ensure_object(labels).insert("controller.cert-manager.io/fao".into(), json!("true"));
    let annotations = md.entry("annotations").or_insert_with(|| json!({}));
    let a = meta::ensure_object(annotations);
    a.insert(
        CERTIFICATE_NAME.into(),
        json!(meta::str_at(cert, &["metadata", "name"])),
    );
    a.insert("cert-manager.io/issuer-name".into(), issuer("name"));
    a.insert("cert-manager.io/issuer-kind".into(), issuer("kind"));
    a.insert("cert-manager.io/issuer-group".into(), issuer("group"));
    a.insert(
        "cert-manager.io/alt-names".into(),
        json!(dns_names(cert).join(",")),
    );
    meta::ensure_object(&mut new).insert(
        "data".into(),
        json!({
            "tls.crt": meta::base64(PLACEHOLDER_CERT.as_bytes()),
            "tls.key": meta::base64(b"-----BEGIN PRIVATE KEY-----\nZmFrZWt1YmU=\n-----END PRIVATE KEY-----\n"),
        }),
    );
    store_update(g, s_rt, ns, secret_name, live, new, managers::ISSUING, None)
}

impl FakeKube {
    /// Play cert-manager: move a Certificate's issuance to `step` (see [`Issuance`]); returns
    /// the Certificate.
    pub fn certificate_issuance(
        &self,
        ns: &str,
        name: &str,
        step: &Issuance,
    ) -> Result<Value, ApiError> {
        issue(&mut self.store().lock(), ns, name, step).map(|o| (*o).clone())
    }
}
