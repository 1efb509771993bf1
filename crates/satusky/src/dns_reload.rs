//! `satusky dev` (and `satusky serve --runtime kubernetes` with `dns_listen`) picks up edits
//! of `STATE_DIR/server.toml`'s `[[dns_records]]` without a restart — the simulated "external DNS" a user edits while trying a custom domain on one
//! machine. One task looks at the file's modification time every second (one timer for the
//! process, whatever the number of apps); on a change it parses the file again and replaces
//! the records not owned by an app. An edit that does not parse keeps the last good records
//! and says why in the log and on `/readyz` (cleared by the next good edit).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use satusky_dns::ZoneRecords;
use satusky_server::Notices;

use crate::config::read_server_toml;

/// How often the file's modification time is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// The `/readyz` notice topic.
const TOPIC: &str = "dns_records";

/// Follow `state_dir/server.toml` until the process ends. `seen` is the modification time
/// the file had before the process read it at start (so an edit made in between is not
/// missed).
pub async fn follow(
    state_dir: PathBuf,
    mut seen: Option<SystemTime>,
    records: ZoneRecords,
    notices: Notices,
) {
    let path = state_dir.join("server.toml");
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        match read_server_toml(&state_dir).and_then(|f| f.dns_record_sets()) {
            Ok(sets) => {
                let n = sets.len();
                records.replace_static(sets);
                notices.set(TOPIC, None);
                tracing::info!(names = n, "server.toml dns_records reloaded");
            }
            Err(e) => {
                let text = format!(
                    "{}: {e:#}; the last good dns_records are kept",
                    path.display()
                );
                tracing::warn!("{text}");
                notices.set(TOPIC, Some(text));
            }
        }
    }
}

/// The file's modification time, `None` when it does not exist.
pub fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
