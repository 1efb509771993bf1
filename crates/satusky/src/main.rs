//! `satusky`: the control-plane binary. A thin main: parse flags, open the store, hand off to
//! `satusky-server`. Each subcommand lives in its own module.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod dev;
mod dns_reload;
mod keys;
mod logs;
mod probe;
mod render;
mod serve;
mod token;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(args).await,
        cli::Command::Dev(args) => dev::run(args).await,
        cli::Command::Render(args) => render::run(args),
        cli::Command::Probe(args) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            return match probe::run_cli(args).await {
                Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
                Err(e) => {
                    eprintln!(
                        "error: {}",
                        satusky_core::error_chain(&satusky_core::ForeignError::new(e.as_ref()))
                    );
                    std::process::ExitCode::from(2)
                }
            };
        }
        cli::Command::Migrate(args) => serve::migrate(args).await,
        cli::Command::Secrets(cli::SecretsCommand::RotateKey(args)) => keys::rotate(args).await,
        cli::Command::Token(cli::TokenCommand::Create(args)) => token::create(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: {}",
                satusky_core::error_chain(&satusky_core::ForeignError::new(e.as_ref()))
            );
            std::process::ExitCode::FAILURE
        }
    }
}
