//! The labels and annotations of SPEC §8 that every rendered object carries, and the selector
//! that ties a Deployment, its Service, HPA, VPA and PDB to the app's pods.
//!
//! Pruning finds an app's objects by [`MANAGED_BY`] + [`ORG`] + [`APP`], so every object gets
//! all three. The release is an annotation, never a pod-template label: a label there would
//! change the pod template (and roll the pods) on every release, even one that only changed
//! a domain. Owns naming of keys only; no object building.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

/// `app.kubernetes.io/managed-by`: who owns the object.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`] on everything Satusky renders.
pub const MANAGER: &str = "satusky";
/// `app.kubernetes.io/name`: the app's name, for generic tooling.
pub const NAME: &str = "app.kubernetes.io/name";
/// The org an object belongs to.
pub const ORG: &str = "satusky.io/org";
/// The app an object belongs to.
pub const APP: &str = "satusky.io/app";
/// Annotation: the release (`N` of `vN`) that rendered the object.
pub const RELEASE: &str = "satusky.io/release";
/// Pod-template annotation: sha256 of the env values and the secrets' versions.
pub const CONFIG_HASH: &str = "satusky.io/config-hash";
/// Pod-template annotation: when `1ctl app restart` last asked for fresh pods (RFC 3339);
/// changing it rolls every pod, as `kubectl rollout restart` does with its own annotation.
pub const RESTARTED_AT: &str = "satusky.io/restarted-at";
/// Secret annotation: `KEY=VERSION,…` of the secrets the applier fills in (never values).
pub const SECRET_VERSIONS: &str = "satusky.io/secret-versions";
/// Certificate and ListenerSet annotation: the custom domain the object serves.
pub const HOSTNAME: &str = "satusky.io/hostname";

/// The labels of every object of one app.
pub fn app_labels(org: &str, app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (NAME.to_owned(), app.to_owned()),
        (ORG.to_owned(), org.to_owned()),
        (APP.to_owned(), app.to_owned()),
    ])
}

/// The labels that select the app's pods (a Deployment's selector is immutable, so this set
/// never grows).
pub fn selector_labels(org: &str, app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ORG.to_owned(), org.to_owned()),
        (APP.to_owned(), app.to_owned()),
    ])
}

/// A label selector matching the app's pods.
pub fn selector(org: &str, app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(org, app)),
        ..LabelSelector::default()
    }
}

/// Object metadata: name, namespace, the app's labels and the release annotation, plus any
/// extra annotations.
pub fn metadata(
    name: &str,
    namespace: &str,
    org: &str,
    app: &str,
    release: u64,
    extra_annotations: &[(&str, String)],
) -> ObjectMeta {
    let mut annotations = BTreeMap::from([(RELEASE.to_owned(), release.to_string())]);
    for (key, value) in extra_annotations {
        annotations.insert((*key).to_owned(), value.clone());
    }
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(app_labels(org, app)),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}
