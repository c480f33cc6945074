//! The Java producer peer: runs `scripts/java-peer.sh` (the `KafkaProducer` driver in `peers/java`) for one
//! workload point and turns its JSON into a [`PointResult`].
//!
//! The driver measures as kprod's runner does (open loop, intended send times, response/service time and
//! schedule lag in µs HDR histograms, time-based warm-up discarded); its histograms arrive as base64 HdrHistogram
//! V2 + deflate (cookie 0x1c849314), are decoded, merged into histograms with kprod's bounds, and every percentile
//! of the result is computed from them, as for kprod's own points.
//!
//! What the driver can express, and so what a point may use: one topic, one sending thread, fixed record sizes,
//! keys `none` / `round_robin: N` / `uniform: N` (driver keys `key-<i>`), payload `random` (exact), `text`
//! (approximated by random letters) or `repeated` (approximated by zeros), no headers. Anything else is refused
//! with [`PeerError::Unsupported`] rather than measured unlike kprod.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::Deserialize;

use super::{Peer, PeerError, PeerOptions};
use crate::producer::config::{ConfigError, ProducerConfig};
use crate::workbench::histograms::{self, Metric, new_histogram};
use crate::workbench::result::{
    Base64Error, Machine, PointResult, SPECTRUM_PERCENTILES, SpectrumPoint, base64_decode, base64_encode, unix_ms,
};
use crate::workbench::workload::{KeySpec, PayloadSpec, SizeDist, StopAfter, WorkloadPoint};

/// The driver's command line for a point, and what had to be approximated.
#[derive(Debug, Clone, PartialEq)]
pub struct JavaArgs {
    pub args: Vec<String>,
    pub warnings: Vec<String>,
}

/// Keys the driver fixes itself (or that mean nothing to `KafkaProducer` here): never passed as --producer-prop.
const DRIVER_OWNED: &[&str] = &["bootstrap.servers", "key.serializer", "value.serializer"];

/// What the Java driver cannot run (a workload feature it lacks), or a producer property kprod refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JavaArgsError {
    #[error("{0} topics: the java driver produces to one topic")]
    Topics(usize),
    #[error("{0} sending tasks: the java driver has one sending thread (set producers: 1)")]
    Tasks(u32),
    #[error("record_size must be `fixed` for the java driver")]
    RecordSize,
    #[error("headers: the java driver sends none")]
    Headers,
    #[error("keys {0:?}: the java driver knows none, round_robin and uniform")]
    Keys(KeySpec),
    #[error("payload {0:?}: the java driver knows random, letters, text and repeated")]
    Payload(PayloadSpec),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What is wrong with the driver's output (its last JSON line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JavaOutputError {
    #[error("output of {0} bytes exceeds {OUTPUT_BYTES_MAX}")]
    TooLarge(usize),
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// `metric` names the histogram (`response_time_us`, ...).
    #[error("{metric}: base64: {source}")]
    Base64 { metric: &'static str, source: Base64Error },
    #[error("{metric}: {source}")]
    Histogram { metric: &'static str, source: histograms::HistogramDecodeError },
    #[error("{metric}: merging: {source:?}")]
    Merge { metric: &'static str, source: hdrhistogram::errors::AdditionError },
    #[error("response_time histogram holds {values} values for {acked} acked records")]
    Count { values: u64, acked: u64 },
}

/// Why a run of the Java driver gave no result; output errors carry the tail of its stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JavaRunError {
    #[error(transparent)]
    Tool(#[from] super::ToolError),
    #[error("exit {status}, no JSON on stdout; stderr:\n{stderr_tail}")]
    NoJson { status: std::process::ExitStatus, stderr_tail: String },
    #[error("{source}; stderr:\n{stderr_tail}")]
    Output { source: JavaOutputError, stderr_tail: String },
}

/// Builds the driver's arguments for `point` against `bootstrap`. Every producer property is passed explicitly
/// with its kprod-resolved value (Java defaults filled in), so the JVM runs exactly kprod's configuration.
pub fn java_args(point: &WorkloadPoint, bootstrap: &str) -> Result<JavaArgs, JavaArgsError> {
    let w = &point.workload;
    let mut warnings = Vec::new();
    if w.topics.len() != 1 {
        return Err(JavaArgsError::Topics(w.topics.len()));
    }
    if w.tasks() != 1 {
        return Err(JavaArgsError::Tasks(w.tasks()));
    }
    let SizeDist::Fixed(size) = w.record_size else {
        return Err(JavaArgsError::RecordSize);
    };
    if w.headers.count > 0 {
        return Err(JavaArgsError::Headers);
    }
    let keys = match w.keys {
        KeySpec::None => "none".to_string(),
        KeySpec::RoundRobin(n) => format!("roundrobin:{n}"),
        KeySpec::Uniform(n) => format!("random:{n}"),
        ref other => return Err(JavaArgsError::Keys(other.clone())),
    };
    let payload = match &w.payload {
        PayloadSpec::Random => "random",
        PayloadSpec::Letters => "letters",
        PayloadSpec::Text => {
            warnings.push("java: payload `text` approximated by random letters".into());
            "letters"
        }
        PayloadSpec::Repeated => {
            warnings.push("java: payload `repeated` approximated by zeros".into());
            "zeros"
        }
        other => return Err(JavaArgsError::Payload(other.clone())),
    };
    let mut a: Vec<String> = Vec::new();
    let mut flag = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    flag("--bootstrap", bootstrap.to_string());
    flag("--topic", w.topics[0].name.clone());
    flag("--record-size", size.to_string());
    flag("--rate", w.rate_records_per_s.unwrap_or(0.0).to_string());
    // The loop shape of kprod's runner: at most this many records outstanding (one sending thread = one task).
    flag("--max-outstanding", w.max_outstanding_per_task.to_string());
    match w.stop {
        StopAfter::Duration(d) => flag("--duration-s", d.as_secs_f64().to_string()),
        StopAfter::Records(n) => flag("--num-records", n.to_string()),
    }
    flag("--warmup-s", w.warmup.as_secs_f64().to_string());
    flag("--key-mode", keys);
    flag("--payload", payload.to_string());
    // The driver cycles through a pool of distinct values; too small a pool repeats values inside a batch and
    // lz4/zstd compress them away, which kprod's generator (slices of a large random buffer) never does.
    flag("--payload-pool", payload_pool(size).to_string());
    flag("--seed", w.seed.to_string());
    flag("--progress-interval-s", "0".into());
    for (k, v) in java_producer_props(&w.producer_props)? {
        flag("--producer-prop", format!("{k}={v}"));
    }
    Ok(JavaArgs { args: a, warnings })
}

/// Bytes of distinct payload the driver should hold: well above a batch and any codec window (zstd's default
/// window at low levels is a few MiB).
const PAYLOAD_POOL_BYTES: u64 = 16 << 20;

/// Distinct values for the driver's payload pool at `size` bytes each (at least its default 64).
pub fn payload_pool(size: u32) -> u64 {
    PAYLOAD_POOL_BYTES.div_ceil(u64::from(size.max(1))).clamp(64, 1_000_000)
}

/// Every producer property with its effective value as kprod resolves it: the typed keys always, the other
/// (untyped) keys when the workload sets them. Unset optional keys (`null`, empty) and kprod's own keys
/// (`KPROD_KEYS`, e.g. `compression.threads`) are left out.
pub fn java_producer_props(props: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ConfigError> {
    let c = ProducerConfig::from_pairs(props.iter())?;
    Ok(c.to_properties()
        .into_iter()
        .filter(|(k, v)| {
            !DRIVER_OWNED.contains(&k.as_str())
                && !crate::producer::config::KPROD_KEYS.contains(&k.as_str())
                && v != "null"
                && !v.is_empty()
                && (crate::producer::config::TYPED_KEYS.contains(&k.as_str()) || c.other.contains_key(k))
        })
        .map(|(k, v)| {
            // Secrets are hidden by to_properties; pass the workload's own value.
            let v = if v == "[hidden]" { props.get(&k).cloned().unwrap_or(v) } else { v };
            (k, v)
        })
        .collect())
}

/// The driver's JSON (the fields kprod uses; the rest is ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct JavaOutput {
    pub kafka_clients_version: String,
    pub record_size_bytes: u64,
    pub key_mode: String,
    pub records_sent: u64,
    pub records_acked: u64,
    pub records_failed: u64,
    #[serde(default)]
    pub aborted_on_failures: bool,
    pub duration_s: f64,
    pub response_time_hdr_b64: String,
    pub service_time_hdr_b64: String,
    pub schedule_lag_hdr_b64: String,
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    #[serde(default)]
    pub producer_metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub producer_props: BTreeMap<String, String>,
}

/// Largest driver output accepted (its histograms are a few KiB each).
const OUTPUT_BYTES_MAX: usize = 16 << 20;

/// Decodes one base64 V2 histogram into a histogram with kprod's bounds for `metric`.
fn decode_histogram(b64: &str, metric: Metric) -> Result<Histogram<u64>, JavaOutputError> {
    let name = metric.name();
    let bytes = base64_decode(b64).map_err(|source| JavaOutputError::Base64 { metric: name, source })?;
    let h = histograms::deserialize(&bytes).map_err(|source| JavaOutputError::Histogram { metric: name, source })?;
    let mut out = new_histogram(metric);
    out.add(&h).map_err(|source| JavaOutputError::Merge { metric: name, source })?;
    Ok(out)
}

/// Mean length of the driver's keys (`key-0` .. `key-{n-1}`) for its key mode; 0 without keys.
fn key_bytes_avg(key_mode: &str) -> f64 {
    let Some(n) = key_mode.split_once(':').and_then(|(_, n)| n.parse::<u64>().ok()).filter(|n| *n > 0) else {
        return 0.0;
    };
    let digits: u64 = (0..n.min(1_000_000)).map(|i| i.to_string().len() as u64).sum();
    4.0 + digits as f64 / n.min(1_000_000) as f64
}

/// Turns the driver's JSON into a [`PointResult`] for `point` (name, dims, config filled from it).
pub fn parse_output(json: &str, point: &WorkloadPoint) -> Result<PointResult, JavaOutputError> {
    if json.len() > OUTPUT_BYTES_MAX {
        return Err(JavaOutputError::TooLarge(json.len()));
    }
    let o: JavaOutput = serde_json::from_str(json.trim()).map_err(JavaOutputError::Json)?;
    let rt = decode_histogram(&o.response_time_hdr_b64, Metric::ResponseTime)?;
    let st = decode_histogram(&o.service_time_hdr_b64, Metric::ServiceTime)?;
    let lag = decode_histogram(&o.schedule_lag_hdr_b64, Metric::ScheduleLag)?;
    if rt.len() != o.records_acked {
        return Err(JavaOutputError::Count { values: rt.len(), acked: o.records_acked });
    }
    let secs = o.duration_s.max(1e-9);
    let bytes_acked = (o.records_acked as f64 * (o.record_size_bytes as f64 + key_bytes_avg(&o.key_mode))) as u64;
    let metric = |k: &str| o.producer_metrics.get(k).copied().filter(|v| v.is_finite());
    let mut warnings = point.workload.warnings.clone();
    if o.aborted_on_failures {
        warnings.push(format!("java: stopped early after {} failed records", o.records_failed));
    }
    let w = &point.workload;
    let w_errors = o.errors.clone();
    let q = |h: &Histogram<u64>, q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
    let mut hist_map = BTreeMap::new();
    for (m, h) in [(Metric::ResponseTime, &rt), (Metric::ServiceTime, &st), (Metric::ScheduleLag, &lag)] {
        if !h.is_empty() {
            hist_map.insert(m.name().to_string(), base64_encode(&histograms::serialize(h)));
        }
    }
    Ok(PointResult {
        name: point.name.clone(),
        peer: Peer::Java,
        dims: point.dims.clone(),
        repeat: point.repeat,
        config: Some(w.clone()),
        seed: w.seed,
        machine: Machine::current(),
        duration_s: o.duration_s,
        records_sent: o.records_sent,
        records_acked: o.records_acked,
        records_failed: o.records_failed,
        bytes_acked,
        rate_records_per_s: o.records_acked as f64 / secs,
        rate_mb_per_s: bytes_acked as f64 / secs / 1e6,
        response_time_us_p50: q(&rt, 0.5),
        response_time_us_p90: q(&rt, 0.9),
        response_time_us_p99: q(&rt, 0.99),
        response_time_us_p99_9: q(&rt, 0.999),
        response_time_us_max: rt.max(),
        response_time_us_mean: rt.mean(),
        service_time_us_p50: q(&st, 0.5),
        service_time_us_p90: q(&st, 0.9),
        service_time_us_p99: q(&st, 0.99),
        service_time_us_p99_9: q(&st, 0.999),
        service_time_us_max: st.max(),
        service_time_us_mean: st.mean(),
        schedule_lag_us_p50: q(&lag, 0.5),
        schedule_lag_us_p99: q(&lag, 0.99),
        schedule_lag_us_max: lag.max(),
        // Java reports milliseconds; kprod microseconds.
        queue_time_us_avg: metric("record-queue-time-avg").map(|ms| ms * 1e3),
        batch_bytes_avg: metric("batch-size-avg"),
        records_per_request_avg: metric("records-per-request-avg"),
        // Java's compression-rate is compressed/uncompressed; kprod's ratio is the inverse.
        compression_ratio_avg: metric("compression-rate-avg").filter(|r| *r > 0.0).map(|r| 1.0 / r),
        errors: w_errors,
        spectrum: SPECTRUM_PERCENTILES
            .iter()
            .map(|p| SpectrumPoint {
                percentile: *p,
                response_time_us: q(&rt, p / 100.0),
                service_time_us: q(&st, p / 100.0),
            })
            .collect(),
        histograms: hist_map,
        warnings,
        ..PointResult::default()
    })
}

/// Runs the Java driver for `point` against `bootstrap` and returns its result.
pub async fn run_point(point: &WorkloadPoint, bootstrap: &str, opts: &PeerOptions) -> Result<PointResult, PeerError> {
    let unsupported =
        |e: JavaArgsError| PeerError::Unsupported { point: point.name.clone(), peer: Peer::Java, source: Box::new(e) };
    let fail =
        |source: JavaRunError| PeerError::Java { point: point.name.clone(), script: opts.java_script.clone(), source };
    let JavaArgs { args, warnings } = java_args(point, bootstrap).map_err(unsupported)?;
    let budget = time_budget(point, opts);
    let start_wall = SystemTime::now();
    let out = super::run_tool(&opts.java_script, &args, budget, &opts.run.stop).await.map_err(|e| fail(e.into()))?;
    let tail = &out.stderr_tail;
    // Exit 1 with a JSON object = aborted on failures: still a result. Anything else without JSON is an error.
    let json = out.stdout.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let Some(json) = json else {
        return Err(fail(JavaRunError::NoJson { status: out.status, stderr_tail: tail.clone() }));
    };
    let mut result =
        parse_output(json, point).map_err(|source| fail(JavaRunError::Output { source, stderr_tail: tail.clone() }))?;
    result.warnings.extend(warnings);
    result.git_commit = opts.run.git_commit.clone();
    result.start_time_unix_ms = unix_ms(start_wall);
    Ok(result)
}

/// How long a Java run may take before it is killed: warm-up + measured time (or a generous bound for a record
/// count) + [`PeerOptions::java_slack`].
pub fn time_budget(point: &WorkloadPoint, opts: &PeerOptions) -> Duration {
    let w = &point.workload;
    w.warmup
        + match w.stop {
            StopAfter::Duration(d) => d,
            StopAfter::Records(_) => opts.run.drain_timeout * 20,
        }
        + opts.java_slack
}
