//! The standalone fakekube server: `fakekube serve --listen ADDR --kubeconfig FILE`.
//!
//! Serves the fake API (and the `/fakekube/v1` control endpoint) until Ctrl-C or SIGTERM,
//! after writing a kubeconfig that points kubectl or any client at it. Thin: flags → library.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fakekube::{Auto, FakeKube, Options};

#[derive(Debug, Parser)]
#[command(
    name = "fakekube",
    about = "An in-memory Kubernetes API server for tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the fake API until interrupted.
    Serve {
        /// Address to listen on (port 0 picks a free port; see the kubeconfig for it).
        #[arg(long, env = "FAKEKUBE_LISTEN", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Where to write a kubeconfig for this server.
        #[arg(long, env = "FAKEKUBE_KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
        /// Deployments complete their rollout by themselves after every spec change.
        #[arg(long)]
        auto_rollout: bool,
        /// HTTPRoutes, Gateways, ListenerSets and Certificates become ready by themselves.
        #[arg(long)]
        auto_routes: bool,
        /// Watch history length (older resourceVersions get 410 Expired).
        #[arg(long, default_value_t = fakekube::store::DEFAULT_HISTORY)]
        history: usize,
    },
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "fakekube=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            kubeconfig,
            auto_rollout,
            auto_routes,
            history,
        } => {
            let fake = FakeKube::with_options(Options {
                history,
                auto: Auto {
                    rollouts: auto_rollout,
                    routes: auto_routes,
                },
            });
            let (addr, server) = fake
                .serve(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            if let Some(path) = &kubeconfig {
                fakekube::kubeconfig::write(path, addr)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            tracing::info!(%addr, kubeconfig = ?kubeconfig, "fakekube serving");
            println!("fakekube listening on http://{addr}");
            shutdown_signal().await;
            server.shutdown().await;
            Ok(())
        }
    }
}
