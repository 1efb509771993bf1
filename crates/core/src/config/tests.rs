//! Tests of reading `satusky.toml`: positions, field paths, defaults, types and flags.

use std::collections::BTreeMap;

use satusky_types::{AppSpec, Expose, Strategy, VpaMode};

use super::*;

fn parse_with(text: &str, overrides: &Overrides) -> Result<AppSpec, ConfigError> {
    parse_str(text, Path::new("satusky.toml"), overrides).map(ValidatedApp::into_spec)
}

fn parse(text: &str) -> Result<AppSpec, ConfigError> {
    parse_with(text, &Overrides::default())
}

/// `(line, column, field)` of every diagnostic.
fn positions(text: &str) -> Vec<(usize, usize, String)> {
    let err = parse(text).expect_err("the config should be rejected");
    err.diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.field.clone()))
        .collect()
}

fn one(line: usize, column: usize, field: &str) -> Vec<(usize, usize, String)> {
    vec![(line, column, field.to_owned())]
}

fn message(text: &str) -> String {
    parse(text)
        .expect_err("the config should be rejected")
        .to_string()
}

const MINIMAL: &str = "[app]\nname = \"my-api\"\n";

#[test]
fn bad_memory_points_at_the_value() {
    let text = "[app]\nname = \"my-api\"\nmemory = \"12 apples\"\n";
    assert_eq!(positions(text), one(3, 10, "app.memory"));
    assert_eq!(
        message(text),
        "satusky.toml:3:10: app.memory: \"12 apples\" is not a memory quantity: use a number \
         with an optional unit, e.g. 256Mi, 1Gi, 512M"
    );
}

#[test]
fn unknown_key_points_at_the_key_and_suggests() {
    let text = "[app]\nnmae = \"x\"\n";
    assert_eq!(
        positions(text),
        [(1, 1, "app.name".to_owned()), (2, 1, "app.nmae".to_owned())]
    );
    let text = format!("{MINIMAL}[checks]\n  pth = \"/\"\n");
    assert_eq!(positions(&text), one(4, 3, "checks.pth"));
    assert!(message(&text).contains("unknown key \"pth\" in [checks]: did you mean \"path\"?"));
    let text = format!("{MINIMAL}[hpa]\nmax = 3\nwhatever = 1\n");
    assert!(message(&text).contains("expected one of min, max, cpu_target, memory_target"));
}

#[test]
fn unknown_section_points_at_its_name() {
    let text = format!("{MINIMAL}\n[dploy]\nstrategy = \"rolling\"\n");
    assert_eq!(positions(&text), one(4, 2, "dploy"));
    assert!(message(&text).contains("unknown section [dploy]: did you mean [deploy]?"));
    let text = format!("{MINIMAL}[zzz]\n");
    assert!(message(&text).contains("expected one of [app], [build]"));
    let text = format!("replicas = 2\n{MINIMAL}");
    assert_eq!(positions(&text), one(1, 1, "replicas"));
    assert!(message(&text).contains("outside any section: move it under [app]"));
}

#[test]
fn bad_name_points_at_the_value() {
    let text = "[app]\nname = \"My_App\"\n";
    assert_eq!(positions(text), one(2, 8, "app.name"));
    assert!(message(text).contains("\"My_App\" is not a valid app name"));
}

#[test]
fn missing_name_points_at_the_app_header_or_the_start() {
    assert_eq!(positions("\n[app]\nport = 80\n"), one(2, 1, "app.name"));
    assert_eq!(
        positions("[build]\ncontext = \".\"\n"),
        one(1, 1, "app.name")
    );
    assert!(message("").contains("missing: add name = \"my-app\" under [app]"));
    let named = Overrides {
        name: Some("from-flag".into()),
        ..Overrides::default()
    };
    assert_eq!(parse_with("", &named).unwrap().name, "from-flag");
}

#[test]
fn syntax_errors_have_positions() {
    let err = parse("[app]\nname = \"x\"\nport = \n").unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.field.as_str()), (3, ""));
    assert!(d.column >= 7, "{d}");
    assert!(err.to_string().starts_with("satusky.toml:3:"), "{err}");
    assert!(err.to_string().contains("invalid TOML"), "{err}");
    let err = parse("[app]\nname = \"x\"\nname = \"y\"\n").unwrap_err();
    assert_eq!(err.diagnostics[0].line, 3, "{err}");
}

#[test]
fn defaults_fill_in() {
    let spec = parse(MINIMAL).unwrap();
    assert_eq!((spec.port, spec.replicas), (8080, 1));
    assert_eq!((spec.cpu.as_str(), spec.memory.as_str()), ("100m", "128Mi"));
    assert_eq!(
        (spec.cpu_limit, spec.memory_limit, spec.image),
        (None, None, None)
    );
    assert_eq!((spec.command, spec.zone), (None, None));
    assert_eq!(
        (spec.build.dockerfile.as_str(), spec.build.context.as_str()),
        ("Dockerfile", ".")
    );
    assert_eq!(spec.build.command, None);
    assert_eq!(
        (spec.checks.path.as_str(), spec.checks.expect.as_str()),
        ("/", "2xx")
    );
    assert_eq!(spec.checks.timeout_ms, 2000);
    assert_eq!(spec.deploy.strategy, Strategy::Rolling);
    assert_eq!(
        (
            spec.deploy.max_surge.as_str(),
            spec.deploy.max_unavailable.as_str()
        ),
        ("25%", "0")
    );
    assert_eq!(spec.deploy.progress_deadline_seconds, 600);
    assert!(spec.env.is_empty() && spec.domains.is_empty());
    assert_eq!(
        (spec.volume, spec.hpa, spec.vpa, spec.pdb),
        (None, None, None, None)
    );
    let defaults = parse("[app]\nname = \"a\"\n[hpa]\nmax = 3\n").unwrap();
    assert_eq!(defaults.hpa.map(|h| (h.min, h.max)), Some((1, 3)));
}

#[test]
fn types_are_checked_with_positions() {
    let cases = [
        (
            "[app]\nname = \"a\"\nport = \"8080\"\n",
            3,
            8,
            "app.port",
            "expected a whole number, found a string",
        ),
        (
            "[app]\nname = \"a\"\nport = 70000\n",
            3,
            8,
            "app.port",
            "70000 is out of range: use a port from 1 to 65535",
        ),
        (
            "[app]\nname = \"a\"\nreplicas = -1\n",
            3,
            12,
            "app.replicas",
            "-1 is out of range",
        ),
        (
            "[app]\nname = \"a\"\ncommand = \"./server\"\n",
            3,
            11,
            "app.command",
            "expected an array of strings",
        ),
        (
            "[app]\nname = \"a\"\ncommand = [\"a\", 1]\n",
            3,
            11,
            "app.command",
            "array of strings",
        ),
        (
            "[app]\nname = 5\n",
            2,
            8,
            "app.name",
            "expected a string, found an integer",
        ),
        (
            "[app]\nname = \"a\"\nmemory = true\n",
            3,
            10,
            "app.memory",
            "quantity string",
        ),
        (
            "[app]\nname = \"a\"\n[env]\nX = 1.5\n",
            4,
            5,
            "env.X",
            "expected a string, found a float",
        ),
        (
            "[app]\nname = \"a\"\n[env]\nX = [1]\n",
            4,
            5,
            "env.X",
            "(integers and booleans are also accepted)",
        ),
        (
            "[app]\nname = \"a\"\n[checks]\ntimeout = 2\n",
            4,
            11,
            "checks.timeout",
            "with a unit",
        ),
        (
            "[app]\nname = \"a\"\n[checks]\ntimeout = \"2\"\n",
            4,
            11,
            "checks.timeout",
            "is not a duration",
        ),
        (
            "[app]\nname = \"a\"\n[checks]\ntimeout = \"500us\"\n",
            4,
            11,
            "checks.timeout",
            "whole milliseconds",
        ),
        (
            "[app]\nname = \"a\"\n[deploy]\nstrategy = \"blue\"\n",
            4,
            12,
            "deploy.strategy",
            "use \"rolling\" or \"recreate\"",
        ),
        (
            "[app]\nname = \"a\"\n[deploy]\nmax_surge = 1.5\n",
            4,
            13,
            "deploy.max_surge",
            "integer or a percentage",
        ),
        (
            "[app]\nname = \"a\"\n[vpa]\nmode = \"sometimes\"\n",
            4,
            8,
            "vpa.mode",
            "is not a VPA mode",
        ),
        ("app = 5\n", 1, 7, "app", "must be a section"),
        (
            "[app]\nname = \"a\"\n[domains]\nhost = \"a.b\"\n",
            3,
            1,
            "domains",
            "[[domains]]",
        ),
        (
            "[app]\nname = \"a\"\n[[domains]]\nhost = \"a.b\"\nredirect = \"https://c.d\"\n",
            5,
            1,
            "domains[0].redirect",
            "unknown key \"redirect\" in [[domains]]: did you mean \"redirect_to\"?",
        ),
        (
            "[app]\nname = \"a\"\n[hpa]\nmax = \"5\"\n",
            4,
            7,
            "hpa.max",
            "whole number",
        ),
    ];
    for (text, line, column, field, part) in cases {
        assert_eq!(positions(text), one(line, column, field), "{text}");
        assert!(message(text).contains(part), "{text}: {}", message(text));
    }
}

#[test]
fn lenient_value_types() {
    let text = "[app]\nname = \"a\"\ncpu = 2\ncpu_limit = 2.5\nport = 0x1F90\n\
                [deploy]\nmax_surge = 1\n[env]\nN = 3\nB = true\n[pdb]\nmax_unavailable = 1\n\
                [vpa]\nmode = \"auto\"\n";
    let spec = parse(text).unwrap();
    assert_eq!(
        (spec.cpu.as_str(), spec.cpu_limit.as_deref(), spec.port),
        ("2", Some("2.5"), 8080)
    );
    assert_eq!(spec.deploy.max_surge, "1");
    assert_eq!(
        (spec.env["N"].as_str(), spec.env["B"].as_str()),
        ("3", "true")
    );
    assert_eq!(
        spec.pdb.and_then(|p| p.max_unavailable).as_deref(),
        Some("1")
    );
    assert_eq!(spec.vpa.map(|v| v.mode), Some(VpaMode::Auto));
}

#[test]
fn required_keys_of_optional_sections() {
    let cases = [
        (
            "[volume]\nmount = \"/data\"\n",
            3,
            "volume.size",
            "missing: add size = \"1Gi\" under [volume]",
        ),
        (
            "[volume]\nsize = \"1Gi\"\n",
            3,
            "volume.mount",
            "add mount = \"/data\"",
        ),
        ("[hpa]\nmin = 2\n", 3, "hpa.max", "add max = 5 under [hpa]"),
        (
            "[vpa]\nmin_cpu = \"1\"\n",
            3,
            "vpa.mode",
            "add mode = \"Off\"",
        ),
        (
            "[[domains]]\nredirect_to = \"https://a.b\"\n",
            3,
            "domains[0].host",
            "under [[domains]]",
        ),
    ];
    for (section, line, field, part) in cases {
        let text = format!("{MINIMAL}{section}");
        assert_eq!(positions(&text), one(line, 1, field), "{text}");
        assert!(message(&text).contains(part), "{}", message(&text));
    }
}

#[test]
fn rule_errors_map_to_their_spans() {
    let text = format!(
        "{MINIMAL}[[domains]]\nhost = \"a.example.com\"\n[[domains]]\nhost = \"a.example.com\"\n\
         [env]\nPORT = \"1\"\n[pdb]\nmin_available = 1\nmax_unavailable = 1\n"
    );
    assert_eq!(
        positions(&text),
        [
            (6, 8, "domains[1].host".to_owned()),
            (8, 1, "env.PORT".to_owned()),
            (9, 1, "pdb".to_owned()),
        ]
    );
    // A rule about a field the file does not set points at its section.
    let text = format!("{MINIMAL}\n[deploy]\nmax_surge = \"0\"\n");
    assert_eq!(positions(&text), one(4, 1, "deploy.max_unavailable"));
    // Columns count characters, not bytes.
    let text = format!("env = {{ \"ÉÉ\" = \"x\", PORT = \"1\" }}\n{MINIMAL}");
    assert_eq!(
        positions(&text),
        [(1, 9, "env.ÉÉ".to_owned()), (1, 21, "env.PORT".to_owned())]
    );
}

#[test]
fn all_problems_are_reported_in_text_order() {
    let text =
        "[app]\nname = \"Bad\"\nmemory = \"lots\"\ncolour = \"red\"\n[checks]\npath = \"x\"\n";
    let err = parse(text).unwrap_err();
    let lines: Vec<usize> = err.diagnostics.iter().map(|d| d.line).collect();
    assert_eq!(lines, [2, 3, 4, 6]);
    assert_eq!(err.to_string().lines().count(), 4);
    assert!(
        err.to_string()
            .contains("satusky.toml:4:1: app.colour: unknown key \"colour\"")
    );
}

#[test]
fn config_names_and_files() {
    assert_eq!(config_file_name(None), "satusky.toml");
    assert_eq!(config_file_name(Some("staging")), "satusky.staging.toml");
    assert!(validate_config_name("prod-2").is_ok());
    for bad in ["", "Prod", "a.b", "../x", "a b"] {
        assert!(validate_config_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn load_reads_the_file_or_explains() {
    let dir = tempfile::tempdir().unwrap();
    let none = Overrides::default();
    let err = load(dir.path(), None, &none).unwrap_err();
    let expected = format!(
        "no satusky.toml in {} — run `1ctl init` to create one",
        dir.path().display()
    );
    assert_eq!(err.to_string(), expected);
    let err = load(dir.path(), Some("staging"), &none).unwrap_err();
    assert!(
        err.to_string().contains("no satusky.staging.toml in"),
        "{err}"
    );
    assert!(
        err.to_string().contains("run `1ctl init --config staging`"),
        "{err}"
    );
    let err = load(dir.path(), Some("../etc"), &none).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--config: \"../etc\" is not a config name"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("satusky.staging.toml"),
        "[app]\nname = \"stg\"\n",
    )
    .unwrap();
    let loaded = load(dir.path(), Some("staging"), &none).unwrap();
    assert_eq!(loaded.path, dir.path().join("satusky.staging.toml"));
    assert_eq!(loaded.app.spec().name, "stg");

    std::fs::write(
        dir.path().join("satusky.toml"),
        "[app]\nname = \"x\"\nport = \"1\"\n",
    )
    .unwrap();
    let err = load(dir.path(), None, &none).unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!(
        d.file.as_deref(),
        Some(dir.path().join("satusky.toml").as_path())
    );
    assert!(err.to_string().starts_with(&format!(
        "{}:3:8: app.port:",
        dir.path().join("satusky.toml").display()
    )));
}

#[test]
fn values_over_their_limit_point_at_the_key_without_echoing_it() {
    let blob = "b".repeat(1024 * 1024);
    let long_key = "K".repeat(100_000);
    let text =
        format!("{MINIMAL}[env]\nLOG = \"x\"\nSECRET_BLOB = \"{blob}\"\n{long_key} = \"v\"\n");
    let err = parse(&text).expect_err("over the limits");
    let shown = err.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown:.500}");
    assert_eq!(
        lines[0],
        "satusky.toml:5:1: env.SECRET_BLOB: 1 MiB is over the limit of 32 KiB for an env value: \
         keep large data in a file in the build context or the image, not in the spec"
    );
    assert!(
        lines[1].starts_with(&format!(
            "satusky.toml:6:1: env.{}…: 97.7 KiB is over the limit of 128 bytes for an env name",
            "K".repeat(40)
        )),
        "{:.500}",
        lines[1]
    );
    assert!(shown.len() < 400, "{shown:.500}");
}

#[test]
fn a_long_command_flag_is_reported_against_the_flag() {
    let overrides = Overrides {
        command: Some(vec!["sh".into(), "-c".into(), "x".repeat(10_000)]),
        ..Overrides::default()
    };
    let err = parse_with(MINIMAL, &overrides).expect_err("over the limit");
    assert_eq!(
        err.to_string(),
        "--command: 9.8 KiB is over the limit of 8 KiB for a command argument: move long inline \
         scripts into a file in the image and run that"
    );
}

#[test]
fn unknown_long_keys_are_quoted_short() {
    let key = "z".repeat(5000);
    let shown = message(&format!("{MINIMAL}{key} = 1\n[build]\n{key} = 1\n"));
    assert!(shown.len() < 600, "{shown:.700}");
    assert!(
        shown.contains(&format!(
            "unknown key \"{}…\" (4.9 KiB) in [app]",
            "z".repeat(40)
        )),
        "{shown:.700}"
    );
}

#[test]
fn build_env_and_required_secrets_are_read() {
    let text = format!(
        "{MINIMAL}[build]\ncommand = \"npm ci\"\n[build.env]\nNODE_ENV = \"production\"\nJOBS = 4\n\
         DEBUG = false\n[env]\nLOG_LEVEL = \"info\"\n[secrets]\nrequired = [\"DATABASE_URL\", \"API_KEY\"]\n"
    );
    let spec = parse(&text).unwrap();
    assert_eq!(
        spec.build.env,
        BTreeMap::from([
            ("DEBUG".to_owned(), "false".to_owned()),
            ("JOBS".to_owned(), "4".to_owned()),
            ("NODE_ENV".to_owned(), "production".to_owned()),
        ])
    );
    assert_eq!(spec.env.keys().collect::<Vec<_>>(), ["LOG_LEVEL"]);
    assert_eq!(spec.secrets.required, ["DATABASE_URL", "API_KEY"]);
    // The inline form is the same table.
    let inline = format!("{MINIMAL}[build]\nenv = {{ NODE_ENV = \"production\" }}\n");
    assert_eq!(parse(&inline).unwrap().build.env["NODE_ENV"], "production");
    // Neither is required.
    let spec = parse(MINIMAL).unwrap();
    assert!(spec.build.env.is_empty() && spec.secrets.is_empty());
}

#[test]
fn build_env_and_secrets_errors_point_at_their_place() {
    let cases = [
        (
            "[build.env]\nX = 1.5\n",
            4,
            5,
            "build.env.X",
            "expected a string, found a float: write X = \"…\" (integers and booleans are also accepted)",
        ),
        (
            "[build.env]\n1X = \"a\"\n",
            4,
            1,
            "build.env.1X",
            "\"1X\" is not a valid variable name",
        ),
        (
            "[build.env]\nSATUSKY_X = \"a\"\n",
            4,
            1,
            "build.env.SATUSKY_X",
            "reserved",
        ),
        (
            "[build]\nenv = \"NODE_ENV=production\"\n",
            4,
            7,
            "build.env",
            "expected a table, found a string: write [build.env] on its own line",
        ),
        (
            "[build]\nenvs = {}\n",
            4,
            1,
            "build.envs",
            "did you mean \"env\"?",
        ),
        (
            "[secrets]\nrequired = \"DATABASE_URL\"\n",
            4,
            12,
            "secrets.required",
            "expected an array of names, found a string: write required = [\"DATABASE_URL\", \"API_KEY\"]",
        ),
        (
            "[secrets]\nrequired = [\"A\", 1]\n",
            4,
            18,
            "secrets.required[1]",
            "expected a name in quotes, found an integer",
        ),
        (
            "[secrets]\nrequired = [\"A\", \"db-url\"]\n",
            4,
            18,
            "secrets.required[1]",
            "\"db-url\" is not a valid secret name",
        ),
        (
            "[secrets]\nrequired = [\"A\", \"A\"]\n",
            4,
            18,
            "secrets.required[1]",
            "A is listed twice in [secrets] required: remove the duplicate",
        ),
        (
            "[secrets]\nrequire = [\"A\"]\n",
            4,
            1,
            "secrets.require",
            "unknown key \"require\" in [secrets]: did you mean \"required\"?",
        ),
    ];
    for (section, line, column, field, part) in cases {
        let text = format!("{MINIMAL}{section}");
        assert_eq!(positions(&text), one(line, column, field), "{text}");
        assert!(message(&text).contains(part), "{text}: {}", message(&text));
    }
    let text = format!("secrets = [\"A\"]\n{MINIMAL}");
    assert_eq!(positions(&text), one(1, 11, "secrets"));
    assert!(
        message(&text).contains("must be a section"),
        "{}",
        message(&text)
    );
}

#[test]
fn a_secret_also_in_env_names_both_places_and_the_fix() {
    let text = format!(
        "{MINIMAL}[env]\nDATABASE_URL = \"postgres://u:pw@db/app\"\n\
         [secrets]\nrequired = [\"API_KEY\", \"DATABASE_URL\"]\n"
    );
    assert_eq!(
        message(&text),
        "satusky.toml:6:24: secrets.required[1]: DATABASE_URL is both in [env] and [secrets] \
         required: a key is either an env value or a secret — remove it from [env] and \
         `1ctl secret set DATABASE_URL=…`"
    );
    // The same from `--env`.
    let overrides = Overrides {
        env: vec![("API_KEY".into(), "k".into())],
        ..Overrides::default()
    };
    let text = format!("{MINIMAL}[secrets]\nrequired = [\"API_KEY\"]\n");
    let err = parse_with(&text, &overrides).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("API_KEY is both in [env] and [secrets] required"),
        "{err}"
    );
}

#[test]
fn build_env_has_the_env_limits() {
    let blob = "b".repeat(40 * 1024);
    let text = format!("{MINIMAL}[build.env]\nBLOB = \"{blob}\"\n");
    assert_eq!(
        message(&text),
        "satusky.toml:4:1: build.env.BLOB: 40 KiB is over the limit of 32 KiB for an env value: \
         keep large data in a file in the build context or the image, not in the spec"
    );
}

#[test]
fn a_volume_makes_recreate_the_default_and_refuses_rolling() {
    let volume = "[volume]\nsize = \"1Gi\"\nmount = \"/data\"\n";
    // Unset: recreate (one writer of the volume).
    let spec = parse(&format!("{MINIMAL}{volume}")).unwrap();
    assert_eq!(spec.deploy.strategy, Strategy::Recreate);
    // Named recreate: as asked.
    let text = format!("{MINIMAL}[deploy]\nstrategy = \"recreate\"\n{volume}");
    assert_eq!(parse(&text).unwrap().deploy.strategy, Strategy::Recreate);
    // Named rolling: refused at the strategy's line, naming both fields and the fix.
    let text = format!("{MINIMAL}[deploy]\nstrategy = \"rolling\"\n{volume}");
    assert_eq!(positions(&text), one(4, 12, "deploy.strategy"));
    let said = message(&text);
    for part in [
        "[volume]",
        "\"rolling\"",
        "strategy = \"recreate\"",
        "remove [volume]",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    // The same through a flag.
    let flags = Overrides {
        strategy: Some("rolling".into()),
        ..Overrides::default()
    };
    let err = parse_with(&format!("{MINIMAL}{volume}"), &flags).unwrap_err();
    assert!(err.to_string().contains("[volume]"), "{err}");
    // Without a volume, rolling stays the default.
    assert_eq!(parse(MINIMAL).unwrap().deploy.strategy, Strategy::Rolling);
}

#[test]
fn expose_defaults_to_http_and_reads_tcp_and_none_in_any_case() {
    assert_eq!(parse(MINIMAL).unwrap().expose, Expose::Http);
    for (text, want) in [
        ("expose = \"tcp\"", Expose::Tcp),
        ("expose = \"None\"", Expose::None),
        ("expose = \"HTTP\"", Expose::Http),
    ] {
        let spec = parse(&format!("{MINIMAL}{text}\n")).unwrap();
        assert_eq!(spec.expose, want, "{text}");
    }
}

#[test]
fn a_bad_expose_names_the_field_and_the_allowed_values() {
    let text = format!("{MINIMAL}expose = \"udp\"\n");
    assert_eq!(positions(&text), one(3, 10, "app.expose"));
    assert_eq!(
        message(&text),
        "satusky.toml:3:10: app.expose: \"udp\" is not a way to expose an app: use \"http\" \
         (public hostnames, the default), \"tcp\" (a TCP service reached inside the org) or \
         \"none\" (not reached at all)"
    );
    let text = format!("{MINIMAL}expose = true\n");
    assert_eq!(positions(&text), one(3, 10, "app.expose"));
    assert!(
        message(&text).contains("expected a string"),
        "{}",
        message(&text)
    );
}

#[test]
fn domains_of_an_app_that_is_not_public_are_refused_with_the_fix() {
    let text = format!("{MINIMAL}expose = \"tcp\"\n[[domains]]\nhost = \"db.example.com\"\n");
    assert_eq!(positions(&text), one(5, 8, "domains[0].host"));
    let msg = message(&text);
    assert!(
        msg.contains("[[domains]] needs a public app, and [app] expose = \"tcp\" has no public hostname: remove the [[domains]] entries, or set expose = \"http\""),
        "{msg}"
    );
}

#[test]
fn a_static_site_takes_a_folder_and_an_index_and_no_process() {
    let spec = parse(&format!("{MINIMAL}[static]\n")).unwrap();
    let site = spec.static_site.unwrap();
    assert_eq!(
        (site.root.as_str(), site.index.as_str()),
        (".", "index.html")
    );
    let spec = parse(&format!(
        "{MINIMAL}[static]\nroot = \"public\"\nindex = \"home.htm\"\n"
    ))
    .unwrap();
    assert_eq!(spec.static_site.unwrap().root, "public");
    for (extra, field, says) in [
        (
            "[static]\nroot = \"../up\"\n",
            "static.root",
            "not a folder inside the build's output",
        ),
        (
            "[static]\nroot = \"/abs\"\n",
            "static.root",
            "relative path",
        ),
        (
            "[static]\nindex = \"a/b.html\"\n",
            "static.index",
            "not a file name",
        ),
    ] {
        let said = message(&format!("{MINIMAL}{extra}"));
        assert!(
            said.contains(field) && said.contains(says),
            "{extra}: {said}"
        );
    }
    let said = message(&format!("{MINIMAL}command = [\"./server\"]\n[static]\n"));
    assert!(
        said.contains("app.command") && said.contains("a static site runs no process"),
        "{said}"
    );
    let said = message(&format!("{MINIMAL}expose = \"tcp\"\n[static]\n"));
    assert!(said.contains("app.expose"), "{said}");
}
