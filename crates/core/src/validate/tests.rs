//! One test per rule of `validate_spec`: each starts from a valid, fully-populated spec, breaks
//! exactly one rule and expects exactly that field's error.

use std::collections::BTreeMap;

use satusky_types::{
    BuildSpec, ChecksSpec, DeploySpec, DomainSpec, HpaSpec, PdbSpec, SecretsSpec, Strategy,
    VolumeSpec, VpaMode, VpaSpec,
};

use super::*;

pub(super) fn valid() -> AppSpec {
    AppSpec {
        name: "my-api".into(),
        port: 8080,
        replicas: 2,
        cpu: "250m".into(),
        cpu_limit: Some("1".into()),
        memory: "256Mi".into(),
        memory_limit: Some("512Mi".into()),
        image: Some("ghcr.io/acme/api:1.4".into()),
        command: Some(vec!["./server".into()]),
        zone: Some("dev-1".into()),
        expose: Default::default(),
        build: BuildSpec {
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            command: Some("cargo build --release".into()),
            env: BTreeMap::from([("NODE_ENV".into(), "production".into())]),
        },
        checks: ChecksSpec {
            path: "/healthz".into(),
            expect: "2xx".into(),
            timeout_ms: 2000,
        },
        deploy: DeploySpec {
            // `[volume]` below: one writer.
            strategy: Strategy::Recreate,
            max_surge: "25%".into(),
            max_unavailable: "0".into(),
            progress_deadline_seconds: 600,
        },
        env: BTreeMap::from([("LOG_LEVEL".into(), "info".into())]),
        secrets: SecretsSpec {
            required: vec!["DATABASE_URL".into(), "API_KEY".into()],
        },
        domains: vec![
            DomainSpec {
                host: "api.example.com".into(),
                redirect_to: None,
            },
            DomainSpec {
                host: "www.example.com".into(),
                redirect_to: Some("https://api.example.com".into()),
            },
        ],
        volume: Some(VolumeSpec {
            size: "1Gi".into(),
            mount: "/data".into(),
            storage_class: Some("standard".into()),
        }),
        static_site: None,
        hpa: Some(HpaSpec {
            min: 2,
            max: 5,
            cpu_target: Some(70),
            memory_target: Some(80),
        }),
        vpa: Some(VpaSpec {
            mode: VpaMode::Off,
            min_cpu: Some("100m".into()),
            min_memory: Some("128Mi".into()),
            max_cpu: Some("2".into()),
            max_memory: Some("1Gi".into()),
        }),
        pdb: Some(PdbSpec {
            min_available: Some("1".into()),
            max_unavailable: None,
        }),
    }
}

/// Breaks one rule and returns the errors, asserting there is exactly one, on `field`.
fn only_error(field: &str, change: impl FnOnce(&mut AppSpec)) -> String {
    let mut spec = valid();
    change(&mut spec);
    let errors = validate_spec(spec)
        .expect_err("the spec should be rejected")
        .0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, field, "{errors:?}");
    errors[0].message.clone()
}

fn assert_contains(message: &str, part: &str) {
    assert!(
        message.contains(part),
        "{message:?} should contain {part:?}"
    );
}

#[test]
fn the_valid_spec_passes_and_is_kept() {
    let app = validate_spec(valid()).unwrap();
    assert_eq!(app.spec(), &valid());
    assert_eq!(app.into_spec(), valid());
}

#[test]
fn minimal_spec_passes() {
    let mut spec = valid();
    (
        spec.cpu_limit,
        spec.memory_limit,
        spec.image,
        spec.command,
        spec.zone,
    ) = (None, None, None, None, None);
    (spec.volume, spec.hpa, spec.vpa, spec.pdb) = (None, None, None, None);
    spec.build.command = None;
    spec.env.clear();
    spec.domains.clear();
    spec.replicas = 0;
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn app_rules() {
    let m = only_error("app.name", |s| s.name = "My_App".into());
    assert_contains(&m, "\"My_App\" is not a valid app name");
    assert_contains(&only_error("app.port", |s| s.port = 0), "1–65535");
    assert_contains(
        &only_error("app.replicas", |s| s.replicas = 1001),
        "limit of 1000",
    );
    assert!(
        validate_spec(AppSpec {
            replicas: 1000,
            ..valid()
        })
        .is_ok()
    );
    assert_contains(
        &only_error("app.cpu", |s| s.cpu = "lots".into()),
        "not a CPU quantity",
    );
    assert_contains(
        &only_error("app.cpu", |s| s.cpu = "0".into()),
        "more than 0",
    );
    let m = only_error("app.memory", |s| s.memory = "12 apples".into());
    assert_contains(&m, "\"12 apples\" is not a memory quantity");
    assert_contains(
        &only_error("app.memory", |s| s.memory = "0Mi".into()),
        "more than 0",
    );
    let m = only_error("app.cpu_limit", |s| s.cpu_limit = Some("x".into()));
    assert_contains(&m, "not a CPU quantity");
    let m = only_error("app.memory_limit", |s| s.memory_limit = Some("1 GB".into()));
    assert_contains(&m, "not a memory quantity");
    let m = only_error("app.image", |s| s.image = Some("my image".into()));
    assert_contains(&m, "not an image reference");
    let m = only_error("app.command", |s| s.command = Some(vec![]));
    assert_contains(&m, "must name a program");
    only_error("app.command", |s| s.command = Some(vec![" ".into()]));
    assert_contains(
        &only_error("app.zone", |s| s.zone = Some("Dev_1".into())),
        "zone name",
    );
}

#[test]
fn limits_must_cover_requests() {
    let m = only_error("app.cpu_limit", |s| s.cpu_limit = Some("200m".into()));
    assert_contains(&m, "the cpu limit 200m is below the cpu request 250m");
    let m = only_error("app.memory_limit", |s| {
        s.memory_limit = Some("255Mi".into())
    });
    assert_contains(&m, "raise memory_limit");
    // Equal is fine, and units may differ.
    let mut spec = valid();
    spec.cpu_limit = Some("0.25".into());
    spec.memory_limit = Some("268435456".into());
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn build_rules() {
    only_error("build.dockerfile", |s| s.build.dockerfile = " ".into());
    only_error("build.context", |s| s.build.context = String::new());
    only_error("build.command", |s| s.build.command = Some(String::new()));
}

#[test]
fn checks_rules() {
    let m = only_error("checks.path", |s| s.checks.path = "healthz".into());
    assert_contains(&m, "start it with '/'");
    let m = only_error("checks.expect", |s| s.checks.expect = "ok".into());
    assert_contains(&m, "2xx");
    only_error("checks.expect", |s| s.checks.expect = "600".into());
    for fine in ["3xx", "2xx,3xx", "200,204", "599", "100"] {
        let mut spec = valid();
        spec.checks.expect = fine.into();
        assert!(validate_spec(spec).is_ok(), "{fine}");
    }
    assert_contains(
        &only_error("checks.timeout", |s| s.checks.timeout_ms = 0),
        "more than 0",
    );
}

#[test]
fn deploy_rules() {
    let m = only_error("deploy.max_surge", |s| s.deploy.max_surge = "lots".into());
    assert_contains(&m, "integer or a percentage");
    only_error("deploy.max_unavailable", |s| {
        s.deploy.max_unavailable = "-1".into()
    });
    let m = only_error("deploy.max_unavailable", |s| {
        s.deploy.max_surge = "0%".into()
    });
    assert_contains(&m, "both 0");
    let m = only_error("deploy.progress_deadline", |s| {
        s.deploy.progress_deadline_seconds = 0
    });
    assert_contains(&m, "more than 0");
    let mut spec = valid();
    (spec.deploy.max_surge, spec.deploy.max_unavailable) = ("0".into(), "1".into());
    assert!(validate_spec(spec).is_ok());
    // A volume has one writer: rolling is refused, naming both fields and the fix.
    let m = only_error("deploy.strategy", |s| s.deploy.strategy = Strategy::Rolling);
    assert_contains(&m, "\"rolling\" cannot be used with [volume]");
    assert_contains(&m, "set strategy = \"recreate\"");
    let mut spec = valid();
    (spec.deploy.strategy, spec.volume) = (Strategy::Rolling, None);
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn env_rules() {
    let with_key = |key: &str| {
        let key = key.to_owned();
        move |s: &mut AppSpec| {
            s.env.insert(key, "v".into());
        }
    };
    assert_contains(
        &only_error("env.1X", with_key("1X")),
        "not a valid variable name",
    );
    only_error("env.A-B", with_key("A-B"));
    only_error("env.", with_key(""));
    let m = only_error("env.SATUSKY_ORG", with_key("SATUSKY_ORG"));
    assert_contains(&m, "reserved");
    assert_contains(&only_error("env.PORT", with_key("PORT")), "reserved");
    let mut spec = valid();
    for ok in ["_x", "a1", "Port", "SATUSKY"] {
        spec.env.insert(ok.into(), String::new());
    }
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn env_names_follow_the_secret_name_rule() {
    // One name rule for env and secrets (`secrets::check_name`): a non-ASCII letter is refused.
    let m = only_error("env.ÉTAT", |s| {
        s.env.insert("ÉTAT".into(), "v".into());
    });
    assert_contains(&m, "not a valid variable name");
    assert_contains(&m, "e.g. DATABASE_URL");
}

#[test]
fn build_env_rules() {
    let with_key = |key: &str| {
        let key = key.to_owned();
        move |s: &mut AppSpec| {
            s.build.env.insert(key, "v".into());
        }
    };
    let m = only_error("build.env.1X", with_key("1X"));
    assert_contains(&m, "\"1X\" is not a valid variable name");
    only_error("build.env.A-B", with_key("A-B"));
    only_error("build.env.", with_key(""));
    let m = only_error("build.env.SATUSKY_ORG", with_key("SATUSKY_ORG"));
    assert_contains(&m, "reserved");
    let mut spec = valid();
    // A build has no port, and may set a name the app's [env] or a secret also uses.
    for ok in ["PORT", "LOG_LEVEL", "DATABASE_URL", "_x"] {
        spec.build.env.insert(ok.into(), String::new());
    }
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn required_secret_rules() {
    let with_name = |name: &str| {
        let name = name.to_owned();
        move |s: &mut AppSpec| s.secrets.required.push(name)
    };
    let m = only_error("secrets.required[2]", with_name("db-url"));
    assert_contains(
        &m,
        "\"db-url\" is not a valid secret name: a name is letters",
    );
    let m = only_error("secrets.required[2]", with_name("SATUSKY_TOKEN"));
    assert_contains(&m, "reserved");
    let m = only_error("secrets.required[2]", with_name("PORT"));
    assert_contains(&m, "reserved");
    let m = only_error("secrets.required[2]", with_name("API_KEY"));
    assert_eq!(
        m,
        "API_KEY is listed twice in [secrets] required: remove the duplicate"
    );
    let m = only_error("secrets.required[0]", |s| {
        s.env.insert("DATABASE_URL".into(), "postgres://x".into());
    });
    assert_eq!(
        m,
        "DATABASE_URL is both in [env] and [secrets] required: a key is either an env value or a \
         secret — remove it from [env] and `1ctl secret set DATABASE_URL=…`"
    );
    assert!(!m.contains("postgres://x"), "the value is never quoted");
    let mut spec = valid();
    spec.secrets = SecretsSpec::default();
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn domain_rules() {
    let m = only_error("domains[0].host", |s| {
        s.domains[0].host = "API.example.com".into()
    });
    assert_contains(&m, "lowercase");
    let m = only_error("domains[1].host", |s| {
        s.domains[1].host = "api.example.com".into();
        s.domains[1].redirect_to = None;
    });
    assert_contains(&m, "listed twice");
    let m = only_error("domains[1].redirect_to", |s| {
        s.domains[1].redirect_to = Some("api.example.com".into())
    });
    assert_contains(&m, "absolute http(s) URL");
    for bad in [
        "ftp://x.com",
        "https://",
        "https://a b.com",
        "https://u@x.com",
        "http://x.com:0",
    ] {
        only_error("domains[1].redirect_to", |s| {
            s.domains[1].redirect_to = Some(bad.into())
        });
    }
    let m = only_error("domains[1].redirect_to", |s| {
        s.domains[1].redirect_to = Some("https://www.example.com/path".into())
    });
    assert_contains(&m, "to itself");
    // Two redirect hosts pointing at each other: one error, naming the loop.
    let m = only_error("domains[1].redirect_to", |s| {
        s.domains[1].redirect_to = Some("https://old.example.com/".into());
        s.domains.push(DomainSpec {
            host: "old.example.com".into(),
            redirect_to: Some("https://www.example.com".into()),
        });
    });
    assert_contains(&m, "www.example.com → old.example.com → www.example.com");
    assert_contains(&m, "redirect loop");
    // A chain that ends at a serving host is fine.
    let mut spec = valid();
    spec.domains[1].redirect_to = Some("https://old.example.com/".into());
    spec.domains.push(DomainSpec {
        host: "old.example.com".into(),
        redirect_to: Some("https://api.example.com".into()),
    });
    assert!(validate_spec(spec).is_ok());
    for ok in ["http://api.example.com:8080/x?y#z", "https://example.com/"] {
        let mut spec = valid();
        spec.domains[1].redirect_to = Some(ok.into());
        assert!(validate_spec(spec).is_ok(), "{ok}");
    }
}

#[test]
fn volume_rules() {
    let m = only_error("volume.size", |s| {
        if let Some(v) = &mut s.volume {
            v.size = "huge".into();
        }
    });
    assert_contains(&m, "storage size");
    only_error("volume.size", |s| {
        if let Some(v) = &mut s.volume {
            v.size = "0".into();
        }
    });
    for bad in ["data", "/", "/data/../etc", ""] {
        let m = only_error("volume.mount", |s| {
            if let Some(v) = &mut s.volume {
                v.mount = bad.into();
            }
        });
        assert_contains(&m, "absolute path");
    }
    only_error("volume.storage_class", |s| {
        if let Some(v) = &mut s.volume {
            v.storage_class = Some("Fast SSD".into());
        }
    });
}

#[test]
fn hpa_rules() {
    let hpa = |f: fn(&mut HpaSpec)| {
        move |s: &mut AppSpec| {
            if let Some(h) = &mut s.hpa {
                f(h);
            }
        }
    };
    assert_contains(&only_error("hpa.min", hpa(|h| h.min = 0)), "at least 1");
    assert_contains(&only_error("hpa.max", hpa(|h| h.max = 1)), "below hpa.min");
    only_error("hpa.max", hpa(|h| h.max = 1001));
    only_error("hpa.cpu_target", hpa(|h| h.cpu_target = Some(0)));
    only_error("hpa.cpu_target", hpa(|h| h.cpu_target = Some(101)));
    only_error("hpa.memory_target", hpa(|h| h.memory_target = Some(0)));
    let mut spec = valid();
    spec.hpa = Some(HpaSpec {
        min: 3,
        max: 3,
        cpu_target: Some(100),
        memory_target: None,
    });
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn vpa_rules() {
    let vpa = |f: fn(&mut VpaSpec)| {
        move |s: &mut AppSpec| {
            if let Some(v) = &mut s.vpa {
                f(v);
            }
        }
    };
    only_error("vpa.min_cpu", vpa(|v| v.min_cpu = Some("x".into())));
    only_error("vpa.max_cpu", vpa(|v| v.max_cpu = Some("1Gi".into())));
    only_error(
        "vpa.min_memory",
        vpa(|v| v.min_memory = Some("lots".into())),
    );
    only_error("vpa.max_memory", vpa(|v| v.max_memory = Some("1 G".into())));
    let m = only_error(
        "vpa.max_memory",
        vpa(|v| v.max_memory = Some("64Mi".into())),
    );
    assert_contains(&m, "below min_memory");
    only_error("vpa.max_cpu", vpa(|v| v.max_cpu = Some("50m".into())));
}

#[test]
fn pdb_rules() {
    let pdb = |min: Option<&str>, max: Option<&str>| {
        let p = PdbSpec {
            min_available: min.map(Into::into),
            max_unavailable: max.map(Into::into),
        };
        move |s: &mut AppSpec| s.pdb = Some(p)
    };
    assert_contains(&only_error("pdb", pdb(Some("1"), Some("1"))), "exactly one");
    only_error("pdb", pdb(None, None));
    only_error("pdb.min_available", pdb(Some("one"), None));
    only_error("pdb.max_unavailable", pdb(None, Some("120%")));
    let mut spec = valid();
    pdb(None, Some("50%"))(&mut spec);
    assert!(validate_spec(spec).is_ok());
}

#[test]
fn all_errors_are_collected_and_displayed_one_per_line() {
    let mut spec = valid();
    spec.name = "Bad".into();
    spec.memory = "12 apples".into();
    spec.checks.path = "x".into();
    let errors = validate_spec(spec).unwrap_err();
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["app.name", "app.memory", "checks.path"]);
    let text = errors.to_string();
    assert_eq!(text.lines().count(), 3);
    assert!(
        text.starts_with("app.name: \"Bad\" is not a valid app name"),
        "{text}"
    );
    let as_error: &dyn std::error::Error = &errors;
    assert!(as_error.source().is_none());
}
