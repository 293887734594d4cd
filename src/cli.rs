//! Command-line interface: the subcommands of SPEC section 6.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "workhours",
    version,
    about = "Real-time monitor of platform workers' working hours."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay JSON-lines events (a file or stdin); alerts as JSON lines on stdout, a summary on stderr.
    Replay(ReplayArgs),
    /// Write a realistic, seeded synthetic event stream as JSON lines.
    Simulate(SimulateArgs),
    /// Run the live pipeline against Kafka until SIGTERM or SIGINT.
    Run(RunArgs),
    /// Run the whole pipeline on this machine with nothing else installed.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Config file (TOML); defaults apply when absent. Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run event time up to this instant (RFC 3339 or epoch milliseconds) instead of the largest `ts`.
    #[arg(long)]
    pub until: Option<String>,
    /// Input file of JSON lines; stdin when absent or `-`.
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Config file (TOML), for the time zone of the simulated days.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Number of workers.
    #[arg(long, default_value_t = 1000)]
    pub workers: u32,
    /// Number of local days.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Seed of the random generator: the same seed gives the same stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First local day (YYYY-MM-DD) in the config's zone.
    #[arg(long, default_value = "2026-03-02")]
    pub start: String,
    /// Output file; stdout when absent or `-`.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Send a heartbeat this often while a worker is online (e.g. `60s`); none when absent.
    #[arg(long)]
    pub heartbeat: Option<String>,
    /// Fraction of events written twice (same `event_id`), e.g. 0.001.
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Fraction of extra bad lines of assorted kinds inserted after good ones, e.g. 0.001.
    #[arg(long, default_value_t = 0.0)]
    pub bad_lines: f64,
    /// Move events out of order by up to this much (e.g. `20s`); keep it within `allowed_lateness`.
    #[arg(long)]
    pub jitter: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML). Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Tombstone every record of the state topic, then exit: the next start begins from empty
    /// state, on purpose (state of an older release, a changed time.zone). Stop every
    /// instance first. See docs/LIVE.md.
    #[arg(long)]
    pub reset_state: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Config file (TOML) for the rules and the time zone; the demo sets the Kafka and HTTP
    /// keys itself. Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Number of simulated workers.
    #[arg(long, default_value_t = 2000)]
    pub workers: u32,
    /// Simulated seconds per real second: 360 is one simulated hour every 10 s.
    #[arg(long, default_value_t = 360.0)]
    pub speed: f64,
    /// Stop after this many simulated hours; run until Ctrl-C when absent.
    #[arg(long)]
    pub hours: Option<f64>,
    /// Address of the page and the monitor's HTTP endpoints [default: `http.listen`, 127.0.0.1:9898].
    #[arg(long)]
    pub listen: Option<String>,
    /// Seed of the simulator: the same seed gives the same workers and shifts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First simulated local day (YYYY-MM-DD) [default: today in the config's zone].
    #[arg(long)]
    pub start: Option<String>,
}
