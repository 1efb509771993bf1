//! `GET …/apps/{app}/logs`: the app's runtime log lines (SPEC §6), newest `tail` of those that
//! match — since a time, after a seq (how a follower resumes), of a release, of a replica —
//! oldest first. Every bound is checked here and named in the 422; the runtime keeps the lines
//! (the local runtime under its state dir; a runtime without logs answers 501).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use satusky_core::runtime::{LogQuery, RuntimeError, RuntimeErrorKind};
use satusky_core::time::now_ms;
use satusky_types::{ApiError, ErrorCode, LogLine};
use serde::Deserialize;

use super::apps::load_app;
use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// Lines answered when `tail` is not given.
const DEFAULT_TAIL: u32 = 100;

/// Query of `GET …/logs`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// The newest N matching lines (1–10000, default 100).
    pub tail: Option<u32>,
    /// Only lines from this long ago on, e.g. `10m`, `2h`.
    pub since: Option<String>,
    /// Only lines after this seq (what a follower saw last).
    pub after: Option<u64>,
    /// Only this release's replicas: `3` or `v3`.
    pub release: Option<String>,
    /// Only this replica (its index on the local runtime, its pod on Kubernetes).
    pub replica: Option<String>,
}

/// The app's log lines, oldest first.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/logs", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"), LogsQuery),
    responses((status = 200, body = Vec<LogLine>), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError), (status = 422, body = ApiError),
        (status = 501, description = "this control plane's runtime keeps no logs", body = ApiError)),
    security(("bearer" = [])))]
pub async fn app_logs(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Json<Vec<LogLine>>, ApiErrorResponse> {
    let Query(q) = query.map_err(|e| ApiErrorResponse::bad_request(e.body_text()))?;
    load_app(&state, &caller, &org, &app, Action::Read).await?;
    let query = log_query(&q, now_ms())?;
    let Some(engine) = &state.engine else {
        return Err(no_logs(
            "this control plane runs no runtime (--runtime none): there are no logs",
        ));
    };
    match engine.logs(&org, &app, query).await {
        Ok(lines) => Ok(Json(lines)),
        Err(e) => Err(read_error(&org, &app, &e)),
    }
}

/// The answer to a runtime that could not read the logs: 501 when it keeps none, else 503.
pub(super) fn read_error(org: &str, app: &str, e: &RuntimeError) -> ApiErrorResponse {
    if e.kind() == RuntimeErrorKind::Unsupported {
        return no_logs(e.message());
    }
    tracing::warn!(%org, %app, error = %crate::error::error_chain(e), "cannot read logs");
    ApiErrorResponse::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        format!("the runtime cannot read {app}'s logs now: {}", e.message()),
    )
}

pub(super) fn no_logs(message: &str) -> ApiErrorResponse {
    ApiErrorResponse::new(
        StatusCode::NOT_IMPLEMENTED,
        ErrorCode::NotImplemented,
        message.to_string(),
    )
}

/// The query checked into the runtime's [`LogQuery`]; the error names the parameter.
pub fn log_query(q: &LogsQuery, now: i64) -> Result<LogQuery, ApiErrorResponse> {
    let bad = |field: &str, message: String| {
        ApiErrorResponse::invalid(format!("{field}: {message}"))
            .with_details(serde_json::json!({ "field": field }))
    };
    let tail = q.tail.unwrap_or(DEFAULT_TAIL);
    if !(1..=LogQuery::MAX_TAIL).contains(&tail) {
        return Err(bad(
            "tail",
            format!("{tail} is not from 1 to {}", LogQuery::MAX_TAIL),
        ));
    }
    let since_ms = match &q.since {
        None => None,
        Some(text) => {
            let d = humantime::parse_duration(text).map_err(|_| {
                bad(
                    "since",
                    format!("{text:?} is not a duration such as 10m or 2h"),
                )
            })?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Some(now.saturating_sub(ms))
        }
    };
    let release = match &q.release {
        None => None,
        Some(text) => Some(
            text.trim_start_matches('v')
                .parse::<u64>()
                .map_err(|_| bad("release", format!("{text:?} is not a release such as v3")))?,
        ),
    };
    if let Some(r) = &q.replica
        && (r.is_empty() || r.len() > 253)
    {
        return Err(bad(
            "replica",
            "give a replica name of 1–253 characters".into(),
        ));
    }
    Ok(LogQuery {
        tail: Some(tail),
        since_ms,
        after_seq: q.after,
        release,
        replica: q.replica.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_checked_and_named() {
        let q = LogsQuery {
            tail: Some(5),
            since: Some("10m".into()),
            release: Some("v3".into()),
            ..LogsQuery::default()
        };
        let got = log_query(&q, 1_000_000).unwrap();
        assert_eq!(got.tail, Some(5));
        assert_eq!(got.since_ms, Some(1_000_000 - 600_000));
        assert_eq!(got.release, Some(3));
        for (q, field) in [
            (
                LogsQuery {
                    tail: Some(0),
                    ..Default::default()
                },
                "tail",
            ),
            (
                LogsQuery {
                    tail: Some(10_001),
                    ..Default::default()
                },
                "tail",
            ),
            (
                LogsQuery {
                    since: Some("soon".into()),
                    ..Default::default()
                },
                "since",
            ),
            (
                LogsQuery {
                    release: Some("latest".into()),
                    ..Default::default()
                },
                "release",
            ),
        ] {
            let e = log_query(&q, 0).unwrap_err();
            assert!(format!("{e:?}").contains(field), "{field}: {e:?}");
        }
        assert_eq!(log_query(&LogsQuery::default(), 0).unwrap().tail, Some(100));
    }
}
