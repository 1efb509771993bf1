//! Safe handling of uploaded build contexts (tar.gz): [`inspect`] reads a whole archive without
//! writing anything and refuses traversal (`..`, absolute paths), links out of the tree, device
//! and fifo entries, and archives over the size or entry limits; [`unpack`] runs the same
//! checks and then extracts with `tar`'s `unpack_in`, which never follows links out.
//!
//! Owns only archive validation and extraction into a caller-given directory. It must not
//! decide where contexts are stored or run anything (that is [`crate::build`]).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use satusky_core::digest::hex;

const MIB: u64 = 1024 * 1024;

/// Compressed upload cap: a source tree with sensible `.dockerignore` is a few MiB; 100 MiB
/// leaves room for vendored dependencies while bounding the request body and storage.
pub const DEFAULT_MAX_COMPRESSED: u64 = 100 * MIB;
/// Unpacked cap: bounds disk use per build and stops gzip bombs (1000:1 ratios are easy).
pub const DEFAULT_MAX_UNPACKED: u64 = 1024 * MIB;
/// Entry cap: bounds inode use and the memory of the link checks; large monorepos stay under it.
pub const DEFAULT_MAX_ENTRIES: u64 = 50_000;
/// Tar framing (headers, padding, long names) read on top of the file contents; the raw
/// decompressed stream may exceed the content limit by at most this per entry.
const FRAMING_PER_ENTRY: u64 = 2048;
/// How many symlinks one link target may pass through before we call it a loop (Linux: 40).
const MAX_LINK_HOPS: u32 = 40;

/// Caps on an uploaded context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_compressed: u64,
    pub max_unpacked: u64,
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_compressed: DEFAULT_MAX_COMPRESSED,
            max_unpacked: DEFAULT_MAX_UNPACKED,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// What an accepted context contains (the API's type: the content store hands it back as is).
pub use satusky_core::contexts::ContextSummary;

/// Why a context is refused. Each message names the entry and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    #[error("the context is not gzip-compressed (upload a tar.gz)")]
    NotGzip,
    #[error("the context is not a valid tar.gz archive: {detail}")]
    Corrupt { detail: String },
    #[error(
        "the context is {} compressed; the limit is {} (add large files to .dockerignore)",
        human(*size),
        human(*limit)
    )]
    CompressedTooLarge { size: u64, limit: u64 },
    #[error(
        "the context unpacks to more than {}; the limit is {} (add large files to .dockerignore)",
        human(*limit),
        human(*limit)
    )]
    UnpackedTooLarge { limit: u64 },
    #[error(
        "the context has more than {limit} entries; the limit is {limit} (add generated folders to .dockerignore)"
    )]
    TooManyEntries { limit: u64 },
    #[error("entry {entry:?} leaves the build context (paths must stay inside it)")]
    PathEscapes { entry: String },
    #[error("entry {entry:?} has an absolute path (paths must be relative to the build context)")]
    AbsolutePath { entry: String },
    #[error("entry {entry:?} is a {kind} to {target}, outside the build context")]
    LinkOutside {
        entry: String,
        kind: &'static str,
        target: String,
    },
    #[error("entry {entry:?} is a symlink loop (more than {MAX_LINK_HOPS} links to follow)")]
    LinkLoop { entry: String },
    #[error(
        "entry {entry:?} is a hard link to {target:?}, which is not a file earlier in the context"
    )]
    HardLinkDangling { entry: String, target: String },
    #[error("entry {entry:?} is a {kind}; a build context may hold only files, folders and links")]
    SpecialFile { entry: String, kind: &'static str },
    #[error("could not extract the context into {dest}: {detail}")]
    Write { dest: String, detail: String },
}

/// `120 MiB`, `1 GiB`, `512 KiB`, `10 bytes`.
fn human(bytes: u64) -> String {
    const GIB: u64 = 1024 * MIB;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB {
        format!("{} MiB", bytes.div_ceil(MIB))
    } else if bytes >= 1024 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} bytes")
    }
}

/// Read the whole archive and check every rule, writing nothing.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<ContextSummary, UnpackError> {
    let digest = precheck(bytes, limits)?;
    let (entries, unpacked_bytes) = check_entries(bytes, limits)?;
    Ok(ContextSummary {
        digest,
        entries,
        unpacked_bytes,
    })
}

/// [`inspect`] for an archive already on disk whose digest and compressed size the caller
/// computed while writing it (the bytes are streamed, never held whole in memory).
pub fn inspect_file(
    file: &Path,
    digest: String,
    compressed: u64,
    limits: &Limits,
) -> Result<ContextSummary, UnpackError> {
    if compressed > limits.max_compressed {
        return Err(UnpackError::CompressedTooLarge {
            size: compressed,
            limit: limits.max_compressed,
        });
    }
    let mut f = std::fs::File::open(file).map_err(corrupt)?;
    let mut magic = [0u8; 2];
    if f.read_exact(&mut magic).is_err() || magic != [0x1f, 0x8b] {
        return Err(UnpackError::NotGzip);
    }
    let f = std::fs::File::open(file).map_err(corrupt)?;
    let (entries, unpacked_bytes) = check_entries(io::BufReader::new(f), limits)?;
    Ok(ContextSummary {
        digest,
        entries,
        unpacked_bytes,
    })
}

/// Every entry rule over a whole archive: (entries, content bytes).
fn check_entries<R: Read>(archive: R, limits: &Limits) -> Result<(u64, u64), UnpackError> {
    let mut links = LinkCheck::default();
    let (entries, unpacked_bytes) = walk(archive, limits, |rel, entry, budget| {
        let kind = entry.header().entry_type();
        let shown = rel.display().to_string();
        if kind.is_symlink() {
            let target = link_target(entry, &shown)?;
            links.symlinks.insert(rel.to_path_buf(), (shown, target));
        } else if kind.is_hard_link() {
            let target = link_target(entry, &shown)?;
            let norm = normalize_hardlink(&target).ok_or_else(|| UnpackError::LinkOutside {
                entry: shown.clone(),
                kind: "hard link",
                target: target.display().to_string(),
            })?;
            if !links.files.contains(&norm) {
                return Err(UnpackError::HardLinkDangling {
                    entry: shown,
                    target: target.display().to_string(),
                });
            }
            links.files.insert(rel.to_path_buf());
        } else if !kind.is_dir() {
            links.files.insert(rel.to_path_buf());
        }
        // Count what really comes out of the decompressor, never the header's claim.
        let read = io::copy(
            &mut Read::take(&mut *entry, budget.saturating_add(1)),
            &mut io::sink(),
        )
        .map_err(corrupt)?;
        Ok(read)
    })?;
    links.check()?;
    Ok((entries, unpacked_bytes))
}

/// Check everything as [`inspect`] does, then extract into `dest` (created if missing).
pub fn unpack(bytes: &[u8], dest: &Path, limits: &Limits) -> Result<ContextSummary, UnpackError> {
    let summary = inspect(bytes, limits)?;
    let write_err = |e: io::Error| UnpackError::Write {
        dest: dest.display().to_string(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(dest).map_err(write_err)?;
    walk(bytes, limits, |rel, entry, _| {
        let size = entry.size();
        match entry.unpack_in(dest) {
            Ok(true) => Ok(size),
            Ok(false) => Err(UnpackError::PathEscapes {
                entry: rel.display().to_string(),
            }),
            Err(e) => Err(write_err(e)),
        }
    })?;
    Ok(summary)
}

/// Size and format checks on the compressed bytes; returns the digest.
fn precheck(bytes: &[u8], limits: &Limits) -> Result<String, UnpackError> {
    let size = bytes.len() as u64;
    if size > limits.max_compressed {
        return Err(UnpackError::CompressedTooLarge {
            size,
            limit: limits.max_compressed,
        });
    }
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(UnpackError::NotGzip);
    }
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    Ok(format!("sha256:{}", hex(d.as_ref())))
}

fn corrupt(e: io::Error) -> UnpackError {
    UnpackError::Corrupt {
        detail: e.to_string(),
    }
}

type TarEntry<'a, R> = tar::Entry<'a, CappedReader<MultiGzDecoder<R>>>;

/// Iterate the entries with the path, type and size rules applied; `visit` handles the entry
/// and returns how many content bytes it read (given the remaining byte budget). Returns
/// (entries, content bytes).
fn walk<R: Read>(
    bytes: R,
    limits: &Limits,
    mut visit: impl FnMut(&Path, &mut TarEntry<'_, R>, u64) -> Result<u64, UnpackError>,
) -> Result<(u64, u64), UnpackError> {
    let over = Rc::new(Cell::new(false));
    let framing = limits.max_entries.saturating_mul(FRAMING_PER_ENTRY);
    let reader = CappedReader {
        inner: MultiGzDecoder::new(bytes),
        remaining: limits.max_unpacked.saturating_add(framing),
        over: Rc::clone(&over),
    };
    let too_large = UnpackError::UnpackedTooLarge {
        limit: limits.max_unpacked,
    };
    let mut archive = tar::Archive::new(reader);
    let iter = archive.entries().map_err(corrupt)?;
    let (mut count, mut total) = (0u64, 0u64);
    for entry in iter {
        let mut entry = match entry {
            Ok(e) => e,
            Err(_) if over.get() => return Err(too_large),
            Err(e) => return Err(corrupt(e)),
        };
        count += 1;
        if count > limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue; // metadata for the archive, nothing to extract
        }
        let path = entry.path().map_err(corrupt)?.into_owned();
        let rel = check_path(&path)?;
        check_kind(kind, &rel)?;
        let budget = limits.max_unpacked - total;
        let read = match visit(&rel, &mut entry, budget) {
            Err(_) if over.get() => return Err(too_large),
            r => r?,
        };
        total = total.saturating_add(read);
        if total > limits.max_unpacked {
            return Err(too_large);
        }
    }
    if over.get() {
        return Err(too_large);
    }
    Ok((count, total))
}

/// The entry path relative to the context root, or the rule it breaks.
fn check_path(path: &Path) -> Result<PathBuf, UnpackError> {
    let shown = path.display().to_string();
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => rel.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnpackError::PathEscapes { entry: shown }),
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::AbsolutePath { entry: shown });
            }
        }
    }
    Ok(rel)
}

fn check_kind(kind: tar::EntryType, rel: &Path) -> Result<(), UnpackError> {
    let special = if kind.is_character_special() || kind.is_block_special() {
        "device"
    } else if kind.is_fifo() {
        "fifo"
    } else if kind.is_file()
        || kind.is_contiguous()
        || kind.is_gnu_sparse()
        || kind.is_dir()
        || kind.is_symlink()
        || kind.is_hard_link()
    {
        return Ok(());
    } else {
        "special entry"
    };
    Err(UnpackError::SpecialFile {
        entry: rel.display().to_string(),
        kind: special,
    })
}

fn link_target<R: Read>(entry: &TarEntry<'_, R>, shown: &str) -> Result<PathBuf, UnpackError> {
    let target = entry
        .link_name()
        .map_err(corrupt)?
        .map(|t| t.into_owned())
        .filter(|t| t.components().next().is_some())
        .ok_or_else(|| UnpackError::Corrupt {
            detail: format!("entry {shown:?} is a link without a target"),
        })?;
    if target.is_absolute() {
        let kind = if entry.header().entry_type().is_symlink() {
            "symlink"
        } else {
            "hard link"
        };
        return Err(UnpackError::LinkOutside {
            entry: shown.to_string(),
            kind,
            target: target.display().to_string(),
        });
    }
    Ok(target)
}

/// Hard link names are relative to the archive root; `None` when they climb out.
fn normalize_hardlink(target: &Path) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in target.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

/// Symlinks are checked once the whole archive is known, so a link through another link
/// (`b -> a/..` with `a -> .`) is resolved the way the filesystem will resolve it.
#[derive(Default)]
struct LinkCheck {
    /// path → (path as shown, target)
    symlinks: HashMap<PathBuf, (String, PathBuf)>,
    files: HashSet<PathBuf>,
}

enum Escape {
    Outside,
    Loop,
}

impl LinkCheck {
    fn check(&self) -> Result<(), UnpackError> {
        let mut sorted: Vec<_> = self.symlinks.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (path, (shown, target)) in sorted {
            let dir: Vec<PathBuf> = path
                .parent()
                .map(|p| {
                    p.components()
                        .map(|c| PathBuf::from(c.as_os_str()))
                        .collect()
                })
                .unwrap_or_default();
            let mut hops = 0;
            match self.resolve(dir, target, &mut hops) {
                Ok(_) => {}
                Err(Escape::Outside) => {
                    return Err(UnpackError::LinkOutside {
                        entry: shown.clone(),
                        kind: "symlink",
                        target: target.display().to_string(),
                    });
                }
                Err(Escape::Loop) => {
                    return Err(UnpackError::LinkLoop {
                        entry: shown.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolve `target` from the directory `stack`, following symlinks of the archive.
    fn resolve(
        &self,
        mut stack: Vec<PathBuf>,
        target: &Path,
        hops: &mut u32,
    ) -> Result<Vec<PathBuf>, Escape> {
        for c in target.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    stack.pop().ok_or(Escape::Outside)?;
                }
                Component::RootDir | Component::Prefix(_) => return Err(Escape::Outside),
                Component::Normal(p) => {
                    stack.push(PathBuf::from(p));
                    let here: PathBuf = stack.iter().collect();
                    if let Some((_, next)) = self.symlinks.get(&here) {
                        *hops += 1;
                        if *hops > MAX_LINK_HOPS {
                            return Err(Escape::Loop);
                        }
                        stack.pop();
                        stack = self.resolve(stack, next, hops)?;
                    }
                }
            }
        }
        Ok(stack)
    }
}

/// Stops reading after `remaining` bytes and remembers that it did, so a gzip bomb ends at
/// the limit however its headers are shaped.
struct CappedReader<R> {
    inner: R,
    remaining: u64,
    over: Rc<Cell<bool>>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Probe one byte: the stream may end exactly at the cap.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.over.set(true);
                    Err(io::Error::other("decompressed size limit reached"))
                }
            };
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}
