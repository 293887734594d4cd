//! What HTTP reads of the live state, without ever waiting on the pipeline: the loop
//! publishes a summary snapshot ([`tokio::sync::watch`]) and answers worker look-ups handed
//! to it over a bounded channel, at most one poll (100 ms) later. A handler never takes a lock
//! the loop holds, so a stuck broker or a long restore delays `/v1/workers/{id}` answers (which
//! time out cleanly) and nothing else.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

use crate::engine::Engine;

/// Worker look-ups waiting for the loop; more are refused at once (503).
const QUERY_QUEUE: usize = 64;

/// One `/v1/workers/{id}` look-up, answered by the loop.
pub struct WorkerQuery {
    pub id: String,
    pub reply: oneshot::Sender<Option<Value>>,
}

/// The loop's side and the handlers' side of the views.
pub struct Views {
    summary: watch::Sender<Arc<Value>>,
    queries: mpsc::Sender<WorkerQuery>,
    /// Taken by the loop when it starts.
    inbox: Mutex<Option<mpsc::Receiver<WorkerQuery>>>,
}

impl Default for Views {
    fn default() -> Self {
        let (summary, _) = watch::channel(Arc::new(empty_summary()));
        let (queries, inbox) = mpsc::channel(QUERY_QUEUE);
        Views {
            summary,
            queries,
            inbox: Mutex::new(Some(inbox)),
        }
    }
}

fn empty_summary() -> Value {
    json!({"partitions": 0, "platforms": {}, "cities": {}})
}

impl Views {
    /// The latest summary the loop published.
    pub fn summary(&self) -> Arc<Value> {
        self.summary.borrow().clone()
    }

    /// Hands a look-up to the loop; `None` when its queue is full or it is gone.
    pub fn ask(&self, id: &str) -> Option<oneshot::Receiver<Option<Value>>> {
        let (reply, answer) = oneshot::channel();
        self.queries
            .try_send(WorkerQuery {
                id: id.to_owned(),
                reply,
            })
            .ok()?;
        Some(answer)
    }

    /// The loop's end of the look-ups (once).
    pub fn take_inbox(&self) -> Option<mpsc::Receiver<WorkerQuery>> {
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Publishes the summary of `engines`.
    pub fn publish(&self, engines: &[&Engine]) {
        let _ = self.summary.send_replace(Arc::new(summary_of(engines)));
    }
}

/// Answers every look-up waiting in `inbox` from `engines`.
pub fn answer(inbox: &mut mpsc::Receiver<WorkerQuery>, engines: &mut [&mut Engine]) {
    while let Ok(query) = inbox.try_recv() {
        let view = engines
            .iter_mut()
            .find_map(|engine| engine.worker_view(&query.id));
        // The handler may have timed out and gone: nothing to do then.
        let _ = query.reply.send(view);
    }
}

/// Workers online and working by platform and by city, over every partition held.
fn summary_of(engines: &[&Engine]) -> Value {
    let mut platforms: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut cities: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for engine in engines {
        for ((platform, _role, city), (online, working)) in engine.group_counts() {
            let entry = platforms.entry(platform).or_default();
            entry.0 += online;
            entry.1 += working;
            let entry = cities.entry(city).or_default();
            entry.0 += online;
            entry.1 += working;
        }
    }
    let table = |rows: BTreeMap<String, (u64, u64)>| -> serde_json::Map<String, Value> {
        rows.into_iter()
            .map(|(name, (online, working))| (name, json!({"online": online, "working": working})))
            .collect()
    };
    json!({
        "partitions": engines.len(),
        "platforms": table(platforms),
        "cities": table(cities),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::event;

    #[test]
    fn lookups_are_answered_by_the_loop_and_refused_when_the_queue_is_full() {
        let views = Views::default();
        let mut inbox = views.take_inbox().unwrap();
        assert!(views.take_inbox().is_none());
        let mut engine = Engine::live(Config::default());
        let line = br#"{"worker_id":"w1","kind":"login","ts":"2026-03-02T08:00:00+08:00","platform":"meituan","city":"371000"}"#;
        engine.push_live(&event::parse(line).unwrap(), 0, 0, i64::MAX);
        engine.advance_to(crate::timefmt::parse_rfc3339("2026-03-02T09:00:00+08:00").unwrap());

        let mut known = views.ask("w1").unwrap();
        let mut unknown = views.ask("nobody").unwrap();
        answer(&mut inbox, &mut [&mut engine]);
        assert_eq!(known.try_recv().unwrap().unwrap()["worker_id"], "w1");
        assert_eq!(unknown.try_recv().unwrap(), None);

        let waiting: Vec<_> = (0..QUERY_QUEUE).map(|_| views.ask("w1").unwrap()).collect();
        assert!(views.ask("w1").is_none(), "a full queue refuses at once");
        drop(waiting);

        assert_eq!(views.summary()["partitions"], 0);
        views.publish(&[&engine]);
        let summary = views.summary();
        assert_eq!(summary["partitions"], 1);
        assert_eq!(summary["platforms"]["meituan"]["working"], 1);
        assert_eq!(summary["cities"]["371000"]["online"], 1);
    }
}
