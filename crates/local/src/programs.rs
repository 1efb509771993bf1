//! Whether the machine has the programs an app needs (a template's `binaries`): looked for on
//! the PATH replicas get (the control plane's own, passed through) and in extra folders, each
//! with at most one `*` (`/usr/lib/postgresql/*/bin`: PostgreSQL's server programs are not on
//! PATH on Debian). A file counts when it is a regular file the apps' user may run: with an
//! execute bit — for the class that user falls in, and every folder on the way searchable by
//! it, when apps run as another user (`/root/.cargo/bin/cargo` is on root's PATH, yet no app
//! run as `satusky-app` can start it).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::isolation::{Step, first_blocker};

/// Which of `programs` are in none of `PATH`'s folders nor `also_in`'s, for apps run as
/// `run_as` (`(uid, gid)`; `None`: the control plane's own user).
pub fn missing(
    programs: &[String],
    path_var: Option<&str>,
    also_in: &[String],
    run_as: Option<(u32, u32)>,
) -> Vec<String> {
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
        .filter(|p| !dirs.iter().any(|d| runnable(&d.join(p), run_as)))
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

fn runnable(path: &Path, run_as: Option<(u32, u32)>) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let Some((uid, gid)) = run_as else {
        return meta.permissions().mode() & 0o111 != 0;
    };
    // Every folder on the way must be searchable by that user, and the file executable by it
    // (the same class check as searching: owner, else group, else others).
    let mut steps: Vec<Step> = path
        .ancestors()
        .skip(1)
        .filter_map(|dir| {
            let m = std::fs::metadata(dir).ok()?;
            Some(Step {
                path: dir.to_path_buf(),
                mode: m.mode(),
                owner: m.uid(),
                group: m.gid(),
            })
        })
        .collect();
    steps.push(Step {
        path: path.to_path_buf(),
        mode: meta.mode(),
        owner: meta.uid(),
        group: meta.gid(),
    });
    first_blocker(&steps, uid, gid).is_none()
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

        assert!(missing(&want(&["redis-server"]), Some(&path), &[], None).is_empty());
        assert_eq!(
            missing(&want(&["notes.txt", "initdb"]), Some(&path), &[], None),
            ["notes.txt", "initdb"],
            "not executable; not on PATH"
        );
        let glob = format!("{}/lib/postgresql/*/bin", root.path().display());
        assert!(missing(&want(&["initdb"]), Some(&path), &[glob], None).is_empty());
        let prefixed = format!("{}/lib/postgres*/16/bin", root.path().display());
        assert!(missing(&want(&["initdb"]), None, &[prefixed], None).is_empty());
        let wrong = format!("{}/lib/mysql*/bin", root.path().display());
        assert_eq!(
            missing(&want(&["initdb"]), None, &[wrong], None),
            ["initdb"]
        );
        assert_eq!(missing(&want(&["initdb"]), None, &[], None), ["initdb"]);
    }

    #[test]
    fn a_program_behind_a_folder_the_app_user_cannot_search_is_missing_for_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let private = root.path().join("home/.cargo/bin");
        program(&private, "cargo", 0o755);
        let home = root.path().join("home");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = private.display().to_string();
        let cargo = vec!["cargo".to_string()];
        let me = {
            let m = std::fs::metadata(&home).unwrap();
            (m.uid(), m.gid())
        };
        let other = (me.0 + 12_345, me.1 + 12_345);
        assert!(missing(&cargo, Some(&path), &[], None).is_empty());
        assert!(
            missing(&cargo, Some(&path), &[], Some(me)).is_empty(),
            "its owner may"
        );
        assert_eq!(missing(&cargo, Some(&path), &[], Some(other)), ["cargo"]);
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert!(missing(&cargo, Some(&path), &[], Some(other)).is_empty());
    }
}
