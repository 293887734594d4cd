//! Command-line interface: the subcommands of SPEC section 6.

use crate::simulate::Mix;
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
    /// Replace a national id in JSON lines by `person_id`, its HMAC-SHA256 under the regulator's key
    ///
    /// Run it at the source, before events leave the platform: the raw id then never
    /// reaches Kafka or workhours. `person_id` is the lowercase hex HMAC-SHA256 of the
    /// field's value under the key: the same id under the same key gives the same
    /// `person_id` on every platform.
    ///
    /// Key: the key file's bytes, less one trailing newline, as they are (the 64 hex
    /// characters of `openssl rand -hex 32` are 64 bytes of key, not decoded); 1 to 1024
    /// bytes, with a warning under 32.
    ///
    /// Each line:
    /// - the field (top level, default `id_number`) is renamed `person_id` in place and its
    ///   value replaced; every other byte of the line is kept;
    /// - a string is hashed as its UTF-8 bytes after JSON unescaping, exactly as written
    ///   (no trimming, no change of case); a non-negative integer as its digits;
    /// - `null`, `""` or blanks are no id: the member is removed, no `person_id` added;
    /// - a line without the field is written unchanged;
    /// - a line that is not UTF-8, not JSON or not an object, has the field twice, has the
    ///   field and `person_id` both, or has the field of another type is dropped and
    ///   reported on stderr by its number and a reason, never its content;
    /// - blank lines are skipped. A summary goes to stderr.
    ///
    /// Exit 0 even when lines were dropped; 2 with a message when the key, the input or
    /// the output cannot be used (the output is then incomplete). The raw value is never
    /// written, to the output or to stderr. See docs/persons.md.
    #[command(verbatim_doc_comment)]
    Pseudonymize(PseudonymizeArgs),
    /// Every worker's view at an instant (the `/v1/workers/{id}` object), as JSON lines sorted
    /// by worker id: where each stood against each rule of its pack, for audits.
    Status(StatusArgs),
    /// A monthly report per platform and city (HTML with charts, or CSV) for regulators.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Config file (TOML); defaults apply when absent. Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run event time up to this instant (RFC 3339 or epoch milliseconds) instead of the largest `ts`.
    #[arg(long)]
    pub until: Option<String>,
    /// Write the dispatch holds (rules with `hold = true`) to this file as JSON lines.
    #[arg(long)]
    pub holds: Option<PathBuf>,
    /// Engines in parallel, each holding the workers whose id hashes to it; the output is the
    /// same, byte for byte, whatever the number [default: the available cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Input file of JSON lines; stdin when absent or `-`.
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Config file (TOML); defaults apply when absent. Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The instant of the views (RFC 3339 or epoch milliseconds): events after it are not read.
    #[arg(long)]
    pub at: String,
    /// Input file of JSON lines; stdin when absent or `-`.
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The month to report, `YYYY-MM` (local, in the config's zone).
    #[arg(long)]
    pub month: String,
    /// Config file (TOML); defaults apply when absent. Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `html` (one self-contained page with charts) or `csv` (the table per platform and city).
    #[arg(long, default_value = "html")]
    pub format: String,
    /// Output file; stdout when absent or `-`.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Input file of JSON lines (the month and, for rules that look back, the weeks before it);
    /// stdin when absent or `-`.
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PseudonymizeArgs {
    /// File holding the regulator's key (32 bytes or more recommended; one trailing newline is
    /// ignored).
    #[arg(long)]
    pub key_file: PathBuf,
    /// Top-level field holding the raw id.
    #[arg(long, default_value = crate::pseudonymize::DEFAULT_FIELD)]
    pub field: String,
    /// Output file; stdout when absent or `-`.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Input file of JSON lines; stdin when absent or `-`.
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Config file (TOML), for the time zone of the simulated days.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Number of workers, at most 10000000.
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
    /// Produce the stream to Kafka instead: to the first of `kafka.input_topics` at
    /// `kafka.brokers` (from --config and the environment, `[kafka.properties]` included), as
    /// fast as the broker takes it, each message keyed by its `worker_id` (its `person_id`
    /// under `[rules] subject = "person"`), as `workhours run` requires.
    #[arg(long, conflicts_with = "output")]
    pub kafka: bool,
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
    /// Drivers and truckers also send `activity` events (`driving`, `other_work`, `available`,
    /// `rest`) that follow their logins, breaks and orders, `rest` at every logout; the other
    /// events are those the seed gives without this flag. Without --activity, --mix packs and
    /// --persons the output is byte for byte that of the seed without these options.
    #[arg(long)]
    pub activity: bool,
    /// Behaviour mix: `packs` adds behaviours that trip every rule of the shipped rule packs
    /// (cn-mohrss-2024, didi-2018, cn-road-traffic, eu-561, us-fmcsa-property,
    /// us-fmcsa-property-60) over a week (eu-561's 90 h a fortnight over two) while most
    /// workers comply.
    #[arg(long, value_enum, default_value_t = Mix::Standard)]
    pub mix: Mix,
    /// Every event carries a `person_id` (64 hex digits, like an HMAC-SHA256), and this
    /// fraction of persons (e.g. 0.1) have two worker ids on two platforms and work both on
    /// the same days, one after the other or in overlapping sessions.
    #[arg(long, value_name = "FRACTION")]
    pub persons: Option<f64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML). Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Tombstone every record of the state topic, then exit: the next start begins from empty
    /// state, on purpose (state of an older release, a changed time.zone). Stop every
    /// instance first. Gives up (exit 2) when the brokers do not answer within
    /// live.delivery_timeout. See docs/LIVE.md.
    #[arg(long)]
    pub reset_state: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Config file (TOML) for the rules and the time zone; the demo sets the Kafka brokers and
    /// group and the HTTP keys itself (the file's and the environment's `[http]` keys are
    /// ignored, with a log line). Environment variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Number of simulated workers, at most 100000.
    #[arg(long, default_value_t = 2000)]
    pub workers: u32,
    /// Simulated seconds per real second: 360 is one simulated hour every 10 s.
    #[arg(long, default_value_t = 360.0)]
    pub speed: f64,
    /// Stop after this many simulated hours; run until Ctrl-C when absent.
    #[arg(long)]
    pub hours: Option<f64>,
    /// Address of the page and the monitor's HTTP endpoints, served without a token (the
    /// config's `http.listen` and `http.token_file` are not read) [default: 127.0.0.1:9898].
    #[arg(long)]
    pub listen: Option<String>,
    /// Seed of the simulator: the same seed gives the same workers and shifts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First simulated local day (YYYY-MM-DD) [default: today in the config's zone].
    #[arg(long)]
    pub start: Option<String>,
}
