//! `cargo xtask`: the agentcore-multitenant provisioner. See ARCHITECTURE.md for the map.

mod agents;
mod bench;
mod cli;
mod cloud;
mod demo;
mod engine;
mod events;
mod fake;
mod kinds;
mod lifecycle;
mod model;
mod output;
mod packaging;
mod permissions;
mod web;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse_listing_tutorials();
    std::process::ExitCode::from(cli::run(cli).await.code())
}
