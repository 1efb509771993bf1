//! The ACME conversation (instant-acme, over the directory's TLS verified by `ca_file`): get
//! the account (stored credentials, else a new account saved at once), and run one order for
//! one hostname with the HTTP-01 challenge — publish the key authorization for the edge,
//! tell the server, poll, finalize with a fresh key, download the chain.
//!
//! One attempt, no retries inside (the issuer's backoff is the retry). Every error says what
//! failed — the directory that could not be reached, or the server's problem document.

use std::time::{Duration, Instant};

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, Order,
    OrderStatus,
};

use super::config::AcmeConfig;
use super::files::{AcmeFiles, StoredAccount};
use super::plan::{Step, order_step, problem_text};
use super::serving::AcmeServing;

/// How often an order is polled while the server validates or finalizes (the first poll comes
/// sooner: pebble and real CAs often answer within a second).
const POLL_FIRST: Duration = Duration::from_millis(250);
const POLL_MAX: Duration = Duration::from_secs(2);

/// One failed attempt. `Display` is what the TLS plane shows (with the source chain).
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("cannot reach the ACME directory {directory}")]
    Directory {
        directory: String,
        /// instant-acme's errors repeat their source in their text: read once.
        #[source]
        source: satusky_core::ForeignError,
    },
    #[error("the ACME server at {directory} refused: {problem}")]
    Refused { directory: String, problem: String },
    #[error("the http-01 challenge for {host} failed: {problem}")]
    Challenge { host: String, problem: String },
    #[error("{what} for {host}")]
    Other {
        what: String,
        host: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the ACME server did not finish the order for {host} within {secs}s")]
    Timeout { host: String, secs: u64 },
    #[error("cannot keep the ACME account")]
    Files(#[from] super::files::FilesError),
}

impl IssueError {
    /// The server no longer knows the stored account (e.g. a test CA that restarted): the
    /// next attempt creates a new one.
    pub fn account_gone(&self) -> bool {
        matches!(self, IssueError::Refused { problem, .. }
            if problem.contains("accountDoesNotExist"))
    }

    fn from_acme(config: &AcmeConfig, err: instant_acme::Error) -> IssueError {
        match err {
            instant_acme::Error::Api(p) => IssueError::Refused {
                directory: config.directory().to_string(),
                problem: problem_text(&p),
            },
            other => IssueError::Directory {
                directory: config.directory().to_string(),
                source: satusky_core::ForeignError::new(&other),
            },
        }
    }
}

/// The account: restored from `account.json` when it was made on this directory, else
/// created (terms agreed, `mailto:` the email) and saved before it is used.
pub async fn account(config: &AcmeConfig, files: &AcmeFiles) -> Result<Account, IssueError> {
    let builder = || {
        Account::builder_with_root(config.ca_file()).map_err(|e| IssueError::Directory {
            directory: config.directory().to_string(),
            source: satusky_core::ForeignError::new(&e),
        })
    };
    if let Some(stored) = files.account()?
        && stored.directory == config.directory()
    {
        return builder()?
            .from_credentials(stored.credentials)
            .await
            .map_err(|e| IssueError::from_acme(config, e));
    }
    let contact = config.email().map(|e| format!("mailto:{e}"));
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            config.directory().to_string(),
            None,
        )
        .await
        .map_err(|e| IssueError::from_acme(config, e))?;
    files.save_account(&StoredAccount {
        directory: config.directory().to_string(),
        credentials,
    })?;
    tracing::info!(
        directory = config.directory(),
        id = account.id(),
        "ACME account created"
    );
    Ok(account)
}

/// A certificate chain and its key, PEM.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// Removes the challenge tokens it published when the attempt ends, however it ends.
struct Tokens<'a> {
    serving: &'a AcmeServing,
    published: Vec<String>,
}

impl Drop for Tokens<'_> {
    fn drop(&mut self) {
        for t in &self.published {
            self.serving.remove_token(t);
        }
    }
}

/// One order for `host`; `report` hears each step.
pub async fn issue(
    config: &AcmeConfig,
    account: &Account,
    host: &str,
    serving: &AcmeServing,
    timeout: Duration,
    report: &(dyn Fn(Step) + Send + Sync),
) -> Result<Issued, IssueError> {
    let acme = |e| IssueError::from_acme(config, e);
    report(Step::Issuing);
    let identifiers = [Identifier::Dns(host.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(acme)?;
    let mut tokens = Tokens {
        serving,
        published: Vec::new(),
    };
    let mut auths = order.authorizations();
    while let Some(auth) = auths.next().await {
        let mut auth = auth.map_err(acme)?;
        if auth.status == AuthorizationStatus::Valid {
            continue;
        }
        let Some(mut challenge) = auth.challenge(ChallengeType::Http01) else {
            return Err(IssueError::Refused {
                directory: config.directory().to_string(),
                problem: format!("no http-01 challenge offered for {host}"),
            });
        };
        serving.add_token(
            &challenge.token,
            challenge.key_authorization().as_str().to_string(),
        );
        tokens.published.push(challenge.token.clone());
        challenge.set_ready().await.map_err(acme)?;
    }
    report(Step::ChallengePending);
    let deadline = Instant::now() + timeout;
    let status = poll(config, &mut order, host, deadline, report, |s| {
        !matches!(s, OrderStatus::Pending)
    })
    .await?;
    if status == OrderStatus::Invalid {
        return Err(challenge_failure(&mut order, host).await);
    }
    drop(tokens);
    let key = rcgen::KeyPair::generate().map_err(|e| other("cannot make a key", host, e))?;
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()])
        .map_err(|e| other("cannot make a CSR", host, e))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| other("cannot make a CSR", host, e))?;
    order.finalize_csr(csr.der()).await.map_err(acme)?;
    let status = poll(config, &mut order, host, deadline, report, |s| {
        matches!(s, OrderStatus::Valid | OrderStatus::Invalid)
    })
    .await?;
    if status != OrderStatus::Valid {
        return Err(IssueError::Refused {
            directory: config.directory().to_string(),
            problem: format!("the order for {host} became {status:?} when finalized"),
        });
    }
    let chain_pem =
        order
            .certificate()
            .await
            .map_err(acme)?
            .ok_or_else(|| IssueError::Timeout {
                host: host.to_string(),
                secs: timeout.as_secs(),
            })?;
    Ok(Issued {
        chain_pem,
        key_pem: key.serialize_pem(),
    })
}

fn other(what: &str, host: &str, e: impl std::error::Error + Send + Sync + 'static) -> IssueError {
    IssueError::Other {
        what: what.to_string(),
        host: host.to_string(),
        source: Box::new(e),
    }
}

/// Refreshes the order until `done(status)` (or an error in the order), reporting the step
/// its status means; a problem in the order is the server's refusal.
async fn poll(
    config: &AcmeConfig,
    order: &mut Order,
    host: &str,
    deadline: Instant,
    report: &(dyn Fn(Step) + Send + Sync),
    done: impl Fn(OrderStatus) -> bool,
) -> Result<OrderStatus, IssueError> {
    let start = Instant::now();
    let mut wait = POLL_FIRST;
    loop {
        let state = order
            .refresh()
            .await
            .map_err(|e| IssueError::from_acme(config, e))?;
        let status = state.status;
        if done(status) || status == OrderStatus::Invalid {
            return Ok(status);
        }
        if let Some(step) = order_step(status) {
            report(step);
        }
        if Instant::now() + wait > deadline {
            tracing::debug!(%host, ?status, "ACME order still not done at its deadline");
            return Err(IssueError::Timeout {
                host: host.to_string(),
                secs: start.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(POLL_MAX);
    }
}

/// Why an invalid order failed: the challenge's own problem (what the validation saw, e.g.
/// `connection refused`), else the order's.
async fn challenge_failure(order: &mut Order, host: &str) -> IssueError {
    let mut found = None;
    let mut auths = order.authorizations();
    while let Some(Ok(mut auth)) = auths.next().await {
        if let Ok(state) = auth.refresh().await {
            found = state
                .challenges
                .iter()
                .find_map(|c| c.error.as_ref().map(problem_text));
        }
        if found.is_some() {
            break;
        }
    }
    let problem = found
        .or_else(|| order.state().error.as_ref().map(problem_text))
        .unwrap_or_else(|| "the order became invalid without a problem document".to_string());
    IssueError::Challenge {
        host: host.to_string(),
        problem,
    }
}
