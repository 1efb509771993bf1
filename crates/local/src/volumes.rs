//! Apps' persistent volumes on the local runtime: one directory per app,
//! `STATE_DIR/volumes/ORG/APP`, handed to every replica of an app with `[volume]` as
//! `$SATUSKY_VOLUME`.
//!
//! - Created before the app's first replica starts, `0700` and owned by the user apps run as
//!   ([`Isolation`]); `volumes/` and `volumes/ORG` are `0711` (the app user passes through,
//!   lists nothing) when apps run as a dedicated user, `0700` otherwise.
//! - Kept across redeploys, restarts of the control plane, `[volume]` leaving the spec and
//!   `1ctl app destroy`: a new app of the same name in the same org gets it again. Only
//!   [`Volumes::purge`] (`1ctl app destroy --purge-volumes`) deletes it.
//! - `[volume] size` is not enforced (a directory has no quota) and `[volume] mount` — a path
//!   inside a container — has no meaning here: the app finds its directory in
//!   `$SATUSKY_VOLUME`. `[volume]` makes the strategy `recreate`, so one release writes at a
//!   time.
//!
//! Owns these directories only; it must not decide when they are used or removed.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::isolation::Isolation;

/// The state dir's folder of volumes.
pub const VOLUMES_DIR: &str = "volumes";
/// Mode of an app's volume: its user's alone.
const VOLUME_MODE: u32 = 0o700;
/// Mode of `volumes/` and `volumes/ORG` when apps run as another user: search only.
const PASS_THROUGH_MODE: u32 = 0o711;

/// The volumes under one state dir. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Volumes {
    root: PathBuf,
    isolation: Isolation,
}

impl Volumes {
    /// Volumes under `root` (`STATE_DIR/volumes`), owned by whom `isolation` runs apps as.
    pub fn new(root: PathBuf, isolation: Isolation) -> Self {
        Volumes { root, isolation }
    }

    /// `root/ORG/APP`. Org and app are names (checked by the caller); anything that could
    /// leave `root` is refused all the same.
    pub fn path(&self, org: &str, app: &str) -> io::Result<PathBuf> {
        for part in [org, app] {
            let plain = !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !part.starts_with('-');
            if !plain {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{part:?} is not an org or app name"),
                ));
            }
        }
        Ok(self.root.join(org).join(app))
    }

    /// The app's volume, created (and given to the app user) when missing. Blocking.
    pub fn ensure(&self, org: &str, app: &str) -> io::Result<PathBuf> {
        let path = self.path(org, app)?;
        let pass = match self.isolation {
            Isolation::RunAs { .. } => PASS_THROUGH_MODE,
            Isolation::SameUser => VOLUME_MODE,
        };
        for dir in [self.root.as_path(), &self.root.join(org)] {
            make_dir(dir, pass)?;
        }
        make_dir(&path, VOLUME_MODE)?;
        if let Isolation::RunAs { uid, .. } = &self.isolation
            && std::fs::symlink_metadata(&path)?.uid() != *uid
        {
            // Created now, or kept from a run as another user: every entry becomes theirs.
            self.isolation.hand_over(&path)?;
        }
        Ok(path)
    }

    /// The app's volume, if it has one. Blocking.
    pub fn find(&self, org: &str, app: &str) -> io::Result<Option<PathBuf>> {
        let path = self.path(org, app)?;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(Some(path)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Delete the app's volume and everything in it; the path deleted, if there was one.
    /// Blocking; call once no replica of the app runs.
    pub fn purge(&self, org: &str, app: &str) -> io::Result<Option<PathBuf>> {
        let Some(path) = self.find(org, app)? else {
            return Ok(None);
        };
        std::fs::remove_dir_all(&path)?;
        Ok(Some(path))
    }
}

/// How a volume is named to a user (API answers, `1ctl app destroy`).
pub fn describe(path: &Path) -> String {
    format!("directory {}", path.display())
}

/// Create `dir` with `mode` if missing; an existing one gets `mode` (never a link).
fn make_dir(dir: &Path, mode: u32) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(dir)?;
            if !meta.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is not a directory", dir.display()),
                ));
            }
        }
        Err(e) => return Err(e),
    }
    // The umask may have taken bits away; the mode is what it says.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_is_made_once_kept_and_purged() {
        let tmp = tempfile::tempdir().unwrap();
        let volumes = Volumes::new(tmp.path().join(VOLUMES_DIR), Isolation::SameUser);
        assert_eq!(volumes.find("acme", "web").unwrap(), None);
        let path = volumes.ensure("acme", "web").unwrap();
        assert_eq!(path, tmp.path().join("volumes/acme/web"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        std::fs::write(path.join("kept"), "1").unwrap();
        // Again (a redeploy, a restart): the same directory, its contents untouched.
        assert_eq!(volumes.ensure("acme", "web").unwrap(), path);
        assert_eq!(std::fs::read_to_string(path.join("kept")).unwrap(), "1");
        assert_eq!(volumes.find("acme", "web").unwrap(), Some(path.clone()));
        assert_eq!(describe(&path), format!("directory {}", path.display()));
        // Another app of the org is not this one.
        assert_eq!(volumes.find("acme", "api").unwrap(), None);
        assert_eq!(volumes.purge("acme", "web").unwrap(), Some(path.clone()));
        assert!(!path.exists());
        assert_eq!(volumes.purge("acme", "web").unwrap(), None);
    }

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let volumes = Volumes::new(tmp.path().join(VOLUMES_DIR), Isolation::SameUser);
        for (org, app) in [("acme", ".."), ("..", "web"), ("acme", "a/b"), ("", "web")] {
            assert!(volumes.path(org, app).is_err(), "{org}/{app}");
            assert!(volumes.purge(org, app).is_err(), "{org}/{app}");
        }
    }
}
