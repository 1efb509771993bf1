//! Lifecycle events, persisted with a per-app sequence number (SPEC §6) so a client that
//! reconnects with `after=SEQ` loses nothing. Sequence numbers come from the app's
//! `last_event_seq` counter, bumped in the writing transaction: concurrent writers never
//! collide and never leave gaps that commit out of order.

use satusky_types::{Event, EventType};
use sqlx::AnyConnection;
use sqlx::Row;

use crate::Store;
use crate::codec::{from_json, parse_enum, to_i64, to_json, to_u64};
use crate::error::{Result, StoreError};

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

    /// Up to `limit` events with `seq > after`, oldest first.
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
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("type")?;
                let data: String = row.try_get("data")?;
                Ok(Event {
                    seq: to_u64("event seq", row.try_get("seq")?)?,
                    at: satusky_core::time::rfc3339_ms(row.try_get("at")?),
                    kind: parse_enum("event type", &kind, EventType::parse)?,
                    app: app.to_string(),
                    data: from_json("event data", &data)?,
                })
            })
            .collect()
    }
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
    sqlx::query(
        "INSERT INTO events (org, app, seq, at, type, data) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(org)
    .bind(app)
    .bind(seq)
    .bind(at_ms)
    .bind(kind.as_str())
    .bind(to_json("event data", data)?)
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
