//! Sharded replay (`replay --threads N`): workers spread over several engines, outputs merged
//! into the bytes and order of one engine.
//!
//! # Pipeline
//!
//! The input is cut into blocks of whole lines ([`Chunker`]), and each block goes through
//! four stages, each on its own threads, so that every core has work while the blocks before
//! and after it are in other stages:
//!
//! 1. a reader thread reads the block into a buffer from a fixed pool;
//! 2. one of N parser threads splits and parses its lines, copying each valid event's strings
//!    into the block (so that the block owns its events and can travel), and computes what the
//!    serial step needs (the `event_id` digest, the routing hashes);
//! 3. the calling thread takes the parsed blocks in input order and *admits* their events
//!    ([`Gate`]): the one serial step, cheap by design;
//! 4. N engine threads, one per engine, push their events of the block and run to the block's
//!    watermark; the calling thread merges a block's outputs once every engine has returned
//!    them ([`Merge`]) and writes them to the sink, which never leaves it.
//!
//! The pool bounds the blocks in flight, so memory does not grow with the input. The outputs
//! do not depend on how the input is cut, or on the number of threads, beyond where the
//! refused events' lines (`too_many_orders`) fall among the bad lines on stderr: after the
//! block's own, as with one thread.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, mpsc};

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{BLOCK_BYTES, Chunker, Report, Sink, is_blank, lines};
use crate::alert::{Alert, Hold, Phase};
use crate::config::{Config, Subject};
use crate::engine::{
    ClosedWorkerDay, DayHours, Dedup, Engine, MAX_ACTIVE_ORDERS, NEVER, Place, Stats, Step,
    event_digest,
};
use crate::event::{self, Activity, BadEvent, BadReason, Event, Kind};

/// How the input is cut and how much of it may be in flight. Tests cut it into tiny blocks
/// to cross every boundary of the pipeline.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// The block size of the [`Chunker`]: each block is one step of every stage and one merge.
    pub block_bytes: usize,
    /// Blocks in flight at most (being read, parsed, admitted or run), per thread: enough
    /// that a thread the scheduler leaves out for a while does not stall the others.
    pub blocks_per_thread: usize,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            block_bytes: BLOCK_BYTES,
            blocks_per_thread: 4,
        }
    }
}

/// Replays `input` on `threads` engines, each holding the workers whose key hashes to it
/// (persons: whose person does), to event time `until` (else the largest `ts`).
///
/// Parsing runs on every thread; the one serial step decides, in input order, what each event
/// is (bad, after `--until`, a duplicate, late, or admitted, and to which engine) from its
/// worker, id and `ts` only, and moves the watermark as one engine would. After each block of
/// input every engine runs to that watermark; their alerts and holds are merged in the
/// processing order one engine would have emitted them in ([`crate::engine::Step`]) and
/// `quota_p90` is computed over their day reports. So the output is byte for byte that of
/// one thread, in the same order.
pub fn replay_sharded(
    config: Config,
    until: Option<i64>,
    input: impl Read + Send,
    threads: usize,
    track_days: bool,
    sink: &mut dyn Sink,
    diag: &mut impl Write,
) -> io::Result<Report> {
    replay_sharded_with(
        config,
        until,
        input,
        threads,
        track_days,
        Tuning::default(),
        sink,
        diag,
    )
}

/// [`replay_sharded`] with the input cut as `tuning` says (tests).
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn replay_sharded_with(
    config: Config,
    until: Option<i64>,
    input: impl Read + Send,
    threads: usize,
    track_days: bool,
    tuning: Tuning,
    sink: &mut dyn Sink,
    diag: &mut impl Write,
) -> io::Result<Report> {
    let threads = threads.max(1);
    let mut engines: Vec<Engine> = (0..threads)
        .map(|_| {
            let mut engine = Engine::new(config.clone()).sharded();
            if track_days {
                engine.track_days();
            }
            engine
        })
        .collect();
    let mut gate = Gate::new(&config, until, threads);
    let mut merge = Merge {
        config: &config,
        reports: BTreeMap::new(),
        report: Report::default(),
    };
    let mut out = Out { sink, diag };
    if let [engine] = engines.as_mut_slice() {
        serial(engine, &mut gate, &mut merge, input, tuning, &mut out)?;
    } else {
        pipelined(&mut engines, &mut gate, &mut merge, input, tuning, &mut out)?;
    }
    let mut report = merge.report;
    let mut stats = gate.stats;
    for engine in &engines {
        stats.merge(engine.stats());
    }
    // The sharded engines count their own admitted events too.
    stats.accepted -= engines.iter().map(|e| e.stats().accepted).sum::<u64>();
    stats.duplicates -= engines.iter().map(|e| e.stats().duplicates).sum::<u64>();
    stats.late -= engines.iter().map(|e| e.stats().late).sum::<u64>();
    for (rule, counts) in &report.quota_counts {
        let mine = stats.alerts.entry(rule.clone()).or_default();
        mine[Phase::Violation as usize] += counts;
    }
    report.after_until = gate.after_until;
    report.engine = stats;
    Ok(report)
}

/// Where the outputs go: both stay on the calling thread.
struct Out<'a, W> {
    sink: &'a mut dyn Sink,
    diag: &'a mut W,
}

/// One thread: the stages one after another, block by block.
fn serial<W: Write>(
    engine: &mut Engine,
    gate: &mut Gate,
    merge: &mut Merge<'_>,
    input: impl Read,
    tuning: Tuning,
    out: &mut Out<'_, W>,
) -> io::Result<()> {
    let mut chunker = Chunker::new(input, tuning.block_bytes);
    let mut block = Block::default();
    let mut routes = [Vec::new()];
    loop {
        block.len = chunker.next_into(&mut block.raw)?;
        if block.len == 0 {
            break;
        }
        block.parse(Routing::None);
        let base = merge.report.lines;
        merge.report.lines += block.lines;
        merge.report.blank += block.blank;
        routes[0].clear();
        gate.admit(&block, &mut routes);
        block.run(engine, base, &routes[0], gate.watermark());
        let outputs = vec![Outputs::take(engine)];
        merge.block(&block.bad, base, outputs, Some(gate.watermark()), out)?;
    }
    if let Some(end) = gate.end() {
        engine.finish(end);
    }
    merge.block(&[], 0, vec![Outputs::take(engine)], None, out)
}

/// What the threads tell the calling thread.
enum Note {
    /// A block, parsed.
    Parsed(Block),
    /// Engine `.0` ran its share of the oldest block it had not returned (or finished).
    Ran(usize, Outputs),
    /// The input held this many blocks.
    End(u64),
    /// Reading failed.
    Failed(io::Error),
    /// A thread panicked (the scope re-raises it once every thread has stopped).
    Panicked,
}

/// What the calling thread gives an engine thread.
enum Job {
    /// Push `events` of `block` (the first line of the block being line `base + 1`), then run
    /// to `watermark`.
    Run {
        block: Arc<Block>,
        events: Vec<u32>,
        base: u64,
        watermark: i64,
    },
    /// The input is over: run to `end`, inclusive.
    Finish(Option<i64>),
}

/// Sends [`Note::Panicked`] when its thread unwinds, so that the calling thread never waits
/// for a block that will not come.
struct Alarm(mpsc::Sender<Note>);

impl Drop for Alarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(Note::Panicked);
        }
    }
}

/// Several threads: the stages of the module's pipeline.
fn pipelined<W: Write>(
    engines: &mut [Engine],
    gate: &mut Gate,
    merge: &mut Merge<'_>,
    input: impl Read + Send,
    tuning: Tuning,
    out: &mut Out<'_, W>,
) -> io::Result<()> {
    let threads = engines.len();
    let routing = if gate.persons.is_some() {
        Routing::Persons
    } else {
        Routing::Workers
    };
    let (to_parse, parse_queue) = mpsc::channel::<Block>();
    let parse_queue = Mutex::new(parse_queue);
    std::thread::scope(|scope| {
        // Made in the scope so that returning (on error too) drops them: the reader then stops
        // waiting for a free block and the parsers for the calling thread, and every thread ends.
        let (note, notes) = mpsc::channel::<Note>();
        let (recycle, pool) = mpsc::channel::<Block>();
        for _ in 0..threads * tuning.blocks_per_thread.max(1) {
            recycle.send(Block::default()).expect("the pool is open");
        }
        {
            let note = note.clone();
            scope.spawn(move || {
                let _alarm = Alarm(note.clone());
                read_blocks(input, tuning.block_bytes, pool, to_parse, note);
            });
        }
        for _ in 0..threads {
            let note = note.clone();
            let queue = &parse_queue;
            scope.spawn(move || {
                let _alarm = Alarm(note.clone());
                parse_blocks(queue, routing, note);
            });
        }
        let mut jobs = Vec::with_capacity(threads);
        for (i, engine) in engines.iter_mut().enumerate() {
            let (job, work) = mpsc::channel::<Job>();
            jobs.push(job);
            let note = note.clone();
            scope.spawn(move || {
                let _alarm = Alarm(note.clone());
                run_engine(i, engine, work, note);
            });
        }
        drop(note);
        // Returning (on error too) drops `jobs`, `notes` and `recycle`, which stops every thread.
        coordinate(&notes, &jobs, &recycle, gate, merge, out)
    })
}

/// The reader thread: fills blocks from the pool, numbered in input order.
fn read_blocks(
    input: impl Read,
    block_bytes: usize,
    pool: mpsc::Receiver<Block>,
    to_parse: mpsc::Sender<Block>,
    note: mpsc::Sender<Note>,
) {
    let mut chunker = Chunker::new(input, block_bytes);
    let mut index = 0;
    // Ends when the calling thread stops (the pool closes).
    for mut block in pool {
        match chunker.next_into(&mut block.raw) {
            Ok(0) => {
                let _ = note.send(Note::End(index));
                return;
            }
            Ok(len) => {
                block.len = len;
                block.index = index;
                index += 1;
                if to_parse.send(block).is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = note.send(Note::Failed(error));
                return;
            }
        }
    }
}

/// A parser thread: parses whichever block is next.
fn parse_blocks(queue: &Mutex<mpsc::Receiver<Block>>, routing: Routing, note: mpsc::Sender<Note>) {
    loop {
        // Ends when the reader is done and the queue empty.
        let next = queue
            .lock()
            .expect("no parser panics holding the queue")
            .recv();
        let Ok(mut block) = next else { return };
        block.parse(routing);
        if note.send(Note::Parsed(block)).is_err() {
            return;
        }
    }
}

/// An engine thread: runs the jobs it is given, in order, returning the outputs of each.
fn run_engine(i: usize, engine: &mut Engine, work: mpsc::Receiver<Job>, note: mpsc::Sender<Note>) {
    for job in work {
        match job {
            Job::Run {
                block,
                events,
                base,
                watermark,
            } => {
                block.run(engine, base, &events, watermark);
            }
            Job::Finish(end) => {
                if let Some(end) = end {
                    engine.finish(end);
                }
            }
        }
        if note.send(Note::Ran(i, Outputs::take(engine))).is_err() {
            return;
        }
    }
}

/// A block with the engines: its bad lines and outputs are written once all have run it.
struct InFlight {
    block: Arc<Block>,
    base: u64,
    watermark: i64,
    outputs: Vec<Outputs>,
    ran: usize,
}

/// The calling thread: admits parsed blocks in input order, hands them to the engines, and
/// merges what the engines return, block after block; then finishes the engines.
fn coordinate<W: Write>(
    notes: &mpsc::Receiver<Note>,
    jobs: &[mpsc::Sender<Job>],
    recycle: &mpsc::Sender<Block>,
    gate: &mut Gate,
    merge: &mut Merge<'_>,
    out: &mut Out<'_, W>,
) -> io::Result<()> {
    let threads = jobs.len();
    let stopped = || io::Error::other("a replay thread stopped early");
    // Parsed blocks that came before their turn, by index.
    let mut early: BTreeMap<u64, Block> = BTreeMap::new();
    let mut admitted = 0u64;
    let mut merged = 0u64;
    let mut end = None;
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    // Blocks each engine has returned: its next output is for block `ran[i]`.
    let mut ran = vec![0u64; threads];
    while end != Some(merged) {
        match notes.recv().map_err(|_| stopped())? {
            Note::Parsed(block) => {
                early.insert(block.index, block);
                while let Some(block) = early.remove(&admitted) {
                    let base = merge.report.lines;
                    merge.report.lines += block.lines;
                    merge.report.blank += block.blank;
                    let mut routes = vec![Vec::new(); threads];
                    gate.admit(&block, &mut routes);
                    let watermark = gate.watermark();
                    let block = Arc::new(block);
                    for (job, events) in jobs.iter().zip(routes) {
                        job.send(Job::Run {
                            block: Arc::clone(&block),
                            events,
                            base,
                            watermark,
                        })
                        .map_err(|_| stopped())?;
                    }
                    in_flight.push_back(InFlight {
                        block,
                        base,
                        watermark,
                        outputs: (0..threads).map(|_| Outputs::default()).collect(),
                        ran: 0,
                    });
                    admitted += 1;
                }
            }
            Note::Ran(i, outputs) => {
                let flight = &mut in_flight[(ran[i] - merged) as usize];
                flight.outputs[i] = outputs;
                flight.ran += 1;
                ran[i] += 1;
                while in_flight.front().is_some_and(|f| f.ran == threads) {
                    let flight = in_flight.pop_front().expect("checked");
                    merge.block(
                        &flight.block.bad,
                        flight.base,
                        flight.outputs,
                        Some(flight.watermark),
                        out,
                    )?;
                    merged += 1;
                    // The engines dropped their handles before returning their outputs.
                    // The reader stops taking blocks once the input is over.
                    let block = Arc::into_inner(flight.block).unwrap_or_default();
                    let _ = recycle.send(block);
                }
            }
            Note::End(blocks) => end = Some(blocks),
            Note::Failed(error) => return Err(error),
            Note::Panicked => return Err(io::Error::other("a replay thread panicked")),
        }
    }
    let finish = gate.end();
    for job in jobs {
        job.send(Job::Finish(finish)).map_err(|_| stopped())?;
    }
    let mut outputs: Vec<Outputs> = (0..threads).map(|_| Outputs::default()).collect();
    for _ in 0..threads {
        match notes.recv().map_err(|_| stopped())? {
            Note::Ran(i, last) => outputs[i] = last,
            Note::Panicked => return Err(io::Error::other("a replay thread panicked")),
            _ => unreachable!("every block was merged"),
        }
    }
    merge.block(&[], 0, outputs, None, out)
}

/// Which routing hashes the parsers compute.
#[derive(Debug, Clone, Copy)]
enum Routing {
    /// One engine: none.
    None,
    Workers,
    /// `subject = "person"`: the person's too.
    Persons,
}

/// Seeds of the routing hashes: a worker id and a person id never share a key.
const WORKER_KEY: u64 = 1;
const PERSON_KEY: u64 = 2;

/// A string of a [`Block`]'s events: `text[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// A valid event of a block, with its strings in the block's `text` and what admission needs
/// computed beforehand.
#[derive(Debug)]
struct Record {
    /// Its line in the block, from 1.
    line: u64,
    ts: i64,
    /// Of (`worker_id`, `event_id`), when it has an id.
    digest: Option<u64>,
    /// Routing hashes of the worker id and of the person id, when computed.
    worker_key: u64,
    person_key: Option<u64>,
    kind: Kind,
    activity: Option<Activity>,
    fee_cents: Option<u64>,
    worker_id: Span,
    event_id: Option<Span>,
    platform: Span,
    role: Span,
    city: Span,
    order_id: Option<Span>,
    person_id: Option<Span>,
}

/// A block of input and what its parse found. It owns all of it (the events' strings are
/// copied into `text`, a few dozen bytes an event), so that it can move between threads; its
/// buffers are reused from block to block.
#[derive(Debug, Default)]
struct Block {
    /// Its place in the input.
    index: u64,
    /// The block is `raw[..len]`.
    raw: Vec<u8>,
    len: usize,
    lines: u64,
    blank: u64,
    text: String,
    events: Vec<Record>,
    /// Bad lines: line in the block, why.
    bad: Vec<(u64, BadEvent)>,
}

impl Block {
    /// Splits and parses the block's lines.
    fn parse(&mut self, routing: Routing) {
        let Block {
            raw,
            len,
            lines: count,
            blank,
            text,
            events,
            bad,
            ..
        } = self;
        text.clear();
        events.clear();
        bad.clear();
        *count = 0;
        *blank = 0;
        for line in lines(&raw[..*len]) {
            *count += 1;
            if is_blank(line) {
                *blank += 1;
                continue;
            }
            match event::parse(line) {
                Ok(event) => events.push(Record::new(&event, *count, routing, text)),
                Err(error) => bad.push((*count, error)),
            }
        }
    }

    /// The event of a record.
    fn event(&self, record: &Record) -> Event<'_> {
        let text = |span: Span| Cow::Borrowed(&self.text[span.start..span.end]);
        Event {
            worker_id: text(record.worker_id),
            kind: record.kind,
            ts: record.ts,
            event_id: record.event_id.map(text),
            platform: text(record.platform),
            role: text(record.role),
            city: text(record.city),
            order_id: record.order_id.map(text),
            fee_cents: record.fee_cents,
            person_id: record.person_id.map(text),
            activity: record.activity,
        }
    }

    /// Pushes the admitted `events` (indices into `self.events`) into `engine`, then runs it
    /// to `watermark`.
    fn run(&self, engine: &mut Engine, base: u64, events: &[u32], watermark: i64) {
        // The workers' slots first, in a loop of look-ups alone: each misses the cache, and
        // there they overlap instead of stalling every push in turn.
        let slots: Vec<Option<u32>> = events
            .iter()
            .map(|&i| {
                let span = self.events[i as usize].worker_id;
                engine.slot_hint(&self.text[span.start..span.end])
            })
            .collect();
        for (n, (&i, &slot)) in events.iter().zip(&slots).enumerate() {
            if let Some(&Some(ahead)) = slots.get(n + PUSH_AHEAD) {
                engine.prefetch_push(ahead);
            }
            let record = &self.events[i as usize];
            engine.push_admitted_to(&self.event(record), base + record.line, slot);
        }
        engine.advance_to(watermark);
    }
}

impl Record {
    fn new(event: &Event<'_>, line: u64, routing: Routing, text: &mut String) -> Record {
        let mut put = |s: &str| {
            let start = text.len();
            text.push_str(s);
            Span {
                start,
                end: text.len(),
            }
        };
        let key = |seed, s: &str| xxh3_64_with_seed(s.as_bytes(), seed);
        Record {
            line,
            ts: event.ts,
            digest: event_digest(event),
            worker_key: match routing {
                Routing::None => 0,
                _ => key(WORKER_KEY, &event.worker_id),
            },
            person_key: match routing {
                Routing::Persons => event.person_id.as_deref().map(|p| key(PERSON_KEY, p)),
                _ => None,
            },
            kind: event.kind,
            activity: event.activity,
            fee_cents: event.fee_cents,
            worker_id: put(&event.worker_id),
            event_id: event.event_id.as_deref().map(&mut put),
            platform: put(&event.platform),
            role: put(&event.role),
            city: put(&event.city),
            order_id: event.order_id.as_deref().map(&mut put),
            person_id: event.person_id.as_deref().map(&mut put),
        }
    }
}

/// Workers pushed to this many events ahead are loaded into the cache before their turn.
const PUSH_AHEAD: usize = 8;

/// Digests looked up this many events ahead are loaded into the cache before their turn.
const PREFETCH: usize = 16;

/// The one serial step: what one engine's `push` would decide for each valid event, in input
/// order, from its `ts`, id digest and routing keys only, and the engine it goes to.
struct Gate {
    until: Option<i64>,
    lateness: i64,
    window: i64,
    dedup: Dedup,
    max_ts: Option<i64>,
    /// Accepted, duplicates and late events.
    stats: Stats,
    after_until: u64,
    shards: usize,
    /// Persons: each worker id's person (its routing key), from the worker id's first event
    /// with a `person_id`, as the engine decides its subject.
    persons: Option<FxHashMap<Box<str>, u64>>,
}

impl Gate {
    fn new(config: &Config, until: Option<i64>, shards: usize) -> Gate {
        Gate {
            until,
            lateness: config.time.allowed_lateness,
            window: config.time.dedup_window,
            dedup: Dedup::default(),
            max_ts: None,
            stats: Stats::default(),
            after_until: 0,
            shards,
            persons: (config.subject == Subject::Person).then(FxHashMap::default),
        }
    }

    /// Instants before it are final: the largest admitted `ts` minus the lateness.
    fn watermark(&self) -> i64 {
        self.max_ts.map_or(NEVER, |max| max - self.lateness)
    }

    /// The end of event time: `--until`, else the largest admitted `ts`.
    fn end(&self) -> Option<i64> {
        self.until.or(self.max_ts)
    }

    /// Decides each valid event of `block` in input order and adds the admitted ones to the
    /// list of their engine (`routes`, one list per engine).
    fn admit(&mut self, block: &Block, routes: &mut [Vec<u32>]) {
        for (i, record) in block.events.iter().enumerate() {
            if let Some(digest) = block.events.get(i + PREFETCH).and_then(|r| r.digest) {
                self.dedup.prefetch(digest);
            }
            if self.admits(record) {
                let shard = self.shard(block, record);
                routes[shard].push(i as u32);
            }
        }
    }

    /// Whether an event goes to an engine: not after `--until`, not a duplicate, not late.
    fn admits(&mut self, record: &Record) -> bool {
        if self.until.is_some_and(|end| record.ts > end) {
            self.after_until += 1;
            return false;
        }
        // Decided with the watermark as it stands before the event.
        let watermark = self.watermark();
        if let Some(digest) = record.digest {
            let expiry = record.ts.saturating_add(self.window);
            if !self.dedup.insert(digest, expiry, watermark) {
                self.stats.duplicates += 1;
                return false;
            }
        }
        if record.ts < watermark {
            self.stats.late += 1;
            return false;
        }
        self.max_ts = Some(self.max_ts.map_or(record.ts, |max| max.max(record.ts)));
        self.stats.accepted += 1;
        true
    }

    /// The engine of an admitted event: by its worker id or, for persons, by the person its
    /// worker id belongs to.
    fn shard(&mut self, block: &Block, record: &Record) -> usize {
        if self.shards == 1 {
            return 0;
        }
        let key = match &mut self.persons {
            None => record.worker_key,
            Some(person_of) => {
                let span = record.worker_id;
                let worker = &block.text[span.start..span.end];
                match (person_of.get(worker), record.person_key) {
                    (Some(&person), _) => person,
                    (None, Some(person)) => {
                        person_of.insert(worker.into(), person);
                        person
                    }
                    (None, None) => record.worker_key,
                }
            }
        };
        // The high bits of the product: even for any number of engines.
        ((u128::from(key) * self.shards as u128) >> 64) as usize
    }
}

/// What one engine produced for a block (or at the end).
#[derive(Debug, Default)]
struct Outputs {
    rejected: Vec<(u64, BadReason)>,
    alerts: Vec<Alert>,
    holds: Vec<Hold>,
    reports: Vec<DayHours>,
    days: Vec<ClosedWorkerDay>,
}

impl Outputs {
    fn take(engine: &mut Engine) -> Outputs {
        Outputs {
            rejected: engine.take_rejected(),
            alerts: engine.take_alerts(),
            holds: engine.take_holds(),
            reports: engine.take_day_hours(),
            days: engine.take_days(),
        }
    }
}

/// Writes the blocks' bad lines and merges the engines' outputs, block after block, as one
/// engine would have written them.
struct Merge<'c> {
    config: &'c Config,
    /// Day reports of days not yet closed by every engine.
    reports: BTreeMap<i32, DayHours>,
    report: Report,
}

impl Merge<'_> {
    /// Writes a block's bad lines (`bad`, by line in the block, the block's first line being
    /// `base + 1`), then the engines' outputs for it (one [`Outputs`] per engine, in engine
    /// order): alerts and holds in processing order, `quota_p90` of the days every engine has
    /// closed (all, at the end: `before = None`), refused events by line.
    fn block<W: Write>(
        &mut self,
        bad: &[(u64, BadEvent)],
        base: u64,
        outputs: Vec<Outputs>,
        before: Option<i64>,
        out: &mut Out<'_, W>,
    ) -> io::Result<()> {
        let report = &mut self.report;
        for (line, bad) in bad {
            *report.bad.entry(bad.reason).or_default() += 1;
            writeln!(out.diag, "line {}: bad event: {bad}", base + line)?;
        }
        let mut rejected = Vec::new();
        let mut alerts = Vec::new();
        let mut holds = Vec::new();
        for engine in outputs {
            rejected.extend(engine.rejected);
            alerts.extend(engine.alerts);
            holds.extend(engine.holds);
            for day in engine.reports {
                match self.reports.get_mut(&day.day) {
                    Some(merged) => merged.merge(day),
                    None => {
                        self.reports.insert(day.day, day);
                    }
                }
            }
            for day in engine.days {
                out.sink.day(day);
            }
        }
        // A day ending before the watermark is closed by every engine that had work on it.
        let done: Vec<i32> = self
            .reports
            .iter()
            .filter(|(_, r)| before.is_none_or(|w| r.end < w))
            .map(|(&day, _)| day)
            .collect();
        for day in done {
            let mut merged = self.reports.remove(&day).expect("listed");
            for (n, mut alert) in merged.quota_alerts(self.config).into_iter().enumerate() {
                alert.order = Place(Step::quota(merged.end), n as u32);
                *report
                    .quota_counts
                    .entry(alert.rule.to_string())
                    .or_default() += 1;
                alerts.push(alert);
            }
        }
        rejected.sort_unstable();
        for (line, reason) in rejected {
            *report.bad.entry(reason).or_default() += 1;
            writeln!(
                out.diag,
                "line {line}: bad event: {}: an order start while the worker already has {MAX_ACTIVE_ORDERS} active orders",
                reason.code(),
            )?;
        }
        alerts.sort_by_key(|a| a.order.key());
        holds.sort_by_key(|h| h.order.key());
        for alert in alerts {
            report.alerts += 1;
            out.sink.alert(alert)?;
        }
        for hold in holds {
            out.sink.hold(hold)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{Mix, SimOptions, generate};

    fn stream(persons: Option<f64>) -> Vec<u8> {
        let options = SimOptions {
            workers: 40,
            days: 3,
            seed: 5,
            start: chrono::NaiveDate::from_ymd_opt(2026, 3, 28).unwrap(),
            zone: chrono_tz::Europe::Berlin,
            heartbeat_ms: None,
            duplicates: 0.02,
            bad_lines: 0.02,
            jitter_ms: 20_000,
            activity: false,
            mix: Mix::Standard,
            persons,
        };
        let mut bytes = Vec::new();
        generate(&options, &mut |line| {
            bytes.extend_from_slice(line.bytes);
            bytes.push(b'\n');
            Ok(())
        })
        .unwrap();
        bytes
    }

    fn config(persons: bool) -> Config {
        let mut text =
            String::from("[time]\nzone = \"Europe/Berlin\"\n[rules]\nquota_min_workers = 2\n");
        if persons {
            text.push_str("subject = \"person\"\n");
        }
        Config::from_toml_str(&text, []).unwrap()
    }

    /// Alerts as JSON lines and stderr, with the input cut as `tuning` says.
    fn replay(config: &Config, input: &[u8], threads: usize, tuning: Tuning) -> (Vec<u8>, Vec<u8>) {
        let mut alerts = Vec::new();
        let mut diag = Vec::new();
        let mut sink = super::super::Lines {
            zone: config.time.zone,
            alerts: &mut alerts,
            holds: None,
        };
        let report = replay_sharded_with(
            config.clone(),
            None,
            input,
            threads,
            false,
            tuning,
            &mut sink,
            &mut diag,
        )
        .unwrap();
        report.write_summary(&mut diag).unwrap();
        (alerts, diag)
    }

    /// Blocks of a few lines, and one block in flight a thread, cross every hand-over of the
    /// pipeline thousands of times: the bytes are still those of one thread with large blocks.
    #[test]
    fn tiny_blocks_and_any_threads_give_the_bytes_of_one_thread() {
        for persons in [false, true] {
            let input = stream(persons.then_some(0.3));
            let config = config(persons);
            let (want, want_diag) = replay(&config, &input, 1, Tuning::default());
            assert!(!want.is_empty());
            for threads in [1, 2, 3, 5] {
                for (block_bytes, blocks_per_thread) in [(1, 1), (700, 1), (4096, 2)] {
                    let tuning = Tuning {
                        block_bytes,
                        blocks_per_thread,
                    };
                    let (got, diag) = replay(&config, &input, threads, tuning);
                    let what = format!("persons {persons}, {threads} threads, {tuning:?}");
                    assert!(got == want, "alerts differ: {what}");
                    assert!(diag == want_diag, "stderr differs: {what}");
                }
            }
        }
    }

    /// A sink that fails after a few alerts.
    struct Failing(usize);

    impl Sink for Failing {
        fn alert(&mut self, _alert: Alert) -> io::Result<()> {
            if self.0 == 0 {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            self.0 -= 1;
            Ok(())
        }
    }

    /// Reads well for a while, then fails.
    struct Broken<'a>(&'a [u8]);

    impl Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("the disk is gone"));
            }
            let n = self.0.len().min(buf.len()).min(1000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// An error of the sink or of the input ends the replay with that error: no thread is
    /// left waiting, whatever was in flight.
    #[test]
    fn errors_end_every_thread() {
        let input = stream(None);
        let config = config(false);
        let tuning = Tuning {
            block_bytes: 2000,
            blocks_per_thread: 2,
        };
        for threads in [1, 2, 3] {
            let error = replay_sharded_with(
                config.clone(),
                None,
                input.as_slice(),
                threads,
                false,
                tuning,
                &mut Failing(5),
                &mut io::sink(),
            )
            .unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{threads} threads");
            let error = replay_sharded_with(
                config.clone(),
                None,
                Broken(&input[..input.len() / 2]),
                threads,
                false,
                tuning,
                &mut Failing(usize::MAX),
                &mut io::sink(),
            )
            .unwrap_err();
            assert_eq!(error.to_string(), "the disk is gone", "{threads} threads");
        }
    }
}
