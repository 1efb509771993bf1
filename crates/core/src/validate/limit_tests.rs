//! The size limits, one row per limit family: the value at the limit passes, one byte (or
//! item) more is refused with exactly one error on the field, naming the limit, in a message
//! that does not echo the value.

use satusky_types::{AppSpec, DomainSpec};

use super::limits::*;
use super::tests::valid;
use super::validate_spec;

/// Sets the field under test to a value of `n` bytes (or `n` items).
type Set = fn(&mut AppSpec, usize);

struct Case {
    field: &'static str,
    limit: usize,
    /// The end of the message: `… over the limit of {limit} for {what}`.
    message: &'static str,
    set: Set,
}

/// A valid env name of `n` bytes.
fn env_key(n: usize) -> String {
    "K".repeat(n)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            field: "env.SECRET_BLOB",
            limit: MAX_ENV_VALUE,
            message: "over the limit of 32 KiB for an env value",
            set: |s, n| {
                s.env.insert("SECRET_BLOB".into(), "x".repeat(n));
            },
        },
        Case {
            field: "",
            limit: MAX_ENV_KEY,
            message: "over the limit of 128 bytes for an env name",
            set: |s, n| {
                s.env.insert(env_key(n), "v".into());
            },
        },
        Case {
            field: "env",
            limit: MAX_ENV_VARS,
            message: "variables is over the limit of 512 env variables",
            set: |s, n| {
                s.env = (0..n).map(|i| (format!("V{i}"), "v".to_owned())).collect();
            },
        },
        Case {
            field: "build.env.SECRET_BLOB",
            limit: MAX_ENV_VALUE,
            message: "over the limit of 32 KiB for an env value",
            set: |s, n| {
                s.build.env.insert("SECRET_BLOB".into(), "x".repeat(n));
            },
        },
        Case {
            field: "build.env.",
            limit: MAX_ENV_KEY,
            message: "over the limit of 128 bytes for an env name",
            set: |s, n| {
                s.build.env.insert(env_key(n), "v".into());
            },
        },
        Case {
            field: "build.env",
            limit: MAX_ENV_VARS,
            message: "variables is over the limit of 512 env variables",
            set: |s, n| {
                s.build.env = (0..n).map(|i| (format!("V{i}"), "v".to_owned())).collect();
            },
        },
        Case {
            field: "secrets.required",
            limit: MAX_ENV_VARS,
            message: "names is over the limit of 512 required secrets",
            set: |s, n| s.secrets.required = (0..n).map(|i| format!("S{i}")).collect(),
        },
        Case {
            field: "secrets.required[0]",
            limit: MAX_ENV_KEY,
            message: "over the limit of 128 bytes for a secret name",
            set: |s, n| s.secrets.required = vec![env_key(n)],
        },
        Case {
            field: "app.command",
            limit: MAX_COMMAND_ARGS,
            message: "arguments is over the limit of 64 for a command",
            set: |s, n| s.command = Some(vec!["-v".to_owned(); n]),
        },
        Case {
            field: "app.command[1]",
            limit: MAX_COMMAND_ARG,
            message: "over the limit of 8 KiB for a command argument",
            set: |s, n| s.command = Some(vec!["sh".into(), "x".repeat(n)]),
        },
        Case {
            field: "app.command",
            limit: MAX_COMMAND_TOTAL,
            message: "over the limit of 16 KiB for a whole command",
            set: |s, n| {
                let each = MAX_COMMAND_ARG;
                let mut args = vec!["x".repeat(each); n / each];
                args.push("x".repeat(n % each));
                s.command = Some(args);
            },
        },
        Case {
            field: "build.command",
            limit: MAX_BUILD_COMMAND,
            message: "over the limit of 8 KiB for a build command",
            set: |s, n| s.build.command = Some("x".repeat(n)),
        },
        Case {
            field: "checks.path",
            limit: MAX_CHECKS_PATH,
            message: "over the limit of 2 KiB for a check path",
            set: |s, n| s.checks.path = format!("/{}", "p".repeat(n - 1)),
        },
        Case {
            field: "app.image",
            limit: MAX_IMAGE,
            message: "over the limit of 512 bytes for an image reference",
            set: |s, n| s.image = Some(format!("ghcr.io/{}", "a".repeat(n - 8))),
        },
        Case {
            field: "build.dockerfile",
            limit: MAX_PATH,
            message: "over the limit of 1 KiB for a path",
            set: |s, n| s.build.dockerfile = "d".repeat(n),
        },
        Case {
            field: "build.context",
            limit: MAX_PATH,
            message: "over the limit of 1 KiB for a path",
            set: |s, n| s.build.context = "c".repeat(n),
        },
        Case {
            field: "volume.mount",
            limit: MAX_PATH,
            message: "over the limit of 1 KiB for a path",
            set: |s, n| {
                if let Some(v) = &mut s.volume {
                    v.mount = format!("/{}", "m".repeat(n - 1));
                }
            },
        },
        Case {
            field: "domains",
            limit: MAX_DOMAINS,
            message: "domains is over the limit of 100 per app",
            set: |s, n| {
                s.domains = (0..n)
                    .map(|i| DomainSpec {
                        host: format!("d{i}.example.com"),
                        redirect_to: None,
                    })
                    .collect();
            },
        },
        Case {
            field: "domains[1].redirect_to",
            limit: MAX_REDIRECT_URL,
            message: "over the limit of 2 KiB for a redirect URL",
            set: |s, n| {
                let base = "https://api.example.com/";
                s.domains[1].redirect_to = Some(format!("{base}{}", "r".repeat(n - base.len())));
            },
        },
        Case {
            field: "deploy.max_surge",
            limit: MAX_SCALAR,
            message: "over the limit of 64 bytes for this setting",
            set: |s, n| s.deploy.max_surge = format!("{}25%", "0".repeat(n - 3)),
        },
        Case {
            field: "checks.expect",
            limit: MAX_SCALAR,
            message: "over the limit of 64 bytes for this setting",
            set: |s, n| s.checks.expect = format!("2xx{}", " ".repeat(n - 3)),
        },
    ]
}

#[test]
fn each_limit_takes_its_value_and_refuses_one_more() {
    for case in cases() {
        let mut at = valid();
        (case.set)(&mut at, case.limit);
        if let Err(e) = validate_spec(at) {
            panic!("{} at its limit {}: {e}", case.message, case.limit);
        }

        let mut over = valid();
        (case.set)(&mut over, case.limit + 1);
        let errors = validate_spec(over).expect_err(case.message).0;
        assert_eq!(errors.len(), 1, "{}: {errors:?}", case.message);
        let e = &errors[0];
        // An over-long name is shown shortened in its field path.
        let field = match case.field {
            "" => format!("env.{}…", env_key(QUOTE_CHARS)),
            "build.env." => format!("build.env.{}…", env_key(QUOTE_CHARS)),
            f => f.to_owned(),
        };
        assert_eq!(e.field, field, "{}", case.message);
        assert!(e.message.contains(case.message), "{e}");
        assert!(e.to_string().len() < 300, "a short message: {e}");
    }
}

#[test]
fn a_one_mib_env_value_is_named_with_its_size_and_the_limit() {
    let mut spec = valid();
    spec.env
        .insert("SECRET_BLOB".into(), "s".repeat(1024 * 1024));
    let errors = validate_spec(spec).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "env.SECRET_BLOB: 1 MiB is over the limit of 32 KiB for an env value: keep large data in \
         a file in the build context or the image, not in the spec"
    );
}

#[test]
fn a_field_over_its_limit_gets_only_that_error_and_no_echo() {
    // Over the limit and malformed: only the limit is reported, and nothing quotes the value.
    let mut spec = valid();
    spec.image = Some(format!("bad image {}", "i".repeat(1024 * 1024)));
    spec.checks.path = "x".repeat(4096);
    spec.cpu = "lots".repeat(100);
    let errors = validate_spec(spec).unwrap_err();
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["app.cpu", "app.image", "checks.path"]);
    assert!(errors.to_string().len() < 1000, "{errors}");
}

#[test]
fn rule_errors_quote_only_a_prefix_of_long_values() {
    // Within the limits but malformed: the message quotes the first characters only.
    let mut spec = valid();
    spec.image = Some(format!("{} {}", "i".repeat(200), "j".repeat(200)));
    let errors = validate_spec(spec).unwrap_err();
    let m = &errors.0[0].message;
    assert!(
        m.starts_with(&format!(
            "\"{}…\" (401 bytes) is not an image reference",
            "i".repeat(40)
        )),
        "{m}"
    );
    let mut spec = valid();
    spec.env.insert(format!("1{}", "X".repeat(120)), "v".into());
    let errors = validate_spec(spec).unwrap_err();
    assert!(
        errors.0[0].message.starts_with(&format!(
            "\"1{}…\" (121 bytes) is not a valid variable name",
            "X".repeat(39)
        )),
        "{errors}"
    );
    assert!(errors.to_string().len() < 3 * MAX_ENV_KEY, "{errors}");
}

#[test]
fn the_whole_spec_is_bounded_and_its_largest_part_named() {
    let mut spec = valid();
    for i in 0..10 {
        spec.env.insert(format!("PART_{i}"), "v".repeat(30 * KIB));
    }
    let errors = validate_spec(spec).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].field, "env");
    let m = &errors.0[0].message;
    assert!(
        m.starts_with("the whole spec is 301.0 KiB as JSON")
            && m.contains("over the limit of 256 KiB for a spec"),
        "{m}"
    );

    let mut spec = valid();
    spec.command = Some(vec!["x".repeat(MAX_COMMAND_ARG); 2]);
    for i in 0..7 {
        spec.env.insert(format!("PART_{i}"), "v".repeat(30 * KIB));
    }
    assert!(
        validate_spec(spec).is_ok(),
        "226 KiB in all is within the limit"
    );
}
