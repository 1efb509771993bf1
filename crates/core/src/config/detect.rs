//! What `1ctl init` can tell about a folder's app before anything runs: its language, from
//! the files a project of that language always has, and the `[build] command` / `[app]
//! command` that build and start it on the local runtime (the app itself must listen on
//! `$PORT`). Pure: the caller hands in the contents of the few files asked for.

/// The commands found for a folder's app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// `Rust`, `Node.js`, `Python`, `Go`, `Ruby`.
    pub language: &'static str,
    /// The file that told (`Cargo.toml`, `package.json`, …).
    pub marker: &'static str,
    /// `[build] command`, when the app needs building.
    pub build: Option<String>,
    /// `[app] command`.
    pub command: Vec<String>,
}

/// The files [`detect`] may ask for, in the order it tries them.
pub const MARKERS: &[&str] = &[
    "Cargo.toml",
    "package.json",
    "go.mod",
    "requirements.txt",
    "pyproject.toml",
    "Gemfile",
];

/// The app of a folder whose file `name` reads as `read(name)` (`None`: no such file).
/// `None` when no language is recognised, or one is but its entry point is not (a Cargo
/// workspace without a package, a Node app with neither a `start` script nor a main file…).
pub fn detect(read: &dyn Fn(&str) -> Option<String>) -> Option<Detected> {
    let has = |name: &str| read(name).is_some();
    if let Some(text) = read("Cargo.toml") {
        return rust(&text);
    }
    if let Some(text) = read("package.json") {
        return node(&text, &has);
    }
    if has("go.mod") {
        return Some(Detected {
            language: "Go",
            marker: "go.mod",
            build: Some("go build -o app .".to_string()),
            command: vec!["./app".to_string()],
        });
    }
    if has("requirements.txt") || has("pyproject.toml") {
        return python(&has);
    }
    if has("Gemfile") {
        return ruby(&has);
    }
    None
}

fn rust(cargo_toml: &str) -> Option<Detected> {
    let doc: toml::Table = cargo_toml.parse().ok()?;
    let first_bin = doc
        .get("bin")
        .and_then(|b| b.as_array())
        .and_then(|bins| bins.first())
        .and_then(|b| b.get("name"))
        .and_then(|n| n.as_str());
    let package = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str());
    let binary = first_bin.or(package)?;
    Some(Detected {
        language: "Rust",
        marker: "Cargo.toml",
        build: Some("cargo build --release".to_string()),
        command: vec![format!("./target/release/{binary}")],
    })
}

fn node(package_json: &str, has: &dyn Fn(&str) -> bool) -> Option<Detected> {
    let doc: serde_json::Value = serde_json::from_str(package_json).ok()?;
    let has_deps = doc
        .get("dependencies")
        .and_then(|d| d.as_object())
        .is_some_and(|d| !d.is_empty());
    let build = if has("package-lock.json") {
        Some("npm ci --omit=dev".to_string())
    } else if has_deps {
        Some("npm install --omit=dev".to_string())
    } else {
        None
    };
    let start = doc
        .get("scripts")
        .and_then(|s| s.get("start"))
        .and_then(|s| s.as_str());
    let command = match start {
        Some(_) => vec!["npm".to_string(), "start".to_string()],
        None => {
            let main = doc.get("main").and_then(|m| m.as_str());
            let entry = main.filter(|m| has(m)).or_else(|| {
                ["server.js", "index.js", "app.js"]
                    .into_iter()
                    .find(|f| has(f))
            })?;
            vec!["node".to_string(), entry.to_string()]
        }
    };
    Some(Detected {
        language: "Node.js",
        marker: "package.json",
        build,
        command,
    })
}

fn python(has: &dyn Fn(&str) -> bool) -> Option<Detected> {
    let entry = ["app.py", "main.py", "server.py"]
        .into_iter()
        .find(|f| has(f))?;
    let (marker, what) = if has("requirements.txt") {
        ("requirements.txt", "-r requirements.txt")
    } else {
        ("pyproject.toml", ".")
    };
    Some(Detected {
        language: "Python",
        marker,
        build: Some(format!(
            "python3 -m venv .venv && .venv/bin/pip install --quiet --disable-pip-version-check {what}"
        )),
        command: vec![".venv/bin/python".to_string(), entry.to_string()],
    })
}

fn ruby(has: &dyn Fn(&str) -> bool) -> Option<Detected> {
    let command = if has("config.ru") {
        vec![
            "sh".to_string(),
            "-c".to_string(),
            "exec bundle exec rackup -o 127.0.0.1 -p \"$PORT\"".to_string(),
        ]
    } else if has("app.rb") {
        ["bundle", "exec", "ruby", "app.rb"]
            .map(String::from)
            .to_vec()
    } else {
        return None;
    };
    Some(Detected {
        language: "Ruby",
        marker: "Gemfile",
        build: Some("bundle install".to_string()),
        command,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn folder(files: &[(&str, &str)]) -> Option<Detected> {
        let files: HashMap<String, String> = files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        detect(&move |name: &str| files.get(name).cloned())
    }

    #[test]
    fn rust_builds_release_and_runs_the_package_or_first_binary() {
        let d = folder(&[(
            "Cargo.toml",
            "[package]\nname = \"hello\"\nversion = \"0.1.0\"\n",
        )])
        .unwrap();
        assert_eq!(d.language, "Rust");
        assert_eq!(d.build.as_deref(), Some("cargo build --release"));
        assert_eq!(d.command, ["./target/release/hello"]);
        let d = folder(&[(
            "Cargo.toml",
            "[package]\nname = \"x\"\n[[bin]]\nname = \"server\"\npath = \"src/s.rs\"\n",
        )])
        .unwrap();
        assert_eq!(d.command, ["./target/release/server"]);
        assert_eq!(
            folder(&[("Cargo.toml", "[workspace]\nmembers = []\n")]),
            None
        );
        assert_eq!(folder(&[("Cargo.toml", "not toml [")]), None);
    }

    #[test]
    fn node_prefers_the_start_script_then_main_then_a_usual_file() {
        let d = folder(&[("package.json", r#"{"scripts":{"start":"node s.js"}}"#)]).unwrap();
        assert_eq!(d.command, ["npm", "start"]);
        assert_eq!(d.build, None, "no dependencies: nothing to install");
        let d = folder(&[
            (
                "package.json",
                r#"{"main":"srv.js","dependencies":{"x":"1"}}"#,
            ),
            ("srv.js", ""),
        ])
        .unwrap();
        assert_eq!(d.command, ["node", "srv.js"]);
        assert_eq!(d.build.as_deref(), Some("npm install --omit=dev"));
        let d = folder(&[
            ("package.json", "{}"),
            ("index.js", ""),
            ("package-lock.json", "{}"),
        ])
        .unwrap();
        assert_eq!(d.command, ["node", "index.js"]);
        assert_eq!(d.build.as_deref(), Some("npm ci --omit=dev"));
        assert_eq!(folder(&[("package.json", "{}")]), None, "no entry point");
    }

    #[test]
    fn python_installs_into_a_venv_and_runs_the_usual_entry_file() {
        let d = folder(&[("requirements.txt", ""), ("app.py", "")]).unwrap();
        assert_eq!((d.language, d.marker), ("Python", "requirements.txt"));
        assert_eq!(
            d.build.as_deref(),
            Some(
                "python3 -m venv .venv && .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt"
            )
        );
        assert_eq!(d.command, [".venv/bin/python", "app.py"]);
        let d = folder(&[("pyproject.toml", ""), ("main.py", "")]).unwrap();
        assert_eq!(d.marker, "pyproject.toml");
        assert_eq!(d.command, [".venv/bin/python", "main.py"]);
        assert_eq!(folder(&[("requirements.txt", "")]), None, "no entry file");
    }

    #[test]
    fn go_and_ruby() {
        let d = folder(&[("go.mod", "module x\n")]).unwrap();
        assert_eq!(
            (d.language, d.build.as_deref()),
            ("Go", Some("go build -o app ."))
        );
        assert_eq!(d.command, ["./app"]);
        let d = folder(&[("Gemfile", ""), ("config.ru", "")]).unwrap();
        assert_eq!(d.language, "Ruby");
        assert!(d.command[2].contains("rackup") && d.command[2].contains("$PORT"));
        let d = folder(&[("Gemfile", ""), ("app.rb", "")]).unwrap();
        assert_eq!(d.command, ["bundle", "exec", "ruby", "app.rb"]);
    }

    #[test]
    fn nothing_known_is_nothing_detected() {
        assert_eq!(folder(&[]), None);
        assert_eq!(folder(&[("README.md", "# hi")]), None);
    }
}
