//! Which apps this control-plane replica drives. One driver per app: a deploy kicks the app,
//! and a kick while the driver runs makes it load the work once more before it stops. The
//! [`Claims`] interface is what several replicas sharing one store will implement with a
//! lease in the store; [`LocalClaims`] is the one-process form.

use std::collections::HashMap;
use std::sync::Mutex;

/// The "this replica drives this app" claim.
pub trait Claims: Send + Sync + 'static {
    /// Claim `org/app`. `true`: the caller now drives it (and must [`Claims::release`] it);
    /// `false`: a driver already runs, and was told to load the work again before stopping.
    fn claim(&self, org: &str, app: &str) -> bool;

    /// The driver is about to stop. `false`: it was kicked meanwhile and must drive again
    /// (the claim is kept); `true`: the claim is given up.
    fn release(&self, org: &str, app: &str) -> bool;

    /// Whether a driver runs for `org/app` (a deploy is in progress: the drift checker does
    /// not heal then).
    fn is_driving(&self, org: &str, app: &str) -> bool;
}

/// Claims held in this process's memory.
#[derive(Default)]
pub struct LocalClaims {
    /// Apps with a driver, and whether they were kicked again since its last load.
    running: Mutex<HashMap<(String, String), bool>>,
}

impl LocalClaims {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), bool>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Claims for LocalClaims {
    fn claim(&self, org: &str, app: &str) -> bool {
        let mut running = self.running();
        let key = (org.to_string(), app.to_string());
        if let Some(again) = running.get_mut(&key) {
            *again = true;
            return false;
        }
        running.insert(key, false);
        true
    }

    fn release(&self, org: &str, app: &str) -> bool {
        let mut running = self.running();
        let key = (org.to_string(), app.to_string());
        match running.get_mut(&key) {
            Some(again) if *again => {
                *again = false;
                false
            }
            _ => {
                running.remove(&key);
                true
            }
        }
    }

    fn is_driving(&self, org: &str, app: &str) -> bool {
        self.running()
            .contains_key(&(org.to_string(), app.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kick_while_driving_makes_the_driver_load_once_more() {
        let claims = LocalClaims::default();
        assert!(claims.claim("o", "a"), "the first kick drives");
        assert!(claims.is_driving("o", "a"));
        assert!(
            !claims.claim("o", "a"),
            "a second kick joins the running driver"
        );
        assert!(!claims.release("o", "a"), "kicked meanwhile: drive again");
        assert!(claims.is_driving("o", "a"));
        assert!(
            claims.release("o", "a"),
            "no kick since: the claim is given up"
        );
        assert!(!claims.is_driving("o", "a"));
        assert!(claims.claim("o", "a"), "a later kick drives again");
    }
}
