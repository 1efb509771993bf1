//! Applying command-line overrides (`1ctl deploy --memory 1Gi …`) on top of the file.
//!
//! Owns the mapping between flags and spec fields, so a rule broken by a flag's value is
//! reported against the flag (`--memory: …`) rather than a line of the file. Flag names are the
//! kebab-case of the [`Overrides`] fields; the CLI must spell its flags the same way.

use std::collections::HashMap;

use satusky_types::AppSpec;

use super::Overrides;
use super::convert::{ConvertError, duration_in, millis, parse_expose, parse_strategy, seconds};
use super::read::{Found, Reader};
use crate::validate::limits::{env_field, shortened};

/// Field path → the flag that set it.
pub(super) type FlagFields = HashMap<String, String>;

/// Overwrites the fields the flags set, recording which flag set which field. A flag value
/// that cannot even be read (a bad duration or strategy) is reported in `reader.found`.
pub(super) fn apply(spec: &mut AppSpec, o: &Overrides, reader: &mut Reader) -> FlagFields {
    let mut a = Applier {
        flags: FlagFields::new(),
        found: &mut reader.found,
    };
    a.set(&o.name, &mut spec.name, "app.name", "--name");
    a.set(&o.port, &mut spec.port, "app.port", "--port");
    a.set(
        &o.replicas,
        &mut spec.replicas,
        "app.replicas",
        "--replicas",
    );
    a.set(&o.cpu, &mut spec.cpu, "app.cpu", "--cpu");
    a.set(&o.memory, &mut spec.memory, "app.memory", "--memory");
    a.set_some(
        &o.cpu_limit,
        &mut spec.cpu_limit,
        "app.cpu_limit",
        "--cpu-limit",
    );
    let memory_limit = &mut spec.memory_limit;
    a.set_some(
        &o.memory_limit,
        memory_limit,
        "app.memory_limit",
        "--memory-limit",
    );
    a.set_some(&o.image, &mut spec.image, "app.image", "--image");
    a.set_some(&o.zone, &mut spec.zone, "app.zone", "--zone");
    a.set_some(&o.command, &mut spec.command, "app.command", "--command");
    let build_command = &mut spec.build.command;
    a.set_some(
        &o.build_command,
        build_command,
        "build.command",
        "--build-command",
    );
    a.set(
        &o.checks_path,
        &mut spec.checks.path,
        "checks.path",
        "--checks-path",
    );
    let expect = &mut spec.checks.expect;
    a.set(&o.checks_expect, expect, "checks.expect", "--checks-expect");
    let timeout = o.checks_timeout.as_deref().map(|s| duration_in(s, millis));
    let timeout_ms = &mut spec.checks.timeout_ms;
    a.parsed(timeout, timeout_ms, "checks.timeout", "--checks-timeout");
    let deadline = (o.progress_deadline.as_deref()).map(|s| duration_in(s, seconds));
    let deadline_seconds = &mut spec.deploy.progress_deadline_seconds;
    a.parsed(
        deadline,
        deadline_seconds,
        "deploy.progress_deadline",
        "--progress-deadline",
    );
    let strategy = o.strategy.as_deref().map(parse_strategy);
    a.parsed(
        strategy,
        &mut spec.deploy.strategy,
        "deploy.strategy",
        "--strategy",
    );
    let expose = o.expose.as_deref().map(parse_expose);
    a.parsed(expose, &mut spec.expose, "app.expose", "--expose");
    for (key, value) in &o.env {
        a.set(
            &Some(value.clone()),
            spec.env.entry(key.clone()).or_default(),
            &env_field(key),
            &format!("--env {}", shortened(key)),
        );
    }
    a.flags
}

struct Applier<'a> {
    flags: FlagFields,
    found: &'a mut Vec<Found>,
}

impl Applier<'_> {
    fn set<T: Clone>(&mut self, value: &Option<T>, target: &mut T, field: &str, flag: &str) {
        if let Some(v) = value {
            *target = v.clone();
            self.flags.insert(field.to_owned(), flag.to_owned());
        }
    }

    fn set_some<T: Clone>(
        &mut self,
        value: &Option<T>,
        target: &mut Option<T>,
        field: &str,
        flag: &str,
    ) {
        self.set(&value.clone().map(Some), target, field, flag);
    }

    /// A flag that needs parsing; a value that does not parse is reported against the flag.
    fn parsed<T>(
        &mut self,
        value: Option<Result<T, ConvertError>>,
        target: &mut T,
        field: &str,
        flag: &str,
    ) {
        match value {
            None => {}
            Some(Ok(v)) => {
                *target = v;
                self.flags.insert(field.to_owned(), flag.to_owned());
            }
            Some(Err(e)) => self.found.push(Found {
                span: None,
                field: flag.to_owned(),
                message: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use satusky_types::{AppSpec, Strategy};

    use super::super::{ConfigError, Overrides, parse_str};

    const MINIMAL: &str = "[app]\nname = \"my-api\"\n";

    fn parse_with(text: &str, overrides: &Overrides) -> Result<AppSpec, ConfigError> {
        parse_str(text, Path::new("satusky.toml"), overrides).map(|app| app.into_spec())
    }

    #[test]
    fn flags_override_the_file() {
        let text = format!(
            "{MINIMAL}port = 3000\nreplicas = 3\nmemory = \"256Mi\"\n[deploy]\nstrategy = \"rolling\"\n\
             [checks]\ntimeout = \"2s\"\n[env]\nA = \"file\"\nB = \"file\"\n"
        );
        let overrides = Overrides {
            name: Some("other".into()),
            port: Some(9000),
            replicas: Some(0),
            cpu: Some("1".into()),
            cpu_limit: Some("2".into()),
            memory: Some("1Gi".into()),
            memory_limit: Some("2Gi".into()),
            image: Some("nginx:1".into()),
            zone: Some("z1".into()),
            command: Some(vec!["./run".into(), "-v".into()]),
            build_command: Some("make".into()),
            checks_path: Some("/ready".into()),
            checks_expect: Some("200".into()),
            checks_timeout: Some("5s".into()),
            strategy: Some("recreate".into()),
            progress_deadline: Some("90s".into()),
            expose: Some("tcp".into()),
            env: vec![("B".into(), "flag".into()), ("C".into(), "flag".into())],
        };
        let spec = parse_with(&text, &overrides).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.port, spec.replicas),
            ("other", 9000, 0)
        );
        assert_eq!(
            (spec.cpu.as_str(), spec.cpu_limit.as_deref()),
            ("1", Some("2"))
        );
        assert_eq!(
            (spec.memory.as_str(), spec.memory_limit.as_deref()),
            ("1Gi", Some("2Gi"))
        );
        assert_eq!(
            (spec.image.as_deref(), spec.zone.as_deref()),
            (Some("nginx:1"), Some("z1"))
        );
        assert_eq!(
            spec.command,
            Some(vec!["./run".to_owned(), "-v".to_owned()])
        );
        assert_eq!(spec.build.command.as_deref(), Some("make"));
        assert_eq!(
            (spec.checks.path.as_str(), spec.checks.expect.as_str()),
            ("/ready", "200")
        );
        assert_eq!(spec.checks.timeout_ms, 5000);
        assert_eq!(spec.deploy.strategy, Strategy::Recreate);
        assert_eq!(spec.deploy.progress_deadline_seconds, 90);
        assert_eq!(spec.expose, satusky_types::Expose::Tcp);
        let env: Vec<(&str, &str)> = spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("A", "file"), ("B", "flag"), ("C", "flag")]);
    }

    #[test]
    fn bad_flags_are_reported_as_flags() {
        let overrides = Overrides {
            memory: Some("12 apples".into()),
            checks_timeout: Some("soon".into()),
            strategy: Some("bluegreen".into()),
            progress_deadline: Some("1500ms".into()),
            expose: Some("udp".into()),
            port: Some(0),
            env: vec![("PORT".into(), "1".into())],
            ..Overrides::default()
        };
        let err = parse_with(&format!("{MINIMAL}memory = \"broken\"\n"), &overrides).unwrap_err();
        let fields: Vec<&str> = err.diagnostics.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "--checks-timeout",
                "--progress-deadline",
                "--strategy",
                "--expose",
                "--port",
                "--memory",
                "--env PORT"
            ]
        );
        assert!(
            err.diagnostics
                .iter()
                .all(|d| d.file.is_none() && d.line == 0)
        );
        let text = err.to_string();
        assert!(
            text.contains("\n--memory: \"12 apples\" is not a memory quantity: use"),
            "{text}"
        );
        assert!(
            text.contains("--progress-deadline: 1s 500ms is not a whole number of seconds"),
            "{text}"
        );
        // A limit from the file below a request from a flag: the file's line is blamed.
        let low = Overrides {
            memory: Some("1Gi".into()),
            ..Overrides::default()
        };
        let err = parse_with(&format!("{MINIMAL}memory_limit = \"512Mi\"\n"), &low).unwrap_err();
        assert_eq!(
            err.to_string()
                .lines()
                .next()
                .map(|l| l.starts_with("satusky.toml:3:16: app.memory_limit")),
            Some(true)
        );
    }
}
