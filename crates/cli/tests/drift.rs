//! `1ctl app drift` against a canned HTTP server: the table (open and healed findings, the
//! fix under the user's), the empty report, `-o json` as the wire `DriftReport`, `--check`
//! asking for a check now, and exit 0 whatever is found.

mod common;

use common::fixtures::{TOKEN, app_dir, drift_report, whoami};
use common::{FakeServer, onectl, route};
use satusky_types::DriftReport;

const DRIFT: &str = "/v1/orgs/acme/apps/api/drift";

fn server(report: &DriftReport) -> FakeServer {
    let body = serde_json::to_string(report).expect("json");
    FakeServer::start(vec![whoami(), route("GET", DRIFT, 200, &body)])
}

fn run(server: &FakeServer, args: &[&str]) -> (String, String) {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "drift"])
        .args(args)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a report exits 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn drift_paths(server: &FakeServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|s| s.path.starts_with(DRIFT))
        .map(|s| s.path)
        .collect()
}

#[test]
fn the_table_shows_every_finding_and_the_fix_under_the_users() {
    let s = server(&drift_report());
    let (text, _) = run(&s, &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "drift of api (org acme): 1 open, 1 healed (last checked 2026-01-01T12:10:00Z)",
        "{text}"
    );
    let header: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "HOSTNAME", "PLANE", "OWNER", "EXPECTED", "OBSERVED", "FIRST", "SEEN", "LAST", "SEEN",
            "HEALED"
        ],
        "{text}"
    );
    assert!(lines[3].starts_with("www.example.com"), "{text}");
    for want in [
        "dns",
        "user",
        "A 203.0.113.7",
        "A 198.51.100.9",
        "2026-01-01T12:00:00Z",
    ] {
        assert!(lines[3].contains(want), "{want} missing: {text}");
    }
    assert!(lines[3].ends_with(" -"), "open: {text}");
    assert_eq!(
        lines[4],
        "  fix (www.example.com): set the record: www.example.com. A 203.0.113.7"
    );
    assert!(lines[5].starts_with("api-acme.apps.test"), "{text}");
    assert!(lines[5].contains("platform"), "{text}");
    assert!(lines[5].ends_with("2026-01-01T12:05:01Z"), "healed: {text}");
    assert_eq!(lines.len(), 6, "no fix under the platform's: {text}");
    assert_eq!(drift_paths(&s), [DRIFT], "no check without --check");
}

#[test]
fn json_is_the_drift_report_and_check_asks_for_a_check() {
    let report = drift_report();
    let s = server(&report);
    let (text, _) = run(&s, &["--check", "-o", "json"]);
    let got: DriftReport = serde_json::from_str(&text).expect("one DriftReport");
    assert_eq!(got, report);
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["findings"][0]["first_seen"], "2026-01-01T12:00:00.000Z");
    assert_eq!(v["findings"][0]["healed_at"], serde_json::Value::Null);
    assert_eq!(v["findings"][1]["healed_at"], "2026-01-01T12:05:01.500Z");
    assert_eq!(drift_paths(&s), [format!("{DRIFT}?check=true")]);
}

#[test]
fn no_findings_is_one_line() {
    let mut report = drift_report();
    report.findings.clear();
    let s = server(&report);
    let (text, _) = run(&s, &["api"]);
    assert_eq!(
        text,
        "no drift found for api (last checked 2026-01-01T12:10:00Z)\n"
    );
}
