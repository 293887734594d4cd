//! The platforms' side of the demo: the simulated stream, produced to the input topic when
//! the scaled clock reaches each event's `ts` (so the monitor runs live, through its
//! watermarks and timers, not as a replay), and a small per-worker record of when each
//! worker worked, for the timeline on the page.

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::board::Board;
use crate::event::{self, Kind};
use crate::live::{Clock, send_waiting};
use crate::simulate::{SimLine, SimOptions, generate};

/// Changes of the working state kept per worker: a few days of shifts.
const TRANSITIONS: usize = 160;
/// The producer never sleeps longer than this at once, so that a stop is noticed quickly.
const NAP: Duration = Duration::from_millis(50);

/// The instants at which one measure of a worker changed: (instant, on from then on), oldest
/// first, at most [`TRANSITIONS`].
#[derive(Debug, Default)]
pub struct Changes(VecDeque<(i64, bool)>);

impl Changes {
    /// The measure is `on` from `ts`. Changes at one instant take effect together: only the
    /// state after all of them lasts.
    fn set(&mut self, ts: i64, on: bool) {
        if self.0.back().is_some_and(|&(at, _)| at == ts) {
            self.0.pop_back();
        }
        if self.0.back().is_some_and(|&(_, was)| was) != on {
            if self.0.len() == TRANSITIONS {
                self.0.pop_front();
            }
            self.0.push_back((ts, on));
        }
    }

    pub fn to_vec(&self) -> Vec<(i64, bool)> {
        self.0.iter().copied().collect()
    }
}

/// One worker's state as the platforms' events describe it (SPEC section 3), with the
/// instants at which the measures a `continuous` rule may count changed (SPEC section 7:
/// `work`, `orders`, `carrying`; the demo sends no `activity`).
#[derive(Debug, Default)]
pub struct Track {
    online: bool,
    on_break: bool,
    /// Active orders, and whether each was picked up.
    orders: Vec<(Box<str>, bool)>,
    pub work: Changes,
    pub with_orders: Changes,
    pub carrying: Changes,
    pub platform: String,
    pub role: String,
}

impl Track {
    fn working(&self) -> bool {
        (self.online && !self.on_break) || !self.orders.is_empty()
    }

    fn apply(&mut self, kind: Kind, ts: i64, order: Option<&str>) {
        match kind {
            Kind::Login => {
                self.online = true;
                self.on_break = false;
            }
            Kind::Logout => {
                self.online = false;
                self.on_break = false;
            }
            Kind::BreakStart => self.on_break = true,
            Kind::BreakEnd => self.on_break = false,
            Kind::OrderAccepted | Kind::OrderPickedUp => {
                if let Some(order) = order {
                    let picked = kind == Kind::OrderPickedUp;
                    match self.orders.iter_mut().find(|(o, _)| &**o == order) {
                        Some((_, was)) => *was |= picked,
                        None => self.orders.push((order.into(), picked)),
                    }
                }
            }
            Kind::OrderDelivered | Kind::OrderCancelled => {
                if let Some(order) = order {
                    self.orders.retain(|(o, _)| &**o != order);
                }
            }
            Kind::Heartbeat | Kind::Activity => {}
        }
        let working = self.working();
        self.work.set(ts, working);
        self.with_orders.set(ts, !self.orders.is_empty());
        let carrying = self.orders.iter().any(|&(_, picked)| picked);
        self.carrying.set(ts, carrying);
    }
}

/// Every worker's [`Track`], by `worker_id`.
#[derive(Default)]
pub struct Tracks {
    inner: Mutex<HashMap<String, Track>>,
}

impl Tracks {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Track>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record(&self, bytes: &[u8]) {
        let Ok(event) = event::parse(bytes) else {
            return;
        };
        let mut tracks = self.lock();
        let track = tracks.entry(event.worker_id.to_string()).or_default();
        if track.platform.is_empty() {
            track.platform = event.platform.to_string();
            track.role = event.role.to_string();
        }
        track.apply(event.kind, event.ts, event.order_id.as_deref());
    }
}

/// The first event's `ts` of a simulation (plans one day; a few milliseconds).
pub fn first_ts(opts: &SimOptions) -> Option<i64> {
    let one_day = SimOptions {
        days: 1,
        ..opts.clone()
    };
    let mut first = None;
    let _ = generate(&one_day, &mut |line: SimLine<'_>| {
        first = Some(line.ts_ms);
        Err(std::io::Error::other("first line seen"))
    });
    first
}

/// What the feed thread needs.
pub struct Feed {
    pub opts: SimOptions,
    pub brokers: String,
    pub topic: String,
    pub clock: Clock,
    pub speed: f64,
    pub board: Arc<Board>,
    pub tracks: Arc<Tracks>,
    pub running: Arc<AtomicBool>,
}

/// Produces the stream, each line when the clock reaches its `ts`; returns when the stream
/// ends or `running` is cleared.
pub fn run(feed: Feed) -> anyhow::Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &feed.brokers)
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()?;
    let stopped = std::io::ErrorKind::Interrupted;
    let result = generate(&feed.opts, &mut |line: SimLine<'_>| {
        // Wait for the scaled clock to reach the event.
        loop {
            if !feed.running.load(Ordering::Relaxed) {
                return Err(stopped.into());
            }
            let ahead = line.ts_ms - feed.clock.now_ms();
            if ahead <= 0 {
                break;
            }
            let wall = Duration::from_secs_f64(ahead as f64 / 1000.0 / feed.speed);
            std::thread::sleep(wall.min(NAP));
        }
        let mut record = BaseRecord::<[u8], [u8]>::to(&feed.topic).payload(line.bytes);
        if !line.worker_id.is_empty() {
            record = record.key(line.worker_id.as_bytes());
        }
        send_waiting(&producer, record).map_err(std::io::Error::other)?;
        feed.tracks.record(line.bytes);
        feed.board.produced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    let _ = producer.flush(Duration::from_secs(5));
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == stopped => Ok(()),
        Err(error) => Err(anyhow::anyhow!(
            "cannot produce the simulated stream: {error}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_track_follows_work_and_breaks() {
        let mut track = Track::default();
        track.apply(Kind::Login, 10, None);
        track.apply(Kind::OrderAccepted, 20, Some("o1"));
        track.apply(Kind::BreakStart, 30, None);
        track.apply(Kind::OrderDelivered, 40, Some("o1"));
        track.apply(Kind::BreakEnd, 50, None);
        track.apply(Kind::Logout, 60, None);
        track.apply(Kind::Login, 70, None);
        track.apply(Kind::Logout, 70, None);
        // The order keeps the break at 30 working until its delivery at 40.
        assert_eq!(
            track.work.to_vec(),
            vec![(10, true), (40, false), (50, true), (60, false)]
        );
        assert_eq!(track.with_orders.to_vec(), vec![(20, true), (40, false)]);
        assert_eq!(track.carrying.to_vec(), vec![]);
        track.apply(Kind::OrderAccepted, 80, Some("o2"));
        track.apply(Kind::OrderPickedUp, 90, Some("o2"));
        track.apply(Kind::OrderDelivered, 95, Some("o2"));
        assert_eq!(track.carrying.to_vec(), vec![(90, true), (95, false)]);
    }
}
