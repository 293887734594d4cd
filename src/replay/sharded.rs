//! Sharded replay (`replay --threads N`): workers spread over several engines, outputs merged
//! into the bytes and order of one engine.
//!
//! # Pipeline
//!
//! The input is cut into blocks of whole lines ([`Chunker`]), and each block goes through
//! three stages, each on its own threads, so that every core has work while the blocks before
//! and after it are in other stages:
//!
//! 1. one of N parser threads reads the block into its own buffer (the reads one after
//!    another), then splits and parses its lines into a [`Block`] from a fixed pool, copying
//!    each valid event's strings into it (so that the block owns its events and can travel),
//!    and computes what the serial step needs (the `event_id` digest, the engine);
//! 2. the calling thread takes the parsed blocks in input order and *admits* their events
//!    ([`Gate`]): the one serial step, cheap by design;
//! 3. N engine threads, one per engine, push their events of the block and run to the block's
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

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{BLOCK_BYTES, Chunker, Report, Run, Sink, is_blank, lines, run_sliced};
use crate::alert::{Alert, Hold, Phase};
use crate::config::{Config, Subject};
use crate::engine::{
    Admit, ClosedWorkerDay, DayHours, Dedup, Engine, MAX_ACTIVE_ORDERS, NEVER, NONE, Place, SLICE,
    STRETCH_WORKER_HOURS, Stats, Step, event_digest, stretch_end,
};
use crate::event::{self, Activity, BadEvent, BadReason, Event, Kind};

/// How the input is cut and how much of it may be in flight. Tests cut it into tiny blocks
/// to cross every boundary of the pipeline.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// The block size of the [`Chunker`]: each block is one step of every stage and one merge.
    pub block_bytes: usize,
    /// Blocks in flight at most (being parsed, admitted or run), per thread: enough that a
    /// thread the scheduler leaves out for a while does not stall the others. An engine can
    /// run at most this many blocks ahead of the slowest one, and the scheduler's time slices
    /// are longer than an engine's share of a block: with 4 blocks a thread, `--threads 2`
    /// ran 1.65 times as fast as one thread, with 8 1.90 times (`bench/replay.sh threads`).
    pub blocks_per_thread: usize,
    /// Worker-hours of event time in one stretch of a jump ([`crate::engine::stretch`]).
    pub stretch_worker_hours: i64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            block_bytes: BLOCK_BYTES,
            blocks_per_thread: 8,
            stretch_worker_hours: STRETCH_WORKER_HOURS,
        }
    }
}

/// Replays `input` on `threads` engines, each holding the workers whose key hashes to it
/// (persons: on one engine, parsed on `threads` threads), to event time `until` (else the
/// largest `ts`).
///
/// Parsing runs on every thread; the one serial step decides, in input order, what each event
/// is (bad, after `--until`, a duplicate, late, or admitted to the engine its parser chose
/// by its worker id) from its id and `ts` only, and moves the watermark as one engine would. After each block of
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
    // Persons: one engine, the parsing on every thread. A worker id's state moves to its
    // person at the event that first names it, from wherever the worker id stood alone: both
    // must be in one engine, and which person a worker id will join is not known before.
    let shards = if config.subject == Subject::Person {
        1
    } else {
        threads
    };
    let mut engines: Vec<Engine> = (0..shards)
        .map(|_| {
            let mut engine = Engine::new(config.clone())
                .sharded()
                .with_stretch(tuning.stretch_worker_hours);
            if track_days {
                engine.track_days();
            }
            engine
        })
        .collect();
    let mut gate = Gate::new(&config, until);
    let mut merge = Merge {
        config: &config,
        reports: BTreeMap::new(),
        report: Report::default(),
    };
    let mut out = Out { sink, diag };
    match engines.as_mut_slice() {
        [engine] if threads == 1 => serial(engine, &mut gate, &mut merge, input, tuning, &mut out)?,
        engines => pipelined(
            engines, threads, &mut gate, &mut merge, input, tuning, &mut out,
        )?,
    }
    out.sink.end()?;
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
    let mut raw = Vec::new();
    let mut block = Block::default();
    let mut routes = [Route::default()];
    loop {
        let len = chunker.next_into(&mut raw)?;
        if len == 0 {
            break;
        }
        block.parse(&raw[..len], Routing::None);
        let base = merge.report.lines;
        merge.report.lines += block.lines;
        merge.report.blank += block.blank;
        routes[0].clear();
        gate.admit(&block, &mut routes);
        block.push(engine, 0, base, &routes[0]);
        let mut bad = &block.bad[..];
        run_sliced(engine, Run::Before(gate.watermark()), |engine, before| {
            let outputs = vec![Outputs::take(engine)];
            merge.block(std::mem::take(&mut bad), base, outputs, before, out)
        })?;
    }
    match gate.end(engine.end_of_input()) {
        Some(end) => run_sliced(engine, Run::Through(end), |engine, before| {
            merge.block(&[], 0, vec![Outputs::take(engine)], before, out)
        }),
        None => merge.block(&[], 0, vec![Outputs::take(engine)], None, out),
    }
}

/// What the threads tell the calling thread.
enum Note {
    /// A block, parsed.
    Parsed(Block),
    /// Engine `.0` ran its share of the oldest block it had not returned (or finished).
    Ran(usize, Outputs),
    /// The input held this many blocks.
    End(u64),
    /// An engine's end of input ([`Engine::end_of_input`]), asked by [`Job::Reach`].
    Reached(Option<i64>),
    /// Reading failed.
    Failed(io::Error),
    /// A thread panicked (the scope re-raises it once every thread has stopped).
    Panicked,
}

/// What the calling thread gives an engine thread.
enum Job {
    /// Push the events of `route` of `block` (the first line of the block being line
    /// `base + 1`), then run to `watermark`.
    Run {
        block: Arc<Block>,
        route: Route,
        base: u64,
        watermark: i64,
    },
    /// Run to `.0` (a stretch of event time with no block).
    Advance(i64),
    /// The input is over: tell the largest `ts` accepted, replaced copies left out.
    Reach,
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

/// Several threads: the stages of the module's pipeline, with `parsers` parser threads.
#[allow(clippy::too_many_arguments)]
fn pipelined<W: Write>(
    engines: &mut [Engine],
    parsers: usize,
    gate: &mut Gate,
    merge: &mut Merge<'_>,
    input: impl Read + Send,
    tuning: Tuning,
    out: &mut Out<'_, W>,
) -> io::Result<()> {
    let routing = Routing::of(engines.len());
    let (recycle, pool) = mpsc::channel::<Block>();
    for _ in 0..parsers.max(engines.len()) * tuning.blocks_per_thread.max(1) {
        recycle.send(Block::default()).expect("the pool is open");
    }
    let reader = Mutex::new(Reader {
        chunker: Chunker::new(input, tuning.block_bytes),
        pool,
        next: Some(0),
    });
    std::thread::scope(|scope| {
        // Made or moved in the scope so that returning (on error too) drops them: the parsers
        // then stop waiting for a free block and the engines for a job, and every thread ends.
        let recycle = recycle;
        let (note, notes) = mpsc::channel::<Note>();
        for _ in 0..parsers {
            let note = note.clone();
            let reader = &reader;
            scope.spawn(move || {
                let _alarm = Alarm(note.clone());
                parse_blocks(reader, routing, note);
            });
        }
        let mut jobs = Vec::with_capacity(engines.len());
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
        coordinate(
            &notes,
            &jobs,
            &recycle,
            gate,
            merge,
            out,
            tuning.stretch_worker_hours,
        )
    })
}

/// The input and the pool of free blocks, shared by the parsers.
struct Reader<R> {
    chunker: Chunker<R>,
    pool: mpsc::Receiver<Block>,
    /// The index of the next block; none once the input is over or failed.
    next: Option<u64>,
}

/// A parser thread: reads the next block itself into its own buffer (so that it parses bytes
/// its core has just written, and no thread only reads), then parses it into a block of the
/// pool. The bytes read stay with the thread: a block in flight holds only its parsed events.
fn parse_blocks<R: Read>(reader: &Mutex<Reader<R>>, routing: Routing, note: mpsc::Sender<Note>) {
    let mut raw = Vec::new();
    loop {
        let (mut block, len) = {
            let mut reader = reader.lock().expect("no parser panics while reading");
            let Some(index) = reader.next else { return };
            // Ends when the calling thread stops (the pool closes).
            let Ok(mut block) = reader.pool.recv() else {
                return;
            };
            match reader.chunker.next_into(&mut raw) {
                Ok(0) => {
                    reader.next = None;
                    let _ = note.send(Note::End(index));
                    return;
                }
                Ok(len) => {
                    reader.next = Some(index + 1);
                    block.index = index;
                    (block, len)
                }
                Err(error) => {
                    reader.next = None;
                    let _ = note.send(Note::Failed(error));
                    return;
                }
            }
        };
        block.parse(&raw[..len], routing);
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
                route,
                base,
                watermark,
            } => {
                block.push(engine, i, base, &route);
                engine.advance_to(watermark);
            }
            Job::Advance(watermark) => engine.advance_to(watermark),
            Job::Reach => {
                if note.send(Note::Reached(engine.end_of_input())).is_err() {
                    return;
                }
                continue;
            }
            Job::Finish(end) => {
                if let Some(end) = end {
                    engine.finish(end);
                }
            }
        }
        let mut outputs = Outputs::take(engine);
        outputs.next = engine.next_instant();
        outputs.held = engine.held();
        if note.send(Note::Ran(i, outputs)).is_err() {
            return;
        }
    }
}

/// A job with the engines (a block, or a stretch of event time): its bad lines and outputs
/// are written once all have run it.
struct InFlight {
    /// The block, none for a stretch of event time alone.
    block: Option<Arc<Block>>,
    base: u64,
    /// The instant the engines ran before; none once they have finished.
    watermark: Option<i64>,
    outputs: Vec<Outputs>,
    ran: usize,
}

/// The calling thread's side of the pipeline: the blocks parsed early, the jobs with the
/// engines, and what each engine has returned.
struct Flow<'f, 'c, 'o, W> {
    notes: &'f mpsc::Receiver<Note>,
    jobs: &'f [mpsc::Sender<Job>],
    recycle: &'f mpsc::Sender<Block>,
    merge: &'f mut Merge<'c>,
    out: &'f mut Out<'o, W>,
    /// Parsed blocks that came before their turn, by index.
    early: BTreeMap<u64, Block>,
    in_flight: VecDeque<InFlight>,
    /// Jobs each engine has returned: its next output is for job `ran[i]`.
    ran: Vec<u64>,
    /// Jobs merged.
    merged: u64,
    /// Blocks merged.
    blocks: u64,
    /// The blocks in the input, once known.
    end: Option<u64>,
    /// Each engine's next instant and workers held, as of the last job it returned
    /// ([`Engine::next_instant`]).
    next: Vec<(i64, usize)>,
    /// Worker-hours of a stretch ([`crate::engine::stretch`]).
    worker_hours: i64,
    /// The instant the engines were last sent to run before.
    sent: i64,
}

impl<W: Write> Flow<'_, '_, '_, W> {
    fn stopped() -> io::Error {
        io::Error::other("a replay thread stopped early")
    }

    fn panicked() -> io::Error {
        io::Error::other("a replay thread panicked")
    }

    /// Sends `job(engine)` to every engine, to be merged with `block`'s bad lines.
    fn send(
        &mut self,
        mut job: impl FnMut(usize) -> Job,
        block: Option<Arc<Block>>,
        base: u64,
        watermark: Option<i64>,
    ) -> io::Result<()> {
        for (i, sender) in self.jobs.iter().enumerate() {
            sender.send(job(i)).map_err(|_| Self::stopped())?;
        }
        self.in_flight.push_back(InFlight {
            block,
            base,
            watermark,
            outputs: (0..self.jobs.len()).map(|_| Outputs::default()).collect(),
            ran: 0,
        });
        if let Some(watermark) = watermark {
            self.sent = watermark;
        }
        Ok(())
    }

    /// Waits for the next note from the threads and takes it in.
    fn receive(&mut self) -> io::Result<()> {
        match self.notes.recv().map_err(|_| Self::stopped())? {
            Note::Parsed(block) => {
                self.early.insert(block.index, block);
            }
            Note::Ran(i, outputs) => {
                self.next[i] = (outputs.next, outputs.held);
                let flight = &mut self.in_flight[(self.ran[i] - self.merged) as usize];
                flight.outputs[i] = outputs;
                flight.ran += 1;
                self.ran[i] += 1;
                let threads = self.jobs.len();
                while self.in_flight.front().is_some_and(|f| f.ran == threads) {
                    let flight = self.in_flight.pop_front().expect("checked");
                    let bad = flight.block.as_ref().map_or(&[][..], |b| &b.bad[..]);
                    self.merge.block(
                        bad,
                        flight.base,
                        flight.outputs,
                        flight.watermark,
                        self.out,
                    )?;
                    self.merged += 1;
                    if let Some(block) = flight.block {
                        self.blocks += 1;
                        // The engines dropped their handles before returning their outputs.
                        // The parsers stop taking blocks once the input is over.
                        let block = Arc::into_inner(block).unwrap_or_default();
                        let _ = self.recycle.send(block);
                    }
                }
            }
            Note::End(blocks) => self.end = Some(blocks),
            Note::Reached(..) => unreachable!("asked once every job was merged"),
            Note::Failed(error) => return Err(error),
            Note::Panicked => return Err(Self::panicked()),
        }
        Ok(())
    }

    /// Waits until every job sent has been merged.
    fn drain(&mut self) -> io::Result<()> {
        while !self.in_flight.is_empty() {
            self.receive()?;
        }
        Ok(())
    }

    /// Runs the engines on to `to` (before it; `through`: it included, and finished) one
    /// stretch of event time at a time ([`Engine::slice_end`] over every engine), each merged
    /// before the next is sent, so that the outputs held at once stay those of one stretch.
    fn run_to(&mut self, to: i64, through: bool) -> io::Result<()> {
        self.drain()?;
        loop {
            let next = self
                .next
                .iter()
                .map(|&(next, _)| next)
                .min()
                .unwrap_or(NONE);
            let held = self.next.iter().map(|&(_, held)| held).sum();
            let stop = stretch_end(next, held, self.worker_hours, to);
            if stop >= to {
                break;
            }
            self.send(|_| Job::Advance(stop), None, 0, Some(stop))?;
            self.drain()?;
        }
        if through {
            self.send(|_| Job::Finish(Some(to)), None, 0, None)?;
            self.drain()
        } else {
            self.send(|_| Job::Advance(to), None, 0, Some(to))
        }
    }
}

/// The calling thread: admits parsed blocks in input order, hands them to the engines, and
/// merges what the engines return, block after block; then finishes the engines.
///
/// A block runs the engines to the watermark after it, unless that is more than [`SLICE`]
/// past where they stood: then it only pushes its events, and event time runs on in
/// stretches ([`Flow::run_to`]), each merged before the next, as at the end of the input.
fn coordinate<W: Write>(
    notes: &mpsc::Receiver<Note>,
    jobs: &[mpsc::Sender<Job>],
    recycle: &mpsc::Sender<Block>,
    gate: &mut Gate,
    merge: &mut Merge<'_>,
    out: &mut Out<'_, W>,
    worker_hours: i64,
) -> io::Result<()> {
    let threads = jobs.len();
    let mut flow = Flow {
        notes,
        jobs,
        recycle,
        merge,
        out,
        early: BTreeMap::new(),
        in_flight: VecDeque::new(),
        ran: vec![0; threads],
        merged: 0,
        blocks: 0,
        end: None,
        next: vec![(NONE, 0); threads],
        worker_hours,
        sent: NEVER,
    };
    let mut admitted = 0u64;
    while flow.end != Some(flow.blocks) {
        let Some(block) = flow.early.remove(&admitted) else {
            flow.receive()?;
            continue;
        };
        let base = flow.merge.report.lines;
        flow.merge.report.lines += block.lines;
        flow.merge.report.blank += block.blank;
        let mut routes = vec![Route::default(); threads];
        gate.admit(&block, &mut routes);
        let watermark = gate.watermark();
        let jump = watermark.saturating_sub(flow.sent) > SLICE;
        let first = if jump { flow.sent } else { watermark };
        let block = Arc::new(block);
        let mut routes = routes.into_iter();
        flow.send(
            |_| Job::Run {
                block: Arc::clone(&block),
                route: routes.next().expect("one route per engine"),
                base,
                watermark: first,
            },
            Some(Arc::clone(&block)),
            base,
            Some(first),
        )?;
        drop(block);
        admitted += 1;
        if jump {
            flow.run_to(watermark, false)?;
        }
    }
    flow.drain()?;
    // The end of event time: the engines hold the copies that were replaced.
    let mut reached = None;
    if gate.until.is_none() {
        for job in jobs {
            job.send(Job::Reach).map_err(|_| Flow::<W>::stopped())?;
        }
        for _ in 0..threads {
            match notes.recv().map_err(|_| Flow::<W>::stopped())? {
                Note::Reached(end) => reached = reached.max(end),
                Note::Panicked => return Err(Flow::<W>::panicked()),
                _ => unreachable!("every job was merged"),
            }
        }
    }
    match gate.end(reached) {
        Some(end) => flow.run_to(end, true),
        None => {
            flow.send(|_| Job::Finish(None), None, 0, None)?;
            flow.drain()
        }
    }
}

/// How the parsers group a block's events.
#[derive(Debug, Clone, Copy)]
enum Routing {
    /// One engine: one group.
    None,
    /// By worker id, over this many engines: a group for each, so that each engine reads only
    /// the bytes of its own events.
    Workers(usize, Seed),
}

impl Routing {
    /// The routing of a run on `engines` engines, with a seed of its own.
    fn of(engines: usize) -> Routing {
        if engines == 1 {
            Routing::None
        } else {
            Routing::Workers(engines, Seed::random())
        }
    }
}

/// The seed of a run's routing hashes, random per run: a producer cannot choose ids that all
/// go to one engine (and leave the other cores idle). Which engine holds a worker never shows
/// in the output, so the output does not depend on it.
#[derive(Debug, Clone, Copy)]
struct Seed(u64);

impl Seed {
    fn random() -> Seed {
        use std::hash::BuildHasher;
        Seed(crate::keyed::KeyedState::default().hash_one(0x0072_6f75_7469_6e67_u64))
    }

    /// The routing key of a worker id.
    fn key(self, id: &str) -> u64 {
        xxh3_64_with_seed(id.as_bytes(), self.0)
    }
}

/// The engine of a routing key among `shards`: the high bits of the product, even for any
/// number of engines.
fn shard_of(key: u64, shards: usize) -> usize {
    ((u128::from(key) * shards as u128) >> 64) as usize
}

/// What admission reads of a valid event, computed by its parser. An array of its own, beside
/// the records: the serial step reads 32 bytes an event, in a row, not the records (which
/// another core wrote).
#[derive(Debug, Clone, Copy)]
struct Admission {
    ts: i64,
    /// Of (`worker_id`, `event_id`), when it has an id.
    digest: Option<u64>,
    /// Its record: `groups[group].events[index]`.
    group: u32,
    index: u32,
}

/// Offsets and counts within a block are `u32`: a block is 1 MiB, doubled only for a longer
/// line, and never reaches 4 GiB.
const HUGE: &str = "a block of input is under 4 GiB";

/// The strings of a [`Record`], in the order they follow one another in the block's `text`.
/// Not its `event_id`: admission decides duplicates, the engines never read it.
const WORKER_ID: usize = 0;
const PLATFORM: usize = 1;
const ROLE: usize = 2;
const CITY: usize = 3;
const ORDER_ID: usize = 4;
const PERSON_ID: usize = 5;
const STRINGS: usize = 6;
/// The bit of [`Record::present`] for `fee_cents` (the strings' bits are their numbers).
const FEE: u8 = 1 << STRINGS;

/// A valid event, for the engine it goes to: 56 bytes, its strings one after another in its
/// group's `text`.
#[derive(Debug)]
struct Record {
    /// Its line in the block, from 1.
    line: u32,
    /// Where its first string starts in `text`.
    start: u32,
    /// Where each string ends in `text` (an absent one is empty).
    ends: [u32; STRINGS],
    /// Which optional strings and `fee_cents` it has: bit `1 << n` for string `n`, [`FEE`].
    present: u8,
    kind: Kind,
    activity: Option<Activity>,
    ts: i64,
    fee_cents: u64,
    /// Its id digest, 0 when it has no `event_id` (a copy with an earlier `ts` may cancel
    /// it: [`Engine::cancel`]).
    id: u64,
}

/// What one engine is given of a block: the admitted events (indices into its group's
/// records), and the buffered copies that events among them replace (id digest, `ts`).
#[derive(Debug, Clone, Default)]
struct Route {
    events: Vec<u32>,
    cancels: Vec<(u64, i64)>,
}

impl Route {
    fn clear(&mut self) {
        self.events.clear();
        self.cancels.clear();
    }
}

/// The records of a block's valid events that go to one engine (all of them with one engine,
/// or persons), their strings one after another in `text`.
#[derive(Debug, Default)]
struct Group {
    text: String,
    events: Vec<Record>,
}

/// What the parse of a block of input found. It owns all of it (the events' strings are
/// copied into `text`, a few dozen bytes an event, about two thirds of the input's bytes with
/// the records), so that it can move between threads; its buffers are reused from block to
/// block.
#[derive(Debug, Default)]
struct Block {
    /// Its place in the input.
    index: u64,
    lines: u64,
    blank: u64,
    /// The valid events in input order, for admission.
    admissions: Vec<Admission>,
    /// Their records, by engine ([`Routing`]).
    groups: Vec<Group>,
    /// Bad lines: line in the block, why.
    bad: Vec<(u64, BadEvent)>,
}

impl Block {
    /// Splits and parses the lines of `raw`, a block of input.
    fn parse(&mut self, raw: &[u8], routing: Routing) {
        let Block {
            lines: count,
            blank,
            admissions,
            groups,
            bad,
            ..
        } = self;
        let shards = match routing {
            Routing::Workers(shards, _) => shards,
            Routing::None => 1,
        };
        groups.resize_with(shards, Group::default);
        for group in groups.iter_mut() {
            group.text.clear();
            group.events.clear();
        }
        admissions.clear();
        bad.clear();
        *count = 0;
        *blank = 0;
        for line in lines(raw) {
            *count += 1;
            if is_blank(line) {
                *blank += 1;
                continue;
            }
            match event::parse(line) {
                Ok(event) => {
                    let group = match routing {
                        Routing::Workers(shards, seed) => {
                            shard_of(seed.key(&event.worker_id), shards)
                        }
                        Routing::None => 0,
                    };
                    let Group { text, events } = &mut groups[group];
                    let digest = event_digest(&event);
                    admissions.push(Admission {
                        ts: event.ts,
                        digest,
                        group: u32::try_from(group).expect("engines are few"),
                        index: u32::try_from(events.len()).expect(HUGE),
                    });
                    events.push(Record::new(&event, *count, text, digest));
                }
                Err(error) => bad.push((*count, error)),
            }
        }
    }

    /// The event of a record of `group`.
    fn event<'b>(group: &'b Group, record: &Record) -> Event<'b> {
        let text = |n| record.string(&group.text, n).map(Cow::Borrowed);
        let some = |n| Cow::Borrowed(record.string(&group.text, n).unwrap_or_default());
        Event {
            worker_id: some(WORKER_ID),
            kind: record.kind,
            ts: record.ts,
            // The engines never read it (admission decided duplicates): not copied.
            event_id: None,
            platform: some(PLATFORM),
            role: some(ROLE),
            city: some(CITY),
            order_id: text(ORDER_ID),
            fee_cents: (record.present & FEE != 0).then_some(record.fee_cents),
            person_id: text(PERSON_ID),
            activity: record.activity,
        }
    }

    /// Pushes the admitted events of engine `shard` (`route`: indices into its group's
    /// records, and the copies they replace) into `engine`, then runs it to `watermark`.
    fn push(&self, engine: &mut Engine, shard: usize, base: u64, route: &Route) {
        let group = &self.groups[if self.groups.len() == 1 { 0 } else { shard }];
        for &(id, ts) in &route.cancels {
            engine.cancel(id, ts);
        }
        let events = &route.events;
        // The workers' slots first, in loops of look-ups alone: each misses the cache, and
        // there they overlap instead of stalling every push in turn. The ids are hashed (and
        // their index buckets asked for) in one loop, looked up in the next.
        let hashes: Vec<Option<u64>> = events
            .iter()
            .map(|&i| {
                let worker = group.events[i as usize].string(&group.text, WORKER_ID);
                engine.hint_hash(worker.unwrap_or_default())
            })
            .collect();
        let slots: Vec<Option<u32>> = hashes
            .into_iter()
            .map(|hash| engine.slot_hint_by(hash))
            .collect();
        for (n, (&i, &slot)) in events.iter().zip(&slots).enumerate() {
            if let Some(&Some(ahead)) = slots.get(n + PUSH_AHEAD) {
                engine.prefetch_push(ahead);
            }
            let record = &group.events[i as usize];
            // Its strings are all borrowed from the block: nothing to drop (a drop would still
            // test each of them).
            let event = std::mem::ManuallyDrop::new(Block::event(group, record));
            let id = (record.id != 0).then_some(record.id);
            engine.push_admitted_to(&event, id, base + u64::from(record.line), slot);
        }
    }
}

impl Record {
    fn new(event: &Event<'_>, line: u64, text: &mut String, id: Option<u64>) -> Record {
        let offset = |text: &String| u32::try_from(text.len()).expect(HUGE);
        let start = offset(text);
        let mut ends = [0; STRINGS];
        let mut present = 0;
        let strings = [
            Some(&event.worker_id),
            Some(&event.platform),
            Some(&event.role),
            Some(&event.city),
            event.order_id.as_ref(),
            event.person_id.as_ref(),
        ];
        for (n, string) in strings.into_iter().enumerate() {
            if let Some(string) = string {
                text.push_str(string);
                present |= 1 << n;
            }
            ends[n] = offset(text);
        }
        if event.fee_cents.is_some() {
            present |= FEE;
        }
        Record {
            line: u32::try_from(line).expect(HUGE),
            start,
            ends,
            present,
            kind: event.kind,
            activity: event.activity,
            ts: event.ts,
            fee_cents: event.fee_cents.unwrap_or_default(),
            id: id.unwrap_or(0),
        }
    }

    /// String `n` in the block's `text`, when the event has it.
    fn string<'t>(&self, text: &'t str, n: usize) -> Option<&'t str> {
        let start = if n == 0 { self.start } else { self.ends[n - 1] };
        (self.present & (1 << n) != 0).then(|| &text[start as usize..self.ends[n] as usize])
    }
}

/// Workers pushed to this many events ahead are loaded into the cache before their turn.
const PUSH_AHEAD: usize = 8;

/// Digests looked up this many events ahead are loaded into the cache before their turn.
const PREFETCH: usize = 16;

/// The one serial step: what one engine's `push` would decide for each valid event, in input
/// order, from its `ts` and id digest only.
struct Gate {
    until: Option<i64>,
    lateness: i64,
    window: i64,
    dedup: Dedup,
    max_ts: Option<i64>,
    /// Accepted, duplicates and late events.
    stats: Stats,
    after_until: u64,
}

impl Gate {
    fn new(config: &Config, until: Option<i64>) -> Gate {
        Gate {
            until,
            lateness: config.time.allowed_lateness,
            window: config.time.dedup_window,
            dedup: Dedup::default(),
            max_ts: None,
            stats: Stats::default(),
            after_until: 0,
        }
    }

    /// Instants before it are final: the largest admitted `ts` minus the lateness.
    fn watermark(&self) -> i64 {
        self.max_ts.map_or(NEVER, |max| max - self.lateness)
    }

    /// The end of event time: `--until`, else `reached`, the largest `ts` the engines
    /// accepted: [`Gate::max_ts`] but for the copies replaced (a duplicate changes nothing,
    /// not even the end of time).
    fn end(&self, reached: Option<i64>) -> Option<i64> {
        debug_assert!(reached <= self.max_ts);
        self.until.or(reached)
    }

    /// Decides each valid event of `block` in input order and adds the admitted ones to the
    /// route of their engine (`routes`, one per engine).
    fn admit(&mut self, block: &Block, routes: &mut [Route]) {
        let admissions = &block.admissions;
        for (i, admission) in admissions.iter().enumerate() {
            if let Some(digest) = admissions.get(i + PREFETCH).and_then(|a| a.digest) {
                self.dedup.prefetch(digest);
            }
            // The parser grouped the events by engine.
            let route = &mut routes[admission.group as usize];
            if self.admits(admission, &mut route.cancels) {
                route.events.push(admission.index);
            }
        }
    }

    /// Whether an event goes to an engine: not after `--until`, not a duplicate, not late. A
    /// copy of a buffered event with an earlier `ts` goes, and the copy it replaces is added
    /// to `cancels` (as [`Engine::push`] decides, [`crate::engine::Pushed::Replaced`]).
    fn admits(&mut self, record: &Admission, cancels: &mut Vec<(u64, i64)>) -> bool {
        if self.until.is_some_and(|end| record.ts > end) {
            self.after_until += 1;
            return false;
        }
        let watermark = self.watermark();
        let mut replaced = false;
        if let Some(digest) = record.digest {
            let expiry = record.ts.saturating_add(self.window);
            // Decided with the watermark as the event leaves it (a copy, with its original
            // `ts`, never moves it): an id reused past its window is forgotten, as live, where
            // an idle partition's watermark moves on with the wall clock.
            let after = watermark.max(record.ts.saturating_sub(self.lateness));
            let earlier_wins = record.ts >= watermark;
            match self
                .dedup
                .admit(digest, expiry, watermark, after, earlier_wins)
            {
                Admit::Duplicate => {
                    self.stats.duplicates += 1;
                    return false;
                }
                Admit::New => {}
                Admit::Replaces(held) => {
                    cancels.push((digest, held.saturating_sub(self.window)));
                    self.stats.duplicates += 1;
                    replaced = true;
                }
            }
        }
        if record.ts < watermark {
            self.stats.late += 1;
            return false;
        }
        self.max_ts = Some(self.max_ts.map_or(record.ts, |max| max.max(record.ts)));
        if !replaced {
            self.stats.accepted += 1;
        }
        true
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
    /// The engine's next instant after the job ([`Engine::next_instant`]).
    next: i64,
    /// The workers it held then.
    held: usize,
}

impl Outputs {
    fn take(engine: &mut Engine) -> Outputs {
        Outputs {
            rejected: engine.take_rejected(),
            alerts: engine.take_alerts(),
            holds: engine.take_holds(),
            reports: engine.take_day_hours(),
            days: engine.take_days(),
            next: NONE,
            held: 0,
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
        report.most_held = report.most_held.max(alerts.len());
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
        let mut sink = super::super::Lines::new(config.time.zone, &mut alerts, None);
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

    /// Worker ids that a fixed routing seed sends all to one engine (as the seed 1 of
    /// earlier builds did) still spread over the engines: each run routes with a seed of
    /// its own.
    #[test]
    fn ids_chosen_to_share_an_engine_are_spread() {
        let fixed = Seed(1);
        let ids: Vec<String> = (0..)
            .map(|i| format!("w{i}"))
            .filter(|id| shard_of(fixed.key(id), 2) == 0)
            .take(64)
            .collect();
        let mut block = Block::default();
        let mut raw = Vec::new();
        for id in &ids {
            raw.extend_from_slice(
                format!(r#"{{"worker_id":"{id}","kind":"login","ts":1772409600000}}"#).as_bytes(),
            );
            raw.push(b'\n');
        }
        for _ in 0..4 {
            block.parse(&raw, Routing::of(2));
            let sizes: Vec<usize> = block.groups.iter().map(|g| g.events.len()).collect();
            assert_eq!(sizes.iter().sum::<usize>(), 64);
            assert!(
                sizes.iter().all(|&n| n > 0),
                "one engine got them all: {sizes:?}"
            );
        }
    }

    /// A copy replaced by an earlier one (its `event_id` read again with an earlier `ts`) is no
    /// event of the person: 2 h after the kept copy, to the millisecond, the person is
    /// forgotten and its worker id starts afresh alone (its alerts name it), though the
    /// replaced copy, still in the buffer, is 1 ms later, whatever the threads. Before, that
    /// copy kept the person, whose new life got the alerts (found by
    /// tests/model/test_person_admission.py).
    #[test]
    fn a_replaced_copy_does_not_keep_a_person() {
        let config = Config::from_toml_str(
            "[time]\nzone = \"Europe/Berlin\"\nworker_ttl = \"2h\"\n[rules]\nsubject = \"person\"\n\
             continuous_limit = \"1h\"\nwarn_before = \"10m\"\n",
            [],
        )
        .unwrap();
        let line = |kind: &str, time: &str, more: &str| {
            format!(r#"{{"worker_id":"a","kind":"{kind}","ts":"2026-03-02T{time}+01:00"{more}}}"#)
                + "\n"
        };
        let named = r#","person_id":"P","event_id":"e1""#;
        let input = [
            line("heartbeat", "10:00:00.001", named),
            line("heartbeat", "10:00:00.000", named),
            line("login", "12:00:00.001", ""),
            line("logout", "13:30:00.000", ""),
        ]
        .concat();
        for threads in [1, 2] {
            let (alerts, _) = replay(&config, input.as_bytes(), threads, Tuning::default());
            let alerts = String::from_utf8(alerts).unwrap();
            let subjects: Vec<&str> = alerts
                .lines()
                .filter(|l| l.contains(r#""phase":"violation""#))
                .map(|l| {
                    if l.contains(r#""worker_id":"a""#) {
                        "a"
                    } else {
                        l
                    }
                })
                .collect();
            assert_eq!(subjects, ["a"], "threads {threads}");
        }
    }

    /// A worker id that stood alone joins a person that was forgotten by an event a copy with
    /// an earlier `ts` replaces: the person's new life starts at the copy and is the worker
    /// id's, its login included, whatever the threads (one join, moved to the copy; not a
    /// second one that took the worker id's state from where it stood alone once more).
    #[test]
    fn a_join_by_a_replaced_copy_moves_to_the_copy() {
        let config = Config::from_toml_str(
            "[time]\nzone = \"Europe/Berlin\"\nworker_ttl = \"2h\"\nallowed_lateness = \"5m\"\n\
             [rules]\nsubject = \"person\"\ncontinuous_limit = \"1h\"\nwarn_before = \"10m\"\n",
            [],
        )
        .unwrap();
        let line = |worker: &str, kind: &str, time: &str, more: &str| {
            format!(
                r#"{{"worker_id":"{worker}","kind":"{kind}","ts":"2026-03-02T{time}+01:00"{more}}}"#
            ) + "\n"
        };
        let named = r#","person_id":"P","event_id":"e1""#;
        let input = [
            line("a", "heartbeat", "10:00:00", r#","person_id":"P""#),
            line("b", "break_end", "15:00:00", ""),
            line("b", "heartbeat", "16:00:01", named),
            line("b", "login", "16:00:00", named),
            line("b", "logout", "17:30:00", ""),
        ]
        .concat();
        for threads in [1, 2] {
            let (alerts, _) = replay(&config, input.as_bytes(), threads, Tuning::default());
            let alerts = String::from_utf8(alerts).unwrap();
            let violations: Vec<&str> = alerts
                .lines()
                .filter(|l| l.contains(r#""phase":"violation""#))
                .collect();
            assert_eq!(violations.len(), 1, "threads {threads}: {alerts}");
            assert!(
                violations[0].contains(r#""person_id":"P""#)
                    && violations[0].contains(r#""at":"2026-03-02T17:00:00.000+01:00""#),
                "threads {threads}: {alerts}"
            );
        }
    }

    /// A worker id whose first events carry no `person_id` stands alone until one does; from
    /// then on it is the person's, its state too (it worked on alone forever: the logout went
    /// to the person), whatever the threads.
    #[test]
    fn a_worker_id_that_joins_a_person_stops_working_alone() {
        let line = |worker: &str, kind: &str, time: &str, person: Option<&str>| {
            let person = person.map_or(String::new(), |p| format!(r#","person_id":"{p}""#));
            format!(
                r#"{{"worker_id":"{worker}","kind":"{kind}","ts":"2026-03-02T{time}+01:00"{person}}}"#
            ) + "\n"
        };
        let mut input = String::new();
        for k in 0..8 {
            input += &line(&format!("w{k}"), "login", "08:00:00", None);
        }
        // Online from 08:00 alone, the person's from 08:05 on: 4h of the person's work at 12:05.
        input += &line("v", "login", "08:00:00", None);
        input += &line("v", "heartbeat", "08:05:00", Some("q"));
        for k in 0..8 {
            input += &line(
                &format!("w{k}"),
                "logout",
                "08:05:00",
                Some(&format!("p{k}")),
            );
        }
        input += &line("v", "logout", "12:10:00", None);
        input += &line("x", "heartbeat", "14:00:00", None);
        let config = config(true);
        let (one, one_diag) = replay(&config, input.as_bytes(), 1, Tuning::default());
        let alerts: Vec<serde_json::Value> = one
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        let got: Vec<String> = alerts
            .iter()
            .map(|a| {
                format!(
                    "{} {} {:?} {:?} {} {}",
                    a["rule"],
                    a["phase"],
                    a.get("person_id"),
                    a.get("worker_id"),
                    a["at"],
                    a["period_start"]
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                r#""continuous_work" "warning" Some(String("q")) None "2026-03-02T11:50:00.000+01:00" "2026-03-02T08:05:00.000+01:00""#,
                r#""continuous_work" "violation" Some(String("q")) None "2026-03-02T12:05:00.000+01:00" "2026-03-02T08:05:00.000+01:00""#,
                r#""continuous_work" "resolved" Some(String("q")) None "2026-03-02T12:30:00.000+01:00" "2026-03-02T08:05:00.000+01:00""#,
            ],
            "the w ids work five minutes each; v works on as q's"
        );
        // Persons run on one engine whatever the threads (the parsing on each of them).
        for threads in [2, 3] {
            let (more, more_diag) = replay(&config, input.as_bytes(), threads, Tuning::default());
            assert_eq!(more, one, "--threads {threads}");
            assert_eq!(more_diag, one_diag, "--threads {threads}");
        }
    }

    /// Event time run on weeks past the events read (by `--until`, or by one line stamped
    /// weeks later) runs in stretches, each handed on before the next: the alerts held at
    /// once are those of one stretch, not of the weeks (200 workers online for 20 days:
    /// 9,000 alerts, of which the whole run's used to be held together; audit AX F3), and
    /// the bytes stay those of one thread with large blocks. `status` and `report`
    /// ([`crate::replay::replay_into`]) run the same way.
    #[test]
    fn a_jump_of_event_time_holds_the_alerts_of_one_stretch_at_a_time() {
        const WORKERS: usize = 200;
        let login = 1_772_409_600_000_i64; // 2026-03-02T08:00+08:00
        let later = login + 20 * 86_400_000;
        let mut logins = String::new();
        for k in 0..WORKERS {
            logins += &format!("{{\"worker_id\":\"w{k}\",\"kind\":\"login\",\"ts\":{login}}}\n");
        }
        let late_line =
            format!("{logins}{{\"worker_id\":\"x\",\"kind\":\"heartbeat\",\"ts\":{later}}}\n");
        let config = Config::from_toml_str("", []).unwrap();
        for (what, input, until) in [
            ("--until", &logins, Some(later)),
            ("a later line", &late_line, None),
        ] {
            let mut want: Option<Vec<u8>> = None;
            for threads in [1, 2] {
                for block_bytes in [BLOCK_BYTES, 700] {
                    // 200 worker-hours: stretches of an hour for the 200 workers.
                    let tuning = Tuning {
                        block_bytes,
                        blocks_per_thread: 1,
                        stretch_worker_hours: WORKERS as i64,
                    };
                    let mut alerts = Vec::new();
                    let mut sink = super::super::Lines::new(config.time.zone, &mut alerts, None);
                    let report = replay_sharded_with(
                        config.clone(),
                        until,
                        input.as_bytes(),
                        threads,
                        false,
                        tuning,
                        &mut sink,
                        &mut Vec::new(),
                    )
                    .unwrap();
                    let case = format!("{what}, {threads} threads, blocks of {block_bytes} bytes");
                    assert!(
                        report.alerts > 40 * WORKERS as u64,
                        "{case}: {} alerts",
                        report.alerts
                    );
                    assert!(
                        report.most_held <= 3 * WORKERS,
                        "{case}: {} alerts held at once, of {}",
                        report.most_held,
                        report.alerts
                    );
                    match &want {
                        None => want = Some(alerts),
                        Some(want) => assert!(alerts == *want, "{case}: the alerts differ"),
                    }
                }
            }
            let mut engine = Engine::new(config.clone()).with_stretch(WORKERS as i64);
            let mut written = io::sink();
            let mut sink = super::super::Lines::new(config.time.zone, &mut written, None);
            let report = crate::replay::replay_into(
                &mut engine,
                until,
                input.as_bytes(),
                &mut sink,
                &mut Vec::new(),
            )
            .unwrap();
            assert!(
                report.most_held <= 3 * WORKERS && report.alerts > 40 * WORKERS as u64,
                "{what}, replay_into: {} alerts held at once, of {}",
                report.most_held,
                report.alerts
            );
        }
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
                    // Stretches of an hour, the shortest, where event time jumps.
                    let tuning = Tuning {
                        block_bytes,
                        blocks_per_thread,
                        stretch_worker_hours: if block_bytes == 700 { 1 } else { 100_000 },
                    };
                    let (got, diag) = replay(&config, &input, threads, tuning);
                    let what = format!("persons {persons}, {threads} threads, {tuning:?}");
                    assert!(got == want, "alerts differ: {what}");
                    assert!(diag == want_diag, "stderr differs: {what}");
                }
            }
        }
    }

    /// Workers forgotten by `worker_ttl` whose next events already wait when they are
    /// forgotten start afresh ranked by the first of those events to arrive, as if they had come
    /// after: their tied alerts keep one order whatever the threads and the cut of the input
    /// (b's login arrived first, so the engine emits b's first; written by key, a's come first).
    #[test]
    fn workers_forgotten_with_events_waiting_rank_by_those_events() {
        let input =
            b"{\"worker_id\":\"a\",\"kind\":\"heartbeat\",\"ts\":\"2026-03-02T08:00:00+08:00\"}
{\"worker_id\":\"b\",\"kind\":\"heartbeat\",\"ts\":\"2026-03-02T08:00:00+08:00\"}
{\"worker_id\":\"b\",\"kind\":\"login\",\"ts\":\"2026-04-15T08:00:00+08:00\"}
{\"worker_id\":\"a\",\"kind\":\"login\",\"ts\":\"2026-04-15T08:00:00+08:00\"}
{\"worker_id\":\"c\",\"kind\":\"heartbeat\",\"ts\":\"2026-04-15T12:00:00+08:00\"}
";
        let config = Config::from_toml_str("", []).unwrap();
        let (want, _) = replay(&config, input, 1, Tuning::default());
        let workers: Vec<String> = String::from_utf8(want.clone())
            .unwrap()
            .lines()
            .map(|line| {
                let alert: serde_json::Value = serde_json::from_str(line).unwrap();
                alert["worker_id"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(workers, ["a", "b", "a", "b"]);
        for threads in [1, 2, 3] {
            for block_bytes in [1, 100, BLOCK_BYTES] {
                let tuning = Tuning {
                    block_bytes,
                    blocks_per_thread: 1,
                    ..Tuning::default()
                };
                for _ in 0..4 {
                    let (got, _) = replay(&config, input, threads, tuning);
                    assert!(
                        got == want,
                        "{threads} threads, {block_bytes} bytes a block"
                    );
                }
            }
        }
    }

    /// A worker id's events before its first `person_id` in event time stay its own, whatever
    /// order they arrive in within the lateness (SPEC sections 5 and 8): a login that arrives
    /// after the event naming the person, with an earlier `ts`, starts a session of the worker
    /// id alone, which moves to the person at that event, as with the events sorted. It was
    /// taken for the person's already (the episode started 10 s early, other alert ids).
    #[test]
    fn events_before_a_worker_ids_first_person_id_stay_its_own_in_any_order() {
        let person = "c".repeat(64);
        let login = r#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00","platform":"meituan"}"#;
        let named = format!(
            r#"{{"worker_id":"w1","kind":"heartbeat","ts":"2026-03-02T08:00:10+08:00","platform":"meituan","person_id":"{person}"}}"#
        );
        let other = format!(
            r#"{{"worker_id":"w2","kind":"login","ts":"2026-03-02T08:00:05+08:00","platform":"eleme","person_id":"{person}"}}"#
        );
        let logout = r#"{"worker_id":"w1","kind":"logout","ts":"2026-03-02T13:00:00+08:00","platform":"meituan"}"#;
        let config = Config::from_toml_str("[rules]\nsubject = \"person\"\n", []).unwrap();
        let alerts = |lines: &[&str]| {
            let input = lines.join("\n") + "\n";
            let (alerts, _) = replay(&config, input.as_bytes(), 1, Tuning::default());
            let mut alerts: Vec<String> = String::from_utf8(alerts)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            alerts.sort();
            alerts
        };
        let sorted = alerts(&[login, &named, logout]);
        assert!(
            sorted.iter().any(|a| a.contains("12:00:10.000")),
            "{sorted:?}"
        );
        assert_eq!(alerts(&[&named, login, logout]), sorted);
        // With another worker id of the person working from 08:00:05.
        let sorted = alerts(&[login, &other, &named, logout]);
        assert_eq!(alerts(&[&other, &named, login, logout]), sorted);
        assert_eq!(alerts(&[&named, &other, login, logout]), sorted);
    }

    /// An event without a `person_id` stamped after the one that names the person, but read
    /// before it, is the person's too (SPEC 5 and 8): it used to stay with the worker id
    /// standing alone, whose order then never ended.
    #[test]
    fn events_after_a_worker_ids_join_are_the_persons_in_any_order() {
        let line = |kind: &str, time: &str, extra: &str| {
            format!(
                r#"{{"worker_id":"w1","kind":"{kind}","ts":"2026-03-02T{time}+08:00","platform":"meituan"{extra}}}"#
            )
        };
        let accepted = line("order_accepted", "08:00:05", r#","order_id":"o1""#);
        let login = line("login", "08:00:00", r#","person_id":"P1""#);
        let delivered = line("order_delivered", "08:30:00", r#","order_id":"o1""#);
        let logout = line("logout", "09:00:00", "");
        let later = r#"{"worker_id":"zz","kind":"heartbeat","ts":"2026-03-02T20:00:00+08:00"}"#;
        let config = Config::from_toml_str("[rules]\nsubject = \"person\"\n", []).unwrap();
        let alerts = |lines: &[&str]| {
            let input = lines.join("\n") + "\n";
            let (alerts, _) = replay(&config, input.as_bytes(), 1, Tuning::default());
            String::from_utf8(alerts).unwrap()
        };
        // One hour of work: no alert, whichever comes first.
        assert_eq!(alerts(&[&login, &accepted, &delivered, &logout, later]), "");
        assert_eq!(alerts(&[&accepted, &login, &delivered, &logout, later]), "");
        // A login read before the heartbeat, stamped 10 s earlier, that names the person.
        let login = line("login", "08:00:00", "");
        let named = line("heartbeat", "07:59:50", r#","person_id":"P1""#);
        let logout = line("logout", "12:30:00", "");
        let sorted = alerts(&[&named, &login, &logout, later]);
        assert!(sorted.contains(r#""person_id":"P1""#), "{sorted}");
        assert_eq!(alerts(&[&login, &named, &logout, later]), sorted);
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
            ..Tuning::default()
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
