//! `1ctl`, the Satusky command-line client: a thin HTTP client of the control plane API.
//!
//! This file only wires things: install the TLS provider, parse the command line, record
//! which global values came from flags and which from the environment, run the command on
//! a single-threaded runtime, print the error (if any) and exit with its code (SPEC §5).
#![forbid(unsafe_code)]

mod board;
mod cli;
mod client;
mod commands;
mod events;
mod exit;
mod ignore;
mod output;
mod pack;
mod profile;
mod retry;
mod settle;
mod verdict;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::commands::Env;
use crate::exit::CliError;
use crate::profile::{Inputs, Source, Sourced};

fn main() -> ExitCode {
    // reqwest is built without a provider (`rustls-no-provider`): ring is the one we use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let inputs = inputs(&cli, &matches);
    let env = Env::new(cli.global.clone(), inputs);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            CliError::Unexpected(format!("cannot start the async runtime: {e}")).report();
            return ExitCode::from(exit::UNEXPECTED);
        }
    };
    match runtime.block_on(commands::run(cli, env)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            err.report();
            ExitCode::from(err.code())
        }
    }
}

/// The global values, each tagged with whether a flag or an env var set it.
fn inputs(cli: &Cli, matches: &ArgMatches) -> Inputs {
    let tag = |id: &str, var: &'static str, value: &Option<String>| {
        value.as_ref().map(|v| Sourced {
            value: v.clone(),
            source: match source_of(matches, id) {
                Some(ValueSource::EnvVariable) => Source::Env(var),
                _ => Source::Flag,
            },
        })
    };
    Inputs {
        api_url: tag("api_url", "SATUSKY_API_URL", &cli.global.api_url),
        token: tag("token", "SATUSKY_TOKEN", &cli.global.token),
        org: cli.global.org.clone(),
    }
}

/// Where a global arg's value came from, looking in the deepest subcommand that has it.
fn source_of(matches: &ArgMatches, id: &str) -> Option<ValueSource> {
    let mut m = matches;
    let mut found = m.value_source(id);
    while let Some((_, sub)) = m.subcommand() {
        if let Some(s) = sub.value_source(id) {
            found = Some(s);
        }
        m = sub;
    }
    found
}
