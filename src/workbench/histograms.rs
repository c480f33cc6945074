//! HDR histograms of every measured quantity, per task, merged — percentiles are never averaged.
//!
//! Latencies are in microseconds with 3 significant digits, up to one hour; values above the range are clamped
//! to it (and counted, so a report can say so). Each task records into its own [`Recorder`]; once a second the
//! runner drains the task recorders into an interval snapshot (written to an HdrHistogram interval log, one file
//! per metric) and adds it to the cumulative recorder — unless the warm-up is still running, in which case the
//! snapshot goes only to the interval log and is discarded from the totals.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

/// Highest trackable latency: one hour in microseconds.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;
/// Highest trackable size (bytes or records): 1 GiB.
pub const SIZE_MAX: u64 = 1 << 30;
const SIGFIG: u8 = 3;

/// The measured quantities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Intended send time → ack. The primary latency, free of coordinated omission.
    ResponseTime,
    /// `send` call → ack.
    ServiceTime,
    /// Intended send time → `send` call.
    ScheduleLag,
    /// Record appended → its batch drained (from producer hooks).
    QueueTime,
    /// Produce request sent → response (from producer hooks).
    RequestLatency,
    BatchBytes,
    BatchRecords,
    RecordsPerRequest,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::ResponseTime,
        Metric::ServiceTime,
        Metric::ScheduleLag,
        Metric::QueueTime,
        Metric::RequestLatency,
        Metric::BatchBytes,
        Metric::BatchRecords,
        Metric::RecordsPerRequest,
    ];

    /// Name with unit, used for files and JSON keys (`response_time_us`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::ResponseTime => "response_time_us",
            Metric::ServiceTime => "service_time_us",
            Metric::ScheduleLag => "schedule_lag_us",
            Metric::QueueTime => "queue_time_us",
            Metric::RequestLatency => "request_latency_us",
            Metric::BatchBytes => "batch_bytes",
            Metric::BatchRecords => "batch_records",
            Metric::RecordsPerRequest => "records_per_request",
        }
    }

    /// The metric whose file or key is `name` (`response_time_us`).
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    fn max(self) -> u64 {
        match self {
            Metric::BatchBytes | Metric::BatchRecords | Metric::RecordsPerRequest => SIZE_MAX,
            _ => LATENCY_US_MAX,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A histogram that cannot be added to a metric's: its bounds do not fit (another tool's, or a corrupt one).
#[derive(Debug, thiserror::Error)]
#[error("{metric}: {source:?}")]
pub struct HistogramAddError {
    /// The metric's name (`response_time_us`, ...).
    pub metric: &'static str,
    /// hdrhistogram's reason.
    pub source: hdrhistogram::errors::AdditionError,
}

/// A new empty histogram for `metric`.
pub fn new_histogram(metric: Metric) -> Histogram<u64> {
    // Bounds are constants known to be valid, so this cannot fail.
    Histogram::new_with_bounds(1, metric.max(), SIGFIG).expect("valid histogram bounds")
}

/// One metric's histogram and its clamp count: what a hot path records into when a whole [`Recorder`] (every
/// metric, about 1.7 MB) is more than it needs.
#[derive(Debug, Clone)]
pub struct OneMetric {
    hist: Histogram<u64>,
    clamped: u64,
}

impl OneMetric {
    /// An empty histogram with `metric`'s bounds.
    pub fn new(metric: Metric) -> OneMetric {
        OneMetric { hist: new_histogram(metric), clamped: 0 }
    }

    #[inline]
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    #[inline]
    pub fn record_n(&mut self, value: u64, count: u64) {
        if count == 0 {
            return;
        }
        if value > self.hist.high() {
            self.clamped += count;
        }
        self.hist.saturating_record_n(value, count);
    }

    /// Adds what was recorded to `into` under each of `metrics` (the same values count for each; they must share
    /// this histogram's bounds) and empties itself.
    pub fn drain_into(&mut self, into: &mut Recorder, metrics: &[Metric]) {
        if self.hist.is_empty() {
            return;
        }
        for m in metrics {
            // Same bounds on both sides, so adding cannot fail.
            let _ = into.hists[m.index()].add(&self.hist);
            into.clamped += self.clamped;
        }
        self.hist.reset();
        self.clamped = 0;
    }
}

/// One set of histograms plus compression sums. Cheap to record into; merge with [`Recorder::add`].
#[derive(Debug, Clone)]
pub struct Recorder {
    hists: Vec<Histogram<u64>>,
    /// Values above a histogram's range, clamped to its maximum.
    pub clamped: u64,
    pub uncompressed_bytes_sum: u64,
    pub compressed_bytes_sum: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            hists: Metric::ALL.iter().map(|m| new_histogram(*m)).collect(),
            clamped: 0,
            uncompressed_bytes_sum: 0,
            compressed_bytes_sum: 0,
        }
    }

    /// Records one value (µs for latencies, bytes or counts for sizes).
    pub fn record(&mut self, metric: Metric, value: u64) {
        self.record_n(metric, value, 1);
    }

    /// Records one value `count` times (what `count` calls of [`record`](Self::record) would record).
    #[inline]
    pub fn record_n(&mut self, metric: Metric, value: u64, count: u64) {
        let h = &mut self.hists[metric.index()];
        if value > h.high() {
            self.clamped += count;
        }
        h.saturating_record_n(value, count);
    }

    /// Records a duration in microseconds.
    pub fn record_duration(&mut self, metric: Metric, d: Duration) {
        self.record(metric, d.as_micros().min(u64::MAX as u128) as u64);
    }

    /// Adds one compressed batch's sizes (compression ratio = uncompressed / compressed sums).
    pub fn record_compression(&mut self, uncompressed_bytes: u64, compressed_bytes: u64) {
        self.uncompressed_bytes_sum += uncompressed_bytes;
        self.compressed_bytes_sum += compressed_bytes;
    }

    pub fn get(&self, metric: Metric) -> &Histogram<u64> {
        &self.hists[metric.index()]
    }

    /// Merges `other` into `self`.
    pub fn add(&mut self, other: &Recorder) {
        for (a, b) in self.hists.iter_mut().zip(&other.hists) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = a.add(b);
        }
        self.clamped += other.clamped;
        self.uncompressed_bytes_sum += other.uncompressed_bytes_sum;
        self.compressed_bytes_sum += other.compressed_bytes_sum;
    }

    /// Adds a histogram read back from a result or an interval log (`kprod merge`). Fails when its bounds do not
    /// fit this metric's (a histogram from another tool, or a corrupt one).
    pub fn add_histogram(&mut self, metric: Metric, h: &Histogram<u64>) -> Result<(), HistogramAddError> {
        self.hists[metric.index()].add(h).map_err(|source| HistogramAddError { metric: metric.name(), source })
    }

    /// Discards everything recorded (warm-up end, interval rollover).
    pub fn reset(&mut self) {
        for h in &mut self.hists {
            h.reset();
        }
        self.clamped = 0;
        self.uncompressed_bytes_sum = 0;
        self.compressed_bytes_sum = 0;
    }

    /// Moves everything into `into` and leaves `self` empty.
    pub fn drain_into(&mut self, into: &mut Recorder) {
        into.add(self);
        self.reset();
    }

    /// Uncompressed / compressed bytes; `None` when no batch reported sizes.
    pub fn compression_ratio(&self) -> Option<f64> {
        (self.compressed_bytes_sum > 0).then(|| self.uncompressed_bytes_sum as f64 / self.compressed_bytes_sum as f64)
    }
}

/// Per-metric interval logs built in memory (each line a deflated V2 histogram), written out at the end.
pub struct IntervalLogs {
    logs: Vec<Vec<u8>>,
    serializer: V2DeflateSerializer,
}

impl std::fmt::Debug for IntervalLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntervalLogs").field("bytes", &self.logs.iter().map(Vec::len).sum::<usize>()).finish()
    }
}

impl IntervalLogs {
    /// `start_time` is the wall-clock start (seconds since the epoch), written as the log's StartTime.
    pub fn new(start_time: std::time::SystemTime) -> IntervalLogs {
        let mut serializer = V2DeflateSerializer::new();
        let logs = Metric::ALL
            .iter()
            .map(|m| {
                let mut buf = Vec::new();
                let header = IntervalLogWriterBuilder::new()
                    .add_comment(&format!("kprod interval log: {}", m.name()))
                    .with_start_time(start_time)
                    .begin_log_with(&mut buf, &mut serializer)
                    .map(|_| ());
                debug_assert!(header.is_ok());
                buf
            })
            .collect();
        IntervalLogs { logs, serializer }
    }

    /// Appends one interval for every metric that recorded something. `start` is the offset from the log start.
    pub fn append(&mut self, interval: &Recorder, start: Duration, duration: Duration, tag: Option<&str>) {
        for m in Metric::ALL {
            let h = interval.get(m);
            if h.is_empty() {
                continue;
            }
            let buf = &mut self.logs[m.index()];
            let mut w = match IntervalLogWriterBuilder::new().begin_log_with(buf, &mut self.serializer) {
                Ok(w) => w,
                Err(_) => continue,
            };
            // Writing to a Vec cannot fail; serializing a valid histogram cannot either.
            let _ = w.write_histogram(h, start, duration, tag.and_then(Tag::new));
        }
    }

    /// Writes `<metric>.hlog` files into `dir`.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for m in Metric::ALL {
            let mut f = std::fs::File::create(dir.join(format!("{}.hlog", m.name())))?;
            f.write_all(&self.logs[m.index()])?;
        }
        Ok(())
    }

    pub fn log(&self, metric: Metric) -> &[u8] {
        &self.logs[metric.index()]
    }
}

/// Serializes a histogram as V2 + deflate bytes (the HdrHistogram interchange format).
pub fn serialize(h: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    // Serializing into a Vec does not fail for a valid histogram.
    let _ = V2DeflateSerializer::new().serialize(h, &mut out);
    out
}

/// Reads V2 (plain or deflated) histogram bytes.
pub fn deserialize(bytes: &[u8]) -> Result<Histogram<u64>, HistogramDecodeError> {
    hdrhistogram::serialization::Deserializer::new().deserialize(&mut &bytes[..]).map_err(HistogramDecodeError)
}

/// Bytes that are not a V2 histogram (shown as hdrhistogram's reason, e.g. `InvalidCookie`).
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
pub struct HistogramDecodeError(#[source] pub hdrhistogram::serialization::DeserializeError);

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn merge_keeps_percentiles_exact_not_averaged() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for _ in 0..99 {
            a.record(Metric::ResponseTime, 100);
        }
        b.record(Metric::ResponseTime, 10_000);
        let mut total = Recorder::new();
        total.add(&a);
        total.add(&b);
        let h = total.get(Metric::ResponseTime);
        assert_eq!(h.len(), 100);
        assert_eq!(h.value_at_quantile(0.99), 100);
        assert_eq!(h.max(), h.highest_equivalent(10_000));
        // Averaging the two p99.9s would give ~5000; the merged p99.9 is the true 10 ms.
        assert!(h.value_at_quantile(0.999) >= 9_990);
    }

    #[test]
    fn clamps_out_of_range_and_counts_it() {
        let mut r = Recorder::new();
        r.record(Metric::ServiceTime, LATENCY_US_MAX * 10);
        assert_eq!(r.clamped, 1);
        assert_eq!(r.get(Metric::ServiceTime).len(), 1);
        r.record_compression(1000, 250);
        assert_eq!(r.compression_ratio(), Some(4.0));
        r.reset();
        assert!(r.get(Metric::ServiceTime).is_empty() && r.compression_ratio().is_none() && r.clamped == 0);
    }

    #[test]
    fn warmup_discard_by_drain_and_reset() {
        let mut task = Recorder::new();
        let mut total = Recorder::new();
        task.record(Metric::ResponseTime, 50_000); // during warm-up
        let mut interval = Recorder::new();
        task.drain_into(&mut interval);
        interval.reset(); // warm-up interval: not added to the total
        task.record(Metric::ResponseTime, 10);
        task.drain_into(&mut total);
        assert_eq!(total.get(Metric::ResponseTime).len(), 1);
        assert_eq!(total.get(Metric::ResponseTime).max(), 10);
        assert!(task.get(Metric::ResponseTime).is_empty());
    }

    #[test]
    fn interval_log_round_trips() {
        let mut logs = IntervalLogs::new(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let mut r = Recorder::new();
        for v in [10, 20, 30] {
            r.record(Metric::ResponseTime, v);
        }
        logs.append(&r, Duration::from_secs(0), Duration::from_secs(1), None);
        r.record(Metric::ResponseTime, 40);
        logs.append(&r, Duration::from_secs(1), Duration::from_secs(1), Some("t"));
        let mut counts = Vec::new();
        for entry in IntervalLogIterator::new(logs.log(Metric::ResponseTime)) {
            if let Ok(LogEntry::Interval(h)) = entry {
                let bytes = base64_decode(h.encoded_histogram());
                counts.push(deserialize(&bytes).unwrap().len());
            }
        }
        assert_eq!(counts, [3, 4]);
        let batch_intervals = IntervalLogIterator::new(logs.log(Metric::BatchBytes))
            .filter(|e| matches!(e, Ok(LogEntry::Interval(_))))
            .count();
        assert_eq!(batch_intervals, 0, "nothing recorded, no interval lines");
        let dir = std::env::temp_dir().join(format!("kprod-hlog-{}", std::process::id()));
        logs.write_to(&dir).unwrap();
        assert!(dir.join("response_time_us.hlog").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        crate::workbench::result::base64_decode(s).unwrap()
    }

    #[test]
    fn serialize_round_trip() {
        let mut h = new_histogram(Metric::BatchBytes);
        h.record(16_384).unwrap();
        h.record(1).unwrap();
        let back = deserialize(&serialize(&h)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.max(), h.max());
    }
}
