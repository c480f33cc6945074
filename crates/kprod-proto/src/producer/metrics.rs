//! Producer metrics under Java's names (`record-send-rate`, `batch-size-avg`, `request-latency-max`, ...), kept
//! in atomics updated per batch or per request — never per record on the append path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// Running sums; `snapshot()` turns them into Java-named values.
///
/// ```
/// use kprod_proto::producer::metrics::ProducerMetrics;
///
/// let m = ProducerMetrics::default();
/// m.record_batch(1_000, 4_000, 250);
/// m.record_batch(3_000, 9_000, 750);
/// let snapshot = m.snapshot(32 << 20);
/// assert_eq!(snapshot["batch-size-avg"], 2_000.0);
/// ```
#[derive(Debug)]
pub struct ProducerMetrics {
    started: Instant,
    /// Records acknowledged.
    pub records_sent: AtomicU64,
    /// Records that failed.
    pub records_failed: AtomicU64,
    /// Records resent after a retriable error.
    pub records_retried: AtomicU64,
    /// Batches drained into requests.
    pub batches: AtomicU64,
    /// Sum of batch sizes on the wire, in bytes.
    pub batch_bytes_sum: AtomicU64,
    /// Largest batch on the wire, in bytes.
    pub batch_bytes_max: AtomicU64,
    /// Sum of batch sizes before compression, in bytes.
    pub uncompressed_bytes_sum: AtomicU64,
    /// Produce requests sent.
    pub requests: AtomicU64,
    /// Records over all produce requests.
    pub request_records_sum: AtomicU64,
    /// Sum of queue times (append to drain), in µs.
    pub queue_time_us_sum: AtomicU64,
    /// Largest queue time, in µs.
    pub queue_time_us_max: AtomicU64,
    /// Batches counted in the queue-time sum.
    pub queue_time_count: AtomicU64,
    /// Sum of request latencies (sent to answered), in µs.
    pub request_latency_us_sum: AtomicU64,
    /// Largest request latency, in µs.
    pub request_latency_us_max: AtomicU64,
    /// Requests counted in the latency sum.
    pub request_latency_count: AtomicU64,
    /// Produce requests sent and not answered yet.
    pub requests_in_flight: AtomicI64,
    /// Time spent waiting for `buffer.memory`, in ns.
    pub bufferpool_wait_ns: AtomicU64,
}

impl Default for ProducerMetrics {
    fn default() -> Self {
        ProducerMetrics {
            started: Instant::now(),
            records_sent: AtomicU64::new(0),
            records_failed: AtomicU64::new(0),
            records_retried: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            batch_bytes_sum: AtomicU64::new(0),
            batch_bytes_max: AtomicU64::new(0),
            uncompressed_bytes_sum: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            request_records_sum: AtomicU64::new(0),
            queue_time_us_sum: AtomicU64::new(0),
            queue_time_us_max: AtomicU64::new(0),
            queue_time_count: AtomicU64::new(0),
            request_latency_us_sum: AtomicU64::new(0),
            request_latency_us_max: AtomicU64::new(0),
            request_latency_count: AtomicU64::new(0),
            requests_in_flight: AtomicI64::new(0),
            bufferpool_wait_ns: AtomicU64::new(0),
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl ProducerMetrics {
    /// Counts one drained batch: its wire and uncompressed sizes and its queue time in µs.
    pub fn record_batch(&self, wire_bytes: usize, uncompressed_bytes: usize, queue_time_us: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_bytes_sum.fetch_add(wire_bytes as u64, Ordering::Relaxed);
        self.batch_bytes_max.fetch_max(wire_bytes as u64, Ordering::Relaxed);
        self.uncompressed_bytes_sum.fetch_add(uncompressed_bytes as u64, Ordering::Relaxed);
        self.queue_time_us_sum.fetch_add(queue_time_us, Ordering::Relaxed);
        self.queue_time_us_max.fetch_max(queue_time_us, Ordering::Relaxed);
        self.queue_time_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one produce request of `records` records.
    pub fn record_request(&self, records: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.request_records_sum.fetch_add(records as u64, Ordering::Relaxed);
    }

    /// Counts one request latency, in µs.
    pub fn record_latency(&self, us: u64) {
        self.request_latency_us_sum.fetch_add(us, Ordering::Relaxed);
        self.request_latency_us_max.fetch_max(us, Ordering::Relaxed);
        self.request_latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// The metrics with Java's names. Rates are per second since the producer started; times are in ms as in Java.
    pub fn snapshot(&self, buffer_available_bytes: u64) -> BTreeMap<&'static str, f64> {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut m = BTreeMap::new();
        m.insert("record-send-rate", g(&self.records_sent) as f64 / secs);
        m.insert("record-send-total", g(&self.records_sent) as f64);
        m.insert("record-error-rate", g(&self.records_failed) as f64 / secs);
        m.insert("record-error-total", g(&self.records_failed) as f64);
        m.insert("record-retry-rate", g(&self.records_retried) as f64 / secs);
        m.insert("record-retry-total", g(&self.records_retried) as f64);
        m.insert("batch-size-avg", ratio(g(&self.batch_bytes_sum), g(&self.batches)));
        m.insert("batch-size-max", g(&self.batch_bytes_max) as f64);
        m.insert("records-per-request-avg", ratio(g(&self.request_records_sum), g(&self.requests)));
        m.insert("compression-rate-avg", ratio(g(&self.batch_bytes_sum), g(&self.uncompressed_bytes_sum)));
        m.insert("record-queue-time-avg", ratio(g(&self.queue_time_us_sum), g(&self.queue_time_count)) / 1000.0);
        m.insert("record-queue-time-max", g(&self.queue_time_us_max) as f64 / 1000.0);
        m.insert(
            "request-latency-avg",
            ratio(g(&self.request_latency_us_sum), g(&self.request_latency_count)) / 1000.0,
        );
        m.insert("request-latency-max", g(&self.request_latency_us_max) as f64 / 1000.0);
        m.insert("requests-in-flight", self.requests_in_flight.load(Ordering::Relaxed) as f64);
        m.insert("buffer-available-bytes", buffer_available_bytes as f64);
        m.insert("bufferpool-wait-time-ns-total", g(&self.bufferpool_wait_ns) as f64);
        m.insert("bufferpool-wait-ratio", g(&self.bufferpool_wait_ns) as f64 / 1e9 / secs);
        m.insert("request-total", g(&self.requests) as f64);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_names_and_averages() {
        let m = ProducerMetrics::default();
        m.record_batch(100, 200, 1000);
        m.record_batch(300, 400, 3000);
        m.record_request(10);
        m.record_request(30);
        let s = m.snapshot(5);
        assert_eq!(s["batch-size-avg"], 200.0);
        assert_eq!(s["batch-size-max"], 300.0);
        assert_eq!(s["records-per-request-avg"], 20.0);
        assert!((s["compression-rate-avg"] - 400.0 / 600.0).abs() < 1e-9);
        assert_eq!(s["record-queue-time-avg"], 2.0);
        assert_eq!(s["record-queue-time-max"], 3.0);
        assert_eq!(s["buffer-available-bytes"], 5.0);
    }
}
