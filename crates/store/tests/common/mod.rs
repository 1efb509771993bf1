//! Test harness shared by the store's integration tests: every test body runs against a
//! fresh SQLite file always, and against a fresh PostgreSQL database (created per test, dropped
//! afterwards) when `SATUSKY_TEST_DATABASE_URL` is set. Also holds small fixtures.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::future::Future;

use ring::rand::{SecureRandom, SystemRandom};
use satusky_store::Store;
#[allow(unused_imports)] // not every test binary names hosts
pub use satusky_testkit::spec::{alias, generated_as as generated, redirect};
use satusky_types::AppSpec;
use sqlx::{AnyConnection, Connection, Executor};

/// The PostgreSQL server tests may use; unset means SQLite only.
pub const PG_ENV: &str = "SATUSKY_TEST_DATABASE_URL";

/// What a test body gets: a migrated store and the URL it was opened with (for a second
/// instance or raw SQL).
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub url: String,
}

impl Ctx {
    /// A plain connection to the same database, for looking under the store's API.
    pub async fn raw(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url)
            .await
            .expect("raw connection")
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub ctx: Ctx,
    pub label: &'static str,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(unused)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// Closes the store and removes the database (best effort on PostgreSQL).
    pub async fn finish(self) {
        self.ctx.store.close().await;
        match self.guard {
            Guard::Sqlite(dir) => drop(dir),
            Guard::Postgres { admin_url, name } => {
                if let Ok(mut admin) = AnyConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
                    let _ = admin.close().await;
                }
            }
        }
    }
}

/// A migrated store on a new SQLite file in a temporary directory.
pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("satusky.db").display());
    let store = Store::open(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestDb {
        ctx: Ctx { store, url },
        label: "sqlite",
        guard: Guard::Sqlite(dir),
    }
}

/// A migrated store on a new PostgreSQL database, or `None` when the env var is unset.
pub async fn postgres_db() -> Option<TestDb> {
    let admin_url = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
    sqlx::any::install_default_drivers();
    let name = format!("satusky_t_{}", random_hex(8));
    let mut admin = AnyConnection::connect(&admin_url)
        .await
        .expect("connect to SATUSKY_TEST_DATABASE_URL");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    admin.close().await.expect("close admin connection");
    let url = with_database(&admin_url, &name);
    let store = Store::open(&url).await.expect("open postgres");
    store.migrate().await.expect("migrate postgres");
    Some(TestDb {
        ctx: Ctx { store, url },
        label: "postgres",
        guard: Guard::Postgres { admin_url, name },
    })
}

/// Runs `test` on every available backend, each on its own fresh database. A panic in the
/// body still drops the PostgreSQL database before the test fails.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut dbs = vec![sqlite_db().await];
    dbs.extend(postgres_db().await);
    for db in dbs {
        let outcome = tokio::spawn(test(db.ctx.clone())).await;
        let label = db.label;
        db.finish().await;
        if let Err(err) = outcome {
            eprintln!("failed on {label}");
            match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(err) => panic!("test task on {label} did not finish: {err}"),
            }
        }
    }
}

/// `postgres://…/OLD?params` → `postgres://…/NAME?params`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{root}/{name}{query}")
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).expect("randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A minimal valid spec for app `name`, run from the image `registry.example/NAME:1`.
pub fn spec(name: &str) -> AppSpec {
    satusky_testkit::spec::image_app(name, &format!("registry.example/{name}:1"))
}

#[test]
fn replaces_the_database_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
