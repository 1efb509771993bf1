//! The control endpoint, `/fakekube/v1/...`: the controller hooks over HTTP, for the
//! standalone server and for tests that drive a fakekube in another process.
//!
//! | Method + path | Body (JSON, optional fields) | Effect |
//! |---|---|---|
//! | `POST /fakekube/v1/deployments/{ns}/{name}/progress` | `{"ready": 1}` | rollout in progress |
//! | `POST /fakekube/v1/deployments/{ns}/{name}/complete` | | rollout complete |
//! | `POST /fakekube/v1/deployments/{ns}/{name}/stall` | | `ProgressDeadlineExceeded` |
//! | `POST /fakekube/v1/deployments/{ns}/{name}/crashloop` | `{"message"}` | pod in `CrashLoopBackOff` |
//! | `POST /fakekube/v1/deployments/{ns}/{name}/imagepull` | `{"reason": "ErrImagePull", "message"}` | pod can't pull (default `ImagePullBackOff`) |
//! | `POST /fakekube/v1/deployments/{ns}/{name}/unschedulable` | `{"message"}` | pod `Unschedulable` |
//! | `POST /fakekube/v1/httproutes/{ns}/{name}/status` | `{"accepted": true, "acceptedReason", "resolvedRefs": true, "resolvedRefsReason", "message"}` | parent statuses |
//! | `POST /fakekube/v1/gateways/{ns}/{name}/status` | `{"programmed": true, "addresses": ["203.0.113.7"], "reason"}` | Gateway status |
//! | `POST /fakekube/v1/listenersets/{ns}/{name}/status` | `{"programmed": true, "experimental": false}` | ListenerSet status |
//! | `POST /fakekube/v1/certificates/{ns}/{name}/status` | `{"ready": true, "message"}` | Certificate `Ready` |
//! | `POST /fakekube/v1/certificates/{ns}/{name}/issuance` | [`Issuance`], e.g. `{"step": "failed", "reason"}` | cert-manager's step (request, Order, Challenge, Secret) |
//! | `POST /fakekube/v1/jobs/{ns}/{name}/start` | | Job pod running |
//! | `POST /fakekube/v1/jobs/{ns}/{name}/complete` | `{"logs", "terminationMessage"}` | Job succeeded |
//! | `POST /fakekube/v1/jobs/{ns}/{name}/fail` | `{"logs", "message", "exitCode": 1}` | Job failed |
//! | `POST /fakekube/v1/pods/{ns}/{name}/log?container=C&at=T` | raw text | append to a log; new lines stamped `T` (RFC 3339, default now) |
//! | `POST /fakekube/v1/pods/{ns}/{name}/restart?container=C` | | container restarted: its log becomes `previous`, `restartCount` + 1 |
//! | `POST /fakekube/v1/faults` / `DELETE` | [`crate::Fault`] | inject / clear errors |
//! | `GET`/`PUT /fakekube/v1/auto` | [`crate::Auto`] | automatic controllers |
//! | `GET`/`DELETE /fakekube/v1/stats` | | request counters / reset |
//!
//! Answers are the written object (200) or a Kubernetes `Status` error (e.g. 404).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::handlers::json_response;
use crate::hooks::certs::Issuance;
use crate::hooks::jobs::JobEnd;
use crate::hooks::routes::{GatewayStatus, RouteStatus};
use crate::hooks::workload::PodFailure;
use crate::{ApiError, Auto, FakeKube, Fault};

/// The control routes.
pub fn router(fake: FakeKube) -> Router {
    Router::new()
        .route(
            "/fakekube/v1/deployments/{ns}/{name}/{action}",
            post(deployment),
        )
        .route(
            "/fakekube/v1/httproutes/{ns}/{name}/status",
            post(route_status),
        )
        .route(
            "/fakekube/v1/gateways/{ns}/{name}/status",
            post(gateway_status),
        )
        .route(
            "/fakekube/v1/listenersets/{ns}/{name}/status",
            post(listener_set_status),
        )
        .route(
            "/fakekube/v1/certificates/{ns}/{name}/status",
            post(certificate_status),
        )
        .route(
            "/fakekube/v1/certificates/{ns}/{name}/issuance",
            post(certificate_issuance),
        )
        .route("/fakekube/v1/jobs/{ns}/{name}/{action}", post(job))
        .route("/fakekube/v1/pods/{ns}/{name}/log", post(pod_log))
        .route("/fakekube/v1/pods/{ns}/{name}/restart", post(pod_restart))
        .route("/fakekube/v1/faults", post(add_fault).delete(clear_faults))
        .route("/fakekube/v1/auto", get(get_auto).put(put_auto))
        .route("/fakekube/v1/stats", get(get_stats).delete(reset_stats))
        .with_state(fake)
}

fn body<T: DeserializeOwned + Default>(b: &Bytes) -> Result<T, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(b)
        .map_err(|e| ApiError::bad_request(format!("invalid control body: {e}")))
}

fn reply(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct Failure {
    #[serde(default)]
    ready: Option<u32>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

async fn deployment(
    State(f): State<FakeKube>,
    Path((ns, name, action)): Path<(String, String, String)>,
    b: Bytes,
) -> Response {
    let r = body::<Failure>(&b).and_then(|x| match action.as_str() {
        "progress" => f.rollout_progress(&ns, &name, x.ready.unwrap_or(0)),
        "complete" => f.complete_rollout(&ns, &name),
        "stall" => f.stall_rollout(&ns, &name),
        "crashloop" => f.fail_pod(&ns, &name, PodFailure::CrashLoop { message: x.message }),
        "imagepull" => f.fail_pod(
            &ns,
            &name,
            PodFailure::ImagePull {
                reason: x.reason.unwrap_or_else(|| "ImagePullBackOff".into()),
                message: x.message,
            },
        ),
        "unschedulable" => f.fail_pod(&ns, &name, PodFailure::Unschedulable { message: x.message }),
        other => Err(ApiError::path_not_found(&format!("deployments/{other}"))),
    });
    reply(r)
}

impl Default for RouteStatus {
    fn default() -> Self {
        RouteStatus::accepted()
    }
}

impl Default for GatewayStatus {
    fn default() -> Self {
        GatewayStatus::programmed(vec!["127.0.0.1".into()])
    }
}

async fn route_status(
    State(f): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    reply(body::<RouteStatus>(&b).and_then(|s| f.set_route_status(&ns, &name, &s)))
}

async fn gateway_status(
    State(f): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    reply(body::<GatewayStatus>(&b).and_then(|s| f.set_gateway_status(&ns, &name, &s)))
}

#[derive(Debug, Deserialize)]
struct Ready {
    #[serde(default = "yes", alias = "programmed")]
    ready: bool,
    #[serde(default)]
    experimental: bool,
    #[serde(default)]
    message: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Ready {
    fn default() -> Self {
        Ready {
            ready: true,
            experimental: false,
            message: None,
        }
    }
}

async fn listener_set_status(
    State(f): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    reply(
        body::<Ready>(&b)
            .and_then(|s| f.set_listener_set_status(&ns, &name, s.ready, s.experimental)),
    )
}

async fn certificate_status(
    State(f): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    reply(
        body::<Ready>(&b)
            .and_then(|s| f.set_certificate_ready(&ns, &name, s.ready, s.message.as_deref())),
    )
}

async fn certificate_issuance(
    State(f): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    reply(
        serde_json::from_slice::<Issuance>(&b)
            .map_err(|e| ApiError::bad_request(format!("invalid control body: {e}")))
            .and_then(|step| f.certificate_issuance(&ns, &name, &step)),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobBody {
    #[serde(default)]
    logs: String,
    #[serde(default)]
    termination_message: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    exit_code: Option<i64>,
}

async fn job(
    State(f): State<FakeKube>,
    Path((ns, name, action)): Path<(String, String, String)>,
    b: Bytes,
) -> Response {
    let r = body::<JobBody>(&b).and_then(|x| {
        let message = x.termination_message.or(x.message).unwrap_or_default();
        match action.as_str() {
            "start" => f.start_job(&ns, &name),
            "complete" => f.finish_job(
                &ns,
                &name,
                &JobEnd {
                    succeeded: true,
                    logs: &x.logs,
                    message: &message,
                    exit_code: 0,
                },
            ),
            "fail" => f.finish_job(
                &ns,
                &name,
                &JobEnd {
                    succeeded: false,
                    logs: &x.logs,
                    message: &message,
                    exit_code: x.exit_code.unwrap_or(1),
                },
            ),
            other => Err(ApiError::path_not_found(&format!("jobs/{other}"))),
        }
    });
    reply(r)
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    container: String,
    #[serde(default)]
    at: Option<String>,
}

async fn pod_log(
    State(f): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
    b: Bytes,
) -> Response {
    let at = match q.at.as_deref() {
        None => crate::meta::now_nanos(),
        Some(t) => match crate::meta::parse_rfc3339_nanos(t) {
            Some(at) => at,
            None => {
                return ApiError::bad_request(format!("invalid time {t:?}")).into_response();
            }
        },
    };
    f.append_log_at(&ns, &name, &q.container, &String::from_utf8_lossy(&b), at);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
struct ContainerQuery {
    container: String,
}

async fn pod_restart(
    State(f): State<FakeKube>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ContainerQuery>,
) -> Response {
    reply(f.restart_container(&ns, &name, &q.container))
}

async fn add_fault(State(f): State<FakeKube>, b: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&b) {
        Ok(fault) => {
            f.inject(fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => ApiError::bad_request(format!("invalid fault: {e}")).into_response(),
    }
}

async fn clear_faults(State(f): State<FakeKube>) -> Response {
    f.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_auto(State(f): State<FakeKube>) -> Response {
    let auto = f.store().lock().auto;
    json_response(
        StatusCode::OK,
        &serde_json::to_value(auto).unwrap_or_default(),
    )
}

async fn put_auto(State(f): State<FakeKube>, b: Bytes) -> Response {
    match serde_json::from_slice::<Auto>(&b) {
        Ok(a) => {
            f.set_auto(a);
            json_response(StatusCode::OK, &serde_json::to_value(a).unwrap_or_default())
        }
        Err(e) => ApiError::bad_request(format!("invalid auto settings: {e}")).into_response(),
    }
}

async fn get_stats(State(f): State<FakeKube>) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(f.stats()).unwrap_or_default(),
    )
}

async fn reset_stats(State(f): State<FakeKube>) -> Response {
    f.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}
