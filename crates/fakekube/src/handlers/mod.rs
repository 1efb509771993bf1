//! HTTP surface of the API: routing of `/api/...` and `/apis/...` paths to resource types,
//! query parameters, content types and status codes.
//!
//! Paths: `/api/v1/{resource}[/{name}[/{sub}]]` for cluster-scoped types and all-namespace
//! lists, `/api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]]` for namespaced ones, and the
//! same under `/apis/{group}/{version}`. Creates answer 201 (also a server-side apply that
//! creates), other writes 200; a delete answers the object while finalizers hold it and a
//! `Success` Status once it is gone. Everything else (semantics) is in [`crate::ops`],
//! [`crate::list`] and [`crate::watch`]; collection verbs are in [`collection`].

mod collection;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use crate::discovery;
use crate::ops::{Ctx, PatchKind, Sub};
use crate::registry::{self, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::Propagation;
use crate::watch::{self, LogOptions};
use crate::{Shared, Verb};

/// A JSON response.
pub fn json_response(code: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// The API routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/version", get(|| async { ok(&discovery::version()) }))
        .route("/version/", get(|| async { ok(&discovery::version()) }))
        .route("/api", get(api_root))
        .route("/api/", get(api_root))
        .route("/apis", get(|| async { ok(&discovery::groups()) }))
        .route("/apis/", get(|| async { ok(&discovery::groups()) }))
        .route(
            "/openapi/v3",
            get(|| async { ok(&crate::openapi::index()) }),
        )
        .route(
            "/openapi/v3/{*path}",
            get(|Path(p): Path<String>| async move {
                match crate::openapi::document(&p) {
                    Some(d) => ok(&d),
                    None => ApiError::path_not_found(&format!("/openapi/v3/{p}")).into_response(),
                }
            }),
        )
        .route("/api/{*rest}", any(core_dispatch))
        .route("/apis/{*rest}", any(group_dispatch))
        .with_state(shared)
}

async fn api_root(State(s): State<Arc<Shared>>) -> Response {
    ok(&discovery::core_versions(&s.server_address()))
}

/// Query parameters as given (repeated keys keep the last value).
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }

    fn num(&self, k: &str) -> Result<Option<u64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    }

    fn dry_run(&self) -> bool {
        self.0.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

enum Target {
    Collection {
        rt: &'static ResourceType,
        ns: Option<String>,
    },
    Object {
        rt: &'static ResourceType,
        ns: String,
        name: String,
        sub: Option<String>,
    },
}

fn resolve(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    if rest.len() >= 3
        && rest[0] == "namespaces"
        && let Some(rt) = registry::lookup(group, version, rest[2]).filter(|rt| rt.namespaced)
    {
        let ns = rest[1].to_string();
        return match rest.len() {
            3 => Some(Target::Collection { rt, ns: Some(ns) }),
            4 => Some(Target::Object {
                rt,
                ns,
                name: rest[3].to_string(),
                sub: None,
            }),
            5 => Some(Target::Object {
                rt,
                ns,
                name: rest[3].to_string(),
                sub: Some(rest[4].to_string()),
            }),
            _ => None,
        };
    }
    let rt = registry::lookup(group, version, rest.first()?)?;
    match (rest.len(), rt.namespaced) {
        (1, _) => Some(Target::Collection { rt, ns: None }),
        (2, false) => Some(Target::Object {
            rt,
            ns: String::new(),
            name: rest[1].to_string(),
            sub: None,
        }),
        (3, false) => Some(Target::Object {
            rt,
            ns: String::new(),
            name: rest[1].to_string(),
            sub: Some(rest[2].to_string()),
        }),
        _ => None,
    }
}

struct Req {
    method: Method,
    path: String,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
}

async fn core_dispatch(
    State(s): State<Arc<Shared>>,
    method: Method,
    Path(rest): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segs: Vec<&str> = rest.split('/').filter(|x| !x.is_empty()).collect();
    let req = Req {
        method,
        path: format!("/api/{rest}"),
        params: Params(q),
        headers,
        body,
    };
    let result = match segs.split_first() {
        Some((v, [])) => discovery::resources("", v)
            .map(|d| ok(&d))
            .ok_or_else(|| ApiError::path_not_found(&req.path)),
        Some((v, tail)) => handle(&s, "", v, tail, &req).await,
        None => Ok(ok(&discovery::core_versions(&s.server_address()))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn group_dispatch(
    State(s): State<Arc<Shared>>,
    method: Method,
    Path(rest): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segs: Vec<&str> = rest.split('/').filter(|x| !x.is_empty()).collect();
    let req = Req {
        method,
        path: format!("/apis/{rest}"),
        params: Params(q),
        headers,
        body,
    };
    let result = match segs.as_slice() {
        [g] => discovery::group(g)
            .map(|d| ok(&d))
            .ok_or_else(|| ApiError::path_not_found(&req.path)),
        [g, v] => discovery::resources(g, v)
            .map(|d| ok(&d))
            .ok_or_else(|| ApiError::path_not_found(&req.path)),
        [g, v, tail @ ..] => handle(&s, g, v, tail, &req).await,
        [] => Ok(ok(&discovery::groups())),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The field manager: `fieldManager`, else the user agent's product (as kube-apiserver does).
fn manager(req: &Req) -> String {
    match req.params.get("fieldManager") {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => req
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| {
                ua.split('/')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(128)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn patch_kind(req: &Req) -> Result<PatchKind, ApiError> {
    let ct = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let base = ct.split(';').next().unwrap_or("").trim();
    let kind = match base {
        "application/merge-patch+json" => PatchKind::Merge,
        "application/json-patch+json" => PatchKind::Json,
        "application/strategic-merge-patch+json" => PatchKind::Strategic,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => PatchKind::Apply {
            force: req.params.flag("force"),
        },
        _ => return Err(ApiError::unsupported_media_type(ct)),
    };
    let invalid = |field: &str, reason: &'static str, msg: &str| {
        ApiError::invalid_kind(
            "PatchOptions.meta.k8s.io",
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![status::Cause {
                reason,
                message: msg.to_string(),
                field: field.to_string(),
            }],
        )
    };
    match kind {
        PatchKind::Apply { .. } if req.params.get("fieldManager").is_none_or(str::is_empty) => {
            Err(invalid(
                "fieldManager",
                "FieldValueRequired",
                "Required value: is required for apply patch",
            ))
        }
        PatchKind::Apply { .. } => Ok(kind),
        _ if req.params.get("force").is_some() => Err(invalid(
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch",
        )),
        _ => Ok(kind),
    }
}

fn selectors(rt: &ResourceType, p: &Params) -> Result<(LabelSelector, FieldSelector), ApiError> {
    Ok((
        LabelSelector::parse(p.get("labelSelector").unwrap_or(""))?,
        FieldSelector::parse(rt, p.get("fieldSelector").unwrap_or(""))?,
    ))
}

fn propagation(p: &Params, body: &Value) -> Propagation {
    let policy = p
        .get("propagationPolicy")
        .map(str::to_string)
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(
            || match body.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some("Orphan".into()),
                _ => None,
            },
        );
    match policy.as_deref() {
        Some("Orphan") => Propagation::Orphan,
        _ => Propagation::Background,
    }
}

async fn handle(
    s: &Arc<Shared>,
    group: &str,
    version: &str,
    rest: &[&str],
    req: &Req,
) -> Result<Response, ApiError> {
    let target =
        resolve(group, version, rest).ok_or_else(|| ApiError::path_not_found(&req.path))?;
    let mgr = manager(req);
    let store = &s.store;
    match target {
        Target::Collection { rt, ns } => collection::handle(s, version, rt, ns, req, &mgr).await,
        Target::Object { rt, ns, name, sub } => {
            let sub = match sub.as_deref() {
                None => Sub::Main,
                Some("status") if rt.status_subresource => Sub::Status,
                Some("log") if rt.has_log() && req.method == Method::GET => {
                    s.count(Verb::Get);
                    let o = LogOptions {
                        container: req
                            .params
                            .get("container")
                            .filter(|c| !c.is_empty())
                            .map(str::to_string),
                        follow: req.params.flag("follow"),
                        tail_lines: req.params.num("tailLines")?.map(|n| n as usize),
                        limit_bytes: req.params.num("limitBytes")?.map(|n| n as usize),
                        previous: req.params.flag("previous"),
                        since_seconds: req.params.num("sinceSeconds")?.map(|n| n as i64),
                        since_time: req
                            .params
                            .get("sinceTime")
                            .filter(|t| !t.is_empty())
                            .map(str::to_string),
                        timestamps: req.params.flag("timestamps"),
                    };
                    let body: Body = watch::logs(store.clone(), rt, &ns, &name, o)?;
                    return Ok(
                        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body)
                            .into_response(),
                    );
                }
                Some(_) => return Err(ApiError::path_not_found(&req.path)),
            };
            let c = Ctx {
                rt,
                version,
                ns: &ns,
                manager: &mgr,
                dry_run: req.params.dry_run(),
                sub,
            };
            match req.method {
                Method::GET => {
                    s.count(Verb::Get);
                    let obj = store
                        .lock()
                        .get(rt, &ns, &name)
                        .ok_or_else(|| ApiError::not_found(rt, &name))?;
                    match crate::table::repr(&req.headers) {
                        crate::table::Repr::Table => Ok(ok(&crate::table::single(rt, &obj, true))),
                        crate::table::Repr::Partial => Ok(ok(&crate::table::partial(&obj))),
                        crate::table::Repr::Full => {
                            Ok(ok(&crate::store::at_version(&obj, rt, version)))
                        }
                    }
                }
                Method::PUT => {
                    s.count(Verb::Update);
                    let body = crate::ops::parse_body(&req.body, false)?;
                    Ok(ok(&store.replace(&c, &name, body)?))
                }
                Method::PATCH => {
                    s.count(Verb::Patch);
                    let kind = patch_kind(req)?;
                    let existed = store.lock().get(rt, &ns, &name).is_some();
                    let obj = store.patch(&c, &name, kind, &req.body)?;
                    let code = if existed || c.dry_run {
                        StatusCode::OK
                    } else {
                        StatusCode::CREATED
                    };
                    Ok(json_response(code, &obj))
                }
                Method::DELETE if sub == Sub::Main => {
                    s.count(Verb::Delete);
                    let body: Value = if req.body.is_empty() {
                        json!({})
                    } else {
                        crate::ops::parse_body(&req.body, false)?
                    };
                    let pre = body.get("preconditions").cloned().unwrap_or(Value::Null);
                    let (obj, gone) =
                        store.remove(&c, &name, propagation(&req.params, &body), &pre)?;
                    if gone {
                        let uid = crate::meta::str_at(&obj, &["metadata", "uid"]).unwrap_or("");
                        Ok(ok(&status::success(rt, &name, uid)))
                    } else {
                        Ok(ok(&obj))
                    }
                }
                _ => Err(ApiError::method_not_allowed(format!(
                    "{} is not supported here",
                    req.method
                ))),
            }
        }
    }
}
