#[derive(Debug, clap::Args)]
pub struct BenchArgs {}
pub async fn run(
    _a: &BenchArgs,
    _root: &std::path::Path,
    _out: &crate::output::Output,
) -> anyhow::Result<crate::cli::Exit> {
    Ok(crate::cli::Exit::Ok)
}
