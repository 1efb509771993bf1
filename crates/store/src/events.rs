//! Lifecycle events, persisted with a per-app sequence number (SPEC §6) so a client that
//! reconnects with `after=SEQ` loses nothing. Sequence numbers come from the app's
//! `last_event_seq` counter, bumped in the writing transaction: concurrent writers never
//! collide and never leave gaps that commit out of order.
//!
//! Replays read in pages bounded by the bytes of `data` ([`Store::events_page`]): first the
//! sizes of the next events (numbers only), then exactly the events that fit the budget, so a
//! reader never holds more than about one budget of event text, however large the history.

use satusky_types::{Event, EventType};
use sqlx::AnyConnection;
use sqlx::Row;

use crate::Store;
use crate::codec::{from_json, parse_enum, to_i64, to_json, to_u64};
use crate::error::{Result, StoreError};

/// Most events one page holds, however small: bounds the size query of a page.
pub const EVENTS_PAGE_MAX: u32 = 500;

/// One page of an app's events, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// More events after the last of this page existed when it was read: read on at once.
    pub more: bool,
}

impl Store {
    /// Appends one event to the app's stream. Fails with [`StoreError::NotFound`] when the app
    /// does not exist.
    pub async fn append_event(
        &self,
        org: &str,
        app: &str,
        kind: EventType,
        data: &serde_json::Value,
        now_ms: i64,
    ) -> Result<Event> {
        let mut tx = self.begin_write().await?;
        let event = insert(&mut tx, org, app, kind, data, now_ms)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("app {org}/{app}")))?;
        tx.commit().await?;
        Ok(event)
    }

    /// The next events with `seq > after`, oldest first, as many as fit in `budget` bytes of
    /// `data` (and at most [`EVENTS_PAGE_MAX`]). An event larger than the budget comes alone, so
    /// a reader always makes progress.
    pub async fn events_page(
        &self,
        org: &str,
        app: &str,
        after: u64,
        budget: usize,
    ) -> Result<EventPage> {
        let empty = EventPage {
            events: Vec::new(),
            more: false,
        };
        let Some(after) = to_i64(after) else {
            return Ok(empty);
        };
        let rows = sqlx::query(
            "SELECT seq, CAST(octet_length(data) AS BIGINT) AS size FROM events \
             WHERE org = $1 AND app = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(org)
        .bind(app)
        .bind(after)
        .bind(i64::from(EVENTS_PAGE_MAX) + 1)
        .fetch_all(&self.pool)
        .await?;
        let sizes = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>("seq")?, r.try_get::<i64, _>("size")?)))
            .collect::<Result<Vec<_>>>()?;
        let Some((last, count)) = page_end(&sizes, budget, EVENTS_PAGE_MAX as usize) else {
            return Ok(empty);
        };
        let rows = sqlx::query(
            "SELECT seq, at, type, data FROM events \
             WHERE org = $1 AND app = $2 AND seq > $3 AND seq <= $4 ORDER BY seq",
        )
        .bind(org)
        .bind(app)
        .bind(after)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        Ok(EventPage {
            events: rows
                .iter()
                .map(|row| event(app, row))
                .collect::<Result<_>>()?,
            more: sizes.len() > count,
        })
    }

    /// The seq of the app's last event (0 before its first), or `None` when the app does not
    /// exist: what a follower that starts now replays up to, before live events come.
    pub async fn last_event_seq(&self, org: &str, app: &str) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT last_event_seq FROM apps WHERE org = $1 AND name = $2")
            .bind(org)
            .bind(app)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(to_u64(
                "last_event_seq",
                r.try_get("last_event_seq")?,
            )?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` events with `seq > after`, oldest first, whatever their size: for small
    /// reads (tests, tools). Streams to clients use [`Store::events_page`].
    pub async fn events_after(
        &self,
        org: &str,
        app: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let Some(after) = to_i64(after) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT seq, at, type, data FROM events \
             WHERE org = $1 AND app = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(org)
        .bind(app)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| event(app, row)).collect()
    }
}

/// The last sequence number and the count of the events (`(seq, size)`, in order) that fit in
/// `budget` bytes, at most `max` of them; the first event always fits. `None` when there are
/// none.
fn page_end(sizes: &[(i64, i64)], budget: usize, max: usize) -> Option<(i64, usize)> {
    let (first, _) = sizes.first()?;
    let mut end = (*first, 1);
    let mut used: usize = 0;
    for (i, (seq, size)) in sizes.iter().enumerate().take(max) {
        used = used.saturating_add(usize::try_from(*size).unwrap_or(usize::MAX));
        if i > 0 && used > budget {
            break;
        }
        end = (*seq, i + 1);
    }
    Some(end)
}

fn event(app: &str, row: &sqlx::any::AnyRow) -> Result<Event> {
    let kind: String = row.try_get("type")?;
    let data: String = row.try_get("data")?;
    Ok(Event {
        seq: to_u64("event seq", row.try_get("seq")?)?,
        at: satusky_core::time::rfc3339_ms(row.try_get("at")?),
        kind: parse_enum("event type", &kind, EventType::parse)?,
        app: app.to_string(),
        data: from_json("event data", &data)?,
    })
}

/// Allocates the app's next sequence number and writes the event, inside the caller's
/// transaction. `None` when the app does not exist. The counter bump is the first write, so
/// it also takes the app's row lock (PostgreSQL) before anything else.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    org: &str,
    app: &str,
    kind: EventType,
    data: &serde_json::Value,
    at_ms: i64,
) -> Result<Option<Event>> {
    let row = sqlx::query(
        "UPDATE apps SET last_event_seq = last_event_seq + 1 \
         WHERE org = $1 AND name = $2 RETURNING last_event_seq",
    )
    .bind(org)
    .bind(app)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let seq: i64 = row.try_get("last_event_seq")?;
    let release = data
        .get("release")
        .and_then(serde_json::Value::as_u64)
        .and_then(to_i64);
    sqlx::query(
        "INSERT INTO events (org, app, seq, at, type, data, release) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org)
    .bind(app)
    .bind(seq)
    .bind(at_ms)
    .bind(kind.as_str())
    .bind(to_json("event data", data)?)
    .bind(release)
    .execute(&mut *conn)
    .await?;
    Ok(Some(Event {
        seq: to_u64("event seq", seq)?,
        at: satusky_core::time::rfc3339_ms(at_ms),
        kind,
        app: app.to_string(),
        data: data.clone(),
    }))
}

impl Store {
    /// The build log of release `version` of `org/app`: its `build_log` events' lines, oldest
    /// first, at most `max` (then `true`: more were left out).
    pub async fn build_log(
        &self,
        org: &str,
        app: &str,
        version: u64,
        max: u32,
    ) -> Result<(Vec<String>, bool)> {
        let Some(version) = to_i64(version) else {
            return Ok((Vec::new(), false));
        };
        let rows = sqlx::query(
            "SELECT data FROM events WHERE org = $1 AND app = $2 AND release = $3 AND type = $4 \
             ORDER BY seq LIMIT $5",
        )
        .bind(org)
        .bind(app)
        .bind(version)
        .bind(EventType::BuildLog.as_str())
        .bind(i64::from(max) + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut lines = rows
            .iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                let data: serde_json::Value = from_json("event data", &data)?;
                Ok(data
                    .get("line")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string())
            })
            .collect::<Result<Vec<_>>>()?;
        let more = lines.len() > max as usize;
        lines.truncate(max as usize);
        Ok((lines, more))
    }
}

#[cfg(test)]
mod tests {
    use super::page_end;

    #[test]
    fn a_page_holds_what_fits_and_never_nothing() {
        let sizes = [(4, 100), (5, 100), (6, 100), (7, 100)];
        assert_eq!(page_end(&sizes, 250, 500), Some((5, 2)));
        assert_eq!(page_end(&sizes, 400, 500), Some((7, 4)));
        assert_eq!(
            page_end(&sizes, 1000, 3),
            Some((6, 3)),
            "at most max events"
        );
        assert_eq!(
            page_end(&sizes, 10, 500),
            Some((4, 1)),
            "too big for the budget: alone"
        );
        assert_eq!(page_end(&[(9, 1 << 40)], 10, 500), Some((9, 1)));
        assert_eq!(page_end(&[], 10, 500), None);
    }
}
