//! The build context as a tar.gz, in memory: walk the folder, honour `.dockerignore`
//! ([`crate::ignore`]), store symlinks as symlinks (never followed), and stop at a size cap.
//!
//! The archive is deterministic (entries sorted, tar's `Deterministic` header mode: no
//! owners, a fixed mtime, modes 0644/0755, gzip without a timestamp) so an unchanged folder
//! packs to the same bytes and the control plane's content address can reuse its build.
//! Always left out: directories named `.git` and `.satusky` (at any depth) and what is not
//! a file, a directory or a symlink (sockets, fifos, devices). Everything else is up to
//! `.dockerignore` — no other magic. Checking what the archive holds (`..`, links leaving
//! the tree, caps) is the control plane's job. This module does no network I/O and prints
//! nothing.

use std::cell::Cell;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{Builder, HeaderMode};

use crate::ignore::Matcher;

/// Directory names never packed: version control and the local control plane's state.
const ALWAYS_SKIPPED: &[&str] = &[".git", ".satusky"];

/// The ignore file read from the context root.
pub const IGNORE_FILE: &str = ".dockerignore";

/// One thing to put in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the context root, `/`-separated.
    pub name: String,
    pub kind: Kind,
    /// File size in bytes (0 for directories and links).
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

/// A packed context.
#[derive(Debug)]
pub struct Packed {
    /// The tar.gz.
    pub bytes: Vec<u8>,
    /// Files and symlinks (directories not counted).
    pub files: u64,
    /// Sum of the file sizes.
    pub unpacked: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("the build context {} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the archive: {0}")]
    Write(#[source] io::Error),
    /// The compressed archive passed `limit` bytes; `largest` are the biggest top-level
    /// entries (name, unpacked bytes), biggest first.
    #[error("the build context is over {limit} bytes compressed")]
    TooLarge {
        limit: u64,
        largest: Vec<(String, u64)>,
    },
}

/// Lists what the archive of `root` will hold, in archive order. `always` are paths kept
/// even when `.dockerignore` excludes them (Docker always sends its Dockerfile).
pub fn entries(root: &Path, always: &[String]) -> Result<Vec<Entry>, PackError> {
    let meta = fs::metadata(root).map_err(|source| PackError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(PackError::NotAFolder(root.to_path_buf()));
    }
    let ignore_path = root.join(IGNORE_FILE);
    let matcher = match fs::read_to_string(&ignore_path) {
        Ok(text) => Matcher::parse(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Matcher::default(),
        Err(source) => {
            return Err(PackError::Read {
                path: ignore_path,
                source,
            });
        }
    };
    let mut out = Vec::new();
    walk(root, "", &matcher, always, &mut out)?;
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &str,
    matcher: &Matcher,
    always: &[String],
    out: &mut Vec<Entry>,
) -> Result<(), PackError> {
    let path = if dir.is_empty() {
        root.to_path_buf()
    } else {
        root.join(dir)
    };
    let read_err = |source| PackError::Read {
        path: path.clone(),
        source,
    };
    let mut children = fs::read_dir(&path)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    children.sort();
    for child in children {
        let Some(child) = child.to_str().map(str::to_string) else {
            // Not UTF-8: tar can store it, but the server and the build would choke on it.
            return Err(PackError::Read {
                path: path.join(&child),
                source: io::Error::new(io::ErrorKind::InvalidData, "the name is not UTF-8"),
            });
        };
        let name = if dir.is_empty() {
            child.clone()
        } else {
            format!("{dir}/{child}")
        };
        let full = root.join(&name);
        let meta = fs::symlink_metadata(&full).map_err(|source| PackError::Read {
            path: full.clone(),
            source,
        })?;
        let kept = !matcher.excluded(&name) || always.contains(&name);
        let ft = meta.file_type();
        if ft.is_dir() {
            if ALWAYS_SKIPPED.contains(&child.as_str()) {
                continue;
            }
            if kept {
                out.push(Entry {
                    name: name.clone(),
                    kind: Kind::Dir,
                    size: 0,
                });
            }
            let keep_reading = kept
                || matcher.may_reinclude_below(&name)
                || always.iter().any(|a| a.starts_with(&format!("{name}/")));
            if keep_reading {
                walk(root, &name, matcher, always, out)?;
            }
        } else if kept && (ft.is_file() || ft.is_symlink()) {
            let (kind, size) = if ft.is_symlink() {
                (Kind::Symlink, 0)
            } else {
                (Kind::File, meta.len())
            };
            out.push(Entry { name, kind, size });
        }
    }
    Ok(())
}

/// Packs `entries` of `root` into a tar.gz of at most `limit` compressed bytes.
pub fn pack(root: &Path, entries: &[Entry], limit: u64) -> Result<Packed, PackError> {
    let over = Rc::new(Cell::new(false));
    let sink = Capped {
        buf: Vec::new(),
        limit,
        over: over.clone(),
    };
    let too_large = || PackError::TooLarge {
        limit,
        largest: largest(entries, 3),
    };
    let mut builder = Builder::new(GzEncoder::new(sink, Compression::default()));
    builder.mode(HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    let mut files = 0;
    let mut unpacked = 0;
    for e in entries {
        let path = root.join(&e.name);
        let added = match e.kind {
            Kind::Dir => builder.append_dir(&e.name, &path),
            Kind::File | Kind::Symlink => builder.append_path_with_name(&path, &e.name),
        };
        if let Err(source) = added {
            if over.get() {
                return Err(too_large());
            }
            return Err(PackError::Read { path, source });
        }
        if e.kind != Kind::Dir {
            files += 1;
            unpacked += e.size;
        }
    }
    let finished = builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| {
            if over.get() {
                too_large()
            } else {
                PackError::Write(e)
            }
        })?;
    Ok(Packed {
        bytes: finished.buf,
        files,
        unpacked,
    })
}

/// The `n` biggest top-level entries of the context by unpacked size, biggest first (what
/// to put in `.dockerignore` when the context is too large).
pub fn largest(entries: &[Entry], n: usize) -> Vec<(String, u64)> {
    let mut sizes: Vec<(String, u64)> = Vec::new();
    for e in entries {
        let (top, nested) = match e.name.split_once('/') {
            Some((top, _)) => (top, true),
            None => (e.name.as_str(), e.kind == Kind::Dir),
        };
        let label = if nested {
            format!("{top}/")
        } else {
            top.to_string()
        };
        match sizes.iter_mut().find(|(l, _)| *l == label) {
            Some((_, size)) => *size += e.size,
            None => sizes.push((label, e.size)),
        }
    }
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sizes.truncate(n);
    sizes
}

/// A `Vec` writer that fails once more than `limit` bytes were written.
struct Capped {
    buf: Vec<u8>,
    limit: u64,
    over: Rc<Cell<bool>>,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if (self.buf.len() + data.len()) as u64 > self.limit {
            self.over.set(true);
            return Err(io::Error::other("the archive passed its size limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `3.1 MiB`, `12.0 KiB`, `512 B`.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn write(root: &Path, name: &str, text: &str) {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, text).expect("write");
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// (name, entry type, link target) of every entry of a tar.gz.
    fn unpack(bytes: &[u8]) -> Vec<(String, tar::EntryType, Option<String>, Vec<u8>)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        archive
            .entries()
            .expect("entries")
            .map(|e| {
                let mut e = e.expect("entry");
                let name = e.path().expect("path").to_string_lossy().into_owned();
                let kind = e.header().entry_type();
                let link = e
                    .link_name()
                    .expect("link")
                    .map(|l| l.to_string_lossy().into_owned());
                let mut body = Vec::new();
                e.read_to_end(&mut body).expect("read");
                (name, kind, link, body)
            })
            .collect()
    }

    #[test]
    fn dockerignore_decides_and_vcs_state_is_always_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        write(
            root,
            ".dockerignore",
            "# build output\ntarget\n*.log\n!keep.log\n",
        );
        write(root, "src/main.rs", "fn main() {}");
        write(root, "target/debug/app", "binary");
        write(root, "a.log", "x");
        write(root, "keep.log", "y");
        write(root, ".git/HEAD", "ref");
        write(root, "sub/.git/HEAD", "ref");
        write(root, ".satusky/state.db", "db");
        write(root, "Dockerfile", "FROM x");
        let e = entries(root, &[]).expect("entries");
        assert_eq!(
            names(&e),
            vec![
                ".dockerignore",
                "Dockerfile",
                "keep.log",
                "src",
                "src/main.rs",
                "sub"
            ]
        );
    }

    #[test]
    fn no_dockerignore_means_no_magic() {
        let dir = tempfile::tempdir().expect("dir");
        write(dir.path(), "target/x", "1");
        write(dir.path(), "node_modules/y", "2");
        let e = entries(dir.path(), &[]).expect("entries");
        assert_eq!(
            names(&e),
            vec!["node_modules", "node_modules/y", "target", "target/x"]
        );
    }

    #[test]
    fn exceptions_inside_excluded_folders_are_found_and_dockerfile_is_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        write(root, ".dockerignore", "docs\n!docs/keep.md\nDockerfile\n");
        write(root, "docs/keep.md", "k");
        write(root, "docs/drop.md", "d");
        write(root, "Dockerfile", "FROM x");
        let e = entries(root, &["Dockerfile".to_string()]).expect("entries");
        assert_eq!(
            names(&e),
            vec![".dockerignore", "Dockerfile", "docs/keep.md"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_stored_as_links_not_followed() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        write(root, "real/file.txt", "hello");
        std::os::unix::fs::symlink("real/file.txt", root.join("link.txt")).expect("symlink");
        std::os::unix::fs::symlink("/etc", root.join("etc")).expect("symlink");
        std::os::unix::fs::symlink("real", root.join("dirlink")).expect("symlink");
        let e = entries(root, &[]).expect("entries");
        let kinds: Vec<(&str, Kind)> = e.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("dirlink", Kind::Symlink),
                ("etc", Kind::Symlink),
                ("link.txt", Kind::Symlink),
                ("real", Kind::Dir),
                ("real/file.txt", Kind::File),
            ]
        );
        let packed = pack(root, &e, 1 << 20).expect("pack");
        assert_eq!(packed.files, 4);
        assert_eq!(packed.unpacked, 5);
        let got = unpack(&packed.bytes);
        let etc = got.iter().find(|g| g.0 == "etc").expect("etc entry");
        assert_eq!(etc.1, tar::EntryType::Symlink);
        assert_eq!(etc.2.as_deref(), Some("/etc"));
        assert!(etc.3.is_empty(), "the link's target is not read");
        let link = got.iter().find(|g| g.0 == "link.txt").expect("link entry");
        assert_eq!(link.1, tar::EntryType::Symlink);
        let file = got.iter().find(|g| g.0 == "real/file.txt").expect("file");
        assert_eq!(file.3, b"hello");
        assert!(
            got.iter().all(|g| !g.0.starts_with("etc/")),
            "not descended"
        );
    }

    #[test]
    fn archives_are_deterministic_and_hold_the_files() {
        let dir = tempfile::tempdir().expect("dir");
        write(dir.path(), "b.txt", "bee");
        write(dir.path(), "a/c.txt", "sea");
        let e = entries(dir.path(), &[]).expect("entries");
        let one = pack(dir.path(), &e, 1 << 20).expect("pack");
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(dir.path(), "b.txt", "bee"); // new mtime, same content
        let two = pack(dir.path(), &e, 1 << 20).expect("pack");
        assert_eq!(one.bytes, two.bytes);
        let got: Vec<String> = unpack(&one.bytes).into_iter().map(|g| g.0).collect();
        assert_eq!(got, vec!["a", "a/c.txt", "b.txt"]);
    }

    #[test]
    fn the_cap_is_enforced_and_names_the_biggest_entries() {
        let dir = tempfile::tempdir().expect("dir");
        // Incompressible enough: a pseudo-random byte pattern.
        let mut x: u32 = 1;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x & 0xff) as u8
            })
            .collect();
        fs::create_dir_all(dir.path().join("big")).expect("mkdir");
        fs::write(dir.path().join("big/blob"), &noise).expect("write");
        write(dir.path(), "small.txt", "s");
        let e = entries(dir.path(), &[]).expect("entries");
        match pack(dir.path(), &e, 50_000) {
            Err(PackError::TooLarge { limit, largest }) => {
                assert_eq!(limit, 50_000);
                assert_eq!(largest[0], ("big/".to_string(), 200_000));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_or_file_context_is_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(matches!(
            entries(&dir.path().join("nope"), &[]),
            Err(PackError::Read { .. })
        ));
        write(dir.path(), "f", "x");
        assert!(matches!(
            entries(&dir.path().join("f"), &[]),
            Err(PackError::NotAFolder(_))
        ));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(3 * 1024 * 1024 + 104_858), "3.1 MiB");
        assert_eq!(size(12 * 1024), "12.0 KiB");
        assert_eq!(size(512), "512 B");
    }
}
