//! `satusky serve` and `satusky migrate`.

use anyhow::{Context, Result};
use satusky_server::Settings;
use tokio::net::TcpListener;

use crate::cli::{ServeArgs, StoreArgs};
use crate::config::{open_store, read_server_toml};

pub async fn run(args: ServeArgs) -> Result<()> {
    init_tracing("info");
    let file = read_server_toml(&args.store.state_dir)?;
    let mut settings = Settings::default();
    if let Some(zone) = args.dns_zone.or(file.dns_zone) {
        satusky_core::names::validate_hostname(&zone)
            .map_err(|e| anyhow::anyhow!("--dns-zone: {e}"))?;
        settings.dns_zone = zone;
    }
    let store = open_store(&args.store).await?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another satusky running?)",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?store.backend(), zone = %settings.dns_zone, "satusky serving");
    eprintln!("satusky: API listening on http://{addr}");
    satusky_server::serve(listener, store, settings, shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("satusky stopped");
    Ok(())
}

pub async fn migrate(args: StoreArgs) -> Result<()> {
    open_store(&args).await?;
    eprintln!("satusky: store migrated");
    Ok(())
}

/// Logs to stderr; `SATUSKY_LOG` overrides `default` (an EnvFilter directive).
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SATUSKY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
