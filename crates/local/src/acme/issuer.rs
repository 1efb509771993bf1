//! [`AcmeIssuer`]: certificates for custom domains, keyed by hostname. The runtime tells it
//! which hostnames each app wants ([`AcmeIssuer::set_app`]); each wanted hostname gets one
//! task that asks `plan::next_action` what to do — order now, or sleep until the renewal time
//! or the retry time — and does it. A hostname no app wants any more has its task stopped
//! (no renewal); its certificate stays on disk and in memory, so wanting it again costs no
//! order while the certificate is good.
//!
//! Owns `STATE_DIR/acme/` (through `files.rs`: private keys sealed with the secret key ring
//! when it is given one), the shared [`AcmeServing`] it fills and the
//! per-hostname status; tasks hold only a weak reference, and dropping the last
//! [`AcmeIssuer`] stops them all.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use instant_acme::Account;
use satusky_core::secrets::KeyRing;
use satusky_types::Plane;
use tokio::task::JoinHandle;

use super::config::{AcmeConfig, AcmeTimings};
use super::files::{AcmeFiles, FilesError, certified_key};
use super::order::{self, IssueError};
use super::plan::{self, Action, HostStatus, Step};
use super::serving::AcmeServing;

/// Issues, stores, serves and renews ACME certificates. Cheap to clone.
#[derive(Clone)]
pub struct AcmeIssuer {
    inner: Arc<Inner>,
}

struct Inner {
    config: AcmeConfig,
    timings: AcmeTimings,
    files: AcmeFiles,
    serving: Arc<AcmeServing>,
    /// Created (or restored) on first use, so a directory that is down at start is only a
    /// failed issuance, retried, and never a failed start.
    account: tokio::sync::Mutex<Option<Account>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The custom-domain hostnames each app wants.
    wanted: HashMap<(String, String), BTreeSet<String>>,
    tasks: HashMap<String, JoinHandle<()>>,
    status: HashMap<String, HostStatus>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for task in state.tasks.values() {
            task.abort();
        }
    }
}

impl AcmeIssuer {
    /// Opens `STATE_DIR/acme/` and loads the certificates stored there (served at once to the
    /// hostnames the edge routes). No network I/O: the account is made on the first order.
    ///
    /// `keys`: the secret key ring (`secret_keys`). With one, the account and every
    /// certificate key are written sealed, and plaintext ones already there are sealed now
    /// (see `files.rs`); without one, they are plaintext as before. A sealed file the ring
    /// does not open is an error ([`FilesError::is_key_ring`]) that names the file and
    /// `secret_keys`: the issuer does not start rather than order again.
    pub fn start(
        config: AcmeConfig,
        state_dir: &Path,
        timings: AcmeTimings,
        keys: Option<Arc<KeyRing>>,
    ) -> Result<AcmeIssuer, FilesError> {
        let files = AcmeFiles::open(state_dir, keys)?;
        // Read now (it is not used before the first order) so a ring that does not open it
        // stops the start, and a plaintext one is sealed at once. Anything else wrong with
        // it is reported by the order that needs it, as before.
        match files.account() {
            Err(e) if e.is_key_ring() => return Err(e),
            _ => {}
        }
        let serving = Arc::new(AcmeServing::new());
        let mut state = State::default();
        for stored in files.load_certs()? {
            serving.install(&stored.host, stored.certified);
            tracing::info!(host = %stored.host, serial = %stored.info.serial,
                "ACME certificate loaded from the state dir");
            state
                .status
                .insert(stored.host, HostStatus::issued(stored.info));
        }
        Ok(AcmeIssuer {
            inner: Arc::new(Inner {
                config,
                timings,
                files,
                serving,
                account: tokio::sync::Mutex::new(None),
                state: Mutex::new(state),
            }),
        })
    }

    /// What the edge reads: issued certificates and pending challenges.
    pub fn serving(&self) -> Arc<AcmeServing> {
        Arc::clone(&self.inner.serving)
    }

    /// The directory certificates come from.
    pub fn directory(&self) -> &str {
        self.inner.config.directory()
    }

    /// The custom-domain hostnames `org/app` wants now (replacing what it wanted before).
    /// New hostnames start issuing at once, in the background; hostnames no app wants any
    /// more stop renewing. Must be called inside a tokio runtime.
    pub fn set_app(&self, org: &str, app: &str, hosts: Vec<String>) {
        let mut state = self.inner.lock();
        let key = (org.to_string(), app.to_string());
        let hosts: BTreeSet<String> = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        if hosts.is_empty() {
            state.wanted.remove(&key);
        } else {
            state.wanted.insert(key, hosts);
        }
        let wanted: BTreeSet<String> = state.wanted.values().flatten().cloned().collect();
        state.tasks.retain(|host, task| {
            let keep = wanted.contains(host) && !task.is_finished();
            if !keep {
                task.abort();
                tracing::info!(%host, "no app wants this hostname any more: not renewing it");
            }
            keep
        });
        for host in wanted {
            if !state.tasks.contains_key(&host) {
                state.status.entry(host.clone()).or_default();
                let task = tokio::spawn(run(Arc::downgrade(&self.inner), host.clone()));
                state.tasks.insert(host, task);
            }
        }
    }

    /// `org/app` wants nothing any more.
    pub fn remove_app(&self, org: &str, app: &str) {
        self.set_app(org, app, Vec::new());
    }

    /// The hostname's TLS plane as the issuer sees it now.
    pub fn plane(&self, host: &str) -> Plane {
        let status = self
            .inner
            .lock()
            .status
            .get(&host.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        plan::plane(&status, SystemTime::now(), self.directory())
    }

    /// The hostname's status (certificate held, step), for tests and tooling.
    pub fn status(&self, host: &str) -> Option<HostStatus> {
        self.inner
            .lock()
            .status
            .get(&host.to_ascii_lowercase())
            .cloned()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn status(&self, host: &str) -> HostStatus {
        self.lock().status.get(host).cloned().unwrap_or_default()
    }

    fn set_step(&self, host: &str, step: Step) {
        if let Some(s) = self.lock().status.get_mut(host) {
            s.step = step;
        }
    }

    /// One attempt: account, order, store, serve.
    async fn attempt(&self, host: &str) -> Result<plan::CertInfo, IssueError> {
        let account = {
            let mut slot = self.account.lock().await;
            match slot.as_ref() {
                Some(a) => a.clone(),
                None => {
                    let a = order::account(&self.config, &self.files).await?;
                    *slot = Some(a.clone());
                    a
                }
            }
        };
        let report = |step: Step| self.set_step(host, step);
        let issued = order::issue(
            &self.config,
            &account,
            host,
            &self.serving,
            self.timings.order_timeout,
            &report,
        )
        .await
        .inspect_err(|e| {
            if e.account_gone() {
                tracing::warn!(
                    directory = self.config.directory(),
                    "the ACME server does not know the stored account; a new one is made next"
                );
            }
        });
        if let Err(e) = &issued
            && e.account_gone()
        {
            *self.account.lock().await = None;
            self.files.remove_account()?;
        }
        let issued = issued?;
        let (certified, info) =
            certified_key(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes()).map_err(
                |reason| IssueError::Other {
                    what: "the ACME server sent an unusable certificate".to_string(),
                    host: host.to_string(),
                    source: reason.into(),
                },
            )?;
        self.files
            .save_cert(host, &issued.chain_pem, &issued.key_pem)?;
        self.serving.install(host, certified);
        Ok(info)
    }
}

/// One hostname's loop: ask the plan, wait or order, record the outcome.
async fn run(inner: Weak<Inner>, host: String) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let status = strong.status(&host);
        match plan::next_action(&status, SystemTime::now(), &strong.timings) {
            Action::WaitUntil(t) => {
                drop(strong);
                let wait = t.duration_since(SystemTime::now()).unwrap_or_default();
                tokio::time::sleep(wait).await;
            }
            Action::Order => {
                let outcome = strong.attempt(&host).await;
                let now = SystemTime::now();
                let mut state = strong.lock();
                let Some(s) = state.status.get_mut(&host) else {
                    return;
                };
                match outcome {
                    Ok(info) => {
                        tracing::info!(%host, issuer = %info.issuer, serial = %info.serial,
                            not_after = %plan::timestamp(info.not_after), "ACME certificate issued");
                        *s = HostStatus::issued(info);
                    }
                    Err(e) => {
                        let problem = satusky_core::error_chain(&e);
                        s.fail(problem, now, &strong.timings);
                        tracing::warn!(%host, step = ?s.step, "ACME issuance failed");
                    }
                }
            }
        }
    }
}
