//! `cargo xtask`: the agentcore-multitenant provisioner. See ARCHITECTURE.md for the map.

mod agents;
mod bench;
mod cli;
mod cloud;
mod demo;
mod engine;
mod fake;
mod kinds;
mod model;
mod output;
mod packaging;
mod permissions;
mod web;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(cli::Exit::Ok) => std::process::ExitCode::SUCCESS,
        Ok(cli::Exit::Failed) => std::process::ExitCode::from(1),
        Ok(cli::Exit::Invalid) => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
