//! `workhours replay`: the engine over JSON lines. Streams its input (never loads it whole),
//! writes alerts as JSON lines, reports bad lines and a summary on stderr.

use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use crate::alert::{Alert, Hold, Phase};
use crate::cli::{ReplayArgs, StatusArgs};
use crate::config::Config;
use crate::engine::{ClosedWorkerDay, Engine, Stats};
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
    /// The most alerts held at once before they went to the sink: those of one block, or of
    /// one stretch of event time ([`Engine::slice_end`]). Not in the summary.
    pub most_held: usize,
}

impl Report {
    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }

    /// The summary table written to stderr. The counts' column is right-aligned, past the
    /// longest label (a pack's rule id can be longer than the default width).
    pub fn write_summary(&self, out: &mut impl Write) -> io::Result<()> {
        let stats = &self.engine;
        writeln!(out, "workhours replay summary")?;
        // (indent, label, count): top-level rows at 2, their breakdowns at 4.
        let mut rows: Vec<(usize, String, u64)> = Vec::new();
        // Events refused when applied (`too_many_orders`) were accepted first: bad, not valid.
        let valid =
            stats.accepted + stats.duplicates + stats.late + self.after_until - stats.rejected;
        for (name, value) in [
            ("lines read", self.lines),
            ("blank lines skipped", self.blank),
            ("valid events", valid),
            ("bad events", self.bad_total()),
        ] {
            rows.push((2, name.to_string(), value));
        }
        for (reason, count) in &self.bad {
            rows.push((4, reason.code().to_string(), *count));
        }
        for (name, value) in [
            ("duplicates (dropped)", stats.duplicates),
            ("late (dropped)", stats.late),
            ("after --until (not applied)", self.after_until),
            ("applied", stats.applied),
            ("no-op state changes", stats.noops),
            ("session timeouts", stats.session_timeouts),
            ("workers forgotten (ttl)", stats.evicted),
            ("alerts", self.alerts),
        ] {
            rows.push((2, name.to_string(), value));
        }
        // Section 4's rules in SPEC's order (as before rule packs), then the others by name.
        const SECTION_4: [&str; 7] = [
            "continuous_work",
            "daily_hours",
            "weekly_hours",
            "monthly_overtime",
            "weekly_rest",
            "minimum_wage",
            "quota_p90",
        ];
        let mut rules: Vec<_> = stats.alerts.iter().collect();
        rules.sort_by_key(|(rule, _)| {
            let rank = SECTION_4.iter().position(|r| r == rule);
            (rank.unwrap_or(SECTION_4.len()), rule.to_string())
        });
        for (rule, counts) in rules {
            for phase in Phase::ALL {
                let count = counts[phase as usize];
                if count > 0 {
                    rows.push((4, format!("{rule}/{}", phase.as_str()), count));
                }
            }
        }
        if stats.holds > 0 {
            rows.push((2, "holds".to_string(), stats.holds));
        }
        // Labels fill 30 columns with their indent, or more, one space past the longest.
        let width = rows
            .iter()
            .map(|(indent, name, _)| indent + name.chars().count() + 1)
            .max()
            .unwrap_or(0)
            .max(30);
        for (indent, name, count) in &rows {
            let pad = width - indent;
            writeln!(out, "{:indent$}{name:<pad$}{count:>12}", "")?;
        }
        if !stats.uncovered_years.is_empty() {
            let years: Vec<String> = stats.uncovered_years.iter().map(i32::to_string).collect();
            let of = if years.len() == 1 { "it" } else { "them" };
            writeln!(
                out,
                "  the holiday calendar has no table for {}: holiday_pay judged no day of {of}",
                years.join(", ")
            )?;
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

/// The size of a block of input: large enough that per-block work (a merge of the engines'
/// outputs, a hand-over between threads) is a small share, small enough to stay in cache.
pub const BLOCK_BYTES: usize = 1 << 20;

/// Reads the input in blocks of whole lines, each into a buffer the caller owns (so that blocks
/// can travel between threads and be reused). A block is the longest run of whole lines within
/// the block size, or the input's last line, which may lack its newline; a line longer than
/// the size doubles it for the rest of the input. A line longer than [`event::MAX_EVENT_BYTES`]
/// is cut after one byte more (which is a `too_large` bad event whatever follows) and the rest of
/// it is read and dropped, so that no line grows the buffers beyond twice that. Replay, the
/// sharded replay and the parse floor all read through it, so they see the same blocks.
pub struct Chunker<R> {
    reader: R,
    size: usize,
    /// Lines longer than this are cut ([`event::MAX_EVENT_BYTES`]; smaller in tests).
    max_line: usize,
    /// The start of the next block's first line, read with the previous block.
    carry: Vec<u8>,
    eof: bool,
    /// Whether the input's first bytes were looked at for a byte order mark.
    started: bool,
}

/// UTF-8's byte order mark: JSON has none (RFC 8259 lets a reader ignore it), but editors on
/// Windows write one at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> Chunker<R> {
    pub fn new(reader: R, size: usize) -> Chunker<R> {
        Chunker {
            reader,
            size: size.max(1),
            max_line: event::MAX_EVENT_BYTES,
            carry: Vec::new(),
            eof: false,
            started: false,
        }
    }

    /// Reads the next block into `buf[..n]` and returns `n`, 0 at the end of the input. `buf`
    /// keeps its length from call to call (at least the block size), so that reusing it
    /// neither frees nor clears it.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let mut len = self.carry.len();
        if buf.len() < self.size {
            buf.resize(self.size, 0);
        }
        buf[..len].copy_from_slice(&self.carry);
        self.carry.clear();
        loop {
            while !self.eof && len < self.size {
                match self.reader.read(&mut buf[len..self.size]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => len += n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
            // A byte order mark opening the input is dropped: it would make the first line bad.
            // Decided once the first bytes are all of one, or cannot begin one.
            if !self.started && (len >= BOM.len() || self.eof || !BOM.starts_with(&buf[..len])) {
                self.started = true;
                if buf[..len].starts_with(BOM) {
                    buf.copy_within(BOM.len()..len, 0);
                    len -= BOM.len();
                    continue;
                }
            }
            if len == 0 {
                return Ok(0);
            }
            match memchr::memrchr(b'\n', &buf[..len]) {
                Some(last) => {
                    self.carry.extend_from_slice(&buf[last + 1..len]);
                    return Ok(last + 1);
                }
                None if self.eof => return Ok(len),
                // A line longer than any event: its first bytes, enough to refuse it, alone.
                None if len > self.max_line => {
                    let cut = self.max_line + 1;
                    if buf.len() <= cut {
                        buf.resize(cut + 1, 0);
                    }
                    buf[cut] = b'\n';
                    self.skip_line()?;
                    return Ok(cut + 1);
                }
                // A line longer than the block.
                None => {
                    self.size *= 2;
                    buf.resize(self.size, 0);
                }
            }
        }
    }

    /// Reads and drops the rest of the current line; what follows its newline is carried
    /// (less than the block size, as every carry).
    fn skip_line(&mut self) -> io::Result<()> {
        let mut scratch = [0u8; 8192];
        let take = scratch.len().min(self.size);
        while !self.eof {
            match self.reader.read(&mut scratch[..take]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    if let Some(end) = memchr::memchr(b'\n', &scratch[..n]) {
                        self.carry.extend_from_slice(&scratch[end + 1..n]);
                        return Ok(());
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// [`Chunker`] over one buffer, handing out each block by reference without copying it.
pub struct Blocks<R> {
    chunker: Chunker<R>,
    buf: Vec<u8>,
}

impl<R: Read> Blocks<R> {
    pub fn new(reader: R) -> Blocks<R> {
        Blocks {
            chunker: Chunker::new(reader, BLOCK_BYTES),
            buf: Vec::new(),
        }
    }

    /// The next run of whole lines (the input's last line may lack its newline).
    // Not `Iterator::next`: the run borrows the buffer, which the next call overwrites.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> io::Result<Option<&[u8]>> {
        let len = self.chunker.next_into(&mut self.buf)?;
        Ok((len > 0).then(|| &self.buf[..len]))
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
    // A longer line is `too_large` whatever it holds (docs/DESIGN.md).
    line.len() <= event::MAX_EVENT_BYTES && line.iter().all(u8::is_ascii_whitespace)
}

/// Where a replay's outputs go.
pub trait Sink {
    /// One alert, in the order the engine emits them (by `at`).
    fn alert(&mut self, alert: Alert) -> io::Result<()>;
    /// One dispatch hold (by `from`).
    fn hold(&mut self, _hold: Hold) -> io::Result<()> {
        Ok(())
    }
    /// One worker's closed day with work (when the engine tracks days).
    fn day(&mut self, _day: ClosedWorkerDay) {}
    /// The replay is over: nothing more comes.
    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps nothing (`status`).
pub struct Discard;

impl Sink for Discard {
    fn alert(&mut self, _alert: Alert) -> io::Result<()> {
        Ok(())
    }
}

/// Alerts as JSON lines to one writer, holds to another (`--holds`) or nowhere.
///
/// The outputs of one instant are written in the order of their key (the Kafka message key:
/// worker id, person id, or `platform/role/city`), one key's in the engine's order. The
/// engine's order across workers follows which worker's first event arrived first, which a
/// shuffle within the lateness can change; the key's order it cannot, so replay's bytes are
/// those of the events sorted by `ts` (SPEC section 5).
pub struct Lines<'a> {
    zone: chrono_tz::Tz,
    alerts: &'a mut dyn Write,
    holds: Option<&'a mut dyn Write>,
    /// The alerts of the latest instant, not yet written.
    instant_alerts: Vec<Alert>,
    /// The holds of the latest instant (`from`), not yet written.
    instant_holds: Vec<Hold>,
}

impl<'a> Lines<'a> {
    pub fn new(
        zone: chrono_tz::Tz,
        alerts: &'a mut dyn Write,
        holds: Option<&'a mut dyn Write>,
    ) -> Lines<'a> {
        Lines {
            zone,
            alerts,
            holds,
            instant_alerts: Vec::new(),
            instant_holds: Vec::new(),
        }
    }

    fn write_alerts(&mut self) -> io::Result<()> {
        self.instant_alerts.sort_by_cached_key(Alert::output_key);
        for alert in self.instant_alerts.drain(..) {
            self.alerts
                .write_all(alert.to_json(&self.zone).as_bytes())?;
            self.alerts.write_all(b"\n")?;
        }
        Ok(())
    }

    fn write_holds(&mut self) -> io::Result<()> {
        // Stable: one key's holds stay in the engine's order; a worker id's before a person's
        // spelled the same (see `Alert::output_key`).
        self.instant_holds.sort_by(|a, b| {
            (a.key(), a.person_id.is_some()).cmp(&(b.key(), b.person_id.is_some()))
        });
        if let Some(out) = self.holds.as_deref_mut() {
            for hold in self.instant_holds.drain(..) {
                out.write_all(hold.to_json(&self.zone).as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

impl Sink for Lines<'_> {
    fn alert(&mut self, alert: Alert) -> io::Result<()> {
        if self
            .instant_alerts
            .first()
            .is_some_and(|first| first.at != alert.at)
        {
            self.write_alerts()?;
        }
        self.instant_alerts.push(alert);
        Ok(())
    }

    fn hold(&mut self, hold: Hold) -> io::Result<()> {
        if self.holds.is_none() {
            return Ok(());
        }
        if self
            .instant_holds
            .first()
            .is_some_and(|first| first.from != hold.from)
        {
            self.write_holds()?;
        }
        self.instant_holds.push(hold);
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        self.write_alerts()?;
        self.write_holds()
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
    let mut sink = Lines::new(zone, out, None);
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
    replay_until(
        engine,
        until,
        |max_ts, _| until.or(max_ts),
        input,
        sink,
        diag,
    )
}

/// [`replay_into`], with event time run at the end to `end(largest ts accepted, whether an
/// event after `until` was read)` (none: not run on; [`Engine::end_of_input`]) instead of
/// `until`, else the largest `ts`.
pub fn replay_until(
    engine: &mut Engine,
    until: Option<i64>,
    end: impl FnOnce(Option<i64>, bool) -> Option<i64>,
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
                batch.push((report.lines, engine.parse_ahead(line)));
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
                if engine.push_at(event, digest, *line_number).accepted() {
                    let watermark = engine.watermark();
                    run_sliced(engine, Run::Before(watermark), |engine, _| {
                        drain(engine, sink, diag, &mut report)
                    })?;
                }
            }
        }
    }
    if let Some(end) = end(engine.end_of_input(), report.after_until > 0) {
        run_sliced(engine, Run::Through(end), |engine, _| {
            drain(engine, sink, diag, &mut report)
        })?;
    }
    sink.end()?;
    report.engine = engine.stats().clone();
    Ok(report)
}

/// How far [`run_sliced`] runs event time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Run {
    /// Every instant before this one ([`Engine::advance_to`]).
    Before(i64),
    /// Every instant up to this one, included ([`Engine::finish`]).
    Through(i64),
}

/// Runs `engine` as far as `run` says, one stretch of [`Engine::slice_end`] at a time, and
/// hands each stretch's outputs on with `each` (given the instant the stretch ran before;
/// none after the last stretch of a [`Run::Through`]) before the next stretch runs: a jump of
/// event time over weeks holds the alerts of one stretch at a time, not of the weeks.
pub(crate) fn run_sliced(
    engine: &mut Engine,
    run: Run,
    mut each: impl FnMut(&mut Engine, Option<i64>) -> io::Result<()>,
) -> io::Result<()> {
    let to = match run {
        Run::Before(to) | Run::Through(to) => to,
    };
    loop {
        let stop = engine.slice_end(to);
        if stop >= to {
            break;
        }
        engine.advance_to(stop);
        each(engine, Some(stop))?;
    }
    match run {
        Run::Before(to) => {
            engine.advance_to(to);
            each(engine, Some(to))
        }
        Run::Through(to) => {
            engine.finish(to);
            each(engine, None)
        }
    }
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
    let alerts = engine.take_alerts();
    report.most_held = report.most_held.max(alerts.len());
    for alert in alerts {
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
) -> anyhow::Result<Box<dyn Read + Send>> {
    let stdin = |_| -> (Box<dyn Read + Send>, Option<u64>) {
        // A file redirected to stdin has a size; a pipe has none.
        let size = std::fs::metadata("/dev/stdin")
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        // Not locked: the sharded replay reads on a thread of its own.
        (Box::new(io::stdin()), size)
    };
    let (reader, size) = match input {
        None => stdin(()),
        Some(path) if path.as_os_str() == "-" => stdin(()),
        Some(path) => {
            let file = crate::files::open_input(path)?;
            let size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            (Box::new(file) as Box<dyn Read + Send>, size)
        }
    };
    Ok(crate::progress::wrap(what, reader, size))
}

/// Most `--threads`: each thread keeps its blocks in flight (8 of up to 1 MiB of input and
/// its parsed events), and one serial step feeds them all, so more would only cost memory.
pub const MAX_THREADS: usize = 256;

/// The `replay` subcommand.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let until = args.until.as_deref().map(parse_until).transpose()?;
    let input = open_input(args.input.as_deref(), "replay")?;
    let mut holds = match &args.holds {
        Some(path) => {
            anyhow::ensure!(
                path.as_os_str() != "-",
                "--holds -: standard output carries the alerts; name a file, e.g. --holds holds.jsonl"
            );
            crate::files::refuse_overwriting_input(args.input.as_deref(), path, "--holds")?;
            crate::files::refuse_overwriting(
                args.config.as_deref(),
                "the config file",
                path,
                "--holds",
            )?;
            Some(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot write holds to {}", path.display())
            })?))
        }
        None => None,
    };
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    // Not locked: the progress line is drawn from the thread that reads.
    let mut diag = BufWriter::new(io::stderr());
    let zone = config.time.zone;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_THREADS)
    });
    anyhow::ensure!(
        (1..=MAX_THREADS).contains(&threads),
        "--threads {threads}: must be 1 to {MAX_THREADS}"
    );
    let mut sink = Lines::new(zone, &mut out, holds.as_mut().map(|w| w as &mut dyn Write));
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
        .context("status failed")?;
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let views = engine
        .each_view_at(at, |view| {
            serde_json::to_writer(&mut out, &view)?;
            out.write_all(b"\n")
        })
        .context("cannot write the views")?;
    out.flush().context("cannot write the views")?;
    // What was read but not applied, so that a view missing an event can be told why.
    writeln!(
        diag,
        "workhours status: {} workers at {} ({} lines read, {} bad events, {} duplicates and {} late events dropped, {} events after --at)",
        views,
        timefmt::format_rfc3339(at, &engine.config().time.zone),
        report.lines,
        report.bad_total(),
        report.engine.duplicates,
        report.engine.late,
        report.after_until
    )?;
    diag.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `piece` bytes a call, as a pipe may.
    struct Pieces<'a> {
        rest: &'a [u8],
        piece: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.rest.len().min(self.piece).min(buf.len());
            buf[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            Ok(n)
        }
    }

    /// Blocks are the longest runs of whole lines within the size (the input's unterminated
    /// last line on its own), the size doubling for good at a longer line: whatever the
    /// pieces the reader returns, and through whichever buffers.
    #[test]
    fn blocks_are_the_longest_runs_of_whole_lines_within_the_size() {
        let inputs: [&[u8]; 6] = [
            b"",
            b"abc",
            b"a\nbb\nccc\n",
            b"a\nbb\nccc\ndddd",
            b"0123456789abcdef\nx\n\nyy\n0123456789abcdef0123456789\nz",
            b"\n\n\n\n\n",
        ];
        for input in inputs {
            for size in [1, 2, 3, 4, 7, 16, 1000] {
                for piece in [1, 2, 5, 1 << 20] {
                    // The reference: the longest prefix of the rest ending in a newline within
                    // the size; else the size doubles, or at the end the rest is the block.
                    let mut want: Vec<&[u8]> = Vec::new();
                    let (mut rest, mut limit) = (input, size);
                    while !rest.is_empty() {
                        let window = &rest[..rest.len().min(limit)];
                        match window.iter().rposition(|&b| b == b'\n') {
                            Some(last) => {
                                want.push(&rest[..=last]);
                                rest = &rest[last + 1..];
                            }
                            None if window.len() == rest.len() => {
                                want.push(rest);
                                rest = &[];
                            }
                            None => limit *= 2,
                        }
                    }
                    let mut chunker = Chunker::new(Pieces { rest: input, piece }, size);
                    let mut bufs = [Vec::new(), vec![7; 3], Vec::new()];
                    let mut got: Vec<Vec<u8>> = Vec::new();
                    loop {
                        let buf = &mut bufs[got.len() % 3];
                        let n = chunker.next_into(buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        got.push(buf[..n].to_vec());
                    }
                    assert_eq!(got, want, "{input:?}, size {size}, pieces of {piece}");
                }
            }
        }
    }

    /// A byte order mark opening the input (as some editors on Windows write it) is dropped,
    /// whatever the pieces and the block size; one anywhere else stays, for the line to be
    /// judged (a bad event).
    #[test]
    fn a_byte_order_mark_opening_the_input_is_dropped() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"\xEF\xBB\xBF{\"a\":1}\n{}\n", b"{\"a\":1}\n{}\n"),
            (b"\xEF\xBB\xBF", b""),
            (b"\xEF\xBB\xBF\n", b"\n"),
            (b"\xEF\xBB", b"\xEF\xBB"),
            (b"{}\n\xEF\xBB\xBF{}\n", b"{}\n\xEF\xBB\xBF{}\n"),
        ];
        for (input, want) in cases {
            for size in [1, 2, 3, 4, 1000] {
                for piece in [1, 2, 1 << 20] {
                    let mut chunker = Chunker::new(Pieces { rest: input, piece }, size);
                    let (mut buf, mut got) = (Vec::new(), Vec::new());
                    loop {
                        let n = chunker.next_into(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                    assert_eq!(got, want, "{input:?}, size {size}, pieces of {piece}");
                }
            }
        }
    }

    /// A line longer than the most an event may have is cut one byte past it, alone in its
    /// block, and the rest of it is dropped unread into any buffer: the lines around it come
    /// through whole, and no buffer grows past twice the cap, however long the line.
    #[test]
    fn a_line_longer_than_any_event_is_cut() {
        let long = "y".repeat(10_000);
        let input = format!("a\n{long}\nbb\n{long}\r\nccc\n{long}");
        for size in [1, 3, 16] {
            for piece in [1, 7, 1 << 20] {
                let mut chunker = Chunker::new(
                    Pieces {
                        rest: input.as_bytes(),
                        piece,
                    },
                    size,
                );
                chunker.max_line = 10;
                let mut buf = Vec::new();
                let mut lines: Vec<Vec<u8>> = Vec::new();
                loop {
                    let n = chunker.next_into(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    assert!(buf.len() <= 32, "size {size}: a buffer of {}", buf.len());
                    lines.extend(super::lines(&buf[..n]).map(<[u8]>::to_vec));
                }
                let cut = "y".repeat(11).into_bytes();
                let want = [b"a".to_vec(), cut.clone(), b"bb".to_vec(), cut.clone()];
                assert_eq!(lines[..4], want, "size {size}, pieces of {piece}");
                assert_eq!(lines[4], b"ccc", "size {size}, pieces of {piece}");
                assert_eq!(lines[5], cut, "size {size}, pieces of {piece}");
                assert_eq!(lines.len(), 6);
            }
        }
    }

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
        // A line longer than any event is `too_large`, whatever makes it long (as the chunker
        // cuts it: one byte past the most), blanks too.
        assert!(is_blank(&[b' '; event::MAX_EVENT_BYTES]));
        assert!(!is_blank(&[b'\t'; event::MAX_EVENT_BYTES + 1]));
    }
}
