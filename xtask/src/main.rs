//! `cargo xtask`: the agentcore-multitenant provisioner. See ARCHITECTURE.md for the map.

mod agents;
mod bench;
mod cli;
mod cloud;
mod cost;
mod demo;
mod gc;
mod engine;
mod fake;
mod kinds;
mod lock;
mod model;
mod output;
mod packaging;
mod permissions;
mod report;
mod web;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse_listing_tutorials();
    std::process::ExitCode::from(cli::run(cli).await.code())
}
