//! Snapshots of every fixture's rendered objects, as `satusky render FIXTURE -o yaml` prints
//! them (YAML, `---` before each object). Review a `.snap.new` and accept it deliberately; CI
//! never writes snapshots.

mod common;

use common::{fixture, input, secrets};
use satusky_kube::{render, to_yaml};

fn snapshot(name: &str, with_secrets: bool) {
    let app = fixture(name);
    let mut input = input(&app);
    if with_secrets {
        input.secrets = secrets(&[("DATABASE_URL", 2), ("API_TOKEN", 5)]);
    }
    let yaml = to_yaml(&render(&input).unwrap()).unwrap();
    insta::assert_snapshot!(name, yaml);
}

#[test]
fn minimal() {
    snapshot("minimal", false);
}

#[test]
fn full() {
    snapshot("full", true);
}

#[test]
fn recreate() {
    snapshot("recreate", false);
}

#[test]
fn image_only() {
    snapshot("image-only", false);
}

#[test]
fn percentages() {
    snapshot("percentages", false);
}

#[test]
fn long_hosts() {
    snapshot("long-hosts", false);
}

#[test]
fn namespace() {
    let ns = satusky_kube::render_namespace("acme", "satusky-acme").unwrap();
    insta::assert_snapshot!("namespace", to_yaml(&[ns]).unwrap());
}
