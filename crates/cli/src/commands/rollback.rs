//! `1ctl app rollback [APP] [--version N]`: a new release from an older release's snapshot
//! (SPEC §3), never rebuilt, then waited on exactly like a deploy ([`lifecycle`]): the same
//! progress, the same exit codes (0, 11 when the old image no longer runs, 12, 13, 14) and,
//! with `-o json`, the same one document (the readiness report plus `exit_code`).
//!
//! Once the control plane accepts it, it says what it does (which snapshot, which new
//! release, which image), that the app stays pinned to it until the next `1ctl deploy`, and
//! what a rollback does not revert, as the server lists it — on stdout in table mode, on
//! stderr with `-o json`. Without `--version` the server picks the previous active release.
//! An unknown app or release exits 5; nothing to roll back to (422) or a hostname of the
//! snapshot taken by another app (409) exits 2, with the server's message.

use satusky_types::{RollbackAccepted, RollbackRequest};

use crate::cli::RollbackArgs;
use crate::commands::lifecycle::{self, Kind, Release};
use crate::commands::{Env, target};
use crate::exit::CliError;
use crate::output;

pub async fn run(args: &RollbackArgs, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = target::resolve(&args.target, env).await?;
    let accepted: RollbackAccepted = session
        .client
        .post(
            &["v1", "orgs", &org, "apps", &app, "rollback"],
            &RollbackRequest {
                version: args.version,
            },
        )
        .await?;
    for line in accepted_lines(&accepted) {
        if env.json() {
            output::note(&line);
        } else {
            output::line(&line);
        }
    }
    let release = Release {
        client: &session.client,
        org: &org,
        app: &app,
        version: accepted.release,
        kind: Kind::Rollback {
            from: accepted.from,
        },
        https_port: accepted.https_port,
    };
    lifecycle::follow(&release, &args.wait, env).await
}

/// What the accepted rollback does and does not do, one line each.
fn accepted_lines(a: &RollbackAccepted) -> Vec<String> {
    let image = match &a.image {
        Some(image) => format!("image {image}; not rebuilt"),
        None => "not rebuilt".to_string(),
    };
    let mut out = vec![
        format!(
            "rolling back {} to v{}'s snapshot as release v{} ({image})",
            a.app, a.from, a.release
        ),
        format!(
            "{} stays pinned to v{} until the next `1ctl deploy`",
            a.app, a.release
        ),
    ];
    if !a.not_reverted.is_empty() {
        out.push("A rollback does not revert:".to_string());
        out.extend(a.not_reverted.iter().map(|n| format!("  - {n}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use satusky_types::ReleaseStatus;

    #[test]
    fn the_accepted_rollback_says_what_it_does_and_does_not() {
        let a = RollbackAccepted {
            app: "web".into(),
            org: "acme".into(),
            generation: 5,
            release: 4,
            from: 1,
            status: ReleaseStatus::Pending,
            image: Some("ghcr.io/acme/web@sha256:abc".into()),
            not_reverted: vec!["volume data".into(), "DNS of custom domains".into()],
            https_port: None,
        };
        assert_eq!(
            accepted_lines(&a),
            vec![
                "rolling back web to v1's snapshot as release v4 (image ghcr.io/acme/web@sha256:abc; not rebuilt)",
                "web stays pinned to v4 until the next `1ctl deploy`",
                "A rollback does not revert:",
                "  - volume data",
                "  - DNS of custom domains",
            ]
        );
        let bare = RollbackAccepted {
            image: None,
            not_reverted: Vec::new(),
            ..a
        };
        let lines = accepted_lines(&bare);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with("as release v4 (not rebuilt)"),
            "{lines:?}"
        );
    }
}
