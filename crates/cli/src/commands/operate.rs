//! `1ctl app scale N` and `1ctl app restart`: operate the active release without making a
//! release (SPEC §10). The control plane records the request and answers with the app's new
//! generation; the wait is `deploy --wait-for workload`'s ([`lifecycle::follow`]: the same
//! progress, exit codes 0, 11, 13 and `-o json` document), counted only once the readiness
//! report describes that generation. A scale to the count that already runs changes nothing,
//! says so and exits 0.

use satusky_types::{OperationAccepted, ScaleRequest};

use crate::cli::{RestartArgs, ScaleArgs};
use crate::commands::lifecycle::{self, Kind, Release};
use crate::commands::{Env, target};
use crate::exit::{self, CliError};
use crate::output;

pub async fn scale(args: &ScaleArgs, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = target::resolve_named(
        args.target.app.as_deref(),
        args.target.config.as_deref(),
        env,
    )
    .await?;
    let accepted: OperationAccepted = session
        .client
        .post(
            &["v1", "orgs", &org, "apps", &app, "scale"],
            &ScaleRequest {
                replicas: args.replicas,
            },
        )
        .await?;
    follow(&session.client, &accepted, &args.wait.as_wait(), env).await
}

pub async fn restart(args: &RestartArgs, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = target::resolve(&args.target, env).await?;
    let accepted: OperationAccepted = session
        .client
        .post(
            &["v1", "orgs", &org, "apps", &app, "restart"],
            &serde_json::json!({}),
        )
        .await?;
    follow(&session.client, &accepted, &args.wait.as_wait(), env).await
}

async fn follow(
    client: &crate::client::Client,
    accepted: &OperationAccepted,
    wait: &crate::cli::WaitArgs,
    env: &Env,
) -> Result<u8, CliError> {
    let line = accepted_line(accepted);
    if env.json() {
        output::note(&line);
    } else {
        output::line(&line);
    }
    let name = if accepted.operation == "scale" {
        "scale"
    } else {
        "restart"
    };
    let release = Release {
        client,
        org: &accepted.org,
        app: &accepted.app,
        version: accepted.release,
        kind: Kind::Operation {
            name,
            generation: accepted.generation,
            event_seq: accepted.event_seq,
        },
        https_port: accepted.https_port,
    };
    if !accepted.changed {
        // Nothing to wait for; -o json still gets its one document.
        let no_wait = crate::cli::WaitArgs {
            no_wait: true,
            ..*wait
        };
        return lifecycle::follow(&release, &no_wait, env)
            .await
            .map(|_| exit::OK);
    }
    lifecycle::follow(&release, wait, env).await
}

/// What the control plane accepted, in one line.
fn accepted_line(a: &OperationAccepted) -> String {
    let (app, v) = (&a.app, a.release);
    match (a.operation.as_str(), a.changed) {
        ("scale", false) => format!(
            "{app} already runs {} replica(s) of v{v}: nothing to change",
            a.replicas
        ),
        ("scale", true) => format!(
            "scaling {app} from {} to {} replica(s) (v{v}; no new release)",
            a.replicas_before, a.replicas
        ),
        _ => format!(
            "restarting {app}: v{v}'s {} replica(s) are replaced, a new one ready before an old one stops (no new release)",
            a.replicas
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(operation: &str, before: u32, after: u32, changed: bool) -> OperationAccepted {
        OperationAccepted {
            app: "web".into(),
            org: "acme".into(),
            operation: operation.into(),
            generation: 4,
            release: 2,
            replicas_before: before,
            replicas: after,
            changed,
            event_seq: 40,
            https_port: None,
        }
    }

    #[test]
    fn the_accepted_operation_says_what_it_does() {
        assert_eq!(
            accepted_line(&accepted("scale", 1, 3, true)),
            "scaling web from 1 to 3 replica(s) (v2; no new release)"
        );
        assert_eq!(
            accepted_line(&accepted("scale", 3, 3, false)),
            "web already runs 3 replica(s) of v2: nothing to change"
        );
        assert!(
            accepted_line(&accepted("restart", 2, 2, true))
                .starts_with("restarting web: v2's 2 replica(s) are replaced")
        );
    }
}
