//! Evidence that the brokers leading the held partitions answer.
//!
//! A broker that hangs with its connections open (a frozen process or VM, a stalled disk)
//! gives librdkafka no error for seconds: its fetches simply go unanswered, and silence on a
//! partition looked like quiet input. Idle partitions moved event time on with the wall
//! clock through the hang, and what the platforms' producers held back meanwhile was late
//! once the broker answered again (audit AK: 20 of 20 logins sent during an 8 s hang,
//! `allowed_lateness` 3 s). A thread of its own asks each leader for a held partition's
//! offsets ([`PROBE_EVERY`]); the loop moves an idle partition's event time no further than
//! the last answered question less `allowed_lateness`, and takes the brokers for hung (the
//! idle clocks stand still, and start again when they answer) once nothing has been answered
//! for [`hang_after`].

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::kafka::Logging;
use crate::lock;

/// How often the leaders are asked.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// How often the partitions' leaders are looked up again (a leader moved), at most.
const LEADERS_EVERY: Duration = Duration::from_secs(10);

/// How long without an answer counts as a hang: `allowed_lateness`, clamped to 500 ms to 2 s.
/// No longer than the lateness: until the hang is known, event time moves on (bounded by the
/// last answer), and a hang shorter than the lateness cannot make late what producers send
/// during it. No shorter than 500 ms, so that a slow answer under load is not taken for one.
pub fn hang_after(allowed_lateness_ms: i64) -> Duration {
    Duration::from_millis(allowed_lateness_ms.clamp(500, 2_000) as u64)
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub struct Liveness {
    /// Wall-clock ms at which the last round of questions that every leader answered began
    /// (what producers sent before it had a broker to take it).
    alive_ms: AtomicI64,
    hang_after: Duration,
    /// Questions that went unanswered for `hang_after` so far: the loop restarts the idle
    /// clocks when this changed since it last looked, also where the hang was over by then
    /// (audit AN: a checkpoint waiting for acknowledgements held the loop through a 4 s hang,
    /// the loop never saw the brokers hung, and what producers held back was late).
    unanswered: AtomicU64,
    stop: AtomicBool,
    /// The partitions held, as the loop last set them ([`Liveness::hold`]): the thread does
    /// not take the loop's lock, which a long checkpoint holds.
    held: Mutex<Vec<i32>>,
}

impl Liveness {
    pub fn new(hang_after: Duration) -> Liveness {
        Liveness {
            // Taken as answered at the start: a hang from the start is known within
            // `hang_after`, and event time cannot pass the start less the lateness before.
            alive_ms: AtomicI64::new(wall_ms()),
            hang_after,
            unanswered: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
        }
    }

    /// The partitions held now, in order (the loop calls it every iteration; it writes only
    /// when they changed).
    pub fn hold(&self, partitions: impl ExactSizeIterator<Item = i32> + Clone) {
        let mut held = lock(&self.held);
        if !held.iter().copied().eq(partitions.clone()) {
            *held = partitions.collect();
        }
    }

    /// The wall-clock ms of the last evidence that the leaders answer.
    pub fn alive_ms(&self) -> i64 {
        self.alive_ms.load(Ordering::Acquire)
    }

    /// Whether nothing has been answered for [`hang_after`] at `now_ms`.
    pub fn hung(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.alive_ms()) > self.hang_after.as_millis() as i64
    }

    /// How many questions have gone unanswered for `hang_after` so far.
    pub fn unanswered(&self) -> u64 {
        self.unanswered.load(Ordering::Acquire)
    }

    fn record(&self, alive_ms: i64) {
        self.alive_ms.store(alive_ms, Ordering::Release);
    }
}

/// A question's addressee: the leader's broker id, or the partition itself while its leader
/// is unknown.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Addressee {
    Broker(i32),
    Partition(usize, i32),
}

/// Starts the thread that asks the leaders of the partitions held ([`Liveness::hold`], of
/// every topic in `topics`), until [`stop`] is called. It asks through a client of its own (`client`, no
/// group): the consumer's questions timing out during a hang changed its group's handling
/// (librdkafka then never said the group session had timed out, `tests/live`).
pub fn spawn(
    liveness: Arc<Liveness>,
    client: &ClientConfig,
    topics: Vec<String>,
) -> anyhow::Result<Receiver<()>> {
    let mut client = client.clone();
    for key in [
        "group.id",
        "group.instance.id",
        "group.protocol",
        "group.remote.assignor",
    ] {
        client.remove(key);
    }
    let consumer: BaseConsumer<Logging> = client.create_with_context(Logging::default())?;
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("broker-liveness".into())
        .spawn(move || {
            probe(&liveness, &consumer, &topics);
            drop(consumer);
            let _ = done.send(());
        })?;
    Ok(ended)
}

/// Ends the thread [`spawn`] started: waits for it (its client closed) at most a question's
/// timeout and a second, so that a hung broker cannot hold the exit.
pub fn stop(liveness: &Liveness, ended: Receiver<()>) {
    liveness.stop.store(true, Ordering::Release);
    if ended
        .recv_timeout(liveness.hang_after + Duration::from_secs(1))
        .is_err()
    {
        tracing::warn!("The broker liveness probe did not end in time: leaving without it.");
    }
}

fn probe<C: ConsumerContext>(liveness: &Liveness, consumer: &BaseConsumer<C>, topics: &[String]) {
    let timeout = liveness.hang_after;
    let mut leaders: HashMap<(usize, i32), i32> = HashMap::new();
    let mut looked_up: Option<Instant> = None;
    let mut answered: HashMap<Addressee, i64> = HashMap::new();
    while !liveness.stop.load(Ordering::Acquire) {
        let began = Instant::now();
        let round_ms = wall_ms();
        let held = lock(&liveness.held).clone();
        let unknown = held
            .iter()
            .any(|&p| (0..topics.len()).any(|t| !leaders.contains_key(&(t, p))));
        let due = looked_up.is_none_or(|at| {
            at.elapsed() >= LEADERS_EVERY || (unknown && at.elapsed() >= Duration::from_secs(1))
        });
        if !held.is_empty() && due {
            looked_up = Some(Instant::now());
            for (t, topic) in topics.iter().enumerate() {
                if let Ok(metadata) = consumer.fetch_metadata(Some(topic), timeout) {
                    for found in metadata.topics().iter().filter(|m| m.name() == topic) {
                        for partition in found.partitions() {
                            leaders.insert((t, partition.id()), partition.leader());
                        }
                    }
                }
            }
        }
        // One held partition per leader.
        let mut ask: BTreeMap<Addressee, (usize, i32)> = BTreeMap::new();
        for &p in &held {
            for t in 0..topics.len() {
                let to = match leaders.get(&(t, p)) {
                    Some(&leader) if leader >= 0 => Addressee::Broker(leader),
                    _ => Addressee::Partition(t, p),
                };
                ask.entry(to).or_insert((t, p));
            }
        }
        for (&to, &(t, p)) in &ask {
            if liveness.stop.load(Ordering::Acquire) {
                return;
            }
            let sent = wall_ms();
            if answers(consumer.fetch_watermarks(&topics[t], p, timeout)) {
                answered.insert(to, sent);
            } else {
                liveness.unanswered.fetch_add(1, Ordering::AcqRel);
            }
        }
        answered.retain(|to, _| ask.contains_key(to));
        // Nothing held: nothing moves on an idle clock, and nothing to ask.
        let alive = ask
            .keys()
            .map(|to| answered.get(to).copied().unwrap_or(i64::MIN))
            .min()
            .unwrap_or(round_ms);
        if alive > i64::MIN {
            liveness.record(alive.max(liveness.alive_ms()));
        }
        let spent = began.elapsed();
        if spent < PROBE_EVERY {
            std::thread::sleep(PROBE_EVERY - spent);
        }
    }
}

/// Whether a question was answered: offsets, or an error the broker sent (not authorised, not
/// the leader: it answers); librdkafka's own errors (negative codes: timed out, transport
/// failure, no leader known) are no answer. So a broker that refuses the question for good
/// does not hold event time still for good.
fn answers(outcome: KafkaResult<(i64, i64)>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(KafkaError::MetadataFetch(code)) => code as i32 > 0,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hang_is_known_after_the_lateness_clamped_to_half_a_second_to_two() {
        assert_eq!(hang_after(100), Duration::from_millis(500));
        assert_eq!(hang_after(1_500), Duration::from_millis(1_500));
        assert_eq!(hang_after(30_000), Duration::from_secs(2));
        let liveness = Liveness::new(Duration::from_secs(1));
        liveness.record(10_000);
        assert!(!liveness.hung(11_000));
        assert!(liveness.hung(11_001));
    }

    #[test]
    fn a_brokers_error_is_an_answer_and_librdkafkas_is_none() {
        use rdkafka::error::RDKafkaErrorCode as Code;
        assert!(answers(Ok((0, 5))));
        for answered in [Code::TopicAuthorizationFailed, Code::NotLeaderForPartition] {
            assert!(answers(Err(KafkaError::MetadataFetch(answered))));
        }
        for none in [
            Code::OperationTimedOut,
            Code::BrokerTransportFailure,
            Code::AllBrokersDown,
        ] {
            assert!(!answers(Err(KafkaError::MetadataFetch(none))));
        }
    }
}
