//! The two migrations folders stay in lockstep: the same file names, and after migrating,
//! the same tables with the same columns (and nullability) on SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::{PG_ENV, TestDb, postgres_db, sqlite_db};
use sqlx::Row;

/// table → [(column, nullable)] in declaration order.
type Schema = BTreeMap<String, Vec<(String, bool)>>;

const TABLES: [&str; 14] = [
    "app_env",
    "app_secrets",
    "app_staged",
    "apps",
    "bindings",
    "domains",
    "drift_findings",
    "event_seq_floors",
    "events",
    "idempotency_keys",
    "orgs",
    "releases",
    "replicas",
    "tokens",
];

fn migration_files(backend: &str) -> Vec<String> {
    let dir = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_folders_hold_the_same_migration_files() {
    let sqlite = migration_files("sqlite");
    assert!(!sqlite.is_empty());
    assert!(sqlite.iter().all(|n| n.ends_with(".sql")), "{sqlite:?}");
    assert_eq!(sqlite, migration_files("postgres"));
}

async fn sqlite_schema(db: &TestDb) -> Schema {
    let mut raw = db.ctx.raw().await;
    let rows = sqlx::query(
        "SELECT m.name AS t, p.name AS c, p.\"notnull\" AS nn \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' AND m.name <> '_sqlx_migrations' \
         ORDER BY m.name, p.cid",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for row in rows {
        let not_null: i64 = row.get("nn");
        schema
            .entry(row.get("t"))
            .or_default()
            .push((row.get("c"), not_null == 0));
    }
    schema
}

async fn postgres_schema(db: &TestDb) -> Schema {
    let mut raw = db.ctx.raw().await;
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text AS n \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for row in rows {
        let nullable: String = row.get("n");
        schema
            .entry(row.get("t"))
            .or_default()
            .push((row.get("c"), nullable == "YES"));
    }
    schema
}

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let sqlite_db = sqlite_db().await;
    let sqlite = sqlite_schema(&sqlite_db).await;
    sqlite_db.finish().await;
    let tables: Vec<&str> = sqlite.keys().map(String::as_str).collect();
    assert_eq!(tables, TABLES);
    let nullable: Vec<&str> = sqlite
        .iter()
        .flat_map(|(t, cols)| cols.iter().filter(|c| c.1).map(move |c| (t, &c.0)))
        .map(|(t, c)| match (t.as_str(), c.as_str()) {
            ("app_secrets", "key_id") => "app_secrets.key_id",
            ("app_secrets", "nonce") => "app_secrets.nonce",
            ("app_secrets", "ciphertext") => "app_secrets.ciphertext",
            ("app_staged", "value") => "app_staged.value",
            ("app_staged", "key_id") => "app_staged.key_id",
            ("app_staged", "nonce") => "app_staged.nonce",
            ("app_staged", "ciphertext") => "app_staged.ciphertext",
            ("apps", "active_release") => "apps.active_release",
            ("apps", "target_release") => "apps.target_release",
            ("apps", "status") => "apps.status",
            ("apps", "work") => "apps.work",
            ("apps", "pinned_release") => "apps.pinned_release",
            ("apps", "scaled_replicas") => "apps.scaled_replicas",
            ("apps", "restarted_at") => "apps.restarted_at",
            ("apps", "template") => "apps.template",
            ("drift_findings", "remediation") => "drift_findings.remediation",
            ("events", "release") => "events.release",
            ("drift_findings", "healed_at") => "drift_findings.healed_at",
            ("releases", "image") => "releases.image",
            ("releases", "activated_at") => "releases.activated_at",
            ("releases", "context") => "releases.context",
            ("releases", "artifact") => "releases.artifact",
            ("releases", "failure") => "releases.failure",
            ("domains", "redirect_to") => "domains.redirect_to",
            ("domains", "verified_at") => "domains.verified_at",
            ("domains", "checked_at") => "domains.checked_at",
            ("domains", "next_check_at") => "domains.next_check_at",
            ("domains", "grace_from") => "domains.grace_from",
            ("domains", "grace_until") => "domains.grace_until",
            ("idempotency_keys", "response_status") => "idempotency_keys.response_status",
            ("idempotency_keys", "response_type") => "idempotency_keys.response_type",
            ("idempotency_keys", "response_body") => "idempotency_keys.response_body",
            ("tokens", "name") => "tokens.name",
            ("tokens", "expires_at") => "tokens.expires_at",
            ("tokens", "revoked_at") => "tokens.revoked_at",
            ("tokens", "last_used_at") => "tokens.last_used_at",
            ("tokens", "created_by") => "tokens.created_by",
            _ => "unexpected",
        })
        .collect();
    assert_eq!(
        nullable,
        [
            "app_secrets.key_id",
            "app_secrets.nonce",
            "app_secrets.ciphertext",
            "app_staged.value",
            "app_staged.key_id",
            "app_staged.nonce",
            "app_staged.ciphertext",
            "apps.active_release",
            "apps.target_release",
            "apps.status",
            "apps.work",
            "apps.pinned_release",
            "apps.scaled_replicas",
            "apps.restarted_at",
            "apps.template",
            "domains.redirect_to",
            "domains.verified_at",
            "domains.checked_at",
            "domains.next_check_at",
            "domains.grace_from",
            "domains.grace_until",
            "drift_findings.remediation",
            "drift_findings.healed_at",
            "events.release",
            "idempotency_keys.response_status",
            "idempotency_keys.response_type",
            "idempotency_keys.response_body",
            "releases.image",
            "releases.context",
            "releases.artifact",
            "releases.failure",
            "releases.activated_at",
            "tokens.name",
            "tokens.expires_at",
            "tokens.revoked_at",
            "tokens.last_used_at",
            "tokens.created_by"
        ]
    );

    let Some(pg_db) = postgres_db().await else {
        eprintln!("{PG_ENV} is not set: skipping the PostgreSQL half of the lockstep check");
        return;
    };
    let postgres = postgres_schema(&pg_db).await;
    pg_db.finish().await;
    assert_eq!(sqlite, postgres);
}
