//! LIST: selectors, pagination with `limit` + `continue`, and the list object.
//!
//! The first page takes a consistent snapshot of the matching objects at the current
//! resourceVersion; later pages are served from that snapshot (as etcd serves them from the
//! original revision), and a token whose snapshot has been evicted answers 410 `Expired`
//! like a compacted revision. `resourceVersion`/`resourceVersionMatch` on a list are accepted
//! and the current state is served. Items of built-in types carry no `apiVersion`/`kind`
//! (as kube-apiserver sends them); custom resources keep them.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{self, Store};

/// Parsed list options.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = no limit).
    pub limit: usize,
    /// `continue`.
    pub cont: Option<String>,
}

const EXPIRED_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn encode_token(id: u64, offset: usize, rv: u64) -> String {
    format!("fk1.{id}.{offset}.{rv}")
}

fn decode_token(t: &str) -> Option<(u64, usize, u64)> {
    let mut it = t.strip_prefix("fk1.")?.split('.');
    let id = it.next()?.parse().ok()?;
    let offset = it.next()?.parse().ok()?;
    let rv = it.next()?.parse().ok()?;
    Some((id, offset, rv))
}

/// One page of matching objects, with the list's resourceVersion and the next token.
#[derive(Debug)]
pub struct Page {
    /// The objects (stored form).
    pub items: Vec<Arc<Value>>,
    /// The resourceVersion the list is consistent with.
    pub rv: u64,
    /// Token for the next page.
    pub cont: Option<String>,
    /// Items after this page (only reported without selectors, as the real server does).
    pub remaining: Option<usize>,
}

/// Collect one page.
pub fn page(
    store: &Store,
    rt: &ResourceType,
    ns: Option<&str>,
    o: &ListOptions,
) -> Result<Page, ApiError> {
    let mut g = store.lock();
    let (all, offset, rv) = match &o.cont {
        Some(t) => {
            let (id, offset, rv) = decode_token(t).ok_or_else(|| {
                ApiError::bad_request(format!("continue key is not valid: {t:?}"))
            })?;
            let snap = g
                .snapshot(id)
                .ok_or_else(|| ApiError::expired(EXPIRED_CONTINUE))?;
            (snap, offset, rv)
        }
        None => {
            let items: Vec<Arc<Value>> = g
                .objects(rt, ns)
                .into_iter()
                .filter(|obj| o.labels.matches(obj) && o.fields.matches(obj))
                .collect();
            (Arc::new(items), 0, g.rv)
        }
    };
    let end = if o.limit == 0 {
        all.len()
    } else {
        (offset + o.limit).min(all.len())
    };
    let items = all
        .get(offset..end)
        .map(<[Arc<Value>]>::to_vec)
        .unwrap_or_default();
    let cont = if end < all.len() {
        let id = match &o.cont {
            Some(t) => decode_token(t).map(|(id, _, _)| id).unwrap_or(0),
            None => g.save_snapshot(all.clone()),
        };
        Some(encode_token(id, end, rv))
    } else {
        None
    };
    let remaining = match (&cont, o.labels.is_empty() && o.fields.is_empty()) {
        (Some(_), true) => Some(all.len() - end),
        _ => None,
    };
    Ok(Page {
        items,
        rv,
        cont,
        remaining,
    })
}

/// The item as it appears inside a list at `version`.
pub fn list_item(obj: &Value, rt: &ResourceType, version: &str) -> Value {
    let mut o = store::at_version(obj, rt, version);
    if !rt.custom
        && let Some(m) = o.as_object_mut()
    {
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

/// The `KindList` object for a page.
pub fn list_object(rt: &ResourceType, version: &str, p: &Page) -> Value {
    let mut md = json!({"resourceVersion": p.rv.to_string()});
    if let Some(c) = &p.cont {
        md["continue"] = json!(c);
    }
    if let Some(r) = p.remaining {
        md["remainingItemCount"] = json!(r);
    }
    json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(version),
        "metadata": md,
        "items": p.items.iter().map(|i| list_item(i, rt, version)).collect::<Vec<_>>(),
    })
}
