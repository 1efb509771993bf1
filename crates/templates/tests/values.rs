//! `--set` values checked against a template's parameters: one diagnostic per problem,
//! naming the parameter and the rule, like a bad flag of `1ctl deploy`.

mod support;

use satusky_templates::{MAX_SET_VALUES, Value, check_values};
use support::{kv1, lines, set};

/// The one problem of `pairs`.
fn problem(pairs: &[(&str, &str)]) -> String {
    let e = check_values(&kv1(), &set(pairs)).expect_err("the values must be refused");
    let lines = lines(&e);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    lines[0].clone()
}

#[test]
fn good_values_are_typed() {
    let values = check_values(
        &kv1(),
        &set(&[
            ("size", "large"),
            ("replicas", "3"),
            ("memory", "1Gi"),
            ("persist", "false"),
            ("database", "orders"),
            ("password", "ABCDEFGHIJKLMNOPQRST"),
        ]),
    )
    .unwrap();
    assert_eq!(values["size"], Value::Text("large".into()));
    assert_eq!(values["replicas"], Value::Int(3));
    assert_eq!(values["memory"], Value::Text("1Gi".into()));
    assert_eq!(values["persist"], Value::Bool(false));
    assert!(matches!(values["password"], Value::Secret(_)));
    assert!(!format!("{values:?}").contains("ABCDEFGHIJKLMNOPQRST"));
}

#[test]
fn unknown_parameters_suggest_the_closest_or_list_them() {
    assert_eq!(
        problem(&[("pasword", "x")]),
        "--set pasword: unknown parameter \"pasword\" of kv@1: did you mean \"password\"?"
    );
    assert_eq!(
        problem(&[("colour", "red")]),
        "--set colour: unknown parameter \"colour\" of kv@1: it takes size, replicas, memory, \
         persist, database, password"
    );
}

#[test]
fn each_rule_is_named() {
    assert_eq!(
        problem(&[("replicas", "three")]),
        "--set replicas: expected a whole number, found \"three\": e.g. replicas=2"
    );
    assert_eq!(
        problem(&[("replicas", "9")]),
        "--set replicas: 9 is out of range: use 1–5"
    );
    assert_eq!(
        problem(&[("persist", "yes")]),
        "--set persist: expected true or false, found \"yes\""
    );
    assert_eq!(
        problem(&[("size", "larg")]),
        "--set size: \"larg\" is not one of: small, medium, large (did you mean \"large\"?)"
    );
    assert_eq!(
        problem(&[("memory", "lots")]),
        "--set memory: \"lots\" is not a memory quantity: use a number with an optional unit, \
         e.g. 256Mi, 1Gi, 512M"
    );
    assert_eq!(
        problem(&[("memory", "32Mi")]),
        "--set memory: 32Mi is out of range: use 64Mi–2Gi"
    );
    assert_eq!(
        problem(&[("database", "Orders")]),
        "--set database: \"Orders\" does not match the pattern [a-z_][a-z0-9_]{0,30}"
    );
}

#[test]
fn a_secret_value_is_never_quoted() {
    let line = problem(&[("password", "short-and-wrong!")]);
    assert_eq!(
        line,
        "--set password: does not match the pattern [A-Za-z0-9]{16,64} (the value is not shown)"
    );
    assert!(!line.contains("short-and-wrong"));
    assert!(problem(&[("password", "")]).contains("is empty"));
    assert!(problem(&[("password", "ABCDEFGHIJKLMNOP\u{7}")]).contains("control character"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = check_values(
        &kv1(),
        &set(&[
            ("replicas", "0"),
            ("size", "huge"),
            ("replicas", "2"),
            ("x", "1"),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        lines(&e),
        [
            "--set replicas: 0 is out of range: use 1–5",
            "--set size: \"huge\" is not one of: small, medium, large",
            "--set replicas: given twice: give each parameter once",
            "--set x: unknown parameter \"x\" of kv@1: it takes size, replicas, memory, persist, \
             database, password",
        ]
    );
}

#[test]
fn values_are_bounded_in_number_and_size() {
    let many: Vec<(String, String)> = (0..=MAX_SET_VALUES)
        .map(|i| (format!("p{i}"), "1".to_owned()))
        .collect();
    let e = check_values(&kv1(), &many).unwrap_err();
    assert_eq!(
        lines(&e),
        ["--set: 65 values given; a deploy takes at most 64"]
    );
    let long = "a".repeat(5000);
    assert_eq!(
        problem(&[("database", &long)]),
        "--set database: the value is 4.9 KiB; a parameter value is at most 4 KiB"
    );
    // A long unknown name is shortened in the field and quoted briefly in the message.
    let name = "n".repeat(200);
    let line = problem(&[(&name, "1")]);
    assert!(line.len() < 200, "{line}");
}
