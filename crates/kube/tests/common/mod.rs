//! Shared by the render tests: loading fixtures and rendering them as `satusky render` does
//! (org `acme`, release 1, zone `satusky.localhost`, the default Gateway and issuer).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use satusky_core::{AppHostnames, Overrides, ValidatedApp, parse_str};
use satusky_kube::{Object, RenderInput, SecretRef, render};

pub const ORG: &str = "acme";
pub const ZONE: &str = "satusky.localhost";

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.toml"))
}

pub fn fixture(name: &str) -> ValidatedApp {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap();
    parse_str(&text, &path, &Overrides::default()).unwrap()
}

pub fn parse(text: &str) -> ValidatedApp {
    parse_str(text, Path::new("satusky.toml"), &Overrides::default()).unwrap()
}

/// The image `satusky render` uses: the spec's, or a placeholder the deploy replaces.
pub fn image(app: &ValidatedApp) -> String {
    let spec = app.spec();
    spec.image
        .clone()
        .unwrap_or_else(|| format!("registry.invalid/{ORG}/{}:unbuilt", spec.name))
}

/// The app's hostnames in org [`ORG`] under [`ZONE`].
pub fn hostnames(app: &ValidatedApp) -> AppHostnames {
    AppHostnames::of_app(ORG, ZONE, app).unwrap()
}

pub fn input(app: &ValidatedApp) -> RenderInput<'_> {
    RenderInput::new(ORG, app, 1, image(app), hostnames(app))
}

pub fn secrets(pairs: &[(&str, u64)]) -> Vec<SecretRef> {
    pairs
        .iter()
        .map(|(key, version)| SecretRef {
            key: (*key).to_owned(),
            version: *version,
        })
        .collect()
}

pub fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> Option<&'a Object> {
    objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
}

pub fn kinds(objects: &[Object]) -> Vec<(String, String)> {
    objects
        .iter()
        .map(|o| (o.kind().to_owned(), o.name().to_owned()))
        .collect()
}

pub fn render_ok(input: &RenderInput<'_>) -> Vec<Object> {
    render(input).unwrap()
}
