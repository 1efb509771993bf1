//! `1ctl deploy` refuses a spec over a size limit before any request, naming the field and the
//! limit, without echoing the value (issue 10: a 1 MB env value used to deploy, and errors
//! printed it back whole).

mod common;

use common::{CountingListener, onectl};

/// Runs `deploy` in a folder holding `toml` against a listener that counts connections.
/// Returns stderr after asserting exit 2, nothing on stdout and no connection.
fn refused(toml: &str, extra: &[&str]) -> String {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("satusky.toml"), toml).expect("write");
    let listener = CountingListener::start();
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", "tok")
        .args(["deploy", "--api-url", &listener.url, "--org", "acme"])
        .args(extra)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr:.2000}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_eq!(listener.finish(), 0, "the server must receive no request");
    stderr
}

#[test]
fn a_one_megabyte_env_value_exits_2_naming_the_field_and_the_limit() {
    let blob = "s".repeat(1024 * 1024);
    let toml = format!(
        "[app]\nname = \"api\"\nimage = \"nginx:1.27\"\n\n[env]\nSECRET_BLOB = \"{blob}\"\n"
    );
    let stderr = refused(&toml, &[]);
    assert_eq!(
        stderr.trim_end(),
        "error: satusky.toml:6:1: env.SECRET_BLOB: 1 MiB is over the limit of 32 KiB for an env \
         value: keep large data in a file in the build context or the image, not in the spec"
    );
}

#[test]
fn long_flags_are_refused_and_never_echoed() {
    let toml = "[app]\nname = \"api\"\nimage = \"nginx:1.27\"\n";
    // One argument may hold at most 128 KiB on Linux (MAX_ARG_STRLEN).
    let long = "x".repeat(100 * 1024);
    for (flags, needle) in [
        (
            vec!["--env".to_owned(), format!("BLOB={long}")],
            "--env BLOB: 100 KiB is over the limit of 32 KiB for an env value",
        ),
        (
            vec!["--build-command".to_owned(), long.clone()],
            "--build-command: 100 KiB is over the limit of 8 KiB for a build command",
        ),
        (
            vec!["--checks-path".to_owned(), format!("/{long}")],
            "--checks-path: 100.0 KiB is over the limit of 2 KiB for a check path",
        ),
        (
            vec!["--image".to_owned(), long.clone()],
            "--image: 100 KiB is over the limit of 512 bytes for an image reference",
        ),
        (vec!["--env".to_owned(), long.clone()], "is not KEY=VALUE"),
    ] {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let stderr = refused(toml, &flags);
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from {stderr:.2000}"
        );
        assert!(stderr.len() < 400, "short output: {stderr:.2000}");
    }
}

/// Issue 12, acceptance 4 (first half): two redirect hosts of one app pointing at each other
/// are refused before any request, naming the cycle.
#[test]
fn two_redirect_hosts_pointing_at_each_other_exit_2_naming_the_cycle() {
    let toml = "[app]\nname = \"web\"\nimage = \"nginx:1.27\"\n\n\
        [[domains]]\nhost = \"a.example.com\"\nredirect_to = \"https://b.example.com\"\n\n\
        [[domains]]\nhost = \"b.example.com\"\nredirect_to = \"https://a.example.com\"\n";
    let stderr = refused(toml, &[]);
    assert!(
        stderr.contains("a.example.com → b.example.com") && stderr.contains("redirect loop"),
        "{stderr}"
    );
}
