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
}

impl AppState {
    pub fn new(store: Store, settings: Settings) -> Self {
        AppState {
            store,
            settings: Arc::new(settings),
            hub: EventHub::new(),
            engine: None,
        }
    }

    /// State with a lifecycle engine (sharing this state's hub).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }
}
