//! In-process wake-ups for event followers. Events live in the store; the hub only tells
//! WebSocket followers "app X has something new" so they re-read from their last sequence.
//! A lagging follower loses nothing: it simply re-reads.

use tokio::sync::broadcast;

/// How many wake-ups may queue before slow followers lag (they then re-read from the store).
const WAKE_CAPACITY: usize = 1024;

/// Identifies an app's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    pub org: String,
    pub app: String,
}

#[derive(Clone)]
pub struct EventHub {
    tx: broadcast::Sender<StreamKey>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(WAKE_CAPACITY);
        EventHub { tx }
    }

    /// Announce that `org/app` has new events.
    pub fn notify(&self, org: &str, app: &str) {
        // No subscribers is fine: nobody is following.
        let _ = self.tx.send(StreamKey {
            org: org.to_string(),
            app: app.to_string(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<StreamKey> {
        self.tx.subscribe()
    }
}
