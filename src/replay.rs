//! stub
pub fn run(_args: &crate::cli::ReplayArgs) -> anyhow::Result<()> {
    anyhow::bail!("replay is not built yet")
}
