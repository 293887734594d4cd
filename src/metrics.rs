//! STUB until the metrics work lands: the signatures the pipeline calls, doing nothing.
#![allow(unused_variables, missing_docs)]

#[derive(Default)]
pub struct Metrics;

impl Metrics {
    pub fn new() -> Metrics {
        Metrics
    }
    pub fn event_received(&self, topic: &str, kind: &str) {}
    pub fn bad_event(&self, topic: &str, reason: &str) {}
    pub fn duplicate_event(&self) {}
    pub fn late_event(&self) {}
    pub fn alert_emitted(&self, rule: &str, phase: &str, platform: &str) {}
    pub fn set_workers(&self, rows: &[(String, String, String, u64, u64)]) {}
    pub fn set_open_violations(&self, rows: &[(String, u64)]) {}
    pub fn episode_ended(&self, platform: &str, role: &str, city: &str, seconds: f64) {}
    pub fn day_closed(&self, platform: &str, role: &str, city: &str, seconds: f64) {}
    pub fn set_watermark_lag(&self, partition: i32, seconds: f64) {}
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, messages: i64) {}
    pub fn observe_batch(&self, seconds: f64) {}
    pub fn set_producer_queue(&self, messages: i64) {}
    pub fn delivery_error(&self, topic: &str) {}
    pub fn restore_progress(&self, partition: i32, records: u64) {}
    pub fn set_restoring(&self, partition: i32, restoring: bool) {}
    pub fn last_event(&self, platform: &str, unix_seconds: f64) {}
    pub fn set_ready(&self, ready: bool) {}
    pub fn set_partitions_assigned(&self, n: i64) {}
    pub fn forget_partition(&self, partition: i32) {}
    pub fn render(&self) -> String {
        String::new()
    }
}
