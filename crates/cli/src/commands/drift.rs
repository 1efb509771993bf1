//! `1ctl app drift [APP] [--check]`: the app's drift findings (SPEC §7) — where the route
//! table, DNS, the served certificate or the HTTP release header differ from what the
//! control plane holds, and routes serving hostnames it does not hold.
//!
//! `GET …/drift` returns the findings of the last check; `--check` asks for a check now
//! (`?check=true`) and shows its fresh findings. `-o json` prints the `DriftReport` as the
//! API sends it. The table lists open findings first, then healed ones, each with who owns
//! the fix; under a finding the user owns (a custom domain's DNS) goes the fix to apply.
//!
//! It is a report: it exits 0 whatever it finds (drift the platform owns heals on its own);
//! the usual codes apply only when the report cannot be read (3, 4, 5, 1).

use satusky_types::{DriftFinding, DriftOwner, DriftReport};

use crate::cli::AppTarget;
use crate::commands::{Env, target};
use crate::exit::{self, CliError};
use crate::output;

pub async fn run(target: &AppTarget, check: bool, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = target::resolve(target, env).await?;
    let query: &[(&str, &str)] = if check { &[("check", "true")] } else { &[] };
    let report: DriftReport = session
        .client
        .get_query(&["v1", "orgs", &org, "apps", &app, "drift"], query)
        .await?;
    if env.json() {
        output::json(&report)?;
    } else {
        for line in lines(&report) {
            output::line(&line);
        }
    }
    Ok(exit::OK)
}

/// The table-mode text: a summary line, then the findings (or that there are none).
///
/// "No drift found" is said only about a check that ran: when the check asked for did not
/// run now, or none ever ran, the line says so and what the last check (if any) found.
pub fn lines(r: &DriftReport) -> Vec<String> {
    let app = &r.app;
    if r.findings.is_empty() {
        let line = match (&r.not_checked, &r.checked_at) {
            (Some(why), Some(at)) => format!(
                "drift not checked now for {app}: {why}; the last check ({}) found none",
                short_time(at)
            ),
            (Some(why), None) => {
                format!("drift not checked for {app}: {why}; it has never been checked")
            }
            (None, Some(at)) => {
                format!("no drift found for {app} (last checked {})", short_time(at))
            }
            (None, None) => {
                format!("drift not checked yet for {app}: run `1ctl app drift {app} --check`")
            }
        };
        return vec![line];
    }
    let checked = match (&r.not_checked, &r.checked_at) {
        (Some(why), Some(at)) => format!("not checked now: {why}; last checked {}", short_time(at)),
        (Some(why), None) => format!("not checked: {why}"),
        (None, Some(at)) => format!("last checked {}", short_time(at)),
        (None, None) => format!("not checked yet: run `1ctl app drift {app} --check`"),
    };
    let open = r.findings.iter().filter(|f| f.healed_at.is_none()).count();
    let healed = r.findings.len() - open;
    let mut out = vec![
        format!(
            "drift of {} (org {}): {open} open, {healed} healed ({checked})",
            r.app, r.org
        ),
        String::new(),
    ];
    let mut t = output::table(&[
        "HOSTNAME",
        "PLANE",
        "OWNER",
        "EXPECTED",
        "OBSERVED",
        "FIRST SEEN",
        "LAST SEEN",
        "HEALED",
    ]);
    for f in &r.findings {
        t.add_row(vec![
            one_line(&f.hostname),
            one_line(&f.plane),
            f.owner.as_str().to_string(),
            one_line(&f.expected),
            one_line(&f.observed),
            short_time(&f.first_seen),
            short_time(&f.last_seen),
            f.healed_at
                .as_deref()
                .map_or_else(|| "-".into(), short_time),
        ]);
    }
    // The preset draws no separators: one header line, then one line per finding.
    let rows: Vec<String> = t
        .lines()
        .map(|row| {
            let row = row.strip_prefix(' ').unwrap_or(&row);
            row.trim_end().to_string()
        })
        .collect();
    let aligned = rows.len() == r.findings.len() + 1;
    let mut fixes = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        out.push(row);
        let Some(f) = i.checked_sub(1).and_then(|i| r.findings.get(i)) else {
            continue;
        };
        let fix = fix_lines(f);
        if aligned {
            out.extend(fix);
        } else {
            fixes.extend(fix);
        }
    }
    out.extend(fixes);
    out
}

/// The fix printed under a finding the user owns, one line per remediation line.
fn fix_lines(f: &DriftFinding) -> Vec<String> {
    match (&f.remediation, f.owner) {
        (Some(fix), DriftOwner::User) => fix
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    format!("  fix ({}): {l}", f.hostname)
                } else {
                    format!("    {l}")
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A table cell on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An RFC 3339 time to the second (`2026-01-01T12:00:05Z`); anything else as it came.
fn short_time(at: &str) -> String {
    match humantime::parse_rfc3339_weak(at) {
        Ok(t) => humantime::format_rfc3339_seconds(t).to_string(),
        Err(_) => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(host: &str, owner: DriftOwner, healed: Option<&str>) -> DriftFinding {
        DriftFinding {
            hostname: host.into(),
            plane: "dns".into(),
            expected: "A 203.0.113.7".into(),
            observed: "A 198.51.100.9".into(),
            owner,
            remediation: (owner == DriftOwner::User)
                .then(|| "create: www.example.com A 203.0.113.7\nthen wait for the TTL".into()),
            first_seen: "2026-01-01T12:00:05.123Z".into(),
            last_seen: "2026-01-01T12:10:05.000Z".into(),
            healed_at: healed.map(str::to_string),
        }
    }

    fn report(findings: Vec<DriftFinding>) -> DriftReport {
        DriftReport {
            app: "web".into(),
            org: "acme".into(),
            checked_at: Some("2026-01-01T12:10:05.000Z".into()),
            not_checked: None,
            findings,
        }
    }

    #[test]
    fn no_findings_is_one_line_with_the_last_check() {
        assert_eq!(
            lines(&report(Vec::new())),
            vec!["no drift found for web (last checked 2026-01-01T12:10:05Z)"]
        );
        let mut never = report(Vec::new());
        never.checked_at = None;
        assert_eq!(
            lines(&never),
            vec!["drift not checked yet for web: run `1ctl app drift web --check`"]
        );
    }

    #[test]
    fn a_skipped_check_says_why_and_when_the_last_one_ran() {
        let mut busy = report(Vec::new());
        busy.not_checked = Some("a deploy is in progress (release v4)".into());
        assert_eq!(
            lines(&busy),
            vec![
                "drift not checked now for web: a deploy is in progress (release v4); the last check (2026-01-01T12:10:05Z) found none"
            ]
        );
        busy.checked_at = None;
        assert_eq!(
            lines(&busy),
            vec![
                "drift not checked for web: a deploy is in progress (release v4); it has never been checked"
            ]
        );
        // Whatever the case, nothing that was not checked reads as "no drift found".
        for (why, at) in [(true, true), (true, false), (false, false)] {
            let mut r = report(Vec::new());
            r.not_checked = why.then(|| "no active release yet".into());
            r.checked_at = at.then(|| "2026-01-01T12:10:05.000Z".into());
            assert!(!lines(&r)[0].contains("no drift found"), "{:?}", lines(&r));
        }
    }

    #[test]
    fn findings_are_a_table_with_the_fix_under_the_users() {
        let out = lines(&report(vec![
            finding("www.example.com", DriftOwner::User, None),
            finding(
                "web-acme.apps.test",
                DriftOwner::Platform,
                Some("2026-01-01T12:10:06.000Z"),
            ),
        ]));
        assert_eq!(
            out[0],
            "drift of web (org acme): 1 open, 1 healed (last checked 2026-01-01T12:10:05Z)"
        );
        assert!(out[2].starts_with("HOSTNAME"), "{out:#?}");
        assert!(
            out[2].contains("FIRST SEEN") && out[2].ends_with("HEALED"),
            "{out:#?}"
        );
        assert!(out[3].starts_with("www.example.com"), "{out:#?}");
        assert!(out[3].contains("2026-01-01T12:00:05Z"), "{out:#?}");
        assert!(out[3].ends_with(" -"), "open: {out:#?}");
        assert_eq!(
            out[4],
            "  fix (www.example.com): create: www.example.com A 203.0.113.7"
        );
        assert_eq!(out[5], "    then wait for the TTL");
        assert!(out[6].starts_with("web-acme.apps.test"), "{out:#?}");
        assert!(out[6].ends_with("2026-01-01T12:10:06Z"), "{out:#?}");
        assert_eq!(out.len(), 7, "no fix under the platform's: {out:#?}");
    }

    #[test]
    fn times_are_cut_to_the_second() {
        assert_eq!(
            short_time("2026-01-01T12:00:05.123Z"),
            "2026-01-01T12:00:05Z"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
        assert_eq!(one_line("a\nb  c"), "a b c");
    }
}
