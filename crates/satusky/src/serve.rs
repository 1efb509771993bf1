//! `satusky serve` and `satusky migrate`.

use anyhow::{Context, Result};
use satusky_server::Settings;
use tokio::net::TcpListener;

use crate::cli::{RuntimeArg, ServeArgs, StoreArgs};
use crate::config::{KubeFlags, open_store, read_server_toml};
use satusky_core::hostnames::Zone;
use satusky_stack::{KubeStack, LocalStack, LocalStackConfig};

pub async fn run(args: ServeArgs) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_tracing("info");
    let file = read_server_toml(&args.store.state_dir)?;
    let mut settings = Settings::default();
    if let Some(zone) = args.dns_zone.clone().or(file.dns_zone.clone()) {
        settings.dns_zone = Zone::parse(&zone).map_err(|e| anyhow::anyhow!("--dns-zone: {e}"))?;
    }
    let store = open_store(&args.store).await?;
    let keys = crate::keys::load(&args.store.state_dir, &file, false)?;
    let store = crate::keys::attach(store, keys).await?;
    upgrade_notes(&store, &file).await?;
    let zone = settings.dns_zone.clone();
    match args.runtime {
        RuntimeArg::Local => return serve_local(args, store, zone, &file).await,
        RuntimeArg::Kubernetes => return serve_kube(args, store, zone, &file).await,
        RuntimeArg::None => {}
    }
    let shutdown = shutdown_signal();
    let listener = bind_api(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?store.backend(), zone = %settings.dns_zone, "satusky serving");
    eprintln!("satusky: API listening on http://{addr}");
    let state = satusky_server::AppState::new(store, settings)
        .with_idempotency(idempotency(&args.store.state_dir)?);
    satusky_server::serve_state(listener, state, shutdown)
        .await
        .context("server failed")?;
    tracing::info!("satusky stopped");
    Ok(())
}

/// `serve --runtime local`: the API with the local runtime stack behind it.
async fn serve_local(
    args: ServeArgs,
    store: satusky_store::Store,
    zone: Zone,
    file: &crate::config::ServerToml,
) -> Result<()> {
    let shutdown = shutdown_signal();
    let state_dir = ensure_state_dir(&args.store.state_dir)?;
    let isolation = file.isolation(
        args.local_user.as_deref(),
        Some(satusky_local::isolation::DEFAULT_LOCAL_USER),
    )?;
    let stack = LocalStack::start(
        LocalStackConfig {
            state_dir,
            zone,
            http_addr: args.http_addr,
            https_addr: args.https_addr,
            dns_addr: args.dns_addr,
            probe_interval: args.probe_interval,
            isolation,
            build_timeout: crate::config::build_timeout(args.build_timeout, file)?,
            ready_recheck: crate::config::ready_recheck(args.ready_recheck, file)?,
            acme: file.acme()?,
            extra_roots: file.extra_roots()?,
        },
        store,
        file.dns_records()?,
    )
    .await?;
    let listener = bind_api(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?stack.store.backend(), runtime = "local", "satusky serving");
    eprintln!(
        "satusky: API listening on http://{addr} (local runtime; edge https://{}, DNS {})",
        stack.edge.https_addr(),
        stack.dns.local_addr()
    );
    stack.engine.start().await;
    let state = stack
        .state
        .clone()
        .with_idempotency(idempotency(&args.store.state_dir)?);
    let served = satusky_server::serve_state(listener, state, shutdown).await;
    stack.shutdown().await;
    served.context("server failed")?;
    tracing::info!("satusky stopped");
    Ok(())
}

/// `serve --runtime kubernetes`.
async fn serve_kube(
    args: ServeArgs,
    store: satusky_store::Store,
    zone: Zone,
    file: &crate::config::ServerToml,
) -> Result<()> {
    let shutdown = shutdown_signal();
    let state_dir = ensure_state_dir(&args.store.state_dir)?;
    if args.ready_recheck.is_some() || file.ready_recheck.is_some() {
        // Kubernetes re-checks readiness with the pods' own probes (kubelet).
        tracing::warn!(
            "ready_recheck (--ready-recheck / SATUSKY_READY_RECHECK / server.toml) applies to the local runtime only; the kubernetes runtime ignores it"
        );
    }
    // server.toml as read now: its later edits of [[dns_records]] are followed (below).
    let toml_seen = crate::dns_reload::modified(&state_dir.join("server.toml"));
    let reload_dir = state_dir.clone();
    let config = file.kube_stack(
        KubeFlags {
            state_dir,
            kubeconfig: args.kubeconfig.clone(),
            probe_interval: args.probe_interval,
            build_timeout: args.build_timeout,
        },
        zone,
    )?;
    let records = config.dns.as_ref().map(|(_, records)| records.clone());
    let stack = KubeStack::start(config, store).await?;
    let listener = bind_api(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, runtime = "kubernetes", "satusky serving");
    match &stack.dns {
        Some(dns) => eprintln!(
            "satusky: API listening on http://{addr} (kubernetes runtime; platform zone DNS {})",
            dns.local_addr()
        ),
        None => eprintln!("satusky: API listening on http://{addr} (kubernetes runtime)"),
    }
    stack.engine.start().await;
    let state = stack
        .state
        .clone()
        .with_idempotency(idempotency(&args.store.state_dir)?);
    // With the embedded DNS server, its static records follow server.toml's edits (an
    // operator's ownership TXT records, say) as on `satusky dev`.
    if let Some(records) = records {
        tokio::spawn(crate::dns_reload::follow(
            reload_dir,
            toml_seen,
            records,
            state.notices.clone(),
        ));
    }
    satusky_server::serve_state(listener, state, shutdown)
        .await
        .context("server failed")?;
    tracing::info!("satusky stopped");
    Ok(())
}

/// Listen for the API, with a message that says what to check when the address is taken.
pub async fn bind_api(addr: std::net::SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another satusky running?)"))
}

/// Idempotency-Key fingerprints keyed by `STATE_DIR/idempotency.key` (made on first start),
/// so a retry after a restart is still recognised.
pub fn idempotency(state_dir: &std::path::Path) -> Result<satusky_server::Idempotency> {
    let dir = ensure_state_dir(state_dir)?;
    Ok(satusky_server::Idempotency::from_state_dir(&dir)?)
}

/// The state dir, created if missing, as an absolute path.
fn ensure_state_dir(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state dir {}", dir.display()))?;
    Ok(std::fs::canonicalize(dir)?)
}

pub async fn migrate(args: StoreArgs) -> Result<()> {
    open_store(&args).await?;
    eprintln!("satusky: store migrated");
    Ok(())
}

/// Logs to stderr ([`crate::logs`]); `SATUSKY_LOG` overrides `default` (an EnvFilter
/// directive).
pub fn init_tracing(default: &str) -> crate::logs::Logs {
    crate::logs::init(default)
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The listeners are registered when this is CALLED,
/// not when the future is first polled: call it before telling anyone the process is up
/// (dev.json, the "listening" line), so a signal sent right after is never lost between the
/// handler's installation and a listener's subscription.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {},
                _ = wait(term) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What changed for an installation upgraded across ownership proof: the old stopgap setting
/// is no longer read, and custom domains kept from before are served for the configured grace
/// period (`domain_grace`, default 7 days) unless proven.
pub(crate) async fn upgrade_notes(
    store: &satusky_store::Store,
    file: &crate::config::ServerToml,
) -> Result<()> {
    if file.allow_unproven_domains {
        tracing::warn!(
            "server.toml: allow_unproven_domains is no longer used: custom domains are routed once their ownership is proven (`1ctl domains setup HOST` prints the TXT record)"
        );
    }
    let grace = file
        .domain_grace
        .unwrap_or(satusky_core::ownership::DEFAULT_GRACE);
    let ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let kept = store
        .set_grace_period(ms)
        .await
        .context("cannot set the custom domains' grace period")?;
    if kept > 0 {
        tracing::warn!(
            domains = kept,
            grace = %humantime::format_duration(grace),
            "custom domains from before ownership proof are served until their grace period ends, then only once proven; `1ctl domains list` shows the record each needs"
        );
    }
    Ok(())
}
