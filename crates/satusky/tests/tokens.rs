//! Roles and tokens as a user meets them: the real `satusky serve` (runtime none), the real
//! `satusky token create` and the real `1ctl`. A member deploys but cannot destroy (exit 3);
//! an admin creates, lists and revokes tokens, and a revoked token's next command exits 3.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Server, bins, create_token, json, onectl, satusky_bin, stderr, stdout, write_app};

/// `satusky token create --org acme ARGS…` on the server's state dir.
fn satusky_token(state: &Path, args: &[&str]) -> Output {
    Command::new(satusky_bin())
        .args(["token", "create", "--org", "acme", "--state-dir"])
        .arg(state)
        .args(args)
        .env_remove("SATUSKY_DATABASE_URL")
        .output()
        .expect("run satusky token create")
}

#[test]
fn a_member_cannot_destroy_and_a_revoked_token_stops_working_at_once() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    let admin = create_token(state.path(), "acme");
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write_app(work.path(), "my-api");
    let run =
        |token: &str, args: &[&str]| onectl(work.path(), home.path(), &server.url(), token, args);

    // The bootstrap command makes a member token that expires; bad lifetimes are refused.
    let made = satusky_token(
        state.path(),
        &["--role", "member", "--expires", "30d", "--name", "deployer"],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(stderr(&made).contains("expires at"), "{}", stderr(&made));
    let member = stdout(&made).trim().to_string();
    let too_short = satusky_token(state.path(), &["--expires", "10m"]);
    assert!(!too_short.status.success());
    assert!(
        stderr(&too_short).contains("--expires"),
        "{}",
        stderr(&too_short)
    );
    assert_eq!(stdout(&too_short), "", "no token printed");

    // A member deploys…
    let deploy = run(&member, &["deploy", "--image", "nginx:1.27", "--no-wait"]);
    assert_eq!(deploy.status.code(), Some(0), "{}", stderr(&deploy));
    // …but does not destroy (exit 3, saying who can), nor manage tokens.
    let destroy = run(&member, &["app", "destroy", "my-api", "--yes"]);
    assert_eq!(destroy.status.code(), Some(3), "{}", stderr(&destroy));
    assert!(
        stderr(&destroy).contains("a member token cannot destroy apps; ask an admin of org acme"),
        "{}",
        stderr(&destroy)
    );
    let list = run(&member, &["token", "list"]);
    assert_eq!(list.status.code(), Some(3), "{}", stderr(&list));
    let get = run(&admin, &["app", "get", "my-api", "-o", "json"]);
    assert_eq!(get.status.code(), Some(0), "the app is still there");

    // An admin creates a token: the secret alone on stdout.
    let created = run(
        &admin,
        &["token", "create", "--name", "ci", "--expires", "30d"],
    );
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let ci = stdout(&created);
    assert!(
        ci.starts_with("sky_") && ci.trim_end().lines().count() == 1,
        "{ci:?}"
    );
    let ci = ci.trim().to_string();
    // Bad input is exit 2 and creates nothing.
    for bad in [
        &["token", "create", "--expires", "2y"][..],
        &["token", "create", "--expires", "400d"][..],
        &["token", "create", "--name", &"n".repeat(65)][..],
    ] {
        let out = run(&admin, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }

    let listed = run(&admin, &["token", "list", "-o", "json"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(
        !stdout(&listed).contains(&ci[4..]),
        "no secrets in the list"
    );
    let tokens = json(&listed);
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 3, "admin, deployer and ci: {tokens:#?}");
    let ci_row = tokens
        .iter()
        .find(|t| t["name"] == "ci")
        .expect("ci listed");
    let id = ci_row["id"].as_str().unwrap().to_string();
    assert_eq!(ci_row["role"], "member", "member by default");
    assert!(ci_row["expires_at"].is_string());
    let deployer = tokens.iter().find(|t| t["name"] == "deployer").unwrap();
    assert_eq!(deployer["created_by"], "satusky token create");
    assert!(deployer["last_used_at"].is_string(), "it deployed");
    let table = run(&admin, &["token", "list"]);
    let table = stdout(&table);
    assert!(
        table
            .lines()
            .any(|l| l.contains(&id) && l.contains("active")),
        "{table}"
    );

    // Revoked: the very next command with it exits 3 and says why.
    assert_eq!(run(&ci, &["app", "list"]).status.code(), Some(0));
    let revoked = run(&admin, &["token", "revoke", &id]);
    assert_eq!(revoked.status.code(), Some(0), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains(&format!("revoked token {id} (ci)")));
    let after = run(&ci, &["app", "list"]);
    assert_eq!(after.status.code(), Some(3), "{}", stderr(&after));
    assert!(
        stderr(&after).contains("was revoked at"),
        "{}",
        stderr(&after)
    );
    let table = stdout(&run(&admin, &["token", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains(&id) && l.contains("revoked")),
        "{table}"
    );
    let unknown = run(&admin, &["token", "revoke", "tok_0000000000000000"]);
    assert_eq!(unknown.status.code(), Some(5), "{}", stderr(&unknown));

    let destroy = run(&admin, &["app", "destroy", "my-api", "--yes"]);
    assert_eq!(destroy.status.code(), Some(0), "{}", stderr(&destroy));
    drop(server);
}
