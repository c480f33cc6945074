//! Java's own `kafka-producer-perf-test` as a peer (`peers: [..., java-perf-test]`): the tool Kafka users already
//! trust, run through `scripts/kafka.sh perf-test` (kafka-tools from Maven Central) with the point's producer
//! properties, its summary line parsed into a [`PointResult`] beside the driver-based `java` peer.
//!
//! What the tool measures, and so what the result holds:
//! - throughput: records it completed over its own elapsed time (its summary line; with a warm-up, the steady-state
//!   line, which leaves the warm-up records out);
//! - latency: from the `send()` call to the callback, in whole milliseconds at p50, p95, p99 and p99.9, plus mean
//!   and max. That is service time; its throttle sleeps and then measures from the late send, so response time
//!   (from the intended send) is not measured: the result carries the service times in both and says so.
//!   There are no histograms, no schedule lag and no time series.
//!
//! Its throttle (`--throughput`) keeps the average rate since the tool started, so after a slow start (JVM,
//! metadata) it sends at full speed until it has caught up: an open-loop point's steady-state rate can exceed the
//! target, and its latencies then include that burst. This is how the tool behaves, so it is reported as is.
//!
//! What it can express: one topic, fixed-size values of random letters A–Z (`payload: letters`; other payloads
//! are approximated by letters, with a warning), no keys, no headers, one sending thread. It takes a record count,
//! not a duration: an open-loop point runs `rate × (warm-up + duration)` records with `rate × warm-up` of them as
//! warm-up; a closed-loop point with a duration is sized from the rate another peer reached at the same point
//! (list `java-perf-test` after kprod), or refused.

use std::time::{Duration, SystemTime};

use super::{Peer, PeerError, PeerOptions};
use crate::producer::config::ConfigError;
use crate::workbench::result::{Machine, PointResult, unix_ms};
use crate::workbench::workload::{KeySpec, PayloadSpec, SizeDist, StopAfter, WorkloadPoint};

/// The tool's command line for a point (after `scripts/kafka.sh perf-test`), and what had to be approximated.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfTestArgs {
    pub args: Vec<String>,
    pub num_records: u64,
    pub warmup_records: u64,
    pub warnings: Vec<String>,
}

/// What kafka-producer-perf-test cannot run (a workload feature it lacks), or a producer property kprod refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfTestArgsError {
    #[error("{0} topics: kafka-producer-perf-test produces to one topic")]
    Topics(usize),
    #[error("{0} sending tasks: kafka-producer-perf-test has one sending thread")]
    Tasks(u32),
    #[error("record_size must be `fixed`: kafka-producer-perf-test sends one --record-size")]
    RecordSize,
    #[error("keys: kafka-producer-perf-test sends keyless records (set keys: none)")]
    Keys,
    #[error("headers: kafka-producer-perf-test sends none")]
    Headers,
    /// A closed loop bounded by a duration, and no earlier peer's rate to size the record count by.
    #[error(
        "a closed loop that stops after a duration needs a record count: list java-perf-test after another peer (its \
         rate sizes the run), or give `records:`"
    )]
    NeedsRecordCount,
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The tool's output holds no summary line to read a result from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no summary line (`N records sent, ...`) in its output")]
pub struct NoSummaryLine;

/// Why a run of `kafka.sh perf-test` gave no result; each names the script.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfTestRunError {
    #[error("{} perf-test: {source}", script.display())]
    Tool { script: std::path::PathBuf, source: super::ToolError },
    #[error("{} perf-test: exit {status}: {source}; stderr:\n{stderr_tail}", script.display())]
    Output { script: std::path::PathBuf, status: std::process::ExitStatus, source: NoSummaryLine, stderr_tail: String },
}

/// Builds the tool's arguments. `rate_hint` sizes a closed-loop point that stops after a duration.
pub fn perf_test_args(
    point: &WorkloadPoint,
    bootstrap: &str,
    rate_hint: Option<f64>,
) -> Result<PerfTestArgs, PerfTestArgsError> {
    let w = &point.workload;
    let mut warnings = Vec::new();
    if w.topics.len() != 1 {
        return Err(PerfTestArgsError::Topics(w.topics.len()));
    }
    if w.tasks() != 1 {
        return Err(PerfTestArgsError::Tasks(w.tasks()));
    }
    let SizeDist::Fixed(size) = w.record_size else {
        return Err(PerfTestArgsError::RecordSize);
    };
    if !matches!(w.keys, KeySpec::None) {
        return Err(PerfTestArgsError::Keys);
    }
    if w.headers.count > 0 {
        return Err(PerfTestArgsError::Headers);
    }
    if !matches!(w.payload, PayloadSpec::Letters) {
        warnings.push(format!(
            "java-perf-test: payload {:?} approximated by random letters A-Z (what the tool sends)",
            w.payload
        ));
    }
    let warmup_s = w.warmup.as_secs_f64();
    let (num_records, warmup_records) = match (w.stop, w.rate_records_per_s) {
        (StopAfter::Records(n), Some(r)) => (n, (r * warmup_s).round() as u64),
        (StopAfter::Records(n), None) => {
            if warmup_s > 0.0 {
                warnings.push("java-perf-test: closed loop with a record count: no warm-up records".into());
            }
            (n, 0)
        }
        (StopAfter::Duration(d), Some(r)) => {
            ((r * (warmup_s + d.as_secs_f64())).round() as u64, (r * warmup_s).round() as u64)
        }
        (StopAfter::Duration(d), None) => {
            let Some(r) = rate_hint.filter(|r| r.is_finite() && *r > 0.0) else {
                return Err(PerfTestArgsError::NeedsRecordCount);
            };
            warnings.push(format!(
                "java-perf-test: closed loop sized from the {r:.0} records/s the previous peer reached here"
            ));
            ((r * (warmup_s + d.as_secs_f64())).round() as u64, (r * warmup_s).round() as u64)
        }
    };
    let num_records = num_records.max(1);
    let mut args: Vec<String> = vec!["--topic".into(), w.topics[0].name.clone()];
    args.extend(["--num-records".into(), num_records.to_string()]);
    args.extend(["--record-size".into(), size.to_string()]);
    let throughput = w.rate_records_per_s.map_or("-1".to_string(), |r| format!("{r}"));
    args.extend(["--throughput".into(), throughput]);
    if warmup_records > 0 && warmup_records < num_records {
        args.extend(["--warmup-records".into(), warmup_records.to_string()]);
    }
    args.push("--producer-props".into());
    args.push(format!("bootstrap.servers={bootstrap}"));
    for (k, v) in super::java::java_producer_props(&w.producer_props)? {
        args.push(format!("{k}={v}"));
    }
    Ok(PerfTestArgs { args, num_records, warmup_records, warnings })
}

/// One summary line of the tool (`Stats.printTotal`).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub records: u64,
    pub steady_state: bool,
    pub records_per_s: f64,
    pub latency_ms_avg: f64,
    pub latency_ms_max: f64,
    /// p50, p95, p99, p99.9 in whole ms.
    pub percentiles_ms: [u64; 4],
}

/// Parses `N [steady state ]records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, a ms 50th,
/// b ms 95th, c ms 99th, d ms 99.9th.`; `None` for any other line.
pub fn parse_summary(line: &str) -> Option<Summary> {
    let line = line.trim();
    let (head, rest) = line.split_once(" records sent, ")?;
    let (records, steady_state) = match head.strip_suffix(" steady state") {
        Some(n) => (n, true),
        None => (head, false),
    };
    let records: u64 = records.trim().parse().ok()?;
    let (rate, rest) = rest.split_once(" records/sec (")?;
    let (_, rest) = rest.split_once(" MB/sec), ")?;
    let num = |s: &str, suffix: &str| -> Option<f64> { s.trim().strip_suffix(suffix)?.trim().parse().ok() };
    let parts: Vec<&str> = rest.trim_end_matches('.').split(", ").collect();
    let [avg, max, p50, p95, p99, p999] = parts[..] else { return None };
    Some(Summary {
        records,
        steady_state,
        records_per_s: rate.trim().parse().ok()?,
        latency_ms_avg: num(avg, "ms avg latency")?,
        latency_ms_max: num(max, "ms max latency")?,
        percentiles_ms: [
            num(p50, "ms 50th")? as u64,
            num(p95, "ms 95th")? as u64,
            num(p99, "ms 99th")? as u64,
            num(p999, "ms 99.9th")? as u64,
        ],
    })
}

/// The result of a point from the tool's output: the steady-state line when there is one, else the last total.
pub fn result_from_output(
    point: &WorkloadPoint,
    stdout: &str,
    args: &PerfTestArgs,
) -> Result<PointResult, NoSummaryLine> {
    let lines: Vec<Summary> = stdout.lines().filter_map(parse_summary).collect();
    let s = lines
        .iter()
        .rev()
        .find(|s| s.steady_state)
        .or_else(|| lines.iter().rev().find(|s| !s.steady_state))
        .ok_or(NoSummaryLine)?;
    let w = &point.workload;
    let size = match w.record_size {
        SizeDist::Fixed(n) => u64::from(n),
        _ => 0,
    };
    let secs = if s.records_per_s > 0.0 { s.records as f64 / s.records_per_s } else { 0.0 };
    let ms = |v: u64| v * 1000;
    let (p50, p95, p99, p999) =
        (ms(s.percentiles_ms[0]), ms(s.percentiles_ms[1]), ms(s.percentiles_ms[2]), ms(s.percentiles_ms[3]));
    let max = (s.latency_ms_max * 1e3) as u64;
    let mean = s.latency_ms_avg * 1e3;
    let mut warnings = w.warnings.clone();
    warnings.extend(args.warnings.iter().cloned());
    warnings.push(
        "java-perf-test: latency is kafka-producer-perf-test's own (send() call to callback, whole ms; p90 shown is \
         its p95): service time, shown as response time too; no schedule lag"
            .into(),
    );
    let sent = if s.steady_state { args.num_records - args.warmup_records } else { args.num_records };
    Ok(PointResult {
        name: point.name.clone(),
        peer: Peer::JavaPerfTest,
        dims: point.dims.clone(),
        repeat: point.repeat,
        config: Some(w.clone()),
        seed: w.seed,
        machine: Machine::current(),
        duration_s: secs,
        records_sent: sent,
        records_acked: s.records,
        records_failed: sent.saturating_sub(s.records),
        bytes_acked: s.records * size,
        rate_records_per_s: s.records_per_s,
        rate_mb_per_s: s.records_per_s * size as f64 / 1e6,
        response_time_us_p50: p50,
        response_time_us_p90: p95,
        response_time_us_p99: p99,
        response_time_us_p99_9: p999,
        response_time_us_max: max,
        response_time_us_mean: mean,
        service_time_us_p50: p50,
        service_time_us_p90: p95,
        service_time_us_p99: p99,
        service_time_us_p99_9: p999,
        service_time_us_max: max,
        service_time_us_mean: mean,
        warnings,
        ..PointResult::default()
    })
}

/// Runs `scripts/kafka.sh perf-test` for `point` against `bootstrap`.
pub async fn run_point(
    point: &WorkloadPoint,
    bootstrap: &str,
    opts: &PeerOptions,
    rate_hint: Option<f64>,
) -> Result<PointResult, PeerError> {
    let peer = Peer::JavaPerfTest;
    let unsupported =
        |e: PerfTestArgsError| PeerError::Unsupported { point: point.name.clone(), peer, source: Box::new(e) };
    let script = opts.java_script.with_file_name("kafka.sh");
    let fail = |e: PerfTestRunError| PeerError::Run { point: point.name.clone(), peer, source: Box::new(e) };
    let args = perf_test_args(point, bootstrap, rate_hint).map_err(unsupported)?;
    // Its record count at the rate it was sized by, three times over, plus the JVM's start: then it is stuck.
    let w = &point.workload;
    let expected = match (w.stop, w.rate_records_per_s.or(rate_hint)) {
        (StopAfter::Duration(d), _) => w.warmup + d,
        (StopAfter::Records(n), Some(r)) if r > 0.0 => Duration::from_secs_f64(n as f64 / r),
        (StopAfter::Records(_), _) => opts.run.drain_timeout * 20,
    };
    let budget = expected * 3 + opts.java_slack;
    let start_wall = SystemTime::now();
    let mut argv = vec!["perf-test".to_string()];
    argv.extend(args.args.iter().cloned());
    let out = super::run_tool(&script, &argv, budget, &opts.run.stop)
        .await
        .map_err(|source| fail(PerfTestRunError::Tool { script: script.clone(), source }))?;
    let mut result = result_from_output(point, &out.stdout, &args).map_err(|source| {
        fail(PerfTestRunError::Output {
            script: script.clone(),
            status: out.status,
            source,
            stderr_tail: out.stderr_tail.clone(),
        })
    })?;
    result.git_commit = opts.run.git_commit.clone();
    result.start_time_unix_ms = unix_ms(start_wall);
    Ok(result)
}
