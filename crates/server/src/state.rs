//! Shared state handed to every handler: the store, the settings and the event hub.

use std::sync::Arc;

use satusky_store::Store;

use crate::hub::EventHub;
use crate::settings::Settings;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub hub: EventHub,
}

impl AppState {
    pub fn new(store: Store, settings: Settings) -> Self {
        AppState {
            store,
            settings: Arc::new(settings),
            hub: EventHub::new(),
        }
    }
}
