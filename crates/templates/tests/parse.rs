//! Reading template files: a valid one, and every rule of the format reported with the file,
//! line:col and field, in the config reader's style.

mod support;

use satusky_templates::{ContextKind, Expose, Kind, RuntimeKind, Unit, Value, parse};
use support::{KV1, PATH, edit, kv1, lines};

/// The one diagnostic of a template that breaks one rule.
fn only_error(text: &str) -> String {
    let e = parse(PATH, text).expect_err("the template must be refused");
    let lines = lines(&e);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    lines[0].clone()
}

#[test]
fn a_valid_template_reads_into_typed_parameters() {
    let t = kv1();
    assert_eq!(t.reference.to_string(), "kv@1");
    assert_eq!(t.reference.source(), "template(kv@1)");
    assert_eq!(t.expose, Expose::Tcp);
    assert_eq!(t.context, ContextKind::None);
    let names: Vec<&str> = t.parameters.iter().map(|p| p.name.as_str()).collect();
    // The file's order, not the alphabet's.
    assert_eq!(
        names,
        [
            "size", "replicas", "memory", "persist", "database", "password"
        ]
    );
    let p = t.parameter("replicas").unwrap();
    assert_eq!(
        p.kind,
        Kind::Int {
            min: Some(1),
            max: Some(5)
        }
    );
    assert_eq!(p.default, Some(Value::Int(1)));
    let p = t.parameter("memory").unwrap();
    assert!(matches!(
        p.kind,
        Kind::Quantity {
            unit: Unit::Memory,
            ..
        }
    ));
    assert_eq!(p.default, Some(Value::Text("128Mi".into())));
    assert_eq!(
        t.parameter("persist").unwrap().default,
        Some(Value::Bool(true))
    );
    let db = t.parameter("database").unwrap();
    assert!(db.required && db.default.is_none());
    let Kind::Secret { secret, length, .. } = &t.parameter("password").unwrap().kind else {
        panic!("password is a secret");
    };
    assert_eq!((secret.as_str(), *length), ("KV_PASSWORD", 24));
    let runtimes: Vec<RuntimeKind> = t.runtimes.iter().map(|r| r.runtime).collect();
    assert_eq!(runtimes, [RuntimeKind::Local, RuntimeKind::Kubernetes]);
    let local = t.runtime(RuntimeKind::Local).unwrap();
    assert_eq!(local.binaries, ["kv-server"]);
    assert!(local.config().starts_with("[app]\nname = \"{app}\""));
    let outputs: Vec<(&str, &str)> = t
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.text()))
        .collect();
    assert_eq!(
        outputs,
        [
            ("name", "{app}/{database}"),
            ("url", "kv://{database}:{password}@{host}:{port}")
        ]
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    let text = edit(KV1, "version = 1", "version = = 1");
    let e = parse(PATH, &text).unwrap_err();
    assert!(
        lines(&e)[0].starts_with("templates/kv/template.toml:3:"),
        "{e}"
    );
    assert!(e.to_string().contains("invalid TOML"), "{e}");
}

#[test]
fn unknown_sections_and_keys_suggest_the_closest() {
    let text = format!("{KV1}\n[output]\nx = \"y\"\n");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:85:2: output: unknown section [output]: did you mean [outputs]?"
    );
    let text = edit(
        KV1,
        "\"A key-value store\"\nexpose = \"tcp\"",
        "\"A key-value store\"\nexpos = \"tcp\"",
    );
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:5:1: template.expos: unknown key \"expos\" in [template]: did you mean \"expose\"?"
    );
    let text = edit(KV1, "default = \"small\"", "defualt = \"small\"");
    let e = parse(PATH, &text).unwrap_err();
    assert!(
        e.to_string().contains("parameters.size.defualt: unknown key \"defualt\" in [parameters.size]: did you mean \"default\"?"),
        "{e}"
    );
}

#[test]
fn template_metadata_rules() {
    let text = edit(KV1, "name = \"kv\"\n", "");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:1:1: template.name: missing: add name = \"redis\" under [template]"
    );
    let text = edit(KV1, "name = \"kv\"", "name = \"Key_Value\"");
    assert!(only_error(&text).starts_with("templates/kv/template.toml:2:8: template.name: "));
    let text = edit(KV1, "version = 1", "version = 0");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:3:11: template.version: 0 is out of range: use 1–1000000"
    );
    let text = edit(
        KV1,
        "\"A key-value store\"\nexpose = \"tcp\"",
        "\"A key-value store\"\nexpose = \"udp\"",
    );
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:5:10: template.expose: \"udp\" is not an exposure: use http, tcp or none"
    );
}

#[test]
fn parameter_kinds_and_their_keys() {
    let text = edit(KV1, "kind = \"enum\"", "kind = \"choice\"");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:8:8: parameters.size.kind: \"choice\" is not a parameter kind: use one of string, int, bool, enum, quantity, secret"
    );
    let text = edit(KV1, "min = 1\n", "pattern = \"[0-9]\"\n");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:15:1: parameters.replicas.pattern: pattern does not apply to kind int (it applies to string, secret)"
    );
    let text = edit(KV1, "unit = \"memory\"", "unit = \"bytes\"");
    assert!(
        only_error(&text).contains(
            "parameters.memory.unit: \"bytes\" is not a unit: use cpu, memory or storage"
        )
    );
    let text = edit(
        KV1,
        "pattern = \"[a-z_][a-z0-9_]{0,30}\"",
        "pattern = \"(a|b)\"",
    );
    assert!(
        only_error(&text)
            .contains("parameters.database.pattern: pattern \"(a|b)\", character 1: groups")
    );
    let text = edit(
        KV1,
        "values = [\"small\", \"medium\", \"large\"]",
        "values = [\"small\", \"small\"]",
    );
    assert!(only_error(&text).contains("parameters.size.values: list each value once"));
    let text = edit(
        KV1,
        "secret = \"KV_PASSWORD\"",
        "secret = \"SATUSKY_PASSWORD\"",
    );
    assert!(
        only_error(&text).contains("parameters.password.secret: \"SATUSKY_PASSWORD\" is reserved")
    );
    let text = edit(KV1, "length = 24", "length = 8");
    assert!(
        only_error(&text).contains("parameters.password.length: 8 is out of range: use 16–128")
    );
}

#[test]
fn defaults_follow_their_own_rules() {
    let text = edit(KV1, "default = 1\n", "default = 9\n");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:17:11: parameters.replicas.default: 9 is out of range: use 1–5"
    );
    let text = edit(KV1, "default = \"small\"", "default = \"tiny\"");
    assert!(
        only_error(&text)
            .contains("parameters.size.default: \"tiny\" is not one of: small, medium, large")
    );
    let text = edit(KV1, "default = \"128Mi\"", "default = \"4Gi\"");
    assert!(
        only_error(&text).contains("parameters.memory.default: 4Gi is out of range: use 64Mi–2Gi")
    );
    let text = edit(KV1, "default = true", "default = \"yes\"");
    assert!(
        only_error(&text)
            .contains("parameters.persist.default: expected true or false, found string")
    );
    let text = edit(
        KV1,
        "length = 24\n",
        "length = 24\ndefault = \"hunter2hunter2hunter2\"\n",
    );
    assert!(only_error(&text).contains(
        "parameters.password.default: a secret has no default (a default in the catalog is public)"
    ));
    let text = edit(
        KV1,
        "required = true\n",
        "required = true\ndefault = \"db\"\n",
    );
    assert!(
        only_error(&text)
            .contains("parameters.database.required: a parameter with a default is never missing")
    );
    let text = edit(KV1, "required = true\n", "");
    assert!(only_error(&text).contains("parameters.database: give a default, or required = true"));
}

#[test]
fn parameter_names_are_checked() {
    let text = edit(KV1, "[parameters.persist]", "[parameters.Persist]");
    let e = parse(PATH, &text).unwrap_err();
    assert!(
        e.to_string()
            .contains("\"Persist\" is not a parameter name"),
        "{e}"
    );
    let text = edit(KV1, "[parameters.persist]", "[parameters.host]");
    let e = parse(PATH, &text).unwrap_err();
    assert!(e.to_string().contains("\"host\" is reserved"), "{e}");
}

#[test]
fn placeholders_name_what_exists_where_they_are() {
    // A typo, with the closest name.
    let text = edit(KV1, "KV_DB = \"{database}\"", "KV_DB = \"{databse}\"");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:77:10: runtimes.kubernetes.config: unknown placeholder {databse}: did you mean {database}?"
    );
    // A secret never enters the app part: its value would sit in the spec in plain text.
    let text = edit(
        KV1,
        "\"--size={size}\"]",
        "\"--size={size}\", \"{password}\"]",
    );
    let e = only_error(&text);
    assert!(e.starts_with("templates/kv/template.toml:59:65: runtimes.local.config: {password} is a secret: it reaches the app as the secret KV_PASSWORD"), "{e}");
    // '…' strings cannot escape a value.
    let text = edit(KV1, "\"--size={size}\"", "'--size={size}'");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:59:55: runtimes.local.config: {size} is in a '…' string, which cannot hold an escaped value: use a \"…\" string"
    );
    // {host} and {port} belong to outputs.
    let text = edit(
        KV1,
        "KV_SIZE = \"{size}\"",
        "KV_SIZE = \"{size}\"\nKV_HOST = \"{host}\"",
    );
    assert!(only_error(&text).contains("unknown placeholder {host}"));
    // Outputs see every parameter, secrets included, and the address.
    let text = edit(
        KV1,
        "name = \"{app}/{database}\"",
        "name = \"{app}/{nope}\"",
    );
    assert!(only_error(&text).contains("outputs.name: unknown placeholder {nope}"));
}

#[test]
fn a_parameter_nothing_uses_is_a_mistake() {
    let text = KV1.replace("KV_PERSIST = \"{persist}\"\n", "");
    assert_eq!(
        only_error(&text),
        "templates/kv/template.toml:28:13: parameters.persist: declared but never used: put {persist} in an app part, an output or [static], or remove it"
    );
}

#[test]
fn app_parts_are_literal_strings_and_every_runtime_has_one() {
    let before_kubernetes = &KV1[..KV1.find("[runtimes.kubernetes]").unwrap()];
    let basic =
        format!("{before_kubernetes}[runtimes.kubernetes]\nnotes = \"n\"\nconfig = \"[app]\"\n");
    assert_eq!(
        only_error(&basic),
        "templates/kv/template.toml:69:10: runtimes.kubernetes.config: write the app part between \
         ''' and ''' (a multi-line literal string: its text is the satusky.toml as it is, escapes \
         included)"
    );
    let without = format!("{before_kubernetes}[runtimes.kubernetes]\nnotes = \"n\"\n");
    let e = only_error(&without);
    assert!(
        e.contains("runtimes.kubernetes.config: missing: add config = '''…''' here"),
        "{e}"
    );
    let none = &KV1[..KV1.find("[runtimes.local]").unwrap()];
    let e = only_error(none);
    assert!(
        e.contains("runtimes: missing: add [runtimes.local] and/or [runtimes.kubernetes]"),
        "{e}"
    );
    let other = format!("{before_kubernetes}[runtimes.docker]\nnotes = \"n\"\n");
    let e = only_error(&other);
    assert!(
        e.contains("runtimes.docker: unknown key \"docker\" in [runtimes]: expected one of local, kubernetes"),
        "{e}"
    );
}

#[test]
fn a_shared_app_part_serves_runtimes_without_their_own() {
    let local = KV1.find("[runtimes.local]").unwrap();
    let config_start = KV1[local..].find("config = '''").unwrap() + local;
    let config_end = KV1[config_start + 12..].find("'''").unwrap() + config_start + 15;
    let config = &KV1[config_start..config_end];
    let head_end = KV1.find("\n[parameters.size]").unwrap();
    let text = format!(
        "{}\n{config}\n{}[runtimes.local]\nnotes = \"n\"\n",
        &KV1[..head_end],
        &KV1[head_end..local]
    );
    let t = parse(PATH, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.runtimes.len(), 1);
    assert!(
        t.runtime(RuntimeKind::Local)
            .unwrap()
            .config()
            .contains("kv-server")
    );
}

#[test]
fn several_problems_are_all_reported_in_text_order() {
    let text = edit(KV1, "version = 1", "version = \"one\"");
    let text = edit(&text, "default = 1\n", "default = 7\n");
    let e = parse(PATH, &text).unwrap_err();
    let lines = lines(&e);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            "templates/kv/template.toml:3:11: template.version: expected a whole number"
        )
    );
    assert!(lines[1].starts_with(
        "templates/kv/template.toml:17:11: parameters.replicas.default: 7 is out of range"
    ));
}

#[test]
fn a_template_is_bounded() {
    let big = format!("{KV1}\n# {}\n", "x".repeat(300 * 1024));
    assert!(only_error(&big).contains("a template is at most 256 KiB"));
}
