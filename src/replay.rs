//! `workhours replay`: the engine over JSON lines. Streams its input (never loads it whole),
//! writes alerts as JSON lines, reports bad lines and a summary on stderr.

use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use crate::alert::{Alert, Hold, Phase};
use crate::cli::{ReplayArgs, StatusArgs};
use crate::config::Config;
use crate::engine::{ClosedWorkerDay, Engine, Pushed, Stats, event_digest};
use crate::event::{self, BadReason};
use crate::timefmt;

mod sharded;

pub use sharded::replay_sharded;

/// What a replay read and did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub lines: u64,
    pub blank: u64,
    pub bad: BTreeMap<BadReason, u64>,
    /// Valid events after `--until`, not applied.
    pub after_until: u64,
    pub engine: Stats,
    pub alerts: u64,
    /// Sharded replay: `quota_p90` alerts per rule, computed outside the engines.
    pub quota_counts: BTreeMap<String, u64>,
}

impl Report {
    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }

    /// The summary table written to stderr.
    pub fn write_summary(&self, out: &mut impl Write) -> io::Result<()> {
        let stats = &self.engine;
        writeln!(out, "workhours replay summary")?;
        // Events refused when applied (`too_many_orders`) were accepted first: bad, not valid.
        let valid =
            stats.accepted + stats.duplicates + stats.late + self.after_until - stats.rejected;
        let rows = [
            ("lines read", self.lines),
            ("blank lines skipped", self.blank),
            ("valid events", valid),
            ("bad events", self.bad_total()),
        ];
        for (name, value) in rows {
            writeln!(out, "  {name:<28}{value:>12}")?;
        }
        for (reason, count) in &self.bad {
            writeln!(out, "    {:<26}{count:>12}", reason.code())?;
        }
        let rows = [
            ("duplicates (dropped)", stats.duplicates),
            ("late (dropped)", stats.late),
            ("after --until (not applied)", self.after_until),
            ("applied", stats.applied),
            ("no-op state changes", stats.noops),
            ("session timeouts", stats.session_timeouts),
            ("workers forgotten (ttl)", stats.evicted),
            ("alerts", self.alerts),
        ];
        for (name, value) in rows {
            writeln!(out, "  {name:<28}{value:>12}")?;
        }
        for (rule, counts) in &stats.alerts {
            for phase in Phase::ALL {
                let count = counts[phase as usize];
                if count > 0 {
                    let name = format!("{rule}/{}", phase.as_str());
                    writeln!(out, "    {name:<26}{count:>12}")?;
                }
            }
        }
        if stats.holds > 0 {
            writeln!(out, "  {:<28}{:>12}", "holds", stats.holds)?;
        }
        Ok(())
    }
}

/// Parses `--until`: RFC 3339 with an offset, or epoch milliseconds.
pub fn parse_until(text: &str) -> anyhow::Result<i64> {
    parse_instant(text, "--until")
}

/// Parses an instant option (`flag` names it in messages): RFC 3339 with an offset, or epoch
/// milliseconds, within the range of SPEC section 5.
pub fn parse_instant(text: &str, flag: &str) -> anyhow::Result<i64> {
    let ms = match text.parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => timefmt::parse_rfc3339(text).with_context(|| {
            format!("{flag} {text:?} is neither RFC 3339 with an offset nor epoch milliseconds")
        })?,
    };
    anyhow::ensure!(
        timefmt::in_range(ms),
        "{flag} {text:?} is outside 2000-01-01 to 2100-01-01"
    );
    Ok(ms)
}

/// Lines per batch: the `event_id` slots of a batch are prefetched together, so that their
/// cache misses overlap instead of coming one after another.
const BATCH: usize = 32;

/// Reads the input in large blocks and hands out runs of complete lines without copying
/// each line. Public so that the parse floor (`examples/parse_floor.rs`) reads exactly as
/// replay does.
pub struct Blocks<R> {
    reader: R,
    buf: Vec<u8>,
    len: usize,
    consumed: usize,
    eof: bool,
}

impl<R: Read> Blocks<R> {
    pub fn new(reader: R) -> Blocks<R> {
        Blocks {
            reader,
            buf: vec![0; 1 << 20],
            len: 0,
            consumed: 0,
            eof: false,
        }
    }

    /// The next run of whole lines (the input's last line may lack its newline).
    // Not `Iterator::next`: the run borrows the buffer, which the next call overwrites.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> io::Result<Option<&[u8]>> {
        self.buf.copy_within(self.consumed..self.len, 0);
        self.len -= self.consumed;
        self.consumed = 0;
        loop {
            while !self.eof && self.len < self.buf.len() {
                match self.reader.read(&mut self.buf[self.len..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.len += n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
            if self.len == 0 {
                return Ok(None);
            }
            match memchr::memrchr(b'\n', &self.buf[..self.len]) {
                Some(last) => {
                    self.consumed = last + 1;
                    return Ok(Some(&self.buf[..=last]));
                }
                None if self.eof => {
                    self.consumed = self.len;
                    return Ok(Some(&self.buf[..self.len]));
                }
                // A line longer than the buffer.
                None => self.buf.resize(self.buf.len() * 2, 0),
            }
        }
    }
}

/// The lines of a block from [`Blocks`], without their `\n` or `\r\n`. memchr finds the
/// ends: a byte-at-a-time split cost about a fifth of the parse floor.
pub fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let line = match memchr::memchr(b'\n', rest) {
            Some(end) => {
                let line = &rest[..end];
                rest = &rest[end + 1..];
                line
            }
            None => std::mem::take(&mut rest),
        };
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// A line of only whitespace is skipped, not a bad event.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Where a replay's outputs go.
pub trait Sink {
    /// One alert, in the order the engine emits them (by `at`).
    fn alert(&mut self, alert: Alert) -> io::Result<()>;
    /// One dispatch hold.
    fn hold(&mut self, _hold: Hold) -> io::Result<()> {
        Ok(())
    }
    /// One worker's closed day with work (when the engine tracks days).
    fn day(&mut self, _day: ClosedWorkerDay) {}
}

/// A sink that keeps nothing (`status`).
pub struct Discard;

impl Sink for Discard {
    fn alert(&mut self, _alert: Alert) -> io::Result<()> {
        Ok(())
    }
}

/// Alerts as JSON lines to one writer, holds to another (`--holds`) or nowhere.
pub struct Lines<'a> {
    pub zone: chrono_tz::Tz,
    pub alerts: &'a mut dyn Write,
    pub holds: Option<&'a mut dyn Write>,
}

impl Sink for Lines<'_> {
    fn alert(&mut self, alert: Alert) -> io::Result<()> {
        self.alerts
            .write_all(alert.to_json(&self.zone).as_bytes())?;
        self.alerts.write_all(b"\n")
    }

    fn hold(&mut self, hold: Hold) -> io::Result<()> {
        if let Some(out) = self.holds.as_deref_mut() {
            out.write_all(hold.to_json(&self.zone).as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// Replays `input` through a fresh engine: alerts to `out`, one line per bad event to `diag`.
pub fn replay(
    config: Config,
    until: Option<i64>,
    input: impl Read,
    out: &mut impl Write,
    diag: &mut impl Write,
) -> io::Result<Report> {
    let zone = config.time.zone;
    let mut engine = Engine::new(config);
    let mut sink = Lines {
        zone,
        alerts: out,
        holds: None,
    };
    replay_into(&mut engine, until, input, &mut sink, diag)
}

/// Replays `input` through `engine` to event time `until` (else the largest `ts`): outputs to
/// `sink`, one line per bad event to `diag`. The engine is left at that instant, for views.
pub fn replay_into(
    engine: &mut Engine,
    until: Option<i64>,
    input: impl Read,
    sink: &mut dyn Sink,
    diag: &mut impl Write,
) -> io::Result<Report> {
    let mut report = Report::default();
    let mut blocks = Blocks::new(input);
    while let Some(block) = blocks.next()? {
        let mut lines = lines(block).peekable();
        while lines.peek().is_some() {
            let mut batch = Vec::with_capacity(BATCH);
            for line in lines.by_ref().take(BATCH) {
                report.lines += 1;
                if is_blank(line) {
                    report.blank += 1;
                    continue;
                }
                let parsed = event::parse(line).map(|event| {
                    let digest = event_digest(&event);
                    if let Some(digest) = digest {
                        engine.prefetch_id(digest);
                    }
                    (event, digest)
                });
                batch.push((report.lines, parsed));
            }
            // By reference: an event is a few hundred bytes, not worth a second copy.
            for (line_number, parsed) in &batch {
                let (event, digest) = match parsed {
                    Ok((event, digest)) => (event, *digest),
                    Err(bad) => {
                        *report.bad.entry(bad.reason).or_default() += 1;
                        writeln!(diag, "line {line_number}: bad event: {bad}")?;
                        continue;
                    }
                };
                if until.is_some_and(|end| event.ts > end) {
                    report.after_until += 1;
                    continue;
                }
                if engine.push_at(event, digest, *line_number) == Pushed::Accepted {
                    engine.advance();
                    drain(engine, sink, diag, &mut report)?;
                }
            }
        }
    }
    if let Some(end) = until.or(engine.max_ts()) {
        engine.finish(end);
        drain(engine, sink, diag, &mut report)?;
    }
    report.engine = engine.stats().clone();
    Ok(report)
}

/// Hands what the engine produced to the sink.
fn drain(
    engine: &mut Engine,
    sink: &mut dyn Sink,
    diag: &mut impl Write,
    report: &mut Report,
) -> io::Result<()> {
    // Events refused when applied are bad events too, reported by their line.
    for (line, reason) in engine.take_rejected() {
        *report.bad.entry(reason).or_default() += 1;
        let detail = match reason {
            BadReason::TooManyOrders => format!(
                "an order start while the worker already has {} active orders",
                crate::engine::MAX_ACTIVE_ORDERS
            ),
            other => other.code().to_owned(),
        };
        writeln!(diag, "line {line}: bad event: {}: {detail}", reason.code())?;
    }
    for alert in engine.take_alerts() {
        report.alerts += 1;
        sink.alert(alert)?;
    }
    for hold in engine.take_holds() {
        sink.hold(hold)?;
    }
    for day in engine.take_days() {
        sink.day(day);
    }
    Ok(())
}

/// Opens INPUT (a file, or stdin when absent or `-`) for command `what`, with a progress line
/// on stderr when it is a terminal ([`crate::progress`]).
pub fn open_input(
    input: Option<&std::path::Path>,
    what: &'static str,
) -> anyhow::Result<Box<dyn Read>> {
    let stdin = |_| -> (Box<dyn Read>, Option<u64>) {
        // A file redirected to stdin has a size; a pipe has none.
        let size = std::fs::metadata("/dev/stdin")
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        (Box::new(io::stdin().lock()), size)
    };
    let (reader, size) = match input {
        None => stdin(()),
        Some(path) if path.as_os_str() == "-" => stdin(()),
        Some(path) => {
            let file = File::open(path)
                .with_context(|| format!("cannot read input {}", path.display()))?;
            let size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            (Box::new(file) as Box<dyn Read>, size)
        }
    };
    Ok(crate::progress::wrap(what, reader, size))
}

/// The `replay` subcommand.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let until = args.until.as_deref().map(parse_until).transpose()?;
    let input = open_input(args.input.as_deref(), "replay")?;
    let mut holds = match &args.holds {
        Some(path) => {
            Some(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot write holds to {}", path.display())
            })?))
        }
        None => None,
    };
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut diag = BufWriter::new(io::stderr().lock());
    let zone = config.time.zone;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    anyhow::ensure!(threads >= 1, "--threads must be at least 1");
    let mut sink = Lines {
        zone,
        alerts: &mut out,
        holds: holds.as_mut().map(|w| w as &mut dyn Write),
    };
    let report = replay_sharded(config, until, input, threads, false, &mut sink, &mut diag)
        .context("replay failed")?;
    out.flush().context("cannot write alerts")?;
    if let Some(holds) = holds.as_mut() {
        holds.flush().context("cannot write holds")?;
    }
    report.write_summary(&mut diag)?;
    diag.flush()?;
    Ok(())
}

/// The `status` subcommand: replays the input up to `--at` (events after it are not read),
/// then writes every worker's view at that instant as JSON lines, sorted by worker id.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let at = parse_instant(&args.at, "--at")?;
    let input = open_input(args.input.as_deref(), "status")?;
    let mut engine = Engine::new(config);
    let mut diag = BufWriter::new(io::stderr().lock());
    let report = replay_into(&mut engine, Some(at), input, &mut Discard, &mut diag)
        .context("replay failed")?;
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let views = engine.views_at(at);
    for view in &views {
        serde_json::to_writer(&mut out, view).context("cannot write the views")?;
        out.write_all(b"\n").context("cannot write the views")?;
    }
    out.flush().context("cannot write the views")?;
    writeln!(
        diag,
        "workhours status: {} workers at {} ({} lines read, {} bad events)",
        views.len(),
        timefmt::format_rfc3339(at, &engine.config().time.zone),
        report.lines,
        report.bad_total()
    )?;
    diag.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lines` splits as `split_inclusive` on `\n` with `\n` and then `\r` stripped did.
    #[test]
    fn lines_split_like_split_inclusive() {
        let blocks: [&[u8]; 9] = [
            b"",
            b"\n",
            b"a",
            b"a\n",
            b"a\r\nb",
            b"a\n\n\r\nb\r\n",
            b"\r",
            b"a\r\r\n \n",
            b"{\"x\":1}\n{}\r",
        ];
        for block in blocks {
            let old: Vec<&[u8]> = block
                .split_inclusive(|&b| b == b'\n')
                .map(|line| line.strip_suffix(b"\n").unwrap_or(line))
                .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
                .collect();
            assert_eq!(lines(block).collect::<Vec<_>>(), old, "{block:?}");
        }
        assert!(is_blank(b" \t\r"));
        assert!(!is_blank(b" {}"));
    }
}
