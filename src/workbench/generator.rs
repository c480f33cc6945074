//! Record generation, sans-IO and deterministic from the seed: sizes, payloads, keys, headers, send schedule.
//!
//! Generating a record does not allocate: payloads are [`Bytes`] slices of one pre-generated buffer
//! ([`PayloadPool`]), keys are slices of pre-formatted key buffers (or of an arena filled a chunk at a time for
//! unbounded key spaces), and header sets are pre-built and lent by reference.
//!
//! How payload bytes are made decides compressibility: `random` does not compress, `text` compresses like log
//! lines, `repeated` compresses almost entirely, and `compressibility: c` makes a fraction `c` of every 128-byte
//! segment a zero filler and the rest random (OMB's `randomBytesRatio` = `1 - c`).

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal, WeightedIndex, Zipf};

use super::workload::{Arrival, HeaderSpec, KeySpec, PayloadSpec, RateControl, RateRamp, ResolvedWorkload, SizeDist};

/// Errors building a generator; each names the setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeneratorError {
    #[error("payload file {path}: {source}")]
    PayloadFile { path: String, source: std::io::Error },
    #[error("payload file {0} is empty")]
    EmptyFile(String),
    #[error("record_size: {0}")]
    Size(String),
    #[error("keys: {0}")]
    Keys(String),
}

/// Smallest payload pool: large enough that slices at random offsets do not repeat in a short window.
const POOL_BYTES_MIN: usize = 4 << 20;
/// Key spaces up to this size are pre-formatted once; larger ones are formatted into an arena.
const KEYS_PREFORMATTED_MAX: u64 = 1 << 20;
/// Keys are `k` + 10 decimal digits: fixed width so the key size does not drift with the key index.
const KEY_LEN: usize = 11;
const KEY_ARENA_BYTES: usize = 64 * 1024;
/// Distinct header sets handed out round robin.
const HEADER_SETS: usize = 16;

/// Samples record sizes, clamped to `0..=max`.
#[derive(Debug, Clone)]
pub enum SizeSampler {
    Fixed(u32),
    Uniform(u32, u32),
    Normal(Normal<f64>, u32),
    LogNormal(LogNormal<f64>, u32),
    Histogram(Vec<u32>, WeightedIndex<f64>),
}

impl SizeSampler {
    pub fn new(dist: &SizeDist, max: u32) -> Result<SizeSampler, GeneratorError> {
        let e = |m: String| GeneratorError::Size(m);
        Ok(match dist {
            SizeDist::Fixed(s) => SizeSampler::Fixed(*s),
            SizeDist::Uniform { min, max } => SizeSampler::Uniform(*min, *max),
            SizeDist::Normal { mean, stddev } => {
                SizeSampler::Normal(Normal::new(*mean, *stddev).map_err(|x| e(x.to_string()))?, max)
            }
            SizeDist::Lognormal { mu, sigma } => {
                SizeSampler::LogNormal(LogNormal::new(*mu, *sigma).map_err(|x| e(x.to_string()))?, max)
            }
            SizeDist::Histogram(h) => SizeSampler::Histogram(
                h.iter().map(|(s, _)| *s).collect(),
                WeightedIndex::new(h.iter().map(|(_, w)| *w)).map_err(|x| e(x.to_string()))?,
            ),
        })
    }

    #[inline]
    pub fn sample(&self, rng: &mut SmallRng) -> u32 {
        match self {
            SizeSampler::Fixed(s) => *s,
            SizeSampler::Uniform(a, b) => rng.gen_range(*a..=*b),
            SizeSampler::Normal(d, max) => d.sample(rng).round().clamp(0.0, *max as f64) as u32,
            SizeSampler::LogNormal(d, max) => d.sample(rng).round().clamp(0.0, *max as f64) as u32,
            SizeSampler::Histogram(sizes, w) => sizes[w.sample(rng)],
        }
    }
}

const WORDS: &[&str] = &[
    "the",
    "request",
    "user",
    "id",
    "status",
    "ok",
    "error",
    "timeout",
    "GET",
    "POST",
    "/api/v1/orders",
    "200",
    "404",
    "500",
    "latency",
    "ms",
    "session",
    "token",
    "INFO",
    "WARN",
    "DEBUG",
    "service",
    "checkout",
    "cart",
    "payment",
    "accepted",
    "retry",
    "queue",
    "partition",
    "offset",
    "region",
    "eu-west-1",
    "us-east-1",
    "true",
    "false",
    "null",
    "count",
    "total",
    "amount",
    "currency",
    "EUR",
    "USD",
    "item",
    "sku",
    "price",
    "customer",
];

/// One big pre-generated buffer; records take slices of it.
#[derive(Debug, Clone)]
pub struct PayloadPool {
    buf: Bytes,
    /// The same bytes when the pool is interned: values are then made with `Bytes::from_static`, without the
    /// indirect clone call that slicing a `Bytes` makes.
    fixed: Option<&'static [u8]>,
}

/// A generated pool's identity: the payload spec (as `Debug` text), its length and its seed.
type PoolKey = (String, usize, u64);

/// Generated pools kept for the life of the process, by [`PoolKey`], and their total size in bytes.
struct Interned {
    pools: Vec<(PoolKey, &'static [u8])>,
    bytes: usize,
}

static INTERNED: std::sync::Mutex<Interned> = std::sync::Mutex::new(Interned { pools: Vec::new(), bytes: 0 });
/// Beyond this many interned bytes, pools are reference counted (and freed with their point) instead.
const INTERNED_MAX_BYTES: usize = 256 << 20;

impl PayloadPool {
    /// Builds a pool able to serve records of up to `record_max` bytes.
    ///
    /// A generated pool is built once per process for each (payload, length, seed) and kept (`'static`), so the
    /// values sliced from it are [`Bytes::from_static`] slices, whose clone and drop do nothing: slices of a
    /// reference-counted buffer cost two atomic operations per record, 2 % of `kprod run`'s CPU per 100-byte
    /// record (`perf record`, issue 16). A sweep therefore holds one pool per distinct payload (4 MiB each for
    /// records up to 2 MiB); past 256 MiB interned, and for `file` payloads (the file may change between
    /// runs of one process), pools are reference counted.
    pub fn new(spec: &PayloadSpec, record_max: usize, seed: u64) -> Result<PayloadPool, GeneratorError> {
        let len = POOL_BYTES_MIN.max(record_max.saturating_mul(2));
        if matches!(spec, PayloadSpec::File(_)) {
            return Ok(PayloadPool { buf: Self::build(spec, len, seed)?.freeze(), fixed: None });
        }
        let key = (format!("{spec:?}"), len, seed);
        let mut interned = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, buf)) = interned.pools.iter().find(|(k, _)| *k == key) {
            return Ok(PayloadPool { buf: Bytes::from_static(buf), fixed: Some(buf) });
        }
        let built = Self::build(spec, len, seed)?;
        if interned.bytes + built.len() > INTERNED_MAX_BYTES {
            return Ok(PayloadPool { buf: built.freeze(), fixed: None });
        }
        interned.bytes += built.len();
        let buf: &'static [u8] = Vec::leak(built.to_vec());
        interned.pools.push((key, buf));
        Ok(PayloadPool { buf: Bytes::from_static(buf), fixed: Some(buf) })
    }

    fn build(spec: &PayloadSpec, len: usize, seed: u64) -> Result<BytesMut, GeneratorError> {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x0050_4159_4c4f_4144);
        let mut buf = BytesMut::with_capacity(len);
        match spec {
            PayloadSpec::Random => {
                buf.resize(len, 0);
                rng.fill_bytes(&mut buf);
            }
            PayloadSpec::Text => {
                while buf.len() < len {
                    let w = WORDS[rng.gen_range(0..WORDS.len())];
                    buf.put_slice(w.as_bytes());
                    buf.put_u8(if rng.gen_ratio(1, 12) { b'\n' } else { b' ' });
                }
                buf.truncate(len);
            }
            PayloadSpec::Letters => {
                buf.resize(len, 0);
                for b in buf.iter_mut() {
                    *b = rng.gen_range(b'A'..=b'Z');
                }
            }
            PayloadSpec::Repeated => {
                let pattern = b"kprod-repeated-payload-0123456789-";
                while buf.len() < len {
                    buf.put_slice(&pattern[..pattern.len().min(len - buf.len())]);
                }
            }
            PayloadSpec::Compressibility(c) => {
                const SEGMENT: usize = 128;
                let random = ((1.0 - c) * SEGMENT as f64).round() as usize;
                buf.resize(len, 0);
                for seg in buf.chunks_mut(SEGMENT) {
                    let n = random.min(seg.len());
                    rng.fill_bytes(&mut seg[..n]);
                }
            }
            PayloadSpec::File(path) => {
                let name = path.display().to_string();
                let data =
                    std::fs::read(path).map_err(|source| GeneratorError::PayloadFile { path: name.clone(), source })?;
                if data.is_empty() {
                    return Err(GeneratorError::EmptyFile(name));
                }
                let len = len.max(data.len());
                while buf.len() < len {
                    buf.put_slice(&data[..data.len().min(len - buf.len())]);
                }
            }
        }
        Ok(buf)
    }

    /// A `len`-byte slice at a random offset (no allocation, no copy).
    #[inline]
    pub fn slice(&self, len: usize, rng: &mut SmallRng) -> Bytes {
        let len = len.min(self.buf.len());
        let start = rng.gen_range(0..=self.buf.len() - len);
        self.buf.slice(start..start + len)
    }

    /// The `len` bytes at `*cursor`, moving the cursor past them (back to the start when they would run off the
    /// end). Records read the pool as one stream: consecutive values never overlap until the pool wraps (so no
    /// record repeats another within `len()` bytes, and compressibility is the pool's), and the reads are
    /// sequential, which the CPU prefetches. Slices at random offsets made every value a cache miss in a pool
    /// larger than L2: with 100-byte records that miss was a third of `kprod run`'s CPU, where `kprod perf-test`
    /// reads a 64 KiB pool that stays in cache (issue 16, measured with `perf record`).
    #[inline]
    pub fn next_window(&self, len: usize, cursor: &mut usize) -> Bytes {
        let len = len.min(self.buf.len());
        let mut start = *cursor;
        if start + len > self.buf.len() {
            start = 0;
        }
        *cursor = start + len;
        match self.fixed {
            Some(fixed) => Bytes::from_static(&fixed[start..start + len]),
            None => self.buf.slice(start..start + len),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Produces record keys.
#[derive(Debug)]
pub struct KeyGen {
    kind: KeyKind,
    /// Pre-formatted keys `0..n` when the key space is small.
    table: Option<Bytes>,
    /// Arena for keys formatted on the fly (a fresh chunk every `KEY_ARENA_BYTES`).
    arena: BytesMut,
    counter: u64,
}

#[derive(Debug)]
enum KeyKind {
    None,
    RoundRobin(u64),
    Uniform(u64),
    Zipf(Zipf<f64>, u64),
    Sequential,
}

impl KeyGen {
    /// `start` offsets round-robin and sequential counters so tasks do not send identical key streams.
    pub fn new(spec: &KeySpec, start: u64) -> Result<KeyGen, GeneratorError> {
        let (kind, n) = match spec {
            KeySpec::None => (KeyKind::None, 0),
            KeySpec::RoundRobin(n) => (KeyKind::RoundRobin(*n), *n),
            KeySpec::Uniform(n) => (KeyKind::Uniform(*n), *n),
            KeySpec::Zipf { n, s } => {
                let z = Zipf::new(*n, *s).map_err(|e| GeneratorError::Keys(format!("zipf: {e}")))?;
                (KeyKind::Zipf(z, *n), *n)
            }
            KeySpec::Sequential => (KeyKind::Sequential, u64::MAX),
        };
        let table = (n > 0 && n <= KEYS_PREFORMATTED_MAX).then(|| {
            let mut t = BytesMut::with_capacity(n as usize * KEY_LEN);
            for i in 0..n {
                write_key(&mut t, i);
            }
            t.freeze()
        });
        Ok(KeyGen { kind, table, arena: BytesMut::new(), counter: start })
    }

    /// The next key, `None` for `keys: none`.
    #[inline]
    pub fn next(&mut self, rng: &mut SmallRng) -> Option<Bytes> {
        let index = match &self.kind {
            KeyKind::None => return None,
            KeyKind::RoundRobin(n) => {
                self.counter = self.counter.wrapping_add(1);
                (self.counter - 1) % n
            }
            KeyKind::Uniform(n) => rng.gen_range(0..*n),
            KeyKind::Zipf(z, n) => (z.sample(rng) as u64).clamp(1, *n) - 1,
            KeyKind::Sequential => {
                self.counter = self.counter.wrapping_add(1);
                self.counter - 1
            }
        };
        Some(self.key(index))
    }

    fn key(&mut self, index: u64) -> Bytes {
        if let Some(t) = &self.table {
            let at = index as usize * KEY_LEN;
            return t.slice(at..at + KEY_LEN);
        }
        if self.arena.capacity() - self.arena.len() < KEY_LEN {
            self.arena = BytesMut::with_capacity(KEY_ARENA_BYTES);
        }
        write_key(&mut self.arena, index);
        self.arena.split_to(KEY_LEN).freeze()
    }
}

fn write_key(out: &mut BytesMut, index: u64) {
    let mut digits = [b'0'; KEY_LEN];
    digits[0] = b'k';
    let mut v = index % 10_000_000_000;
    for d in digits[1..].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.put_slice(&digits);
}

/// Builds `HEADER_SETS` header sets (all of the same shape) to lend round robin.
pub fn header_sets(spec: &HeaderSpec, pool: &PayloadPool, seed: u64) -> Vec<Vec<(String, Bytes)>> {
    if spec.count == 0 {
        return vec![Vec::new()];
    }
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x4845_4144);
    (0..HEADER_SETS)
        .map(|_| {
            (0..spec.count)
                .map(|i| {
                    let mut k = format!("h{i}");
                    while k.len() < spec.key_size as usize {
                        k.push('x');
                    }
                    k.truncate((spec.key_size as usize).max(1));
                    (k, pool.slice(spec.value_size as usize, &mut rng))
                })
                .collect()
        })
        .collect()
}

/// What all tasks of a point share: the payload pool and header sets.
#[derive(Debug, Clone)]
pub struct SharedData {
    pub pool: Arc<PayloadPool>,
    pub headers: Arc<Vec<Vec<(String, Bytes)>>>,
}

impl SharedData {
    pub fn new(w: &ResolvedWorkload) -> Result<SharedData, GeneratorError> {
        let pool = PayloadPool::new(&w.payload, w.record_size_max() as usize, w.seed)?;
        let headers = header_sets(&w.headers, &pool, w.seed);
        Ok(SharedData { pool: Arc::new(pool), headers: Arc::new(headers) })
    }
}

/// One generated record, borrowing the generator's topic and header set.
#[derive(Debug, Clone)]
pub struct GenRecord<'a> {
    /// Shared with the generator, so a target clones it instead of looking the name up per record.
    pub topic: &'a Arc<str>,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: &'a [(String, Bytes)],
}

/// The per-task record source.
#[derive(Debug)]
pub struct Generator {
    topic: Arc<str>,
    sizes: SizeSampler,
    keys: KeyGen,
    shared: SharedData,
    rng: SmallRng,
    header_index: usize,
    /// Where the next value starts in the shared pool (each task starts at its own seeded offset).
    cursor: usize,
    /// The value size when every record is alike but for its value: a fixed size, no key and one header set.
    /// Such records (the common benchmark) are made without the size, key and header choices.
    plain: Option<usize>,
}

impl Generator {
    /// Task `task` of the point; tasks are spread over topics round robin (as OMB binds producers to topics).
    /// A shard's tasks use their global index (see [`ResolvedWorkload::global_task`]), so shards send the key
    /// sequences and payload choices the one-process run sends, and never each other's.
    pub fn new(w: &ResolvedWorkload, task: u32, shared: SharedData) -> Result<Generator, GeneratorError> {
        let task = w.global_task(task);
        let topic: Arc<str> = Arc::from(w.topics[task as usize % w.topics.len()].name.as_str());
        let task_seed = w.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(task as u64);
        let mut rng = SmallRng::seed_from_u64(task_seed);
        let cursor = rng.gen_range(0..shared.pool.len());
        let sizes = SizeSampler::new(&w.record_size, w.record_size_max())?;
        let keys = KeyGen::new(&w.keys, (task as u64) << 40)?;
        let plain = match (&sizes, &keys.kind) {
            (SizeSampler::Fixed(size), KeyKind::None) if shared.headers.len() == 1 => Some(*size as usize),
            _ => None,
        };
        Ok(Generator { topic, sizes, keys, shared, rng, header_index: 0, cursor, plain })
    }

    #[inline]
    pub fn next_record(&mut self) -> GenRecord<'_> {
        if let Some(size) = self.plain {
            // What the general path below makes of these settings (neither draws from the generator's rng).
            let value = self.shared.pool.next_window(size, &mut self.cursor);
            return GenRecord {
                topic: &self.topic,
                partition: None,
                key: None,
                value,
                headers: &self.shared.headers[0],
            };
        }
        let size = self.sizes.sample(&mut self.rng) as usize;
        let key = self.keys.next(&mut self.rng);
        let value = self.shared.pool.next_window(size, &mut self.cursor);
        // No division per record: step and wrap.
        self.header_index += 1;
        if self.header_index >= self.shared.headers.len() {
            self.header_index = 0;
        }
        GenRecord { topic: &self.topic, partition: None, key, value, headers: &self.shared.headers[self.header_index] }
    }
}

/// Intended send times of one task, as offsets from the run start.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// No schedule: send as fast as the target accepts.
    Closed,
    Constant {
        interval_ns: f64,
        offset_ns: f64,
        n: u64,
    },
    Poisson {
        rng: SmallRng,
        mean_ns: f64,
        t_ns: f64,
    },
    /// A stepped rate ([`RateRamp`]): each gap is one over this task's `share` of the ramp's rate at the time of
    /// the previous record (exponential with that mean for Poisson arrivals).
    Ramp {
        ramp: RateRamp,
        share: f64,
        /// `None` for constant arrivals.
        rng: Option<SmallRng>,
        /// The previous intended time; `None` before the first record.
        t_ns: Option<f64>,
        offset_ns: f64,
    },
}

impl Schedule {
    /// `rate_per_task` records/s; `offset` shifts a constant schedule so tasks interleave instead of bursting.
    pub fn new(rate_per_task: Option<f64>, arrival: Arrival, seed: u64, offset: Duration) -> Schedule {
        match (rate_per_task, arrival) {
            (None, _) => Schedule::Closed,
            (Some(r), _) if !(r > 0.0 && r.is_finite()) => Schedule::Closed,
            (Some(r), Arrival::Constant) => {
                Schedule::Constant { interval_ns: 1e9 / r, offset_ns: offset.as_nanos() as f64, n: 0 }
            }
            (Some(r), Arrival::Poisson) => {
                Schedule::Poisson { rng: SmallRng::seed_from_u64(seed), mean_ns: 1e9 / r, t_ns: 0.0 }
            }
        }
    }

    /// The schedule of one of `w`'s `tasks` tasks: a ramp when `w` has one, else [`Schedule::new`] with the task's
    /// share of the rate.
    pub fn for_task(w: &ResolvedWorkload, seed: u64, offset: Duration) -> Schedule {
        let tasks = f64::from(w.tasks().max(1));
        match &w.rate_control {
            Some(RateControl::Ramp(ramp)) => Schedule::Ramp {
                ramp: *ramp,
                share: 1.0 / tasks,
                rng: (w.arrival == Arrival::Poisson).then(|| SmallRng::seed_from_u64(seed)),
                t_ns: None,
                offset_ns: offset.as_nanos() as f64,
            },
            _ => Schedule::new(w.rate_records_per_s.map(|r| r / tasks), w.arrival, seed, offset),
        }
    }

    /// The next intended send time; `None` in closed loop.
    #[inline]
    pub fn next_intended(&mut self) -> Option<Duration> {
        // The closed loop's answer inline; the schedules out of line (the whole match did not inline).
        if let Schedule::Closed = self { None } else { self.next_scheduled() }
    }

    #[inline(never)]
    fn next_scheduled(&mut self) -> Option<Duration> {
        match self {
            Schedule::Closed => None,
            Schedule::Constant { interval_ns, offset_ns, n } => {
                // Multiply rather than accumulate so rounding never drifts over millions of records.
                let t = *offset_ns + *n as f64 * *interval_ns;
                *n += 1;
                Some(Duration::from_nanos(t.round() as u64))
            }
            Schedule::Poisson { rng, mean_ns, t_ns } => {
                let u: f64 = rng.r#gen::<f64>();
                *t_ns += -(1.0 - u).ln() * *mean_ns;
                Some(Duration::from_nanos(t_ns.round() as u64))
            }
            Schedule::Ramp { ramp, share, rng, t_ns, offset_ns } => {
                let t = match (*t_ns, rng) {
                    (None, None) => *offset_ns,
                    (prev, rng) => {
                        let prev = prev.unwrap_or(0.0);
                        let rate = ramp.rate_at(Duration::from_nanos(prev as u64)) * *share;
                        let mean_ns = 1e9 / rate.max(1e-9);
                        match rng {
                            Some(rng) => prev + -(1.0 - rng.r#gen::<f64>()).ln() * mean_ns,
                            None => prev + mean_ns,
                        }
                    }
                };
                *t_ns = Some(t);
                Some(Duration::from_nanos(t.round() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbench::workload::{StopAfter, TargetSpec};
    use std::collections::BTreeMap;

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(1)
    }

    fn compressed_ratio(data: &[u8]) -> f64 {
        let c = lz4_flex::compress(data);
        data.len() as f64 / c.len() as f64
    }

    #[test]
    fn constant_schedule_is_exact() {
        let mut s = Schedule::new(Some(1000.0), Arrival::Constant, 0, Duration::from_micros(250));
        let times: Vec<Duration> = (0..2001).map(|_| s.next_intended().unwrap()).collect();
        assert_eq!(times[0], Duration::from_micros(250));
        assert_eq!(times[1], Duration::from_micros(1250));
        assert_eq!(times[2000], Duration::from_micros(2_000_250));
        assert!(Schedule::new(None, Arrival::Poisson, 0, Duration::ZERO).next_intended().is_none());
    }

    #[test]
    fn ramp_schedule_steps_the_rate() {
        // 1000/s, +1000/s every 2 s, at most 2500/s; two tasks share it (offset 0.5 ms for the second).
        let ramp = RateRamp { start: 1000.0, increment: 1000.0, every_s: 2.0, max: Some(2500.0) };
        let yaml = "tasks_per_producer: 2\nrate: {ramp: {start: 1000, increment: 1000, every_s: 2, max: 2500}}\n";
        let mut w = crate::workbench::workload::Workload::parse(yaml, std::path::Path::new("t.yaml"))
            .unwrap()
            .expand()
            .unwrap()
            .remove(0)
            .workload;
        assert_eq!((w.rate_records_per_s, w.rate_control.clone()), (Some(1000.0), Some(RateControl::Ramp(ramp))));
        let mut s = Schedule::for_task(&w, 0, Duration::from_micros(500));
        let times: Vec<f64> =
            std::iter::from_fn(|| s.next_intended()).map(|d| d.as_secs_f64()).take_while(|t| *t < 8.0).collect();
        assert!((times[0] - 0.0005).abs() < 1e-9, "{}", times[0]);
        let per_second =
            |from: f64, to: f64| times.iter().filter(|t| (from..to).contains(*t)).count() as f64 / (to - from);
        // This task's half: 500/s, then 1000/s, then 1250/s (capped) for the rest.
        assert!((per_second(0.0, 2.0) - 500.0).abs() <= 1.0, "{}", per_second(0.0, 2.0));
        assert!((per_second(2.0, 4.0) - 1000.0).abs() <= 1.0, "{}", per_second(2.0, 4.0));
        assert!((per_second(4.0, 8.0) - 1250.0).abs() <= 1.0, "{}", per_second(4.0, 8.0));
        assert_eq!(ramp.rate_at(Duration::from_secs(3)), 2000.0);
        // Poisson arrivals follow the same steps on average.
        w.arrival = Arrival::Poisson;
        let mut p = Schedule::for_task(&w, 7, Duration::ZERO);
        let times: Vec<f64> =
            std::iter::from_fn(|| p.next_intended()).map(|d| d.as_secs_f64()).take_while(|t| *t < 4.0).collect();
        let (a, b) = (times.iter().filter(|t| **t < 2.0).count(), times.iter().filter(|t| **t >= 2.0).count());
        assert!((900..1100).contains(&a) && (1800..2200).contains(&b), "{a} then {b}");
    }

    #[test]
    fn poisson_interarrival_mean_and_variance() {
        let mut s = Schedule::new(Some(10_000.0), Arrival::Poisson, 42, Duration::ZERO);
        let n = 200_000;
        let mut prev = 0.0;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for _ in 0..n {
            let t = s.next_intended().unwrap().as_nanos() as f64;
            let d = t - prev;
            prev = t;
            sum += d;
            sum_sq += d * d;
        }
        let mean = sum / n as f64;
        let sd = (sum_sq / n as f64 - mean * mean).sqrt();
        assert!((mean - 100_000.0).abs() < 1_000.0, "mean inter-arrival {mean} ns, want 100000");
        // Exponential: standard deviation equals the mean (a constant schedule would have 0).
        assert!((sd / mean - 1.0).abs() < 0.02, "sd/mean = {}", sd / mean);
    }

    #[test]
    fn zipf_rank_frequencies_fall() {
        let mut k = KeyGen::new(&KeySpec::Zipf { n: 100, s: 1.1 }, 0).unwrap();
        let mut r = rng();
        let mut counts = BTreeMap::new();
        let n = 200_000;
        for _ in 0..n {
            *counts.entry(k.next(&mut r).unwrap()).or_insert(0u32) += 1;
        }
        let c = |i: u64| {
            let mut b = BytesMut::new();
            write_key(&mut b, i);
            counts.get(&b.freeze()).copied().unwrap_or(0) as f64
        };
        // P(rank k) ∝ k^-s: rank 1 / rank 2 ≈ 2^1.1 ≈ 2.14, rank 1 / rank 10 ≈ 12.6.
        assert!((c(0) / c(1) - 2.0f64.powf(1.1)).abs() < 0.15, "{} {}", c(0), c(1));
        assert!((c(0) / c(9) - 10.0f64.powf(1.1)).abs() < 1.5, "{} {}", c(0), c(9));
        assert!(c(0) > c(4) && c(4) > c(49));
    }

    #[test]
    fn keys_round_robin_sequential_and_arena() {
        let mut r = rng();
        let mut k = KeyGen::new(&KeySpec::RoundRobin(3), 0).unwrap();
        let ks: Vec<Bytes> = (0..4).map(|_| k.next(&mut r).unwrap()).collect();
        assert_eq!(ks[0], Bytes::from_static(b"k0000000000"));
        assert_eq!(ks[2], Bytes::from_static(b"k0000000002"));
        assert_eq!(ks[3], ks[0]);
        let mut seq = KeyGen::new(&KeySpec::Sequential, 0).unwrap();
        let keys: Vec<Bytes> = (0..10_000).map(|_| seq.next(&mut r).unwrap()).collect();
        assert_eq!(keys[9_999], Bytes::from_static(b"k0000009999"));
        assert!(KeyGen::new(&KeySpec::None, 0).unwrap().next(&mut r).is_none());
        let mut big = KeyGen::new(&KeySpec::Uniform(1 << 40), 0).unwrap();
        assert!(big.table.is_none());
        assert_eq!(big.next(&mut r).unwrap().len(), KEY_LEN);
    }

    #[test]
    fn payload_compressibility_is_controlled() {
        let take = |spec: PayloadSpec| PayloadPool::new(&spec, 1024, 3).unwrap().slice(1 << 20, &mut rng());
        let random = compressed_ratio(&take(PayloadSpec::Random));
        let half = compressed_ratio(&take(PayloadSpec::Compressibility(0.5)));
        let text = compressed_ratio(&take(PayloadSpec::Text));
        let repeated = compressed_ratio(&take(PayloadSpec::Repeated));
        let letters = take(PayloadSpec::Letters);
        assert!(letters.iter().all(u8::is_ascii_uppercase) && letters.contains(&b'A') && letters.contains(&b'Z'));
        let letters = compressed_ratio(&letters);
        assert!(letters < text, "letters {letters}");
        assert!(random < 1.01, "random {random}");
        assert!((1.6..2.2).contains(&half), "half {half}");
        assert!(text > 1.5, "text {text}");
        assert!(repeated > 50.0, "repeated {repeated}");
    }

    #[test]
    fn values_are_consecutive_windows_that_wrap_and_do_not_repeat() {
        let pool = PayloadPool::new(&PayloadSpec::Random, 1000, 7).unwrap();
        let len = pool.len();
        let mut cursor = len - 150;
        // 100 bytes fit before the end; the next 100 do not, so they start over at 0.
        let a = pool.next_window(100, &mut cursor);
        assert_eq!(cursor, len - 50);
        let b = pool.next_window(100, &mut cursor);
        assert_eq!(cursor, 100);
        assert_eq!(&b[..], &pool.next_window(100, &mut 0)[..]);
        assert_ne!(&a[..], &b[..]);
        // One pool's worth of 100-byte records: every window is distinct (random bytes), and in bounds.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..len / 100 {
            let v = pool.next_window(100, &mut cursor);
            assert_eq!(v.len(), 100);
            assert!(seen.insert(v), "a value repeated within one pool length");
        }
        // A record larger than the pool is cut to it rather than read past the end.
        assert_eq!(pool.next_window(len + 1, &mut cursor).len(), len);
    }

    #[test]
    fn generated_pools_are_built_once_and_shared() {
        let a = PayloadPool::new(&PayloadSpec::Text, 100, 41).unwrap();
        let b = PayloadPool::new(&PayloadSpec::Text, 100, 41).unwrap();
        let c = PayloadPool::new(&PayloadSpec::Text, 100, 42).unwrap();
        assert_eq!(a.buf.as_ptr(), b.buf.as_ptr(), "the same payload, length and seed reuse one pool");
        assert_ne!(a.buf.as_ptr(), c.buf.as_ptr());
        assert_ne!(&a.buf[..], &c.buf[..], "another seed, other bytes");
        // A file's pool is read afresh each time (the file may have changed).
        let dir = std::env::temp_dir().join(format!("kprod-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.txt");
        std::fs::write(&f, b"first").unwrap();
        let first = PayloadPool::new(&PayloadSpec::File(f.clone()), 100, 1).unwrap();
        std::fs::write(&f, b"second").unwrap();
        let second = PayloadPool::new(&PayloadSpec::File(f.clone()), 100, 1).unwrap();
        assert!(first.buf.starts_with(b"firstfirst") && second.buf.starts_with(b"secondsecond"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sizes_follow_distributions() {
        let mut r = rng();
        let u = SizeSampler::new(&SizeDist::Uniform { min: 10, max: 20 }, 20).unwrap();
        let v: Vec<u32> = (0..10_000).map(|_| u.sample(&mut r)).collect();
        assert!(v.iter().all(|s| (10..=20).contains(s)) && v.contains(&10) && v.contains(&20));
        let n = SizeSampler::new(&SizeDist::Normal { mean: 500.0, stddev: 50.0 }, 1 << 20).unwrap();
        let mean = (0..20_000).map(|_| n.sample(&mut r) as f64).sum::<f64>() / 20_000.0;
        assert!((mean - 500.0).abs() < 3.0, "{mean}");
        let h = SizeSampler::new(&SizeDist::Histogram(vec![(100, 3.0), (1000, 1.0)]), 1000).unwrap();
        let small = (0..40_000).filter(|_| h.sample(&mut r) == 100).count() as f64 / 40_000.0;
        assert!((small - 0.75).abs() < 0.02, "{small}");
    }

    #[test]
    fn generator_is_deterministic_and_shares_the_pool() {
        let w = ResolvedWorkload {
            name: "g".into(),
            label: None,
            topics: vec![crate::workbench::workload::TopicSpec { name: "t".into(), partitions: 4 }],
            record_size: SizeDist::Uniform { min: 1, max: 300 },
            payload: PayloadSpec::Text,
            keys: KeySpec::Uniform(50),
            headers: HeaderSpec { count: 2, key_size: 5, value_size: 7 },
            stop: StopAfter::Records(10),
            warmup: Duration::ZERO,
            rate_records_per_s: None,
            rate_control: None,
            arrival: Arrival::Constant,
            producers: 1,
            tasks_per_producer: 1,
            max_outstanding_per_task: 10,
            worker_threads: None,
            seed: 11,
            producer_props: BTreeMap::new(),
            target: TargetSpec::default(),
            peers: crate::workbench::workload::default_peers(),
            transaction: None,
            shard: None,
            warnings: vec![],
        };
        let shared = SharedData::new(&w).unwrap();
        let mut a = Generator::new(&w, 0, shared.clone()).unwrap();
        let mut b = Generator::new(&w, 0, SharedData::new(&w).unwrap()).unwrap();
        for _ in 0..100 {
            let (ra, rb) = (a.next_record(), b.next_record());
            assert_eq!((ra.key.clone(), ra.value.clone()), (rb.key, rb.value));
            assert_eq!(ra.headers.len(), 2);
            assert_eq!((ra.headers[0].0.len(), ra.headers[0].1.len()), (5, 7));
            // The value points into the shared pool: no copy was made.
            let pool_start = shared.pool.buf.as_ptr() as usize;
            let p = ra.value.as_ptr() as usize;
            assert!(p >= pool_start && p + ra.value.len() <= pool_start + shared.pool.len());
        }
        assert!(a.plain.is_none(), "sized at random, keyed and with header sets: the general path");
        // Fixed size, no key, no header: the plain path, which makes what the general path makes.
        let w = ResolvedWorkload {
            record_size: SizeDist::Fixed(100),
            payload: PayloadSpec::Letters,
            keys: KeySpec::None,
            headers: HeaderSpec::default(),
            ..w
        };
        let shared = SharedData::new(&w).unwrap();
        let mut plain = Generator::new(&w, 0, shared.clone()).unwrap();
        let mut general = Generator::new(&w, 0, shared).unwrap();
        assert_eq!(plain.plain, Some(100));
        general.plain = None;
        for i in 0..100_000 {
            let (p, g) = (plain.next_record(), general.next_record());
            assert_eq!((&p.key, &p.value, p.headers, p.partition), (&g.key, &g.value, g.headers, g.partition), "{i}");
            assert_eq!(p.value.as_ptr(), g.value.as_ptr(), "record {i}: the same window of the pool");
        }
    }
}
