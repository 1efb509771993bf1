//! Applying rendered objects: server-side apply with field manager `satusky`, the org's
//! namespace ensured, objects no longer rendered pruned by label, and field conflicts with
//! other managers handled by one stated rule.
//!
//! Conflict rule: a 409 from server-side apply is retried with `force` only when the live
//! object carries our ownership label (`app.kubernetes.io/managed-by=satusky`) — it is an
//! object we created, and the conflicting fields are fields we render, so another manager
//! edited what we own and we take it back. An object we did not create (same name, no label)
//! is never forced: the conflict is reported with the other manager and fields.
//!
//! Needless writes are skipped: an object whose rendered form is unchanged since our last
//! successful apply (in this process) is not sent again. Needless prune LISTs too: when every
//! object was unchanged and the rendered set (kinds and names) is the one of the app's last
//! successful apply + prune in this process, with nothing since that could have left an
//! object behind, nothing of ours can be orphaned and the prune is skipped (the rules are
//! in `apply/memory.rs`). So an object someone else adds with our labels is pruned by the
//! next apply that changes something, by a heal, or after a restart — not by a no-op
//! redeploy.
//! [`Applier::forget`] drops both memories for an app (the runtime calls it when it sees
//! something missing, and before a heal), so the next apply sends everything and prunes.
//!
//! Volumes: a PersistentVolumeClaim holds data nothing else has, so it is never pruned. One
//! the render no longer holds (`[volume]` left the spec) is kept, logged and reported in
//! [`ApplyOutcome::retained`]; [`Applier::remove`] keeps the app's claims too. They are listed
//! by [`Applier::volumes`] and deleted only by [`Applier::purge_volumes`] (`1ctl app destroy
//! --purge-volumes`); a later render of the same claim adopts it again (same name, our labels).
//!
//! Secret values: [`Applier::apply_with_secrets`] takes the app's values in memory and fills
//! the rendered Secret `{app}-secrets` (which comes without `data`) on the request body just
//! before sending it, after checking that the render pinned exactly the versions it was
//! given. The memory of what was sent keeps a keyed digest of the filled Secret, never its
//! form, and every message about it is scrubbed of the values (the rules are in
//! `apply/secret.rs`).

mod memory;
mod secret;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use satusky_core::ForeignError;
use satusky_core::secrets::Secrets;

use self::memory::{Memory, Rendered};
use self::secret::{Filler, Scrub};
use crate::kinds::{Kind, MANAGED};
use crate::render::Object;
use crate::render::labels::{APP, MANAGED_BY, MANAGER, ORG};
use crate::render::names::sha256_hex;

/// Our field manager name.
pub const FIELD_MANAGER: &str = "satusky";

/// What went wrong applying.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "{kind} {namespace}/{name}: field conflict with another manager: {message} — the object was not created by Satusky, so it is not overwritten; delete or rename it"
    )]
    Conflict {
        kind: String,
        namespace: String,
        name: String,
        message: String,
    },
    #[error("{kind} {namespace}/{name}: the API server refused it: {message}")]
    Refused {
        kind: String,
        namespace: String,
        name: String,
        message: String,
    },
    #[error("{kind} {namespace}/{name}: rendered object does not decode")]
    Encode {
        kind: String,
        namespace: String,
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// kube's errors repeat their source in `Display`: kept as a [`ForeignError`].
    #[error("talking to the API server")]
    Client(#[source] ForeignError),
    #[error("{what} is not a kind Satusky manages")]
    UnknownKind { what: String },
    /// The render pinned other secret versions than the values the applier was handed
    /// (versions only: never a value).
    #[error(
        "Secret {namespace}/{name}: the render pins secret versions {rendered:?} but the values given are of {given:?}; nothing was sent"
    )]
    SecretVersions {
        namespace: String,
        name: String,
        rendered: String,
        given: String,
    },
}

impl ApplyError {
    fn client(e: kube::Error) -> Self {
        ApplyError::Client(ForeignError::new(&e))
    }
}

/// What an apply did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub applied: usize,
    pub unchanged: usize,
    /// Objects whose conflicting fields were taken back with `force`.
    pub forced: Vec<String>,
    /// `Kind/name` of pruned objects.
    pub pruned: Vec<String>,
    /// `Kind/name` of objects no longer rendered but kept: the app's volume claims.
    pub retained: Vec<String>,
}

/// The one kind that is never pruned: its objects hold the app's data.
const RETAINED_KIND: &str = "PersistentVolumeClaim";

/// What a prune did: deleted, and kept because they hold data.
#[derive(Debug, Default)]
struct Pruned {
    deleted: Vec<String>,
    retained: Vec<String>,
}

type Key = (String, String, String); // kind, namespace, name

/// Applies and prunes. Cheap to share behind an `Arc`.
pub struct Applier {
    client: Client,
    namespaces: Mutex<HashSet<String>>,
    /// What was last sent of each object: (app, hash of the rendered form; for the app's
    /// filled Secret, the keyed digest of what was sent).
    last: Mutex<HashMap<Key, (String, String)>>,
    filler: Filler,
    /// Per app: the kinds pruning must look at, and whether the prune may be skipped.
    memory: Memory,
    requests: AtomicU64,
}

impl Applier {
    pub fn new(client: Client) -> Self {
        Applier {
            client,
            namespaces: Mutex::new(HashSet::new()),
            last: Mutex::new(HashMap::new()),
            memory: Memory::default(),
            filler: Filler::new(),
            requests: AtomicU64::new(0),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// API requests made so far (for the benchmark).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn count(&self, n: u64) {
        self.requests.fetch_add(n, Ordering::Relaxed);
    }

    /// Ensure the org's namespace exists (applied once per process).
    pub async fn ensure_namespace(&self, org: &str, namespace: &str) -> Result<(), ApplyError> {
        if self.lock_namespaces().contains(namespace) {
            return Ok(());
        }
        let ns =
            crate::render::render_namespace(org, namespace).map_err(|e| ApplyError::Encode {
                kind: "Namespace".into(),
                namespace: String::new(),
                name: namespace.into(),
                source: Box::new(e),
            })?;
        let ar = Kind {
            group: "",
            version: "v1",
            kind: "Namespace",
            plural: "namespaces",
        }
        .api_resource();
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let obj: DynamicObject =
            serde_json::from_value(ns.into_value()).map_err(|e| ApplyError::Encode {
                kind: "Namespace".into(),
                namespace: String::new(),
                name: namespace.into(),
                source: Box::new(e),
            })?;
        self.count(1);
        api.patch(
            namespace,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&obj),
        )
        .await
        .map_err(ApplyError::client)?;
        self.lock_namespaces().insert(namespace.to_string());
        Ok(())
    }

    /// Apply `objects` (the app's whole rendered set) and prune what is no longer rendered.
    /// For an app without secrets: a render holding the app's Secret is refused
    /// ([`ApplyError::SecretVersions`]), see [`Applier::apply_with_secrets`].
    pub async fn apply(
        &self,
        org: &str,
        app: &str,
        namespace: &str,
        objects: &[Object],
    ) -> Result<ApplyOutcome, ApplyError> {
        self.apply_with_secrets(org, app, namespace, objects, &Secrets::new())
            .await
    }

    /// [`Applier::apply`], filling the app's Secret `{app}-secrets` with `secrets` (in
    /// memory, on the request body, just before it is sent). The render must pin exactly the
    /// versions of `secrets` — no Secret when there are none — or nothing is sent.
    pub async fn apply_with_secrets(
        &self,
        org: &str,
        app: &str,
        namespace: &str,
        objects: &[Object],
        secrets: &Secrets,
    ) -> Result<ApplyOutcome, ApplyError> {
        let mut ordered: Vec<(&'static Kind, &Object)> = objects
            .iter()
            .map(|obj| {
                Kind::of(obj.api_version(), obj.kind())
                    .map(|kind| (kind, obj))
                    .ok_or_else(|| ApplyError::UnknownKind {
                        what: format!("{} {}", obj.api_version(), obj.kind()),
                    })
            })
            .collect::<Result<_, _>>()?;
        ordered.sort_by_key(|(kind, _)| Kind::order(&kind.api_version(), kind.kind));
        // The app's Secret, decoded (still without values), checked before anything is sent.
        let app_secret = ordered
            .iter()
            .find(|(kind, obj)| Filler::is_app_secret(kind.kind, obj.name(), app))
            .map(|(kind, obj)| decode(kind, namespace, obj))
            .transpose()?;
        Filler::check(app_secret.as_ref(), secrets).map_err(|m| ApplyError::SecretVersions {
            namespace: namespace.into(),
            name: crate::render::names::secret(app),
            rendered: m.rendered,
            given: m.given,
        })?;
        let mut app_secret = app_secret;
        let rendered: Rendered = ordered
            .iter()
            .map(|(kind, obj)| (kind.kind, obj.name().to_string()))
            .collect();
        self.ensure_namespace(org, namespace).await?;
        // From here until `succeed`, the app is not settled: an error or a dropped future
        // leaves the next apply to prune.
        let ticket = self.memory.begin(org, namespace, app, rendered);
        let mut outcome = ApplyOutcome::default();
        for (kind, obj) in ordered {
            let key = (
                kind.kind.to_string(),
                namespace.to_string(),
                obj.name().to_string(),
            );
            let (body, hash, scrub) = if Filler::is_app_secret(kind.kind, obj.name(), app) {
                // Checked above: present, and pinning the versions of `secrets`.
                let mut body = match app_secret.take() {
                    Some(body) => body,
                    None => decode(kind, namespace, obj)?,
                };
                Filler::fill(&mut body, secrets).map_err(|e| encode(kind, namespace, obj, e))?;
                let digest = self
                    .filler
                    .digest(&body)
                    .map_err(|e| encode(kind, namespace, obj, e))?;
                (Some(body), digest, Scrub::Values(secrets))
            } else {
                let text = obj.as_value().to_string();
                (None, sha256_hex(text.as_bytes()), Scrub::Nothing)
            };
            if self.lock_last().get(&key).is_some_and(|(_, h)| *h == hash) {
                outcome.unchanged += 1;
                continue;
            }
            let body = match body {
                Some(body) => body,
                None => decode(kind, namespace, obj)?,
            };
            if self
                .apply_one(kind, namespace, obj.name(), &body, scrub, &mut outcome)
                .await?
            {
                self.lock_last().insert(key, (app.to_string(), hash));
            }
            outcome.applied += 1;
        }
        if outcome.applied == 0 && ticket.was_settled {
            // Nothing sent, same set as the last settled apply + prune: nothing to prune.
            ticket.succeed();
            return Ok(outcome);
        }
        let to_check: Vec<&'static Kind> = match &ticket.prune_kinds {
            // Known history: only kinds we applied before can hold leftovers.
            Some(prev) => MANAGED.iter().filter(|k| prev.contains(k.kind)).collect(),
            // First apply in this process: look everywhere.
            None => MANAGED.iter().collect(),
        };
        let pruned = self
            .prune(org, app, namespace, &to_check, ticket.rendered())
            .await?;
        (outcome.pruned, outcome.retained) = (pruned.deleted, pruned.retained);
        ticket.succeed();
        Ok(outcome)
    }

    /// One server-side apply of `body`, with the conflict rule. `true` when the object is now
    /// as rendered. Every message about it goes through `scrub`.
    async fn apply_one(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        body: &DynamicObject,
        scrub: Scrub<'_>,
        outcome: &mut ApplyOutcome,
    ) -> Result<bool, ApplyError> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &kind.api_resource());
        self.count(1);
        // The answers are dropped unread: the Secret's would hold its values.
        match api
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Apply(body),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.count(1);
                // Metadata only: the labels are all the rule needs.
                let live = api
                    .get_metadata_opt(name)
                    .await
                    .map_err(|e| ApplyError::Client(scrub.foreign(&e)))?;
                let ours = live
                    .as_ref()
                    .and_then(|l| l.metadata.labels.as_ref())
                    .and_then(|l| l.get(MANAGED_BY))
                    .is_some_and(|v| v == MANAGER);
                let message = scrub.text(&status.message);
                if !ours {
                    return Err(ApplyError::Conflict {
                        kind: kind.kind.into(),
                        namespace: namespace.into(),
                        name: name.into(),
                        message,
                    });
                }
                tracing::warn!(kind = kind.kind, %namespace, name, conflict = %message,
                    "another manager changed fields Satusky owns; taking them back");
                self.count(1);
                api.patch(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(body),
                )
                .await
                .map_err(|e| refused(kind, namespace, name, e, scrub))?;
                outcome.forced.push(format!("{}/{}", kind.kind, name));
                Ok(true)
            }
            Err(e) => Err(refused(kind, namespace, name, e, scrub)),
        }
    }

    /// Delete the app's labelled objects of `kinds` that are not in `keep` — except volume
    /// claims, which are kept and named in [`Pruned::retained`].
    async fn prune(
        &self,
        org: &str,
        app: &str,
        namespace: &str,
        kinds: &[&'static Kind],
        keep: &Rendered,
    ) -> Result<Pruned, ApplyError> {
        // Build Jobs and their token Secrets carry the app's labels too; they are the
        // builder's to clean up, never pruned from under a running build.
        let selector = app_selector(org, app);
        let mut pruned = Pruned::default();
        for kind in kinds {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, &kind.api_resource());
            self.count(1);
            let list = match api
                .list_metadata(&ListParams::default().labels(&selector))
                .await
            {
                Ok(l) => l,
                // A kind the cluster does not serve (e.g. no VPA CRD) holds nothing to prune.
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                Err(e) => return Err(ApplyError::client(e)),
            };
            for item in list.items {
                let name = item.metadata.name.unwrap_or_default();
                if keep.contains(&(kind.kind, name.clone())) {
                    continue;
                }
                if kind.kind == RETAINED_KIND {
                    tracing::warn!(%org, %app, %namespace, claim = %name,
                        "the app no longer has this volume; its claim and data are kept: delete \
                         them with `1ctl app destroy --purge-volumes`, or add [volume] back");
                    self.lock_last().remove(&(
                        kind.kind.to_string(),
                        namespace.to_string(),
                        name.clone(),
                    ));
                    pruned.retained.push(format!("{}/{}", kind.kind, name));
                    continue;
                }
                self.count(1);
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(ApplyError::client(e)),
                }
                self.lock_last().remove(&(
                    kind.kind.to_string(),
                    namespace.to_string(),
                    name.clone(),
                ));
                pruned.deleted.push(format!("{}/{}", kind.kind, name));
            }
        }
        Ok(pruned)
    }

    /// Delete everything of the app but its volume claims; returns the `Kind/name` of what
    /// was deleted (the claims are listed by [`Applier::volumes`]).
    pub async fn remove(
        &self,
        org: &str,
        app: &str,
        namespace: &str,
    ) -> Result<Vec<String>, ApplyError> {
        // Unsettle first: an apply in flight must not settle what is being removed.
        self.memory.forget(namespace, app);
        let all: Vec<&'static Kind> = MANAGED.iter().collect();
        let pruned = self
            .prune(org, app, namespace, &all, &HashSet::new())
            .await?;
        self.forget(namespace, app);
        Ok(pruned.deleted)
    }

    /// The app's volume claims (ours by label, whether the spec still has `[volume]` or the
    /// app still exists).
    pub async fn volumes(
        &self,
        org: &str,
        app: &str,
        namespace: &str,
    ) -> Result<Vec<VolumeClaim>, ApplyError> {
        let api = self.claims(namespace);
        self.count(1);
        let list = api
            .list(&ListParams::default().labels(&app_selector(org, app)))
            .await
            .map_err(ApplyError::client)?;
        Ok(list
            .items
            .into_iter()
            .map(|claim| VolumeClaim {
                namespace: namespace.to_string(),
                size: claim
                    .data
                    .pointer("/spec/resources/requests/storage")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string),
                name: claim.metadata.name.unwrap_or_default(),
            })
            .collect())
    }

    /// Delete the app's volume claims (the cluster deletes the volume once no pod uses it,
    /// as the claim's reclaim policy says); returns those it deleted.
    pub async fn purge_volumes(
        &self,
        org: &str,
        app: &str,
        namespace: &str,
    ) -> Result<Vec<VolumeClaim>, ApplyError> {
        let claims = self.volumes(org, app, namespace).await?;
        let api = self.claims(namespace);
        let mut deleted = Vec::new();
        for claim in claims {
            self.count(1);
            match api.delete(&claim.name, &DeleteParams::background()).await {
                Ok(_) => deleted.push(claim),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(ApplyError::client(e)),
            }
        }
        self.forget(namespace, app);
        Ok(deleted)
    }

    fn claims(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            namespace,
            &crate::kinds::persistent_volume_claim(),
        )
    }

    /// Forget what was applied for the app, so the next apply sends everything again and
    /// prunes (the kinds to prune stay known).
    pub fn forget(&self, namespace: &str, app: &str) {
        self.memory.forget(namespace, app);
        self.lock_last()
            .retain(|(_, ns, _), (owner, _)| !(ns == namespace && owner == app));
    }

    fn lock_namespaces(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.namespaces.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_last(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (String, String)>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One volume claim of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeClaim {
    pub namespace: String,
    pub name: String,
    /// `spec.resources.requests.storage`.
    pub size: Option<String>,
}

impl std::fmt::Display for VolumeClaim {
    /// `persistentvolumeclaim satusky-acme/web-data (5Gi)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "persistentvolumeclaim {}/{}", self.namespace, self.name)?;
        match &self.size {
            Some(size) => write!(f, " ({size})"),
            None => Ok(()),
        }
    }
}

/// The app's objects, build Jobs and their Secrets excepted.
fn app_selector(org: &str, app: &str) -> String {
    format!("{MANAGED_BY}={MANAGER},{ORG}={org},{APP}={app},!satusky.io/build")
}

fn refused(
    kind: &Kind,
    namespace: &str,
    name: &str,
    e: kube::Error,
    scrub: Scrub<'_>,
) -> ApplyError {
    match e {
        kube::Error::Api(s) => ApplyError::Refused {
            kind: kind.kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            message: format!("{} ({})", scrub.text(&s.message), s.code),
        },
        other => ApplyError::Client(scrub.foreign(&other)),
    }
}

/// The rendered object as the request body (holding no secret value: the render has none).
fn decode(kind: &Kind, namespace: &str, obj: &Object) -> Result<DynamicObject, ApplyError> {
    serde_json::from_value(obj.as_value().clone()).map_err(|e| encode(kind, namespace, obj, e))
}

fn encode(kind: &Kind, namespace: &str, obj: &Object, e: serde_json::Error) -> ApplyError {
    ApplyError::Encode {
        kind: kind.kind.into(),
        namespace: namespace.into(),
        name: obj.name().into(),
        source: Box::new(e),
    }
}
