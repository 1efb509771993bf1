//! Artifact trees: the content hash that names an artifact, moving a built tree into the
//! artifact store, and copying a tree (replica working directories). Owns no policy; it must
//! not run builds or decide where trees live.

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use satusky_core::digest::hex;

/// Hash `tree` and move it to `artifacts/sha256-HASH` (or drop it when that exists).
/// Returns (`sha256:HASH`, whether it existed).
pub(super) fn store_tree(tree: &Path, artifacts: &Path) -> io::Result<(String, bool)> {
    let hash = hash_tree(tree)?;
    let dest = artifacts.join(format!("sha256-{hash}"));
    let artifact = format!("sha256:{hash}");
    std::fs::create_dir_all(artifacts)?;
    if dest.is_dir() {
        let _ = remove_tree(tree);
        return Ok((artifact, true));
    }
    if std::fs::rename(tree, &dest).is_err() {
        if dest.is_dir() {
            // Another build stored the same tree first.
            let _ = remove_tree(tree);
            return Ok((artifact, true));
        }
        // Another filesystem: copy, then swap in atomically.
        let tmp = artifacts.join(format!(".tmp-{}", super::unique()));
        copy_tree(tree, &tmp)?;
        std::fs::rename(&tmp, &dest)?;
        let _ = remove_tree(tree);
    }
    Ok((artifact, false))
}

/// SHA-256 over the sorted relative paths, kinds, modes, link targets and file contents.
pub fn hash_tree(root: &Path) -> io::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut stack = vec![PathBuf::new()];
    let mut files = Vec::new();
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(root.join(&rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for n in names {
            let p = rel.join(n);
            let meta = std::fs::symlink_metadata(root.join(&p))?;
            if meta.is_dir() {
                stack.push(p.clone());
            }
            files.push((p, meta));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut buf = vec![0u8; 64 * 1024];
    for (rel, meta) in files {
        let mode = meta.permissions().mode() & 0o777;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            'D'
        } else if ft.is_symlink() {
            'L'
        } else if ft.is_file() {
            'F'
        } else {
            'S'
        };
        ctx.update(format!("{kind} {} {mode:o}\0", rel.display()).as_bytes());
        if ft.is_symlink() {
            let target = std::fs::read_link(root.join(&rel))?;
            ctx.update(format!("{}\0", target.display()).as_bytes());
        } else if ft.is_file() {
            ctx.update(format!("{}\0", meta.len()).as_bytes());
            let mut f = std::fs::File::open(root.join(&rel))?;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                ctx.update(&buf[..n]);
            }
        }
    }
    Ok(hex(ctx.finish().as_ref()))
}

/// Copy a tree: folders, files (with their permissions) and symlinks as they are.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let ft = entry.file_type()?;
        if ft.is_dir() {
            // Folder modes are not copied: a read-only folder would make the copy impossible
            // to clean up, and nothing depends on them.
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// Remove a tree even when it holds read-only folders (a build may leave some, e.g. a Go
/// module cache): on failure, make every folder writable and try again.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Ok(()) => Ok(()),
        Err(_) => {
            make_writable(path);
            std::fs::remove_dir_all(path)
        }
    }
}

fn make_writable(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}
