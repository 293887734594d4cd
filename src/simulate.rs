//! Seeded synthetic event streams. STUB: to be replaced by the simulator work.

use crate::cli::SimulateArgs;
use crate::config::Config;

pub fn run(_args: &SimulateArgs, _config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("simulate is not built yet")
}
