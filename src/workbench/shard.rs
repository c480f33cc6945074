//! Shards: one workload run from N machines (`kprod run W --shard I/N`), started together (`--start-at`).
//!
//! A shard is the I-th of N shares of a workload ([`split`]):
//!
//! * **rate**: the integer part of the records/s is divided with the remainder spread one record/s per shard over
//!   the first shards (10 over 3 = 4 + 3 + 3), the fractional part divided evenly, so the shares add up to the
//!   workload's rate exactly, never rounded away;
//! * **records** (`records: N` workloads) likewise, the remainder to the first shards; a workload with fewer
//!   records than shards is refused;
//! * **producers** (and so tasks: `tasks_per_producer` is per producer) likewise; when there are fewer producers
//!   than shards every shard still runs one, and the plan says so (the load, rate and records, stays exact).
//!   Note that the workbench runs one producer *client* per process (`producers` × `tasks_per_producer` is the
//!   number of sending tasks), so N shards run N clients where one process ran one: at the same `linger.ms` each
//!   client's batches are about N times smaller;
//! * **keys and seeds**: a shard's tasks take *global* task indices (its first producer × tasks per producer
//!   onwards), and the generator derives key counters and random streams from the global index, so N shards
//!   send the key sequences the one-process run sends, and two shards never repeat each other's.
//!   A `transactional.id` gets `-shard-I` appended: shards are separate producers and would fence each other.
//!
//! The start ([`StartAt`]): every shard waits until the common instant, then counts intended send times from it.
//! A shard that arrives late starts its schedule at the common instant anyway, so its first records are already
//! late: the lateness is recorded ([`ShardMeta::start_lateness_us`]) and shows in schedule lag and response time.
//!
//! Each shard's `result.json` carries a [`ShardMeta`]: index, count, the workload hash (the same for every shard of
//! one workload), the common start, the lateness and [`ClockInfo`]. `kprod merge` ([`super::merge`]) checks them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::workload::{ResolvedWorkload, StopAfter};

/// Most shards one workload may be split into.
pub const SHARDS_MAX: u32 = 10_000;
/// Furthest in the future a start instant may be.
pub const START_AHEAD_MAX: Duration = Duration::from_secs(24 * 3600);
/// Largest clock offset that may be injected (`--clock-offset-ms`, for tests).
pub const CLOCK_OFFSET_MAX_MS: i64 = 3_600_000;

/// A bad `--shard`, `--start-at` or `--start-in` argument; each names the option and what was given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardArgError {
    #[error("--shard {0:?}: expected I/N with 0 <= I < N <= {SHARDS_MAX} (e.g. 0/4)")]
    ShardId(String),
    #[error("--start-at {0:?}: Unix milliseconds out of range")]
    StartAtMillis(String),
    #[error("--start-at {arg:?}: {source}")]
    StartAt { arg: String, source: TimeError },
    #[error("--start-in {arg:?}: {source}")]
    StartIn { arg: String, source: DurationError },
    /// `--start-at` more than [`START_AHEAD_MAX`] ahead of this machine's clock.
    #[error("--start-at {unix_ms} ms is more than {} h ahead of this machine's clock", START_AHEAD_MAX.as_secs() / 3600)]
    TooFarAhead { unix_ms: u64 },
}

/// Why a text is not an RFC 3339 instant: the part at fault (`layout`, `digits`, `offset`, ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not RFC 3339 ({0}); expected e.g. 2026-11-25T10:00:00Z or Unix milliseconds")]
pub struct TimeError(&'static str);

/// Why a text is not a duration of [`parse_duration`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    #[error("expected a number with a unit: 500ms, 30s, 2m, 1h")]
    NotANumber,
    #[error("unknown unit {0:?} (ms, s, m, h)")]
    UnknownUnit(String),
    /// Negative, not finite, or beyond [`START_AHEAD_MAX`].
    #[error("must be within 0..={} s", START_AHEAD_MAX.as_secs())]
    OutOfRange,
}

/// `--shard I/N`: this process runs share `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardId {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for ShardId {
    type Err = ShardArgError;

    /// `I/N` with `0 <= I < N <= SHARDS_MAX`.
    fn from_str(s: &str) -> Result<ShardId, ShardArgError> {
        let bad = || ShardArgError::ShardId(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > SHARDS_MAX || index >= count {
            return Err(bad());
        }
        Ok(ShardId { index, count })
    }
}

/// What a shard's resolved workload remembers of the whole (stored in `config.shard` of each point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardOf {
    pub index: u32,
    pub count: u32,
    /// Global index of this shard's first task (keys and random streams derive from global indices).
    pub task_base: u32,
    /// The whole workload's rate, producers and records, to restore it when merging.
    pub total_rate_records_per_s: Option<f64>,
    pub total_producers: u32,
    pub total_records: Option<u64>,
}

/// `count` split in `n` parts, the remainder one each to the first parts: (share of part `i`, first index of it).
fn spread(total: u64, i: u32, n: u32) -> (u64, u64) {
    let (q, r) = (total / u64::from(n), total % u64::from(n));
    let i = u64::from(i);
    (q + u64::from(i < r), i * q + i.min(r))
}

/// The rate of shard `i` of `n`: integer records/s spread, the fraction divided evenly.
pub fn rate_share(rate: f64, i: u32, n: u32) -> f64 {
    let whole = rate.floor();
    let (share, _) = spread(whole as u64, i, n);
    share as f64 + (rate - whole) / f64::from(n)
}

/// Why a workload cannot be split into shards.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The rate is too low for this many shards: shard `index` would get 0 records/s.
    #[error("rate {rate} records/s cannot be split over {count} shards (shard {index} gets 0)")]
    Rate { rate: f64, count: u32, index: u32 },
    /// Too few records for this many shards.
    #[error("records: {records} cannot be split over {count} shards (shard {index} would send none)")]
    Records { records: u64, count: u32, index: u32 },
    /// The global task numbers would not fit in a `u32`.
    #[error("too many tasks over all shards")]
    TooManyTasks,
}

/// Turns a whole workload into shard `id`'s share of it; returns what the plan should warn about.
pub fn split(w: &mut ResolvedWorkload, id: ShardId) -> Result<Vec<String>, SplitError> {
    let ShardId { index, count } = id;
    let mut warnings = Vec::new();
    let total = ShardOf {
        index,
        count,
        task_base: 0,
        total_rate_records_per_s: w.rate_records_per_s,
        total_producers: w.producers,
        total_records: match w.stop {
            StopAfter::Records(n) => Some(n),
            StopAfter::Duration(_) => None,
        },
    };
    if let Some(r) = w.rate_records_per_s {
        let share = rate_share(r, index, count);
        if share <= 0.0 {
            return Err(SplitError::Rate { rate: r, count, index });
        }
        w.rate_records_per_s = Some(share);
    }
    if let StopAfter::Records(n) = w.stop {
        let (share, _) = spread(n, index, count);
        if share == 0 {
            return Err(SplitError::Records { records: n, count, index });
        }
        w.stop = StopAfter::Records(share);
    }
    let (producers, first) = spread(u64::from(w.producers), index, count);
    if w.producers < count {
        warnings.push(format!(
            "the workload has {} producer(s) for {count} shards: every shard runs one, so {count} producers run in all \
             (rate and records are still split exactly)",
            w.producers
        ));
    }
    // Fewer producers than shards: shard I runs producer I (a real one for I < producers, an extra one past).
    let (producers, first) = if producers == 0 { (1, u64::from(index)) } else { (producers, first) };
    w.producers = producers as u32;
    let task_base = first * u64::from(w.tasks_per_producer);
    if task_base + u64::from(w.tasks()) > u64::from(u32::MAX) {
        return Err(SplitError::TooManyTasks);
    }
    if let Some(id) = w.producer_props.get_mut("transactional.id") {
        id.push_str(&format!("-shard-{index}"));
    }
    w.shard = Some(ShardOf { task_base: task_base as u32, ..total });
    Ok(warnings)
}

/// The whole workload a shard's share came from (rate, producers, records restored; no shard).
pub fn unsplit(w: &ResolvedWorkload) -> ResolvedWorkload {
    let mut whole = w.clone();
    if let Some(s) = whole.shard.take() {
        whole.rate_records_per_s = s.total_rate_records_per_s;
        whole.producers = s.total_producers;
        if let Some(n) = s.total_records {
            whole.stop = StopAfter::Records(n);
        }
        if let Some(id) = whole.producer_props.get_mut("transactional.id") {
            let suffix = format!("-shard-{}", s.index);
            if id.ends_with(&suffix) {
                id.truncate(id.len() - suffix.len());
            }
        }
    }
    whole
}

/// A short hash (16 hex digits of SHA-256) of the whole workload as resolved: every shard of one workload (and
/// the same `--set`s) has the same hash whatever its index. Secrets are hashed as `[hidden]`.
pub fn workload_hash(points: &[ResolvedWorkload]) -> String {
    let mut h = Sha256::new();
    for p in points {
        // Serializing a resolved workload cannot fail (plain data); an empty string would still hash consistently.
        h.update(serde_json::to_vec(p).unwrap_or_default());
        h.update(b"\n");
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `--start-at` / `--start-in`: the common instant of the intended schedule, on this machine's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAt(pub SystemTime);

impl StartAt {
    /// RFC 3339 (`2026-11-25T10:00:00Z`, `2026-11-25T11:00:00.250+01:00`) or Unix milliseconds (`1795000000000`).
    pub fn parse(s: &str) -> Result<StartAt, ShardArgError> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            let ms: u64 = t.parse().map_err(|_| ShardArgError::StartAtMillis(s.to_string()))?;
            return Ok(StartAt(UNIX_EPOCH + Duration::from_millis(ms)));
        }
        parse_rfc3339(t).map(StartAt).map_err(|source| ShardArgError::StartAt { arg: s.to_string(), source })
    }

    /// `--start-in 30s` (also `500ms`, `2m`, a bare number of seconds): now + that.
    pub fn after(s: &str, now: SystemTime) -> Result<StartAt, ShardArgError> {
        let d = parse_duration(s).map_err(|source| ShardArgError::StartIn { arg: s.to_string(), source })?;
        Ok(StartAt(now + d))
    }

    pub fn unix_ms(self) -> u64 {
        self.0.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    /// Refuses an instant absurdly far ahead (a typo would leave the shard waiting for days).
    pub fn check(self, now: SystemTime) -> Result<StartAt, ShardArgError> {
        if self.0.duration_since(now).is_ok_and(|ahead| ahead > START_AHEAD_MAX) {
            return Err(ShardArgError::TooFarAhead { unix_ms: self.unix_ms() });
        }
        Ok(self)
    }
}

/// `30s`, `500ms`, `2m`, `1h`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| DurationError::NotANumber)?;
    let secs = match unit.trim() {
        "ms" => v / 1e3,
        "" | "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => return Err(DurationError::UnknownUnit(u.to_string())),
    };
    if !(secs.is_finite() && secs >= 0.0 && secs <= START_AHEAD_MAX.as_secs_f64()) {
        return Err(DurationError::OutOfRange);
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_rfc3339(s: &str) -> Result<SystemTime, TimeError> {
    let bad = TimeError;
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return Err(bad("layout"));
    }
    if b[16] != b':' {
        return Err(bad("layout"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, TimeError> {
        let part = s.get(r).ok_or_else(|| bad("layout"))?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("digits"));
        }
        part.parse().map_err(|_| bad("digits"))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return Err(bad("a field is out of range"));
    }
    let mut rest = &s[19..];
    let mut nanos = 0u64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(bad("fraction"));
        }
        nanos = frac[..digits].parse::<u64>().map_err(|_| bad("fraction"))? * 10u64.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let h: i64 = rest[1..3].parse().map_err(|_| bad("offset"))?;
            let m: i64 = rest[4..6].parse().map_err(|_| bad("offset"))?;
            if h > 23 || m > 59 {
                return Err(bad("offset"));
            }
            let v = h * 3600 + m * 60;
            if rest.starts_with('-') { -v } else { v }
        }
        _ => return Err(bad("time zone: Z or ±HH:MM")),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset_s;
    let secs = u64::try_from(secs).map_err(|_| bad("before 1970"))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// This machine's clock as a shard saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Offset added on purpose to every wall-clock reading (`--clock-offset-ms`, to test that merge reports it).
    pub offset_injected_ms: i64,
    /// Kernel NTP state (adjtimex): false when the kernel says the clock is not synchronized; `None` off Linux.
    pub synchronized: Option<bool>,
    /// The offset the kernel is still slewing away (adjtimex `offset`), µs.
    pub kernel_offset_us: Option<i64>,
    /// Estimated and maximum error the kernel reports for the clock, µs.
    pub est_error_us: Option<u64>,
    pub max_error_us: Option<u64>,
}

impl ClockInfo {
    /// Reads the kernel's clock discipline state (read-only adjtimex: needs no privilege).
    pub fn current(offset_injected_ms: i64) -> ClockInfo {
        let mut c = ClockInfo { offset_injected_ms, ..ClockInfo::default() };
        #[cfg(target_os = "linux")]
        {
            // SAFETY: a zeroed timex with `modes = 0` asks adjtimex to only read the state into it.
            let mut tx: libc::timex = unsafe { std::mem::zeroed() };
            let state = unsafe { libc::adjtimex(&mut tx) };
            if state >= 0 {
                let nano = tx.status & libc::STA_NANO != 0;
                c.synchronized = Some(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0);
                c.kernel_offset_us = Some(if nano { tx.offset / 1000 } else { tx.offset });
                c.est_error_us = u64::try_from(tx.esterror).ok();
                c.max_error_us = u64::try_from(tx.maxerror).ok();
            }
        }
        c
    }

    /// What the shard knows of its clock's offset from true time, ms: the injected offset plus the kernel's.
    pub fn offset_ms(&self) -> f64 {
        self.offset_injected_ms as f64 + self.kernel_offset_us.unwrap_or(0) as f64 / 1e3
    }
}

/// The wall clock of a shard: the system clock shifted by an injected offset (0 unless testing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardClock {
    pub offset_ms: i64,
}

impl ShardClock {
    pub fn now(self) -> SystemTime {
        let t = SystemTime::now();
        let d = Duration::from_millis(self.offset_ms.unsigned_abs());
        if self.offset_ms >= 0 { t + d } else { t.checked_sub(d).unwrap_or(UNIX_EPOCH) }
    }
}

/// Stored in a shard's `result.json` (`shard`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub index: u32,
    pub count: u32,
    /// [`workload_hash`] of the whole workload.
    pub workload_hash: String,
    /// The common start instant (Unix ms, this shard's clock); `None` when the shard started on its own.
    pub start_at_unix_ms: Option<u64>,
    /// How late the schedule started after the common instant, µs (0 when on time or without `--start-at`).
    pub start_lateness_us: u64,
    pub clock: ClockInfo,
}

/// One row of a merged run's per-shard table (`shards` in its `result.json`): one slow machine stands out here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRow {
    pub index: u32,
    pub host: String,
    /// The shard's result folder, as given to `kprod merge`.
    pub dir: String,
    pub records_acked: u64,
    pub rate_records_per_s: f64,
    pub response_time_us_p99: u64,
    pub schedule_lag_us_p99: u64,
    pub start_lateness_us: u64,
    /// [`ClockInfo::offset_ms`].
    pub clock_offset_ms: f64,
    pub clock_synchronized: Option<bool>,
    pub clock_max_error_us: Option<u64>,
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
