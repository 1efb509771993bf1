//! Ownership proofs of custom domains, looked up and acted on: one task looks up every claim
//! that is due (new claims at once, misses again with backoff, `1ctl domains check` at once)
//! through the prober's resolvers, lets `satusky_core::ownership::judge` decide, and records
//! the outcome. A proof ends other orgs' claims (each told with an event and a drift finding)
//! and re-routes every app it changed; a grace period that runs out does too.

use std::time::Duration;

use satusky_core::ownership::{self, Proof};
use satusky_core::time::now_ms;
use satusky_store::{DueClaim, StoreError};
use satusky_types::DriftOwner;

use crate::engine::Engine;
use crate::error::error_chain;
use crate::handle::Handle;

/// How often due claims are looked for when nothing wakes the task.
const TICK: Duration = Duration::from_secs(1);

/// Claims looked up per pass (the rest wait for the next pass).
const BATCH: u32 = 32;

/// Follow due claims until the process ends.
pub(in crate::engine) async fn run(engine: Engine, wake: std::sync::Arc<tokio::sync::Notify>) {
    loop {
        pass(&engine).await;
        let _ = tokio::time::timeout(TICK, wake.notified()).await;
    }
}

async fn pass(engine: &Engine) {
    let handle = engine.handle();
    let now = now_ms();
    match handle.store.end_expired_grace(now).await {
        Ok(ended) => {
            for (org, app, host) in ended {
                tracing::warn!(%org, %app, %host, "grace period over without a proof of ownership: no longer served");
                engine.reroute(&org, &app);
            }
        }
        Err(e) => tracing::warn!(error = %error_chain(&e), "ownership: cannot end grace periods"),
    }
    let due = match handle.store.due_ownership_checks(now, BATCH).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "ownership: cannot read due claims");
            return;
        }
    };
    for claim in due {
        match check(engine, &claim).await {
            Ok(checked) => {
                for (org, app) in checked.changed {
                    engine.reroute(&org, &app);
                }
            }
            Err(e) => {
                tracing::warn!(org = %claim.org, host = %claim.hostname, error = %error_chain(&e), "ownership: cannot record a check");
            }
        }
    }
}

/// What one lookup found and changed.
pub(in crate::engine) struct Checked {
    /// The proof, if the TXT record could be looked up.
    pub proof: Option<Proof>,
    /// The apps whose routed domains changed, in the order they must be re-routed: the
    /// claims that ended first (so the hostname is free), then the one that proved it.
    pub changed: Vec<(String, String)>,
}

/// Look `claim`'s proof up now and record what it means.
pub(in crate::engine) async fn check(
    engine: &Engine,
    claim: &DueClaim,
) -> Result<Checked, StoreError> {
    let handle = engine.handle();
    let (org, host) = (claim.org.as_str(), claim.hostname.as_str());
    let own = ownership::txt_value(org, host);
    let now = now_ms();
    let retry = |misses: u32| {
        now + i64::try_from(ownership::retry_after(misses).as_millis()).unwrap_or(i64::MAX)
    };
    let found = match &handle.prober {
        Some(p) => p.txt(ownership::txt_name(host)).await,
        None => Err(satusky_core::runtime::TxtLookupError::Unsupported),
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            let message = format!("cannot look up TXT {}: {e}", ownership::txt_name(host));
            handle
                .store
                .ownership_missed(org, host, &message, retry(claim.misses), now)
                .await?;
            return Ok(Checked {
                proof: None,
                changed: Vec::new(),
            });
        }
    };
    let rivals: Vec<String> = handle
        .store
        .rival_orgs(host, org)
        .await?
        .iter()
        .map(|o| ownership::txt_value(o, host))
        .collect();
    let proof = ownership::judge(&own, &found, &rivals);
    let message = ownership::describe(host, &own, &proof);
    let unchanged = |proof| Checked {
        proof: Some(proof),
        changed: Vec::new(),
    };
    if proof != Proof::Verified {
        handle
            .store
            .ownership_missed(org, host, &message, retry(claim.misses), now)
            .await?;
        return Ok(unchanged(proof));
    }
    let Some(proven) = handle
        .store
        .ownership_proven(org, host, &message, now)
        .await?
    else {
        return Ok(unchanged(proof));
    };
    tracing::info!(%org, app = %proven.app, %host, "ownership proven");
    for (o, a) in &proven.ended {
        tracing::warn!(org = %o, app = %a, %host, "another org proved ownership: this claim ended");
        lost_finding(handle, o, a, host, now).await?;
        handle.hub.notify(o, a);
    }
    handle.hub.notify(org, &proven.app);
    let mut changed = proven.ended;
    changed.push((org.to_string(), proven.app));
    Ok(Checked {
        proof: Some(proof),
        changed,
    })
}

/// The drift finding the org that lost `host` sees (the user's to act on).
async fn lost_finding(
    handle: &Handle,
    org: &str,
    app: &str,
    host: &str,
    now: i64,
) -> Result<(), StoreError> {
    let remediation = format!(
        "if you own {host}, publish TXT {} = \"{}\" and have the other value removed, then `1ctl domains check {host}`; otherwise `1ctl domains remove {host}`",
        ownership::txt_name(host),
        ownership::txt_value(org, host)
    );
    let o = satusky_store::Observed {
        hostname: host,
        plane: "metadata",
        expected: &format!("{host} routed for {org}/{app}"),
        observed: "another org published its ownership proof and took the hostname",
        owner: DriftOwner::User,
        remediation: Some(&remediation),
    };
    handle.store.observe_finding(org, app, &o, now).await?;
    Ok(())
}
