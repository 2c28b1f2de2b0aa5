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

/// The workspace this run belongs to: the checkout `cargo` runs from (its `CARGO_MANIFEST_DIR`,
/// set at run time by `cargo run` and by the test runners), else the one the binary was built
/// from. Cargo does not rebuild when only the checkout's path changes, so a build shared between
/// two checkouts (CI's cache) must not read files by the path it was compiled at.
pub fn workspace() -> std::path::PathBuf {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .filter(|dir| dir.join("Cargo.toml").is_file() && dir.join("../stacks").is_dir())
        .unwrap_or_else(|| built.to_path_buf())
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse_listing_tutorials();
    std::process::ExitCode::from(cli::run(cli).await.code())
}

#[cfg(test)]
mod workspace_tests {
    /// The checkout cargo runs in wins over the one the binary was built in (a shared target
    /// directory); a CARGO_MANIFEST_DIR that is no xtask/ of a workspace is not taken. Each test
    /// is a process of its own under nextest, so setting the variable touches no other test.
    #[test]
    fn the_workspace_is_the_checkout_cargo_runs_in() {
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(other.path().join("xtask")).unwrap();
        std::fs::write(other.path().join("xtask/Cargo.toml"), "").unwrap();
        let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        std::env::set_var("CARGO_MANIFEST_DIR", other.path().join("xtask"));
        assert_eq!(super::workspace(), built, "a directory without stacks/ is no workspace");
        std::fs::create_dir_all(other.path().join("stacks")).unwrap();
        assert_eq!(super::workspace(), other.path());
    }
}
