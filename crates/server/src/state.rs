//! Shared state handed to every handler: the store, the settings and the event hub.

use std::sync::Arc;

use satusky_store::Store;

use satusky_core::runtime::{EndpointProber, Runtime};

use crate::engine::{Engine, EngineConfig};
use crate::hub::EventHub;
use crate::idempotency::Idempotency;
use crate::settings::Settings;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub hub: EventHub,
    /// The lifecycle engine, when a runtime is attached.
    pub engine: Option<Engine>,
    /// Signs the short-lived tokens build Jobs use to fetch their context.
    pub build_tokens: Option<crate::build_token::BuildTokens>,
    /// Fingerprints and remembers mutations sent with an `Idempotency-Key`.
    pub idempotency: Option<Arc<Idempotency>>,
    /// When this process's state was made (epoch ms): status checked before it is stale.
    pub started_ms: i64,
    /// Problems the operator should see that do not stop serving (e.g. an edit of server.toml
    /// that does not parse, its last good settings kept), by topic; `/readyz` lists them.
    pub notices: Notices,
}

/// Operator-facing problems by topic (one text per topic; `None` clears it).
#[derive(Clone, Default)]
pub struct Notices(Arc<std::sync::RwLock<std::collections::BTreeMap<&'static str, String>>>);

impl Notices {
    /// Set (or with `None`, clear) the notice of `topic`.
    pub fn set(&self, topic: &'static str, text: Option<String>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        match text {
            Some(t) => map.insert(topic, t),
            None => map.remove(topic),
        };
    }

    /// Every notice, in topic order.
    pub fn all(&self) -> Vec<String> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }
}

impl AppState {
    pub fn new(store: Store, settings: Settings) -> Self {
        AppState {
            store,
            settings: Arc::new(settings),
            hub: EventHub::new(),
            engine: None,
            build_tokens: None,
            idempotency: ephemeral_idempotency(),
            started_ms: satusky_core::time::now_ms(),
            notices: Notices::default(),
        }
    }

    /// State whose Idempotency-Key fingerprints use `idempotency` (e.g. the key kept in the
    /// state dir, so they survive restarts).
    pub fn with_idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = Some(Arc::new(idempotency));
        self
    }

    /// State that accepts build tokens signed with `tokens`.
    pub fn with_build_tokens(mut self, tokens: crate::build_token::BuildTokens) -> Self {
        self.build_tokens = Some(tokens);
        self
    }

    /// State with a lifecycle engine (sharing this state's hub).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }

    /// State whose lifecycle engine drives `runtime` (and probes through `prober`), on this
    /// state's store and hub; the engine is `state.engine`. What both stacks wire.
    pub fn with_runtime(
        self,
        runtime: Arc<dyn Runtime>,
        prober: Option<Arc<dyn EndpointProber>>,
        config: EngineConfig,
    ) -> (Self, Engine) {
        let engine = Engine::new(
            self.store.clone(),
            runtime,
            prober,
            self.hub.clone(),
            config,
        );
        (self.with_engine(engine.clone()), engine)
    }
}

/// What the Idempotency-Key middleware needs of this state.
impl From<&AppState> for crate::idempotency::Keyed {
    fn from(state: &AppState) -> Self {
        crate::idempotency::Keyed {
            store: state.store.clone(),
            idempotency: state.idempotency.clone(),
        }
    }
}

/// A per-process key until the binary supplies the kept one ([`AppState::with_idempotency`]).
fn ephemeral_idempotency() -> Option<Arc<Idempotency>> {
    match Idempotency::ephemeral() {
        Ok(idem) => Some(Arc::new(idem)),
        Err(_) => {
            tracing::error!(
                "no randomness for an idempotency key: Idempotency-Key requests will fail"
            );
            None
        }
    }
}
