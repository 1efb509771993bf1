//! Who the local runtime's replicas and builds run as (SPEC §10 "The local runtime").
//!
//! Decided once at start ([`resolve`], around the pure [`decide`]): when `satusky` runs as
//! root, apps run as a dedicated unprivileged user (`server.toml local_user`,
//! `SATUSKY_LOCAL_USER`, default [`DEFAULT_LOCAL_USER`], created with `useradd --system` when
//! missing) — [`Isolation::RunAs`]; otherwise they run as the control plane's own user and
//! the local runtime is single-tenant — [`Isolation::SameUser`]. Naming `root` as the local
//! user is the explicit single-tenant choice for a root control plane.
//!
//! With [`Isolation::RunAs`]:
//! - [`prepare_state_dir`] makes the state dir private: the dir itself `0711` (apps can pass
//!   through to their working dirs but not list it), every entry in it `go-rwx` (the database,
//!   `dev.json`, key files, `ca/`, `contexts/`, `artifacts/`) except [`APP_DIRS`] (`0711`), and
//!   checks the app user can reach those;
//! - [`Isolation::hand_over`] gives a fresh working tree (a replica's copy of its artifact, a
//!   build's unpacked context) to the app user, `0700`; [`Isolation::take_back`] returns a built
//!   tree to the control plane before it is stored as an artifact, so nothing the build left
//!   running can change it;
//! - [`IsolateExt::isolate`] sets the child's uid and gid, and `HOME` (its working dir),
//!   `USER` and `LOGNAME` unless the app sets them (its `[env]` or a secret).
//!
//! Supplementary groups: with `CommandExt::uid`, std calls `setgroups(0, NULL)` in the child
//! before `setuid` when no explicit group list is given, so a replica keeps none of root's
//! groups — no `pre_exec`, no unsafe code (the acceptance test reads `Groups:` in the
//! replica's `/proc/self/status`). All apps share the one app user: they are kept from the
//! control plane's files, not from each other (same uid: `/proc/PID/cwd` of another app's
//! process is theirs to read).
//!
//! Owns no processes and no policy beyond the above; it must not decide what runs.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown};
use std::path::{Path, PathBuf};

/// The app user when nothing is configured.
pub const DEFAULT_LOCAL_USER: &str = "satusky-app";
/// Longest user name `useradd` accepts on Linux.
pub const MAX_USER_NAME: usize = 32;
/// Folders of the state dir that apps work in (replica copies, build trees, volumes):
/// reachable by the app user, each entry inside its own.
pub const APP_DIRS: &[&str] = &["run", "builds", crate::volumes::VOLUMES_DIR];
/// Mode of the state dir and [`APP_DIRS`]: search only, so apps reach their own working dir by
/// its path but cannot list what is there.
const PASS_THROUGH_MODE: u32 = 0o711;
/// Mode of a working tree's root once handed to the app user.
const WORKDIR_MODE: u32 = 0o700;
/// The created user's home: none (a system user's convention); each process gets its working
/// dir as `HOME`.
const NO_HOME: &str = "/nonexistent";
/// Login shells refusing logins, first found wins.
const NOLOGIN_SHELLS: &[&str] = &["/usr/sbin/nologin", "/sbin/nologin", "/bin/false"];
/// `useradd` runs before giving up: a concurrent one holds the passwd lock only briefly.
const CREATE_ATTEMPTS: u32 = 3;
/// Pause before trying `useradd` again.
const CREATE_RETRY: std::time::Duration = std::time::Duration::from_millis(300);
/// Where the setting is named in messages.
const SETTING: &str = "local_user in server.toml, SATUSKY_LOCAL_USER or --local-user";

/// Who apps run as. Computed once at start; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Apps run as the control plane's user: single-tenant (they can read its state dir).
    SameUser,
    /// Apps run as this unprivileged user, without supplementary groups.
    RunAs { uid: u32, gid: u32, user: String },
}

/// What [`decide`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Use(Isolation),
    /// Root, and the configured user does not exist: create it, then decide again.
    CreateUser,
}

/// The rule. `euid` is the control plane's effective uid; `found` the configured user's
/// (uid, gid), if it exists. Pure.
pub fn decide(euid: u32, user: &str, found: Option<(u32, u32)>) -> Decision {
    match (euid, found) {
        (0, None) => Decision::CreateUser,
        (0, Some((uid, gid))) if uid != 0 => Decision::Use(Isolation::RunAs {
            uid,
            gid,
            user: user.to_string(),
        }),
        // Not root (nothing to switch to), or the configured user is root itself.
        _ => Decision::Use(Isolation::SameUser),
    }
}

/// Why isolation could not be set up. Every message names the setting or the fix.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error(
        "local user {name:?} is not a user name: lowercase letters, digits, `_` and `-`, starting with a letter or `_`, at most {MAX_USER_NAME} characters ({SETTING})"
    )]
    BadName { name: String },
    #[error("cannot look up the local user {name:?} ({SETTING})")]
    Lookup {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error(
        "the local user {name:?} does not exist and `useradd --system` could not create it; create it (a system user with no login shell) or set {SETTING} to an existing unprivileged user"
    )]
    Create {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the local runtime runs apps as {user} (uid {uid}), which cannot reach {target}: {blocker} is mode {mode:04o} (uid {owner}); use a --state-dir (SATUSKY_STATE_DIR) every user can pass through, e.g. /var/lib/satusky, or set {SETTING} to \"root\" to run apps as root (single-tenant)"
    )]
    Unreachable {
        user: String,
        uid: u32,
        target: String,
        blocker: String,
        mode: u32,
        owner: u32,
    },
    #[error(
        "the state dir {path} belongs to the app user {user}, so apps could open it up again; give it to root (chown root: {path})"
    )]
    OwnedByApp { path: String, user: String },
    #[error("cannot make the state dir private: {action} {path}")]
    Private {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Look up (or create) the configured user and decide. Blocking; call once at start.
pub fn resolve(user: &str) -> Result<Isolation, IsolationError> {
    if !valid_user_name(user) {
        return Err(IsolationError::BadName {
            name: user.to_string(),
        });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if euid != 0 {
        return Ok(Isolation::SameUser);
    }
    let lookup = || {
        nix::unistd::User::from_name(user)
            .map(|u| u.map(|u| (u.uid.as_raw(), u.gid.as_raw())))
            .map_err(|source| IsolationError::Lookup {
                name: user.to_string(),
                source,
            })
    };
    let mut attempt = 0;
    loop {
        match decide(euid, user, lookup()?) {
            Decision::Use(iso) => return Ok(iso),
            Decision::CreateUser => {}
        }
        attempt += 1;
        match create_user(user) {
            Ok(()) => tracing::info!(user, "created the local runtime's app user"),
            // Another satusky starting at the same time may hold the passwd lock or have
            // created the user already: what counts is whether it exists now.
            Err(source) if attempt >= CREATE_ATTEMPTS => {
                return Err(IsolationError::Create {
                    name: user.to_string(),
                    source,
                });
            }
            Err(_) => std::thread::sleep(CREATE_RETRY),
        }
    }
}

/// `[a-z_][a-z0-9_-]*`, at most [`MAX_USER_NAME`] (also keeps `useradd` from reading a flag).
fn valid_user_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.len() <= MAX_USER_NAME
}

/// `useradd --system` with its own group, no home and no login shell.
fn create_user(name: &str) -> io::Result<()> {
    let shell = NOLOGIN_SHELLS
        .iter()
        .find(|s| Path::new(s).exists())
        .copied()
        .unwrap_or("/bin/false");
    let out = std::process::Command::new("useradd")
        .args(["--system", "--user-group", "--no-create-home"])
        .args(["--home-dir", NO_HOME, "--shell", shell, name])
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "useradd {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Isolation {
    /// Who apps run as, for the start log and `satusky dev`'s summary: "apps run as {this}".
    pub fn describe(&self) -> String {
        match self {
            Isolation::RunAs { uid, user, .. } => {
                format!("{user} (uid {uid}), without access to the state dir")
            }
            Isolation::SameUser => {
                let uid = nix::unistd::geteuid();
                let name = nix::unistd::User::from_uid(uid)
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_else(|| format!("uid {uid}"));
                let how = if uid.is_root() {
                    "--local-user satusky-app runs them as a dedicated user"
                } else {
                    "run satusky as root to run them as a dedicated user"
                };
                format!(
                    "{name}, like the control plane: the local runtime is single-tenant (apps can read the state dir; {how})"
                )
            }
        }
    }

    /// Give a fresh working tree to the app user: its root `0700`, every entry theirs. Blocking.
    pub fn hand_over(&self, dir: &Path) -> io::Result<()> {
        let Isolation::RunAs { uid, gid, .. } = self else {
            return Ok(());
        };
        // Closed first: nobody else enters while it changes hands; the root changes owner last.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(WORKDIR_MODE))?;
        chown_tree(dir, *uid, *gid)
    }

    /// Return a built tree to the control plane before it is stored. Blocking.
    pub fn take_back(&self, dir: &Path) -> io::Result<()> {
        if matches!(self, Isolation::SameUser) {
            return Ok(());
        }
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        // The root first: the app user can no longer add entries at the top.
        lchown(dir, Some(uid), Some(gid))?;
        chown_tree(dir, uid, gid)
    }
}

/// `lchown` every entry under `root`, then `root`; links are never followed.
fn chown_tree(root: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            lchown(&path, Some(uid), Some(gid))?;
            if entry.file_type()?.is_dir() {
                stack.push(path);
            }
        }
    }
    lchown(root, Some(uid), Some(gid))
}

/// Applies an [`Isolation`] to a command about to be spawned.
pub trait IsolateExt {
    /// Run as the app user (if any), with `HOME` = `home` and `USER`/`LOGNAME` = the user,
    /// unless `app_env` (what the app sets: its `[env]` and secrets) sets them. Call after the
    /// environment is set.
    fn isolate(
        &mut self,
        iso: &Isolation,
        home: &Path,
        app_env: &BTreeMap<String, String>,
    ) -> &mut Self;
}

impl IsolateExt for tokio::process::Command {
    fn isolate(
        &mut self,
        iso: &Isolation,
        home: &Path,
        app_env: &BTreeMap<String, String>,
    ) -> &mut Self {
        if let Isolation::RunAs { uid, gid, user } = iso {
            self.uid(*uid).gid(*gid);
            for (key, value) in [
                ("HOME", home.as_os_str()),
                ("USER", user.as_ref()),
                ("LOGNAME", user.as_ref()),
            ] {
                if !app_env.contains_key(key) {
                    self.env(key, value);
                }
            }
        }
        self
    }
}

/// One folder on the way to where apps work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub path: PathBuf,
    pub mode: u32,
    pub owner: u32,
    pub group: u32,
}

/// The first folder that `uid`/`gid` (no supplementary groups) cannot search, if any. Pure.
pub fn first_blocker(steps: &[Step], uid: u32, gid: u32) -> Option<&Step> {
    steps.iter().find(|s| {
        // Unix checks one class: the owner's bits for the owner, else the group's, else others'.
        let bit = if s.owner == uid {
            0o100
        } else if s.group == gid {
            0o010
        } else {
            0o001
        };
        s.mode & bit == 0
    })
}

/// Make `state_dir` private to the control plane apart from [`APP_DIRS`], and check the app
/// user can reach those. Nothing to do for [`Isolation::SameUser`]. Blocking.
pub fn prepare_state_dir(state_dir: &Path, iso: &Isolation) -> Result<(), IsolationError> {
    let Isolation::RunAs { uid, gid, user } = iso else {
        return Ok(());
    };
    let private = |action: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| IsolationError::Private {
            action,
            path,
            source,
        }
    };
    let dir = std::fs::canonicalize(state_dir).map_err(private("resolve", state_dir))?;
    let meta = std::fs::metadata(&dir).map_err(private("read", &dir))?;
    if meta.uid() == *uid {
        return Err(IsolationError::OwnedByApp {
            path: dir.display().to_string(),
            user: user.clone(),
        });
    }
    set_mode(&dir, PASS_THROUGH_MODE).map_err(private("chmod", &dir))?;
    for entry in std::fs::read_dir(&dir).map_err(private("list", &dir))? {
        let entry = entry.map_err(private("list", &dir))?;
        let path = entry.path();
        let meta = entry.metadata().map_err(private("read", &path))?;
        if meta.file_type().is_symlink() {
            continue; // chmod would follow it out of the state dir
        }
        let app_dir = meta.is_dir()
            && APP_DIRS
                .iter()
                .any(|d| entry.file_name() == std::ffi::OsStr::new(d));
        let mode = if app_dir {
            PASS_THROUGH_MODE
        } else {
            meta.permissions().mode() & 0o700
        };
        set_mode(&path, mode).map_err(private("chmod", &path))?;
    }
    let mut steps = Vec::new();
    let mut targets: Vec<PathBuf> = dir.ancestors().map(Path::to_path_buf).collect();
    targets.reverse();
    targets.extend(APP_DIRS.iter().map(|d| dir.join(d)));
    for path in targets {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // not created (yet): nothing to reach
        };
        steps.push(Step {
            path,
            mode: meta.permissions().mode() & 0o7777,
            owner: meta.uid(),
            group: meta.gid(),
        });
    }
    if let Some(b) = first_blocker(&steps, *uid, *gid) {
        return Err(IsolationError::Unreachable {
            user: user.clone(),
            uid: *uid,
            target: dir.join(APP_DIRS[0]).display().to_string(),
            blocker: b.path.display().to_string(),
            mode: b.mode,
            owner: b.owner,
        });
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_as(uid: u32, gid: u32) -> Decision {
        Decision::Use(Isolation::RunAs {
            uid,
            gid,
            user: "app".into(),
        })
    }

    #[test]
    fn root_runs_apps_as_the_configured_user_and_creates_it_when_missing() {
        assert_eq!(decide(0, "app", Some((998, 997))), run_as(998, 997));
        assert_eq!(decide(0, "app", None), Decision::CreateUser);
        // Naming root is the explicit single-tenant choice.
        assert_eq!(
            decide(0, "root", Some((0, 0))),
            Decision::Use(Isolation::SameUser)
        );
    }

    #[test]
    fn an_ordinary_user_runs_apps_as_itself() {
        assert_eq!(
            decide(1000, "app", Some((998, 997))),
            Decision::Use(Isolation::SameUser)
        );
        assert_eq!(
            decide(1000, "app", None),
            Decision::Use(Isolation::SameUser)
        );
    }

    #[test]
    fn user_names_that_useradd_could_misread_are_refused() {
        for ok in ["satusky-app", "_svc", "a", "app9"] {
            assert!(valid_user_name(ok), "{ok}");
        }
        for bad in ["", "-o", "App", "9app", "a b", "a/b", &"a".repeat(33)] {
            assert!(!valid_user_name(bad), "{bad}");
        }
        let err = resolve("-o").unwrap_err().to_string();
        assert!(
            err.contains("\"-o\"") && err.contains("SATUSKY_LOCAL_USER"),
            "{err}"
        );
    }

    fn step(path: &str, mode: u32, owner: u32, group: u32) -> Step {
        Step {
            path: path.into(),
            mode,
            owner,
            group,
        }
    }

    #[test]
    fn the_first_folder_the_app_user_cannot_search_is_named() {
        let ok = [step("/", 0o755, 0, 0), step("/var/lib/s", 0o711, 0, 0)];
        assert_eq!(first_blocker(&ok, 998, 997), None);
        let home = [
            step("/", 0o755, 0, 0),
            step("/root", 0o700, 0, 0),
            step("/root/s", 0o711, 0, 0),
        ];
        assert_eq!(
            first_blocker(&home, 998, 997).unwrap().path,
            Path::new("/root")
        );
        // Group and owner classes are checked on their own bits, as the kernel does.
        assert_eq!(first_blocker(&[step("/g", 0o710, 0, 997)], 998, 997), None);
        assert!(first_blocker(&[step("/o", 0o071, 998, 0)], 998, 997).is_some());
    }
}
