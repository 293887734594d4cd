//! `workhours demo`: the whole pipeline in one process, with a live page.
//!
//! - an in-process Kafka-protocol broker (librdkafka's mock cluster) with the topics;
//! - [`feed`]: the simulator's stream, each event produced when a scaled clock reaches its
//!   `ts`, so the monitor runs live (watermarks, timers, idleness), not as a replay;
//! - the monitor itself, [`crate::live::app`] on the same scaled clock, as `workhours run`;
//! - [`board`]: the alerts read back from the alerts topic and samples of the engines' state;
//! - [`api`]: the page at `/` (embedded assets) and its JSON under `/api/demo/`.
//!
//! A status line is printed every few seconds; Ctrl-C (or the end of `--hours`) stops it all.

pub mod api;
pub mod board;
pub mod feed;

use anyhow::Context;
use chrono::NaiveDate;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::cli::DemoArgs;
use crate::config::{Config, HttpConfig};
use crate::live::{Clock, Shared};
use crate::metrics::Metrics;
use crate::simulate::SimOptions;
use board::Board;
use feed::{Feed, Tracks};

/// How often the engines are sampled for the page (a short lock of the partitions).
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// Partitions of every demo topic.
const PARTITIONS: i32 = 6;
/// The clock starts this much wall time before the first event: the monitor's consumer
/// group forms in about three seconds, and the first shifts should start live, not be
/// caught up.
const LEAD: Duration = Duration::from_secs(4);
/// Simulated days planned when no `--hours` bounds the run (the stream is produced lazily).
const OPEN_ENDED_DAYS: u32 = 366;

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The monitor's config; the demo points its Kafka and HTTP settings at itself.
    pub config: Config,
    pub workers: u32,
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// Stop after this many simulated hours; run until shutdown when `None`.
    pub hours: Option<f64>,
    pub listen: String,
    pub seed: u64,
    /// First simulated local day.
    pub start: NaiveDate,
    /// How often the status line is printed.
    pub status_every: Duration,
}

/// What a finished demo did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub events_produced: u64,
    /// Alerts read back from the alerts topic, by (rule, phase).
    pub alerts: BTreeMap<(String, String), u64>,
}

/// Most `--workers`: the demo holds every worker in its engines (about 1 KB each), in the
/// simulator and on its page's look-ups, and samples them all twice a second; a display needs
/// far fewer.
const MAX_WORKERS: u32 = 100_000;

/// Most `--hours`: 100 years (a larger value overflowed the simulated days and the end).
const MAX_HOURS: f64 = 876_000.0;

/// The demo's rules without `--config`: the defaults (`cn-weihai-2022`), with Meituan's riders
/// under the 2024 national guideline (`cn-mohrss-2024`) and Didi's drivers under Didi's own
/// 2018 fatigue rules (`didi-2018`), whose limits stop dispatch, so that the page shows three
/// packs and workers on dispatch hold (SPEC section 7): holds of 10 to 20 minutes after
/// continuous order time, and until midnight after a long day.
pub const DEMO_CONFIG: &str = "\
[rules.platform.meituan]
pack = \"cn-mohrss-2024\"
[rules.platform.didi]
pack = \"didi-2018\"
";

impl DemoOptions {
    pub fn from_args(args: &DemoArgs) -> anyhow::Result<DemoOptions> {
        let config = Config::load_or(args.config.as_deref(), DEMO_CONFIG)?;
        let start = match &args.start {
            Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .with_context(|| format!("--start: `{text}` is not a date like 2026-03-02"))?,
            None => chrono::Utc::now()
                .with_timezone(&config.time.zone)
                .date_naive(),
        };
        if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 1_000_000.0) {
            anyhow::bail!(
                "--speed: must be above 0 and at most 1000000, got {}",
                args.speed
            );
        }
        // Simulated days stay within simulate's years (2000 to 2099): at most 100 years.
        if let Some(hours) = args.hours
            && !(hours.is_finite() && hours > 0.0 && hours <= MAX_HOURS)
        {
            anyhow::bail!(
                "--hours: must be above 0 and at most {MAX_HOURS} (100 years), got {hours}"
            );
        }
        if args.workers == 0 {
            anyhow::bail!("--workers: must be at least 1");
        }
        if args.workers > MAX_WORKERS {
            anyhow::bail!(
                "--workers: at most {MAX_WORKERS} in the demo, got {}",
                args.workers
            );
        }
        Ok(DemoOptions {
            // The config's `[http]` keys are not the demo's (its help and docs/demo.md):
            // the address is `--listen`'s, and no token guards the page.
            listen: args
                .listen
                .clone()
                .unwrap_or_else(|| HttpConfig::default().listen),
            config,
            workers: args.workers,
            speed: args.speed,
            hours: args.hours,
            seed: args.seed,
            start,
            status_every: Duration::from_secs(5),
        })
    }
}

/// The `demo` subcommand.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let opts = DemoOptions::from_args(args)?;
    crate::telemetry::init();
    let runtime = crate::live::runtime()?;
    runtime.block_on(async {
        let report = run_demo(opts, crate::live::shutdown_on_signals()).await?;
        println!(
            "workhours demo: stopped after {} events; {} alerts.",
            report.events_produced,
            report.alerts.values().sum::<u64>()
        );
        Ok(())
    })
}

/// The config of the monitor inside the demo: the mock cluster, quick fetches, and pacing
/// scaled to the clock's speed.
fn monitor_config(opts: &DemoOptions, brokers: &str) -> Config {
    let mut config = opts.config.clone();
    config.kafka.brokers = brokers.to_owned();
    config.kafka.group_id = "workhours-demo".into();
    config
        .kafka
        .properties
        .insert("fetch.wait.max.ms".into(), "10".into());
    config.http = HttpConfig {
        listen: opts.listen.clone(),
        ..HttpConfig::default()
    };
    // A quiet partition advances with the clock after one wall second...
    config.live.idle_timeout = 1_000;
    // ...to `allowed_lateness` behind it: events are produced when the clock reaches their
    // `ts` and reach the monitor within milliseconds of wall time, but a wall millisecond is
    // `speed` of them here, so the lateness covers at least half a wall second.
    config.time.allowed_lateness = config
        .time
        .allowed_lateness
        .max((opts.speed * 500.0) as i64);
    // The producer's and the monitor's clocks are one clock; a stall of a few wall seconds
    // must not turn events into "future" ones.
    config.time.max_future_skew = config
        .time
        .max_future_skew
        .max((opts.speed * 30_000.0) as i64);
    config
}

/// Runs the demo until `shutdown` is cancelled or `opts.hours` of simulated time have passed.
pub async fn run_demo(opts: DemoOptions, shutdown: CancellationToken) -> anyhow::Result<Report> {
    if opts.config.http != HttpConfig::default() {
        tracing::warn!(
            listen = %opts.config.http.listen,
            token_file = %opts.config.http.token_file,
            "The demo ignores the config's [http] keys: it serves on --listen, without a token."
        );
    }
    let cluster = MockCluster::new(1).context("cannot start the in-process Kafka broker")?;
    let brokers = cluster.bootstrap_servers();
    let config = monitor_config(&opts, &brokers);
    let kafka = &config.kafka;
    for topic in kafka.input_topics.iter().chain([
        &kafka.alerts_topic,
        &kafka.dead_letter_topic,
        &kafka.state_topic,
        &kafka.holds_topic,
    ]) {
        cluster
            .create_topic(topic, PARTITIONS, 1)
            .with_context(|| format!("cannot create topic {topic} on the mock broker"))?;
    }

    let days = match opts.hours {
        // One more day for the shifts of the first day's evening, one for the lead.
        Some(hours) => (hours / 24.0).ceil() as u32 + 2,
        None => OPEN_ENDED_DAYS,
    };
    let sim = SimOptions {
        workers: opts.workers,
        days,
        seed: opts.seed,
        start: opts.start,
        zone: config.time.zone,
        heartbeat_ms: None,
        duplicates: 0.0,
        bad_lines: 0.0,
        jitter_ms: 0,
        activity: false,
        mix: crate::simulate::Mix::Standard,
        persons: None,
    };
    sim.validate()?;
    let first_ms = feed::first_ts(&sim).context("the simulation has no event")?;
    let lead_ms = ((LEAD.as_secs_f64() * 1000.0 * opts.speed) as i64).max(60_000);
    let start_ms = first_ms - lead_ms;
    // Counted from the first event; the stream goes on past the end until the monitor stops,
    // so that nobody seems to work on forever for want of their next event.
    let end_ms = opts
        .hours
        .map(|hours| first_ms + (hours * 3_600_000.0) as i64);
    let clock = Clock::scaled(start_ms, opts.speed);

    let metrics = Arc::new(Metrics::new());
    let shared = Arc::new(Shared::new(metrics.clone()));
    let board = Arc::new(Board::default());
    {
        // The pipeline's loop owns the engines: it hands them to the board every sample.
        let (board, rules) = (board.clone(), config.rules.clone());
        shared.on_sample(Box::new(move |engines| {
            board.sample(
                engines,
                rules.min_break,
                rules.daily_standard,
                rules.daily_max,
            )
        }));
    }
    let tracks = Arc::new(Tracks::default());
    let running = Arc::new(AtomicBool::new(true));

    let feeder = {
        let feed = Feed {
            opts: sim,
            brokers: brokers.clone(),
            topic: kafka.input_topics[0].clone(),
            clock,
            speed: opts.speed,
            board: board.clone(),
            tracks: tracks.clone(),
            running: running.clone(),
        };
        std::thread::Builder::new()
            .name("demo-feed".into())
            .spawn(move || feed::run(feed))?
    };
    let reader = {
        let (brokers, topic, board, running) = (
            brokers.clone(),
            kafka.alerts_topic.clone(),
            board.clone(),
            running.clone(),
        );
        std::thread::Builder::new()
            .name("demo-alerts".into())
            .spawn(move || read_alerts(&brokers, &topic, &board, &running))?
    };

    let routes = api::routes(api::DemoState {
        board: board.clone(),
        tracks,
        shared: shared.clone(),
        clock,
        config: Arc::new(config.clone()),
        start_ms: first_ms,
        end_ms,
        speed: opts.speed,
        workers: opts.workers,
        seed: opts.seed,
    });
    let ticker = tokio::spawn(tick(
        opts.clone(),
        config.clone(),
        clock,
        end_ms,
        board.clone(),
        shutdown.clone(),
    ));

    println!(
        "workhours demo: {} simulated workers from {}, {}x real time (one simulated hour every {:.1} s).",
        opts.workers,
        crate::timefmt::format_rfc3339(first_ms, &config.time.zone),
        opts.speed,
        3600.0 / opts.speed
    );
    let _ = std::io::stdout().flush();
    // Announced once bound: with the address taken, the user must not be sent to another
    // program's page before the error.
    let address = display_address(&opts.listen);
    let on_listening = Box::new(move || {
        println!("workhours demo: open http://{address}/ in a browser; Ctrl-C stops.");
        let _ = std::io::stdout().flush();
    });

    let outcome = crate::live::app(
        config,
        metrics,
        shutdown.clone(),
        clock,
        Some(crate::live::Pages {
            routes,
            shared,
            on_listening,
        }),
    )
    .await;
    shutdown.cancel();
    running.store(false, Ordering::Relaxed);
    let _ = ticker.await;
    let fed = tokio::task::spawn_blocking(move || feeder.join()).await;
    let read = tokio::task::spawn_blocking(move || reader.join()).await;
    // The broker goes last: every client above has stopped using it.
    drop(cluster);
    outcome?;
    match fed {
        Ok(Ok(result)) => result?,
        _ => anyhow::bail!("the demo's feed thread panicked"),
    }
    match read {
        Ok(Ok(result)) => result?,
        _ => anyhow::bail!("the demo's alert reader panicked"),
    }
    Ok(Report {
        events_produced: board.produced.load(Ordering::Relaxed),
        alerts: board.counts(),
    })
}

/// `0.0.0.0:9898` cannot be opened in a browser; its loopback can.
fn display_address(listen: &str) -> String {
    match listen.strip_prefix("0.0.0.0:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => listen.to_owned(),
    }
}

/// Every [`SAMPLE_EVERY`]: the event rate for the page (the engines are sampled by the
/// pipeline's loop); every `status_every`: the status line;
/// after `end_ms` (plus a moment for its last alerts): shut down.
async fn tick(
    opts: DemoOptions,
    config: Config,
    clock: Clock,
    end_ms: Option<i64>,
    board: Arc<Board>,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(SAMPLE_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_status = Instant::now();
    // Alerts due up to the end need the watermark past it (events go on) and a fetch.
    let settle = Duration::from_millis(500);
    let mut ended_at: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        board.sample_rate();
        if last_status.elapsed() >= opts.status_every {
            last_status = Instant::now();
            println!("{}", status_line(&board, &config, clock.now_ms()));
            let _ = std::io::stdout().flush();
        }
        if let Some(end) = end_ms
            && clock.now_ms() >= end
        {
            let since = *ended_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= settle {
                println!("{}", status_line(&board, &config, clock.now_ms()));
                println!(
                    "workhours demo: {} simulated hours done; stopping.",
                    opts.hours.unwrap_or(0.0)
                );
                shutdown.cancel();
                return;
            }
        }
    }
}

/// `[demo] 2026-03-02 09:14 | 812 events/s | working 640 | continuous work: 12 warned, 3 over 4h | alerts: ...`
fn status_line(board: &Board, config: &Config, now: i64) -> String {
    let sample = board.last();
    let time = crate::timefmt::format_rfc3339(now, &config.time.zone);
    let minute = time.get(..16).unwrap_or(&time).replace('T', " ");
    let mut by_rule: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((rule, phase), count) in board.counts() {
        by_rule
            .entry(rule)
            .or_default()
            .push(format!("{phase} {count}"));
    }
    let alerts = if by_rule.is_empty() {
        "none yet".to_owned()
    } else {
        by_rule
            .into_iter()
            .map(|(rule, phases)| format!("{rule} ({})", phases.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!(
        "[demo] {minute} simulated | {:.0} events/s | working {} of {} online | continuous work: {} warned, {} over the limit | alerts: {alerts}",
        board.events_per_second(),
        sample.working(),
        sample.online(),
        sample.warnings,
        sample.violations,
    )
}

/// Reads the alerts topic from its start into the board, until `running` is cleared and
/// nothing more arrives.
fn read_alerts(
    brokers: &str,
    topic: &str,
    board: &Board,
    running: &AtomicBool,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "workhours-demo-page")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut quiet_since = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                quiet_since = Instant::now();
                if let Some(value) = message
                    .payload()
                    .and_then(|bytes| serde_json::from_slice(bytes).ok())
                {
                    board.push_alert(value);
                }
            }
            Some(Err(error)) => tracing::warn!(%error, "Demo: cannot read an alert."),
            None => {
                if !running.load(Ordering::Relaxed)
                    && quiet_since.elapsed() >= Duration::from_millis(500)
                {
                    return Ok(());
                }
            }
        }
    }
}
