//! Collection verbs: LIST (plain or as a Table), WATCH, CREATE and DELETE of a collection.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Req, json_response, ok, propagation, selectors};
use crate::list::{self, ListOptions};
use crate::ops::{Ctx, Sub};
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::watch::{self, WatchOptions};
use crate::{Shared, Verb};

pub(super) async fn handle(
    s: &Arc<Shared>,
    version: &str,
    rt: &'static ResourceType,
    ns: Option<String>,
    req: &Req,
    mgr: &str,
) -> Result<Response, ApiError> {
    let store = &s.store;
    if let Some(ns) = &ns {
        if !rt.namespaced {
            return Err(ApiError::path_not_found(&req.path));
        }
        if ns.is_empty() {
            return Err(ApiError::bad_request("namespace must not be empty"));
        }
    }
    let (labels, fields) = selectors(rt, &req.params)?;
    match req.method {
        Method::GET if req.params.flag("watch") => {
            s.count(Verb::Watch);
            let rv = match req.params.get("resourceVersion") {
                None | Some("") | Some("0") => None,
                Some(v) => Some(v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {v:?}"))
                })?),
            };
            let o = WatchOptions {
                rv,
                send_initial_events: req.params.flag("sendInitialEvents"),
                bookmarks: req.params.flag("allowWatchBookmarks"),
                timeout: req
                    .params
                    .num("timeoutSeconds")?
                    .map(Duration::from_secs)
                    .unwrap_or(watch::DEFAULT_TIMEOUT),
                labels,
                fields,
                repr: crate::table::repr(&req.headers),
            };
            let body = watch::watch(store.clone(), rt, version, ns.as_deref(), o);
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response())
        }
        Method::GET => {
            s.count(Verb::List);
            let o = ListOptions {
                labels,
                fields,
                limit: req.params.num("limit")?.unwrap_or(0) as usize,
                cont: req
                    .params
                    .get("continue")
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            };
            let page = list::page(store, rt, ns.as_deref(), &o)?;
            match crate::table::repr(&req.headers) {
                crate::table::Repr::Table => Ok(ok(&crate::table::table(rt, version, &page))),
                crate::table::Repr::Partial => Ok(ok(&crate::table::partial_list(&page))),
                crate::table::Repr::Full => Ok(ok(&list::list_object(rt, version, &page))),
            }
        }
        Method::POST => {
            s.count(Verb::Create);
            if rt.namespaced && ns.is_none() {
                return Err(ApiError::method_not_allowed(
                    "create requires a namespace in the path",
                ));
            }
            let body = crate::ops::parse_body(&req.body, false)?;
            let ns = ns.unwrap_or_default();
            let c = Ctx {
                rt,
                version,
                ns: &ns,
                manager: mgr,
                dry_run: req.params.dry_run(),
                sub: Sub::Main,
            };
            let obj = store.create(&c, body)?;
            Ok(json_response(StatusCode::CREATED, &obj))
        }
        Method::DELETE => {
            let ns = ns.unwrap_or_default();
            let scope = if rt.namespaced {
                (!ns.is_empty()).then_some(ns.as_str())
            } else {
                None
            };
            let targets: Vec<(String, String)> = store
                .lock()
                .objects(rt, scope)
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
                .map(|o| {
                    let md = |f: &str| {
                        crate::meta::str_at(&o, &["metadata", f])
                            .unwrap_or("")
                            .to_string()
                    };
                    (md("namespace"), md("name"))
                })
                .collect();
            let body: Value = if req.body.is_empty() {
                json!({})
            } else {
                crate::ops::parse_body(&req.body, false)?
            };
            let prop = propagation(&req.params, &body);
            let mut items = Vec::new();
            for (o_ns, n) in &targets {
                let c = Ctx {
                    rt,
                    version,
                    ns: o_ns,
                    manager: mgr,
                    dry_run: req.params.dry_run(),
                    sub: Sub::Main,
                };
                if let Ok((obj, _)) = store.remove(&c, n, prop, &Value::Null) {
                    items.push(list::list_item(&obj, rt, version));
                }
            }
            let rv = store.lock().rv;
            Ok(ok(
                &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(version),
                "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on a collection",
            req.method
        ))),
    }
}
