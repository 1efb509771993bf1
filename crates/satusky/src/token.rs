//! `satusky token create`: prints a new token, alone, on stdout.

use anyhow::{Context, Result, bail};
use satusky_types::Role;

use crate::cli::{RoleArg, TokenCreateArgs};
use crate::config::open_store;

pub async fn create(args: TokenCreateArgs) -> Result<()> {
    if let Err(e) = satusky_core::names::validate_org_name(&args.org) {
        bail!("--org: {e}");
    }
    let store = open_store(&args.store).await?;
    let created = store
        .ensure_org(&args.org)
        .await
        .context("cannot create the org")?;
    let role = match args.role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Member => Role::Member,
    };
    let token = store
        .create_token(&args.org, role)
        .await
        .context("cannot create the token")?;
    if created {
        eprintln!("satusky: created org {}", args.org);
    }
    println!("{token}");
    Ok(())
}
