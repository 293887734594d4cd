//! Reading a partition's own queue in batches (issue 11).
//!
//! `PartitionQueue::poll` takes one message a call, and every call locks the queue, reads the
//! clock twice and records the poll in librdkafka's telemetry histogram: about a sixth of the
//! live pipeline's time in a profile (`perf record` of `bench/live.sh`). A [`BatchQueue`]
//! takes up to a batch of messages with one `rd_kafka_consume_batch_queue`, which does those
//! once a batch. It is a second handle on the queue a `PartitionQueue` split (which keeps its
//! callback and its forwarding switched off); the messages are the same, in the same order.

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::Arc;

/// What the pipeline reads of an input message, whichever way it was fetched.
pub trait Input {
    /// The topic's name.
    fn topic_name(&self) -> &str;
    fn offset(&self) -> i64;
    fn key(&self) -> Option<&[u8]>;
    fn payload(&self) -> Option<&[u8]>;
    /// The message's timestamp (create or log-append time), epoch ms, when it has one.
    fn sent(&self) -> Option<i64>;
}

impl Input for BorrowedMessage<'_> {
    fn topic_name(&self) -> &str {
        self.topic()
    }
    fn offset(&self) -> i64 {
        Message::offset(self)
    }
    fn key(&self) -> Option<&[u8]> {
        Message::key(self)
    }
    fn payload(&self) -> Option<&[u8]> {
        Message::payload(self)
    }
    fn sent(&self) -> Option<i64> {
        self.timestamp().to_millis()
    }
}

/// A handle on one partition's fetch queue, read in batches. It keeps the consumer alive, as
/// a `PartitionQueue` does: the handle must be released before the client is destroyed.
pub struct BatchQueue<C: ConsumerContext + 'static> {
    queue: NonNull<rdsys::rd_kafka_queue_t>,
    _consumer: Arc<BaseConsumer<C>>,
}

// SAFETY: librdkafka's queues are thread-safe (every operation takes the queue's lock), and
// the handle is only released in `Drop`.
unsafe impl<C: ConsumerContext> Send for BatchQueue<C> {}
unsafe impl<C: ConsumerContext> Sync for BatchQueue<C> {}

impl<C: ConsumerContext> BatchQueue<C> {
    /// A handle on `topic`'s `partition`'s queue; `None` when the partition is not known to
    /// the consumer (as `split_partition_queue`, which looks it up the same way).
    pub fn new(consumer: &Arc<BaseConsumer<C>>, topic: &str, partition: i32) -> Option<Self> {
        let topic = CString::new(topic).ok()?;
        // SAFETY: the client outlives the call; the handle returned is a reference of our own
        // on the partition's queue (reference-counted), released in `Drop`.
        let queue = unsafe {
            rdsys::rd_kafka_queue_get_partition(
                consumer.client().native_ptr(),
                topic.as_ptr(),
                partition,
            )
        };
        NonNull::new(queue).map(|queue| BatchQueue {
            queue,
            _consumer: consumer.clone(),
        })
    }

    /// Takes what the queue holds now, at most `max` messages, without waiting; appends them
    /// to `into` in the queue's order. Errors the queue carries come as messages too
    /// ([`Fetched::error`]).
    pub fn read(&self, max: usize, into: &mut Vec<Fetched>) {
        into.reserve(max);
        let start = into.len();
        // Written in place: a `Fetched` is a message pointer (`repr(transparent)`).
        let raw = into
            .spare_capacity_mut()
            .as_mut_ptr()
            .cast::<*mut rdsys::rd_kafka_message_t>();
        // SAFETY: `into` has room for `max` pointers past its length; librdkafka writes at
        // most that many and returns how many (or -1 on an error, when it wrote none).
        let count =
            unsafe { rdsys::rd_kafka_consume_batch_queue(self.queue.as_ptr(), 0, raw, max) };
        let count = usize::try_from(count).unwrap_or(0).min(max);
        let mut kept = 0;
        for i in 0..count {
            // SAFETY: the first `count` entries were written, each a message we now own (or
            // null, skipped); an entry is moved down to `kept` <= `i`, over one already read.
            unsafe {
                let message = raw.add(i).read();
                if !message.is_null() {
                    raw.add(kept).write(message);
                    kept += 1;
                }
            }
        }
        // SAFETY: entries `start..start + kept` now hold messages, none null.
        unsafe { into.set_len(start + kept) };
    }
}

impl<C: ConsumerContext> Drop for BatchQueue<C> {
    fn drop(&mut self) {
        // SAFETY: our own handle, released once; the consumer (`_consumer`) is still alive.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue.as_ptr()) }
    }
}

/// A message taken by [`BatchQueue::read`], destroyed when dropped.
#[repr(transparent)]
pub struct Fetched(NonNull<rdsys::rd_kafka_message_t>);

// SAFETY: a message is owned by whoever holds it; librdkafka lets any thread destroy it.
unsafe impl Send for Fetched {}

impl Fetched {
    fn raw(&self) -> &rdsys::rd_kafka_message_t {
        // SAFETY: valid until dropped.
        unsafe { self.0.as_ref() }
    }

    /// The error this entry stands for instead of a message (end of partition, a fetch
    /// error), if it does.
    pub fn error(&self) -> Option<RDKafkaErrorCode> {
        let err = self.raw().err;
        (err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then(|| RDKafkaErrorCode::from(err))
    }
}

/// A slice of `len` bytes at `data`, `None` for a null pointer.
///
/// # Safety
/// `data`, when not null, points to `len` bytes valid for `'a`.
unsafe fn bytes<'a>(data: *const std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    if data.is_null() {
        None
    } else if len == 0 {
        Some(&[])
    } else {
        // SAFETY: as the caller promises.
        Some(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
    }
}

impl Input for Fetched {
    fn topic_name(&self) -> &str {
        let rkt = self.raw().rkt;
        if rkt.is_null() {
            return "";
        }
        // SAFETY: the message holds a reference on its topic, whose name is a C string.
        unsafe { CStr::from_ptr(rdsys::rd_kafka_topic_name(rkt)) }
            .to_str()
            .unwrap_or("")
    }
    fn offset(&self) -> i64 {
        self.raw().offset
    }
    fn key(&self) -> Option<&[u8]> {
        let raw = self.raw();
        // SAFETY: librdkafka's key and its length, valid while the message lives.
        unsafe { bytes(raw.key, raw.key_len) }
    }
    fn payload(&self) -> Option<&[u8]> {
        let raw = self.raw();
        // SAFETY: librdkafka's payload and its length, valid while the message lives.
        unsafe { bytes(raw.payload, raw.len) }
    }
    fn sent(&self) -> Option<i64> {
        let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: a valid message and a place for the type.
        let ts = unsafe { rdsys::rd_kafka_message_timestamp(self.0.as_ptr(), &mut kind) };
        match kind {
            _ if ts == -1 => None,
            rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE => None,
            _ => Some(ts),
        }
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        // SAFETY: our own message, destroyed once.
        unsafe { rdsys::rd_kafka_message_destroy(self.0.as_ptr()) }
    }
}
