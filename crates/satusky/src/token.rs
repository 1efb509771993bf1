//! `satusky token create`: prints a new token, alone, on stdout. The bootstrap path: it
//! writes to the store directly, so it needs no token (1ctl token create needs an admin's).

use anyhow::{Context, Result, bail};
use satusky_core::time::now_ms;
use satusky_core::tokens::{parse_token_lifetime, validate_token_name};
use satusky_store::NewToken;
use satusky_types::Role;

use crate::cli::{RoleArg, TokenCreateArgs};
use crate::config::open_store;

/// What `created_by` says for tokens this command makes.
const CREATED_BY: &str = "satusky token create";

pub async fn create(args: TokenCreateArgs) -> Result<()> {
    if let Err(e) = satusky_core::names::validate_org_name(&args.org) {
        bail!("--org: {e}");
    }
    if let Some(name) = &args.name
        && let Err(e) = validate_token_name(name)
    {
        bail!("--name: {e}");
    }
    let lifetime_ms = match &args.expires {
        Some(text) => match parse_token_lifetime(text) {
            Ok(ms) => Some(ms),
            Err(e) => bail!("--expires: {e}"),
        },
        None => None,
    };
    let store = open_store(&args.store).await?;
    let created = store
        .ensure_org(&args.org)
        .await
        .context("cannot create the org")?;
    let role = match args.role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Member => Role::Member,
    };
    let now = now_ms();
    let new = NewToken {
        role,
        name: args.name.as_deref(),
        expires_at_ms: lifetime_ms
            .map(|ms| now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))),
        created_by: Some(CREATED_BY),
        // The operator's own path in: never refused for the count (the API is capped).
        max_live: None,
    };
    let (token, record) = store
        .create_token_with(&args.org, &new, now)
        .await
        .context("cannot create the token")?;
    if created {
        eprintln!("satusky: created org {}", args.org);
    }
    if let Some(at) = record.expires_at_ms {
        eprintln!(
            "satusky: token {} expires at {}",
            record.id,
            satusky_core::time::rfc3339_ms(at)
        );
    }
    println!("{token}");
    Ok(())
}
