//! Shared state handed to every handler: the store, the settings and the event hub.

use std::sync::Arc;

use satusky_store::Store;

use crate::engine::Engine;
use crate::hub::EventHub;
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
    /// When this process's state was made (epoch ms): status checked before it is stale.
    pub started_ms: i64,
}

impl AppState {
    pub fn new(store: Store, settings: Settings) -> Self {
        AppState {
            store,
            settings: Arc::new(settings),
            hub: EventHub::new(),
            engine: None,
            build_tokens: None,
            started_ms: satusky_core::time::now_ms(),
        }
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
}
