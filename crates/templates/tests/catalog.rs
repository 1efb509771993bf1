//! The built-in catalog as a whole: every template parses, resolves with its defaults on
//! every runtime it names into a spec `satusky-core` accepts, renders to Kubernetes objects
//! where it runs on Kubernetes, and embeds exactly the files of its bundled context.

use std::path::{Path, PathBuf};

use satusky_core::AppHostnames;
use satusky_kube::{RenderInput, SecretRef};
use satusky_templates::{
    Catalog, ContextKind, LookupError, Request, RuntimeKind, StoredParameters, parse_reference,
    resolve,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> Catalog {
    Catalog::builtin().unwrap_or_else(|e| panic!("{}", satusky_core::error_chain(&e)))
}

#[test]
fn the_catalog_has_the_templates_the_issue_asks_for() {
    let catalog = catalog();
    let names: Vec<&str> = catalog.latest().iter().map(|t| t.template.name()).collect();
    for name in ["postgres", "redis", "static-site", "echo", "notes"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    // Every folder of templates/ is in the catalog, and only those.
    let mut folders: Vec<String> = std::fs::read_dir(repo().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    folders.sort();
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(folders, names);
}

#[test]
fn every_template_resolves_with_its_defaults_on_every_runtime_it_names() {
    let catalog = catalog();
    let rng = ring::rand::SystemRandom::new();
    let stored = StoredParameters::new();
    let mut resolved_count = 0;
    for t in catalog.all() {
        let template = &t.template;
        assert!(!template.runtimes.is_empty(), "{}", template.reference);
        for support in &template.runtimes {
            let request = Request {
                app: "demo",
                runtime: support.runtime,
                given: &[],
                stored: &stored,
            };
            let resolved = resolve(template, &request, &rng).unwrap_or_else(|e| {
                panic!(
                    "{} on {}: {}",
                    template.reference,
                    support.runtime,
                    satusky_core::error_chain(&e)
                )
            });
            // Exactly what satusky-core accepts: validating the spec again changes nothing.
            let again = satusky_core::validate_spec(resolved.spec.spec().clone()).unwrap();
            assert_eq!(again.spec(), resolved.spec.spec());
            assert_eq!(resolved.spec.spec().name, "demo");
            assert_eq!(
                resolved.source(),
                format!("template({})", template.reference)
            );
            // Every parameter is stored; every secret parameter was generated and is written.
            assert_eq!(resolved.parameters.len(), template.parameters.len());
            for (name, value) in &resolved.secrets {
                assert!(resolved.spec.spec().secrets.required.contains(name));
                assert!(value.expose().len() >= 16);
            }
            if support.runtime == RuntimeKind::Local {
                assert!(
                    resolved.spec.spec().command.is_some()
                        || resolved.spec.spec().static_site.is_some(),
                    "{}: the local runtime needs a command",
                    template.reference
                );
                assert!(
                    resolved.spec.spec().image.is_none(),
                    "{}",
                    template.reference
                );
            }
            resolved_count += 1;
        }
    }
    assert!(resolved_count >= 9, "{resolved_count}");
}

#[test]
fn every_template_that_runs_on_kubernetes_renders_to_objects() {
    let catalog = catalog();
    let rng = ring::rand::SystemRandom::new();
    let stored = StoredParameters::new();
    let mut rendered = 0;
    for t in catalog.all() {
        let template = &t.template;
        if template.runtime(RuntimeKind::Kubernetes).is_none() {
            continue;
        }
        let request = Request {
            app: template.name(),
            runtime: RuntimeKind::Kubernetes,
            given: &[],
            stored: &stored,
        };
        let resolved = resolve(template, &request, &rng).unwrap();
        let spec = resolved.spec.spec();
        let image = spec
            .image
            .clone()
            .unwrap_or_else(|| format!("registry.invalid/acme/{}:unbuilt", spec.name));
        let hostnames = AppHostnames::of_app("acme", "apps.example.net", &resolved.spec).unwrap();
        let mut input = RenderInput::new("acme", &resolved.spec, 1, image, hostnames);
        input.secrets = resolved
            .secrets
            .keys()
            .map(|key| SecretRef {
                key: key.clone(),
                version: 1,
            })
            .collect();
        let objects = satusky_kube::render(&input).unwrap_or_else(|e| {
            panic!("{}: {}", template.reference, satusky_core::error_chain(&e))
        });
        let kinds: Vec<String> = objects
            .iter()
            .map(|o| {
                serde_json::to_value(o).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert!(kinds.contains(&"Deployment".to_owned()), "{kinds:?}");
        if spec.volume.is_some() {
            assert!(
                kinds.contains(&"PersistentVolumeClaim".to_owned()),
                "{kinds:?}"
            );
        }
        // The Secret is rendered without values: generated passwords never reach the objects.
        let yaml = satusky_kube::to_yaml(&objects).unwrap();
        for value in resolved.secrets.values() {
            assert!(!yaml.contains(value.expose()), "{}", template.reference);
        }
        rendered += 1;
    }
    assert!(rendered >= 4, "{rendered}");
}

/// Every file under `dir`, relative and `/`-separated, sorted; build output (`target/`)
/// aside.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") && d == dir {
                    continue;
                }
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bundled_contexts_embed_exactly_the_files_of_their_folders() {
    let catalog = catalog();
    for t in catalog.all() {
        let dir = repo()
            .join("templates")
            .join(t.template.name())
            .join("context");
        match t.template.context {
            ContextKind::Bundled => {
                let mut embedded: Vec<String> =
                    t.context.iter().map(|f| f.path.to_owned()).collect();
                embedded.sort();
                assert_eq!(embedded, files(&dir), "{}", t.template.reference);
                for f in t.context {
                    assert_eq!(
                        std::fs::read(dir.join(f.path)).unwrap(),
                        f.bytes,
                        "{}",
                        f.path
                    );
                }
            }
            _ => {
                assert!(t.context.is_empty());
                assert!(
                    !dir.exists(),
                    "{} has a context folder but context is not \"bundled\"",
                    t.template.reference
                );
            }
        }
    }
}

#[test]
fn lookups_by_name_and_version() {
    let catalog = catalog();
    // The newest unless asked; an older version stays resolvable (template@1.toml).
    assert_eq!(catalog.get("redis", None).unwrap().template.version(), 2);
    assert_eq!(catalog.versions("redis"), [1, 2]);
    let v1 = catalog.get("redis", Some(1)).unwrap();
    assert_eq!((v1.template.name(), v1.template.version()), ("redis", 1));
    assert!(v1.template.parameter("eviction").is_none());
    assert!(
        catalog
            .get("redis", Some(2))
            .unwrap()
            .template
            .parameter("eviction")
            .is_some()
    );
    let e = catalog.get("redis", Some(9)).unwrap_err();
    assert_eq!(e.to_string(), "redis has no version 9 (versions: 1, 2)");
    let e = catalog.get("reddis", None).unwrap_err();
    assert!(matches!(e, LookupError::Name { .. }));
    assert_eq!(
        e.to_string(),
        "no template \"reddis\" in the catalog: did you mean \"redis\"?"
    );
    let e = catalog.get("mysql", None).unwrap_err();
    assert!(
        e.to_string()
            .contains("(it has echo, notes, postgres, redis, static-site)"),
        "{e}"
    );
    assert_eq!(parse_reference("redis@2").unwrap(), ("redis", Some(2)));
    assert_eq!(parse_reference("redis").unwrap(), ("redis", None));
    for bad in ["", "@1", "redis@", "redis@x", "redis@-1"] {
        assert!(parse_reference(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_catalog_refuses_a_template_in_the_wrong_folder_or_twice() {
    let text = satusky_templates::catalog::ENTRIES
        .iter()
        .find(|e| e.path == "templates/redis/template.toml")
        .unwrap()
        .text;
    let moved = [satusky_templates::Entry {
        path: "templates/cache/template.toml",
        text,
        context: &[],
    }];
    let e = Catalog::from_entries(&moved).unwrap_err();
    assert_eq!(
        e.to_string(),
        "templates/cache/template.toml declares the template redis: it belongs in templates/redis/"
    );
    let entry = satusky_templates::Entry {
        path: "templates/redis/template.toml",
        text,
        context: &[],
    };
    let e = Catalog::from_entries(&[entry, entry]).unwrap_err();
    assert_eq!(e.to_string(), "redis@2 is in the catalog twice");
}
