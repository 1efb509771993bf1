//! Which loopback port each app's internal address has, kept in `STATE_DIR/internal-ports.json`
//! so the address outlives deploys and control-plane restarts. The choice of a new port is
//! pure ([`candidates`]): a range below the replicas' ports (which start at 10000), so an
//! internal port never collides with a replica's `$PORT`, minus the ports `satusky dev`
//! listens on by default; the walk through it starts at a hash of `org/app`, so control planes
//! sharing a machine (tests, several state dirs) rarely try the same port first.
//!
//! Owns the file's format only; binding a port and serving it is [`super`]'s.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Internal addresses are taken from `[FROM, TO)`: below the replicas' ports
/// (`supervisor::REPLICA_PORTS_FROM` = 10000) and above most well-known services.
pub const FROM: u16 = 7_100;
pub const TO: u16 = 10_000;
/// Ports `satusky dev` listens on by default (HTTP edge, HTTPS edge): never handed out, even
/// when free at the moment an app asks (the edge may start after).
const RESERVED: &[u16] = &[8_080, 8_443];

/// The file's name under the state dir.
pub const FILE: &str = "internal-ports.json";

/// `org/app` → port, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBook {
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
}

/// Why the book cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PortBookError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a port book (JSON `{{\"ports\": {{\"org/app\": port}}}}`)")]
    Format {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The book's key of `org/app`.
pub fn key(org: &str, app: &str) -> String {
    format!("{org}/{app}")
}

/// The ports to try for `org/app`, in order: every port of the range once, starting at a hash
/// of the name, without the reserved ones and those already `taken`.
pub fn candidates<'a>(
    org: &str,
    app: &str,
    taken: impl Fn(u16) -> bool + 'a,
) -> impl Iterator<Item = u16> + 'a {
    let size = u32::from(TO - FROM);
    let start = fnv1a(key(org, app).as_bytes()) % size;
    (0..size)
        .filter_map(move |i| u16::try_from((start + i) % size).ok())
        .map(|offset| FROM + offset)
        .filter(|p| !RESERVED.contains(p))
        .filter(move |p| !taken(*p))
}

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between releases).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

impl PortBook {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(FILE)
    }

    /// Read the book; an absent file is an empty book.
    pub fn load(path: &Path) -> Result<PortBook, PortBookError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PortBook::default()),
            Err(source) => {
                return Err(PortBookError::Io {
                    action: "read",
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_slice(&text).map_err(|source| PortBookError::Format {
            path: path.display().to_string(),
            source,
        })
    }

    /// Write the book (mode 0600) through a temporary file renamed into place, so a crash
    /// leaves the old book or the new one.
    pub fn save(&self, path: &Path) -> Result<(), PortBookError> {
        let io = |action: &'static str| {
            let path = path.display().to_string();
            move |source| PortBookError::Io {
                action,
                path,
                source,
            }
        };
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| PortBookError::Format {
            path: path.display().to_string(),
            source,
        })?;
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create"))?;
        f.write_all(&bytes).map_err(io("write"))?;
        f.sync_all().map_err(io("sync"))?;
        std::fs::rename(&tmp, path).map_err(io("rename"))
    }

    /// Whether another app holds `port`.
    pub fn holds(&self, port: u16) -> bool {
        self.ports.values().any(|p| *p == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_stay_in_the_range_below_replica_ports_and_skip_reserved_and_taken() {
        let all: Vec<u16> = candidates("acme", "db", |_| false).collect();
        assert_eq!(all.len(), usize::from(TO - FROM) - RESERVED.len());
        assert!(all.iter().all(|p| (FROM..TO).contains(p)));
        assert!(!all.contains(&8_080) && !all.contains(&8_443));
        let first = all[0];
        assert_eq!(
            candidates("acme", "db", |_| false).next(),
            Some(first),
            "stable"
        );
        let next: Vec<u16> = candidates("acme", "db", |p| p == first).take(1).collect();
        assert_ne!(next, [first]);
        assert_ne!(
            candidates("acme", "cache", |_| false).next(),
            Some(first),
            "another app starts elsewhere"
        );
    }

    #[test]
    fn the_book_round_trips_and_an_absent_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = PortBook::path(dir.path());
        assert_eq!(PortBook::load(&path).unwrap(), PortBook::default());
        let mut book = PortBook::default();
        book.ports.insert(key("acme", "db"), 7_431);
        book.save(&path).unwrap();
        let back = PortBook::load(&path).unwrap();
        assert_eq!(back, book);
        assert!(back.holds(7_431) && !back.holds(7_432));
        std::fs::write(&path, "nope").unwrap();
        let err = PortBook::load(&path).unwrap_err();
        assert!(err.to_string().contains("is not a port book"), "{err}");
    }
}
