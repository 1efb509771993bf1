//! Whether the machine has the programs an app needs (a template's `binaries`): looked for on
//! the PATH replicas get (the control plane's own, passed through) and in extra folders, each
//! with at most one `*` (`/usr/lib/postgresql/*/bin`: PostgreSQL's server programs are not on
//! PATH on Debian). A file counts when it is a regular file with an execute bit.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Which of `programs` are in none of `PATH`'s folders nor `also_in`'s.
pub fn missing(programs: &[String], path_var: Option<&str>, also_in: &[String]) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = path_var
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    for pattern in also_in {
        dirs.extend(expand(pattern));
    }
    programs
        .iter()
        .filter(|p| !dirs.iter().any(|d| executable(&d.join(p))))
        .cloned()
        .collect()
}

/// The folders `pattern` names: itself, or with one `*` every match of that path segment.
fn expand(pattern: &str) -> Vec<PathBuf> {
    let Some((before, after)) = pattern.split_once('*') else {
        return vec![PathBuf::from(pattern)];
    };
    // `before` ends inside the segment holding the `*`: split it into parent and prefix.
    let (parent, prefix) = match before.rsplit_once('/') {
        Some((parent, prefix)) => (if parent.is_empty() { "/" } else { parent }, prefix),
        None => return Vec::new(),
    };
    let (suffix, rest) = match after.split_once('/') {
        Some((suffix, rest)) => (suffix, Some(rest)),
        None => (after, None),
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix))
            .then(|| {
                let dir = Path::new(parent).join(&name);
                match rest {
                    Some(rest) => dir.join(rest),
                    None => dir,
                }
            })
        })
        .collect();
    out.sort();
    out
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(dir: &Path, name: &str, mode: u32) {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn programs_are_found_on_path_and_in_globbed_folders() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        program(&bin, "redis-server", 0o755);
        program(&bin, "notes.txt", 0o644);
        program(&root.path().join("lib/postgresql/16/bin"), "initdb", 0o755);
        let path = format!("/nonexistent:{}", bin.display());
        let want = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();

        assert!(missing(&want(&["redis-server"]), Some(&path), &[]).is_empty());
        assert_eq!(
            missing(&want(&["notes.txt", "initdb"]), Some(&path), &[]),
            ["notes.txt", "initdb"],
            "not executable; not on PATH"
        );
        let glob = format!("{}/lib/postgresql/*/bin", root.path().display());
        assert!(missing(&want(&["initdb"]), Some(&path), &[glob]).is_empty());
        let prefixed = format!("{}/lib/postgres*/16/bin", root.path().display());
        assert!(missing(&want(&["initdb"]), None, &[prefixed]).is_empty());
        let wrong = format!("{}/lib/mysql*/bin", root.path().display());
        assert_eq!(missing(&want(&["initdb"]), None, &[wrong]), ["initdb"]);
        assert_eq!(missing(&want(&["initdb"]), None, &[]), ["initdb"]);
    }
}
