//! Resolution: a template and its values → exactly what a `satusky.toml` produces, the
//! parameters to store, the secrets to write, the outputs; upgrades keeping stored values.

mod support;

use std::path::Path;

use satusky_core::Overrides;
use satusky_templates::{
    Catalog, ContextKind, Expose, Request, ResolveError, Resolved, RuntimeKind, StoredParameters,
    StoredValue, Template, parse, resolve,
};
use support::{Counting, KV1, PATH, edit, kv1, lines, set};

fn run(
    template: &Template,
    runtime: RuntimeKind,
    given: &[(&str, &str)],
    stored: &StoredParameters,
) -> Result<Resolved, ResolveError> {
    let given = set(given);
    let request = Request {
        app: "cache",
        runtime,
        given: &given,
        stored,
    };
    resolve(template, &request, &Counting::new())
}

fn local(given: &[(&str, &str)]) -> Result<Resolved, ResolveError> {
    run(&kv1(), RuntimeKind::Local, given, &StoredParameters::new())
}

#[test]
fn the_spec_is_exactly_what_the_same_satusky_toml_gives() {
    let resolved = local(&[("database", "orders"), ("replicas", "3")]).unwrap();
    let by_hand = r#"
[app]
name = "cache"
expose = "tcp"
replicas = 3
memory = "128Mi"
command = ["kv-server", "--db", "orders", "--size=small"]

[env]
KV_PERSIST = "true"

[secrets]
required = ["KV_PASSWORD"]
"#;
    let file =
        satusky_core::parse_str(by_hand, Path::new("satusky.toml"), &Overrides::default()).unwrap();
    assert_eq!(resolved.spec, file);
    assert_eq!(resolved.source(), "template(kv@1)");
    assert_eq!(resolved.expose, Expose::Tcp);
    assert_eq!(
        resolved.spec.spec().expose,
        Expose::Tcp,
        "the spec carries it"
    );
    assert_eq!(resolved.context, ContextKind::None);
    assert_eq!(resolved.spec.spec().static_site, None);
}

#[test]
fn parameters_are_stored_and_secrets_generated_once() {
    let resolved = local(&[("database", "orders")]).unwrap();
    assert_eq!(resolved.generated, ["password"]);
    let password = resolved.secrets["KV_PASSWORD"].clone();
    // Counting::new() draws 0, 1, 2, … → "ABC…" (24 characters, the parameter's length).
    assert_eq!(password.expose(), "ABCDEFGHIJKLMNOPQRSTUVWX");
    assert_eq!(
        resolved.parameters["password"],
        StoredValue::Secret(password.clone())
    );
    assert_eq!(
        resolved.parameters["database"],
        StoredValue::Plain("orders".into())
    );
    assert_eq!(
        resolved.parameters["replicas"],
        StoredValue::Plain("1".into())
    );
    assert_eq!(
        resolved.parameters["persist"],
        StoredValue::Plain("true".into())
    );
    assert_eq!(resolved.parameters.len(), 6);
    // Never shown by Debug, never in the spec.
    assert!(!format!("{resolved:?}").contains(password.expose()));
    let spec = serde_json::to_string(resolved.spec.spec()).unwrap();
    assert!(!spec.contains(password.expose()));

    // A second deploy with the stored values: nothing generated, the same password.
    let again = run(&kv1(), RuntimeKind::Local, &[], &resolved.parameters).unwrap();
    assert!(again.generated.is_empty());
    assert_eq!(again.secrets["KV_PASSWORD"], password);
    assert_eq!(again.spec, resolved.spec);
    // A given value wins over the stored one, secrets included.
    let changed = run(
        &kv1(),
        RuntimeKind::Local,
        &[("password", "ZZZZZZZZZZZZZZZZZZZZ"), ("replicas", "2")],
        &resolved.parameters,
    )
    .unwrap();
    assert_eq!(
        changed.secrets["KV_PASSWORD"].expose(),
        "ZZZZZZZZZZZZZZZZZZZZ"
    );
    assert_eq!(changed.spec.spec().replicas, 2);
    assert_eq!(changed.spec.spec().command.as_ref().unwrap()[2], "orders");
}

#[test]
fn outputs_keep_the_address_for_the_caller_and_secrets_as_secrets() {
    let resolved = local(&[("database", "orders")]).unwrap();
    let url = &resolved.outputs["url"];
    assert!(url.is_secret() && url.needs_address());
    assert_eq!(url.redacted(), "kv://orders:<redacted>@{host}:{port}");
    assert_eq!(
        url.fill("cache.acme.internal", 7000).expose(),
        "kv://orders:ABCDEFGHIJKLMNOPQRSTUVWX@cache.acme.internal:7000"
    );
    let name = &resolved.outputs["name"];
    assert!(!name.is_secret() && !name.needs_address());
    assert_eq!(name.fill("h", 1).expose(), "cache/orders");
}

#[test]
fn values_are_escaped_into_the_config_never_parsed_as_it() {
    let catalog = Catalog::builtin().unwrap();
    let echo = &catalog.get("echo", None).unwrap().template;
    let banner = "say \"hi\"\n[app]\nreplicas = 100";
    let resolved = run(
        echo,
        RuntimeKind::Local,
        &[("banner", banner)],
        &StoredParameters::new(),
    )
    .unwrap();
    assert_eq!(resolved.spec.spec().env["ECHO_BANNER"], banner);
    assert_eq!(resolved.spec.spec().replicas, 1);
}

#[test]
fn a_missing_required_parameter_says_how_to_give_it() {
    let e = local(&[]).unwrap_err();
    assert_eq!(e.to_string(), "parameters of kv@1");
    assert_eq!(
        lines(match &e {
            ResolveError::Values { errors, .. } => errors,
            other => panic!("{other:?}"),
        }),
        ["database: missing: kv@1 requires it (The database name) — give it with --set database=…"]
    );
    assert_eq!(e.diagnostics().unwrap().len(), 1);
    // With the given values' problems, all at once.
    let e = local(&[("replicas", "0")]).unwrap_err();
    assert_eq!(e.diagnostics().unwrap().len(), 2);
}

/// Version 2 of kv: replicas at most 3, `persist` gone, a new `tls` parameter.
fn kv2() -> Template {
    let text = edit(KV1, "version = 1", "version = 2");
    let text = edit(&text, "max = 5", "max = 3");
    let text = text.replace("KV_PERSIST = \"{persist}\"", "KV_TLS = \"{tls}\"");
    let text = edit(
        &text,
        "[parameters.persist]\nkind = \"bool\"\ndefault = true\ndescription = \"Keep data on disk\"",
        "[parameters.tls]\nkind = \"bool\"\ndefault = false\ndescription = \"Serve TLS\"",
    );
    parse(PATH, &text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_upgrade_keeps_stored_values_and_the_generated_password() {
    let v1 = local(&[("database", "orders"), ("replicas", "2")]).unwrap();
    let v2 = run(&kv2(), RuntimeKind::Local, &[], &v1.parameters).unwrap();
    assert_eq!(v2.source(), "template(kv@2)");
    assert_eq!(v2.secrets, v1.secrets);
    assert!(v2.generated.is_empty());
    assert_eq!(v2.spec.spec().replicas, 2);
    assert_eq!(v2.spec.spec().command.as_ref().unwrap()[2], "orders");
    assert_eq!(v2.spec.spec().env["KV_TLS"], "false");
    assert_eq!(v2.dropped, ["persist"]);
    assert!(!v2.parameters.contains_key("persist"));
}

#[test]
fn an_upgrade_stops_on_a_stored_value_the_new_version_rejects() {
    let v1 = local(&[("database", "orders"), ("replicas", "5")]).unwrap();
    let e = run(&kv2(), RuntimeKind::Local, &[], &v1.parameters).unwrap_err();
    assert_eq!(e.to_string(), "parameters of kv@2");
    assert_eq!(
        lines(match &e {
            ResolveError::Values { errors, .. } => errors,
            other => panic!("{other:?}"),
        }),
        [
            "replicas: the stored value is not accepted by kv@2: 5 is out of range: use 1–3; give a \
          new one with --set replicas=…"
        ]
    );
    // A stored secret is never read as a plain value.
    let mut stored = v1.parameters.clone();
    stored.insert(
        "database".into(),
        StoredValue::Secret(satusky_core::secrets::SecretValue::new("orders")),
    );
    stored.insert("replicas".into(), StoredValue::Plain("2".into()));
    let e = run(&kv2(), RuntimeKind::Local, &[], &stored).unwrap_err();
    assert_eq!(
        e.diagnostics().unwrap()[0].to_string(),
        "database: the stored value is a secret, and kv@2 takes a plain string: give one with \
         --set database=…"
    );
    // Giving a new value in the same upgrade lets it through.
    let v2 = run(
        &kv2(),
        RuntimeKind::Local,
        &[("replicas", "3")],
        &v1.parameters,
    )
    .unwrap();
    assert_eq!(v2.spec.spec().replicas, 3);
}

#[test]
fn a_template_runs_only_where_it_says() {
    let text = &KV1[..KV1.find("[runtimes.kubernetes]").unwrap()];
    let local_only = parse(PATH, text).unwrap();
    let e = run(
        &local_only,
        RuntimeKind::Kubernetes,
        &[("database", "d")],
        &StoredParameters::new(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "kv@1 does not run on the kubernetes runtime (it runs on: local)"
    );
    let resolved = run(
        &kv1(),
        RuntimeKind::Kubernetes,
        &[("database", "d")],
        &StoredParameters::new(),
    )
    .unwrap();
    assert_eq!(
        resolved.spec.spec().image.as_deref(),
        Some("example.com/kv:1")
    );
}

#[test]
fn the_app_name_is_checked_first() {
    let given = set(&[("database", "d")]);
    let stored = StoredParameters::new();
    let request = Request {
        app: "Not_A_Name",
        runtime: RuntimeKind::Local,
        given: &given,
        stored: &stored,
    };
    let e = resolve(&kv1(), &request, &Counting::new()).unwrap_err();
    assert!(matches!(e, ResolveError::AppName(_)), "{e:?}");
    assert!(
        satusky_core::error_chain(&e).starts_with("the app's name: "),
        "{e}"
    );
}

#[test]
fn a_config_problem_points_into_the_template_and_names_the_parameter() {
    // `path` has no pattern, so a value without a leading / gets through to [checks] path.
    let text = edit(
        KV1,
        "[outputs]",
        "[parameters.path]\nkind = \"string\"\ndefault = \"/healthz\"\ndescription = \"Probe path\"\n\n[outputs]",
    );
    let text = edit(
        &text,
        "KV_PERSIST = \"{persist}\"\n\n[secrets]\nrequired = [\"KV_PASSWORD\"]\n'''\n\n[runtimes.kubernetes]",
        "KV_PERSIST = \"{persist}\"\n\n[checks]\npath = \"{path}\"\n\n[secrets]\nrequired = [\"KV_PASSWORD\"]\n'''\n\n[runtimes.kubernetes]",
    );
    let text = text.replacen(
        "KV_DB = \"{database}\"",
        "KV_DB = \"{database}\"\nKV_PATH = \"{path}\"",
        1,
    );
    let template = parse(PATH, &text).unwrap_or_else(|e| panic!("{e}"));
    let e = run(
        &template,
        RuntimeKind::Local,
        &[("database", "d"), ("path", "healthz")],
        &StoredParameters::new(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "the app part of kv@1 for the local runtime");
    let errors = match &e {
        ResolveError::Config { errors, .. } => errors,
        other => panic!("{other:?}"),
    };
    let lines = lines(errors);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    // Line 69 of the template, where the value of [checks] path starts.
    assert!(
        lines[0].starts_with("templates/kv/template.toml:69:8: checks.path: "),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with(" (from parameter path)"), "{}", lines[0]);
}

#[test]
fn a_secret_the_app_does_not_require_is_a_template_defect() {
    let text = KV1.replacen("[secrets]\nrequired = [\"KV_PASSWORD\"]\n", "", 1);
    let template = parse(PATH, &text).unwrap();
    let e = run(
        &template,
        RuntimeKind::Local,
        &[("database", "d")],
        &StoredParameters::new(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "kv@1 writes the secret KV_PASSWORD, which its app part for the local runtime does not \
         list in [secrets] required"
    );
}

#[test]
fn a_static_site_resolves_its_settings() {
    let catalog = Catalog::builtin().unwrap();
    let site = &catalog.get("static-site", None).unwrap().template;
    let resolved = run(
        site,
        RuntimeKind::Local,
        &[("root", "public")],
        &StoredParameters::new(),
    )
    .unwrap();
    let s = resolved.spec.spec().static_site.clone().unwrap();
    assert_eq!(
        (s.root.as_str(), s.index.as_str()),
        ("public", "index.html")
    );
    assert_eq!(resolved.context, ContextKind::User);
    assert!(resolved.spec.spec().command.is_none());
}

#[test]
fn an_app_part_that_runs_with_another_expose_than_declared_is_a_template_defect() {
    let text = edit(
        KV1,
        "image = \"example.com/kv:1\"",
        "image = \"example.com/kv:1\"\nexpose = \"http\"",
    );
    // The kubernetes part says "http" (and no longer "tcp") under its [app].
    let text = text.replacen(
        "name = \"{app}\"\nexpose = \"tcp\"\nreplicas = {replicas}\nmemory = \"{memory}\"\nimage",
        "name = \"{app}\"\nreplicas = {replicas}\nmemory = \"{memory}\"\nimage",
        1,
    );
    let template = satusky_templates::parse(PATH, &text).unwrap_or_else(|e| panic!("{e}"));
    let err = run(
        &template,
        RuntimeKind::Kubernetes,
        &[("database", "orders")],
        &StoredParameters::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "kv@1 declares expose = \"tcp\" in [template], but its app part for the kubernetes \
         runtime runs with expose = \"http\": write expose = \"tcp\" under its [app]"
    );
}
