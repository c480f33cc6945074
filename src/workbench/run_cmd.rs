//! The engine of `kprod run`: a workload file from plan to run folder.
//!
//! [`plan`] loads the file, applies `--set` overrides, expands the sweep and checks every point up front (producer
//! config, fault plan), so a typo in point 7 fails before point 1 runs. [`execute`] then runs each point on its own
//! fresh target — an embedded [`MockCluster`] started per point (so injected faults hit every point alike) or the
//! given bootstrap servers — with a fresh producer, and writes `reports/<timestamp>-<name>/`: `result.json`,
//! the reports and the interval logs, rewritten after every point so an interrupted sweep keeps what it measured.
//!
//! Where records go, first match wins: `--bootstrap-server`, `target: {bootstrap: ...}`, the producer property
//! `bootstrap.servers`, else the embedded cluster of `target: {embedded: ...}` (the default).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_yaml_ng::{Mapping, Value};

use super::producer_target::{Accounting, ProducerTarget};
use super::profile::{ProfileError, RunProfile};
use super::report::{self, ReportError};
use super::result::{self, PointResult, PointStatus, ResultError, RunResult};
use super::runner::{self, Progress, RunError, RunOptions, Stop};
use super::workload::{
    EmbeddedTarget, KeySpec, PayloadSpec, RateControl, RateSearch, SinkMode, SizeDist, StopAfter, TargetSpec, Workload,
    WorkloadError, WorkloadPoint,
};
use crate::broker::{BrokerError, FaultPlan, MockCluster, MockTls, StorageMode, TopicError};
use crate::producer::ProducerConfig;
use crate::producer::ProducerError;
use crate::producer::config::ConfigError;
use crate::security::tls::uses_tls;

use super::search;
use super::shard::{self, ClockInfo, ShardClock, ShardId, ShardMeta};

/// Bytes an embedded cluster in `retain` mode may keep before refusing produce with POLICY_VIOLATION.
pub const RETAIN_BYTES_MAX: u64 = 1 << 30;

/// How long to wait, after the producer closed, for the runner's last ack futures to report their outcome.
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// How long the preflight waits for each bootstrap server (connect, TLS, ApiVersions, SASL).
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything `kprod run` needs besides the workload file's content.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub workload: PathBuf,
    /// `--set key=value` overrides, in order.
    pub sets: Vec<String>,
    /// `--bootstrap-server`: run against this cluster instead of the embedded one.
    pub bootstrap: Option<String>,
    /// The run folder is created inside.
    pub out: PathBuf,
    /// Overrides `sweep.repeat`.
    pub repeat: Option<u32>,
    pub progress: Progress,
    /// Write `flamegraph.svg` of the measured phases.
    pub profile: bool,
    /// Samples per second of CPU time when profiling (`--profile-hz`).
    pub profile_hz: i32,
    /// How long a point waits for outstanding acks after sending stops.
    pub drain_timeout: Duration,
    /// How long closing a point's producer may take.
    pub close_timeout: Duration,
    /// `--shard I/N`: run this share of the workload.
    pub shard: Option<ShardId>,
    /// `--start-at` / `--start-in`: the common start of the intended schedule (this machine's clock).
    pub start_at: Option<SystemTime>,
    /// `--clock-offset-ms`: shift this process's wall clock on purpose (tests of clock reporting).
    pub clock_offset_ms: i64,
    /// `--keep-going`: run the rest of a sweep after a failed point (default: stop there).
    pub keep_going: bool,
    /// Ctrl-C: the point in progress stops sending, drains briefly and is kept, marked interrupted; no point after
    /// it runs.
    pub stop: Stop,
}

impl RunSettings {
    pub fn new(workload: impl Into<PathBuf>) -> RunSettings {
        RunSettings {
            workload: workload.into(),
            sets: Vec::new(),
            bootstrap: None,
            out: PathBuf::from("reports"),
            repeat: None,
            progress: Progress::Auto,
            profile: false,
            profile_hz: super::profile::FREQUENCY_HZ,
            drain_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(30),
            shard: None,
            start_at: None,
            clock_offset_ms: 0,
            keep_going: false,
            stop: Stop::default(),
        }
    }
}

/// Why a run could not be planned or carried out. Each names the point, file or setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunCmdError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("the workload expands to no points")]
    Empty,
    #[error("point {point}: producer config: {source}")]
    ProducerConfig { point: String, source: ConfigError },
    /// A producer key given on the command line is refused: about the `--set`, not a point.
    #[error("--set {arg}: {source}")]
    SetConfig { arg: String, source: ConfigError },
    #[error("point {point}: target.embedded.faults: {message}")]
    Faults { point: String, message: String },
    #[error("point {point}: embedded mock cluster: {source}")]
    Broker { point: String, source: BrokerError },
    /// The point's own runtime (`worker_threads`) could not start.
    #[error("point {point}: cannot start a runtime of {threads} worker thread(s): {source}")]
    Runtime { point: String, threads: u32, source: std::io::Error },
    /// `target.embedded.sasl` is refused (worded as the mock cluster's own config errors).
    #[error("point {point}: embedded mock cluster: invalid mock cluster config: {source}")]
    EmbeddedSasl { point: String, source: super::secrets::EmbeddedSaslError },
    #[error("point {point}: cannot create topic {topic} on the embedded cluster: {source}")]
    Topic { point: String, topic: String, source: TopicError },
    #[error("point {point}: cannot start the producer: {source}")]
    Producer { point: String, source: ProducerError },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Result(#[from] ResultError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("peers: {0}")]
    Peers(String),
    #[error("--shard {shard}: {message}")]
    Shard { shard: ShardId, message: String },
    #[error("{cause}; no point was run (written to {})", dir.join("result.json").display())]
    Preflight {
        #[source]
        cause: PreflightError,
        dir: PathBuf,
    },
}

/// Why the preflight stopped a run before its first point.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreflightError {
    /// A point's producer configuration is refused (names the point).
    #[error(transparent)]
    Config(Box<RunCmdError>),
    /// A bootstrap server does not answer (TCP connect, TLS, ApiVersions or SASL).
    #[error("preflight: the target {bootstrap} does not answer: {source}")]
    Unreachable { bootstrap: String, source: crate::verify::VerifyError },
}

/// Where one point's records go.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// A mock cluster started for the point.
    Embedded(EmbeddedTarget),
    /// `bootstrap.servers` of a running cluster.
    External(String),
}

/// The endpoint of `point`; `bootstrap` is `--bootstrap-server`.
pub fn endpoint(point: &WorkloadPoint, bootstrap: Option<&str>) -> Endpoint {
    if let Some(b) = bootstrap {
        return Endpoint::External(b.to_string());
    }
    match &point.workload.target {
        TargetSpec::Bootstrap(b) => Endpoint::External(b.clone()),
        TargetSpec::Embedded(e) => match point.workload.producer_props.get("bootstrap.servers") {
            Some(b) => Endpoint::External(b.clone()),
            None => Endpoint::Embedded(e.clone()),
        },
    }
}

/// The producer config of a point: its properties, with `bootstrap.servers` set to where the point runs.
pub fn producer_config(point: &WorkloadPoint, bootstrap: &str) -> Result<ProducerConfig, RunCmdError> {
    let props = point.workload.producer_props.iter().filter(|(k, _)| k.as_str() != "bootstrap.servers");
    let pairs = props.map(|(k, v)| (k.as_str(), v.as_str())).chain([("bootstrap.servers", bootstrap)]);
    ProducerConfig::from_pairs(pairs)
        .map_err(|source| RunCmdError::ProducerConfig { point: point.name.clone(), source })
}

/// True when the point's producer speaks TLS (`security.protocol: SSL` or `SASL_SSL`): its embedded cluster then
/// serves TLS with a CA generated at start, which the producer is told to trust ([`trust_embedded_ca`]). This is
/// how a sweep over `security.protocol: [PLAINTEXT, SSL]` measures what TLS costs.
pub fn embedded_tls(point: &WorkloadPoint) -> bool {
    point.workload.producer_props.get("security.protocol").is_some_and(|p| uses_tls(p.trim()))
}

/// The SASL mechanism and credentials of the point's producer when it authenticates (`security.protocol`
/// SASL_PLAINTEXT / SASL_SSL) and its embedded target has no `sasl:` of its own: the embedded cluster then accepts
/// exactly that user and mechanism, as a TLS point's cluster gets a CA its producer trusts. A workload can thus
/// measure SASL (or a sweep over `security.protocol`) without repeating its credentials under the target.
pub fn embedded_sasl_from_producer(
    point: &WorkloadPoint,
    e: &EmbeddedTarget,
) -> Result<Option<crate::security::SaslSettings>, RunCmdError> {
    if e.sasl.is_some() {
        return Ok(None);
    }
    let cfg = producer_config(point, "127.0.0.1:9092")?;
    crate::security::SaslSettings::from_config(&cfg).map_err(|source| RunCmdError::ProducerConfig {
        point: point.name.clone(),
        source: ConfigError::Conflict(source.to_string()),
    })
}

/// Makes the producer trust the embedded cluster's generated CA (inline `ssl.truststore.certificates`), unless the
/// workload names its own trust store.
pub fn trust_embedded_ca(cfg: &mut ProducerConfig, ca_pem: &str) -> Result<(), ConfigError> {
    let has_own = ["ssl.truststore.location", "ssl.truststore.certificates"].iter().any(|k| cfg.other.contains_key(*k));
    if !has_own {
        cfg.set("ssl.truststore.certificates", ca_pem)?;
        cfg.set("ssl.truststore.type", "PEM")?;
    }
    Ok(())
}

/// The fault plan of an embedded target (`target.embedded.faults`), checked against the broker's format.
pub fn fault_plan(point: &WorkloadPoint, e: &EmbeddedTarget) -> Result<FaultPlan, RunCmdError> {
    if e.faults.is_empty() {
        return Ok(FaultPlan::default());
    }
    let map: Mapping = e.faults.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect();
    serde_yaml_ng::from_value(Value::Mapping(map))
        .map_err(|err| RunCmdError::Faults { point: point.name.clone(), message: err.to_string() })
}

/// A checked, expanded workload.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    pub points: Vec<WorkloadPoint>,
    /// Distinct warnings of all points (unused OMB fields, producer config notes, ignored faults).
    pub warnings: Vec<String>,
    pub bootstrap: Option<String>,
    /// With `--shard`: which share, and the hash of the whole workload (the same on every shard).
    pub shard: Option<(ShardId, String)>,
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Loads, overrides, expands and checks the workload of `settings`.
pub fn plan(settings: &RunSettings) -> Result<Plan, RunCmdError> {
    let mut w = Workload::load(&settings.workload)?;
    let mut sets = settings.sets.clone();
    if let Some(r) = settings.repeat {
        sets.push(format!("sweep.repeat={r}"));
    }
    if !sets.is_empty() {
        w.apply_overrides(&sets)?;
    }
    let mut points = w.expand()?;
    let first = points.first().ok_or(RunCmdError::Empty)?;
    let name = first.workload.name.clone();
    let mut warnings = Vec::new();
    let shard = match settings.shard {
        Some(id) => Some((id, split_points(&mut points, id, settings.bootstrap.is_some(), &mut warnings)?)),
        None => None,
    };
    for p in &points {
        for warning in &p.workload.warnings {
            push_unique(&mut warnings, warning.clone());
        }
        let cfg = producer_config(p, "127.0.0.1:9092").map_err(|e| blame_set(e, &sets))?;
        for warning in cfg.warnings {
            push_unique(&mut warnings, format!("producer: {warning}"));
        }
        match (endpoint(p, settings.bootstrap.as_deref()), &p.workload.target) {
            (Endpoint::Embedded(e), _) => {
                fault_plan(p, &e)?;
            }
            (Endpoint::External(b), TargetSpec::Embedded(e)) => {
                if !e.faults.is_empty() {
                    push_unique(&mut warnings, format!("target.embedded.faults are ignored: records go to {b}"));
                }
            }
            (Endpoint::External(_), TargetSpec::Bootstrap(_)) => {}
        }
        if let Endpoint::External(b) = endpoint(p, settings.bootstrap.as_deref()) {
            let topics: Vec<String> =
                p.workload.topics.iter().map(|t| format!("{} ({} partitions)", t.name, t.partitions)).collect();
            push_unique(
                &mut warnings,
                format!(
                    "topics are not created on {b}: {} must exist, or the brokers must auto-create them",
                    topics.join(", ")
                ),
            );
        }
    }
    Ok(Plan { name, file: settings.workload.clone(), points, warnings, bootstrap: settings.bootstrap.clone(), shard })
}

/// A producer config error about a key given with `--set` is reported as the `--set`'s, without the point.
fn blame_set(e: RunCmdError, sets: &[String]) -> RunCmdError {
    let RunCmdError::ProducerConfig { point, source } = e else { return e };
    let key = match &source {
        ConfigError::UnknownKey { key, .. } | ConfigError::BadValue { key, .. } => Some(key.as_str()),
        _ => None,
    };
    let arg = sets.iter().rev().find(|arg| {
        let k = arg.split_once('=').map_or(arg.as_str(), |(k, _)| k.trim());
        let k = k.strip_prefix("producer.").unwrap_or(k);
        key == Some(k) || (key.is_none() && source.to_string().contains(k))
    });
    match arg {
        Some(arg) => RunCmdError::SetConfig { arg: arg.clone(), source },
        None => RunCmdError::ProducerConfig { point, source },
    }
}

/// Makes every point shard `id`'s share of it; returns the whole workload's hash.
fn split_points(
    points: &mut [WorkloadPoint],
    id: ShardId,
    external: bool,
    warnings: &mut Vec<String>,
) -> Result<String, RunCmdError> {
    let err = |message: String| RunCmdError::Shard { shard: id, message };
    if points.len() != 1 {
        return Err(err(format!(
            "the workload expands to {} points; a shard runs one point (pick one with --set, e.g. --set linger.ms=5)",
            points.len()
        )));
    }
    if points.iter().any(|p| p.workload.peers.iter().any(|x| *x != crate::workbench::peers::Peer::Kprod)) {
        return Err(err("shards measure kprod only: drop `peers` (or --set 'peers=[kprod]')".into()));
    }
    if points.iter().any(|p| p.workload.rate_control.is_some()) {
        return Err(err("a searched or ramped rate runs in one process: give a fixed rate (--set rate=N)".into()));
    }
    let whole: Vec<_> = points.iter().map(|p| p.workload.clone()).collect();
    let hash = shard::workload_hash(&whole);
    for p in points.iter_mut() {
        let external = external || !matches!(endpoint(p, None), Endpoint::Embedded(_));
        if !external && id.count > 1 {
            push_unique(
                warnings,
                "each shard runs its own embedded mock broker: give --bootstrap-server to load one cluster".into(),
            );
        }
        for w in shard::split(&mut p.workload, id).map_err(|e| err(e.to_string()))? {
            push_unique(warnings, w);
        }
    }
    Ok(hash)
}

/// Warm-up plus measured time of a point, when it can be known before running it.
pub fn point_estimate(p: &WorkloadPoint) -> Option<Duration> {
    let w = &p.workload;
    if let Some(RateControl::Search(_)) = w.rate_control {
        return None; // the search's length depends on what it finds (bounded by its max_s)
    }
    match w.stop {
        StopAfter::Duration(d) => Some(w.warmup + d),
        StopAfter::Records(n) => w.rate_records_per_s.map(|r| w.warmup + Duration::from_secs_f64(n as f64 / r)),
    }
}

/// `13 s`, `4 min 05 s`, `1 h 02 min`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

fn describe_size(d: &SizeDist) -> String {
    match d {
        SizeDist::Fixed(n) => format!("{n} B"),
        SizeDist::Uniform { min, max } => format!("uniform {min}..{max} B"),
        SizeDist::Normal { mean, stddev } => format!("normal mean {mean} B, stddev {stddev} B"),
        SizeDist::Lognormal { mu, sigma } => format!("lognormal mu {mu}, sigma {sigma}"),
        SizeDist::Histogram(h) => format!("histogram of {} sizes", h.len()),
    }
}

impl Plan {
    /// Sum of the points' estimates; `false` when some point's length is unknown (closed loop, record count).
    pub fn estimate(&self) -> (Duration, bool) {
        let known: Vec<Option<Duration>> = self.points.iter().map(point_estimate).collect();
        (known.iter().flatten().sum(), known.iter().all(Option::is_some))
    }

    /// What will run, for the terminal.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let n = self.points.len();
        let (est, complete) = self.estimate();
        let _ = writeln!(s, "kprod run: {} ({})", self.name, self.file.display());
        let _ = writeln!(
            s,
            "  {n} point{}, estimated {}{}",
            if n == 1 { "" } else { "s" },
            if complete { "" } else { "at least " },
            fmt_duration(est)
        );
        let w = &self.points[0].workload;
        let target = match endpoint(&self.points[0], self.bootstrap.as_deref()) {
            Endpoint::Embedded(e) => {
                format!(
                    "embedded mock cluster ({} broker{}, {}{})",
                    e.brokers,
                    if e.brokers == 1 { "" } else { "s" },
                    match e.mode {
                        SinkMode::Sink => "sink",
                        SinkMode::Retain => "retain",
                    },
                    if e.faults.is_empty() { "" } else { ", with faults" }
                ) + if self.points.iter().any(embedded_tls) { ", TLS for SSL points (generated CA)" } else { "" }
            }
            Endpoint::External(b) => format!("bootstrap.servers={b}"),
        };
        let topics = if w.topics.len() == 1 {
            format!("topic {} ({} partitions)", w.topics[0].name, w.topics[0].partitions)
        } else {
            format!(
                "{} topics {}..{} ({} partitions each)",
                w.topics.len(),
                w.topics[0].name,
                w.topics[w.topics.len() - 1].name,
                w.topics[0].partitions
            )
        };
        let _ = writeln!(s, "  target: {target}, {topics}");
        if let Some((id, hash)) = &self.shard {
            let _ = writeln!(s, "  shard {id} of workload {hash} (rate, records, producers and keys: this share)");
        }
        let rate = match (&w.rate_control, w.rate_records_per_s) {
            (Some(RateControl::Search(c)), _) => format!(
                "searched: the highest rate the producer keeps up with{} (from {:.0} records/s, within {:.0} %, \
                 steps of {} + {} s, at most {} steps / {} s), then the point at that rate",
                c.p99_ms_max.map_or(String::new(), |m| format!(" at p99 ≤ {m} ms")),
                c.start,
                c.precision * 100.0,
                c.step_warmup_s,
                c.step_s,
                c.max_steps,
                c.max_s
            ),
            (Some(RateControl::Ramp(r)), _) => format!(
                "ramp: {:.0} records/s, +{:.0} every {} s{} ({} arrivals)",
                r.start,
                r.increment,
                r.every_s,
                r.max.map_or(String::new(), |m| format!(", at most {m:.0}")),
                format!("{:?}", w.arrival).to_lowercase()
            ),
            (None, Some(r)) => format!("{r:.0} records/s ({:?} arrivals)", w.arrival).to_lowercase(),
            (None, None) => "closed loop (as fast as acks allow)".into(),
        };
        let stop = match w.stop {
            StopAfter::Duration(d) => format!("{} measured", fmt_duration(d)),
            StopAfter::Records(r) => format!("{r} records"),
        };
        let keys = match &w.keys {
            KeySpec::None => "no keys".to_string(),
            k => format!("keys {}", serde_json::to_string(k).unwrap_or_default().replace('"', "")),
        };
        let payload = match &w.payload {
            PayloadSpec::File(f) => format!("payload from {}", f.display()),
            p => format!("payload {}", serde_json::to_string(p).unwrap_or_default().replace('"', "")),
        };
        let _ = writeln!(
            s,
            "  load: {rate}, {stop} after {} warm-up, {} task{}, records {}, {payload}, {keys}",
            fmt_duration(w.warmup),
            w.tasks(),
            if w.tasks() == 1 { "" } else { "s" },
            describe_size(&w.record_size)
        );
        if !w.producer_props.is_empty() && n == 1 {
            let props: Vec<String> =
                w.producer_props.iter().map(|(k, v)| format!("{k}={}", super::secrets::shown(k, v))).collect();
            let _ = writeln!(s, "  producer: {}", props.join(" "));
        }
        if n > 1 {
            const SHOWN: usize = 12;
            let names: Vec<String> = self.points.iter().take(SHOWN).map(point_label).collect();
            let more = if n > SHOWN { format!(", ... ({} more)", n - SHOWN) } else { String::new() };
            let _ = writeln!(s, "  points: {}{more}", names.join(", "));
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }

    /// `[2/4] name · 2 points left · ETA 3 s`; `elapsed` is the time spent on the points before `i`.
    pub fn progress_header(&self, i: usize, elapsed: Duration) -> String {
        let n = self.points.len();
        let p = &self.points[i];
        let left = n - i - 1;
        // Points of unknown length are guessed from the average so far.
        let avg = (i > 0).then(|| elapsed / i as u32);
        let eta: Option<Duration> = self.points[i..].iter().map(|p| point_estimate(p).or(avg)).sum();
        let repeat = if p.repeat > 0 { format!(" (repeat {})", p.repeat + 1) } else { String::new() };
        format!(
            "[{}/{n}] {}{repeat} · {left} point{} left after this · ETA {}",
            i + 1,
            p.name,
            if left == 1 { "" } else { "s" },
            eta.map_or_else(|| "unknown".to_string(), fmt_duration)
        )
    }
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub result: RunResult,
}

impl RunOutcome {
    /// Records without an outcome, over all points (record level and batch level, whichever is worse).
    pub fn unaccounted(&self) -> u64 {
        self.result
            .points
            .iter()
            .map(|p| p.accounting.map_or(0, |a| a.records_unaccounted().max(a.batch_records_unaccounted())))
            .sum()
    }

    /// Whole-run totals of the per-point accounting.
    /// True when Ctrl-C ended the run early.
    pub fn interrupted(&self) -> bool {
        self.result.points.iter().any(|p| p.status == PointStatus::Interrupted)
            || self.result.stopped.as_deref().is_some_and(|s| s.starts_with("interrupted"))
    }

    /// Points that failed (could not run, or nothing acknowledged).
    pub fn failed(&self) -> Vec<&PointResult> {
        self.result.points.iter().filter(|p| p.status == PointStatus::Failed).collect()
    }

    pub fn accounting(&self) -> Accounting {
        let mut t = Accounting::default();
        for a in self.result.points.iter().filter_map(|p| p.accounting) {
            t += a;
        }
        t
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunCmdError + '_ {
    move |source| RunCmdError::Io { path: path.to_path_buf(), source }
}

/// Runs every point of `plan` and writes the run folder.
pub async fn execute(settings: &RunSettings, plan: &Plan) -> Result<RunOutcome, RunCmdError> {
    let clock = ShardClock { offset_ms: settings.clock_offset_ms };
    let dir_name = match &plan.shard {
        Some((id, _)) => format!("{}-shard-{}-of-{}", plan.name, id.index, id.count),
        None => plan.name.clone(),
    };
    let dir = result::run_dir(&settings.out, &dir_name, SystemTime::now());
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let copy = dir.join("workload.yaml");
    let text = std::fs::read_to_string(&plan.file).map_err(io_err(&plan.file))?;
    std::fs::write(&copy, super::secrets::redacted_workload_text(&text)).map_err(io_err(&copy))?;
    let mut run = RunResult::new(&plan.name);
    run.workload_file = Some(plan.file.clone());
    let opts = RunOptions {
        stop: settings.stop.clone(),
        progress: settings.progress,
        drain_timeout: settings.drain_timeout,
        git_commit: run.git_commit.clone(),
        start_at: settings.start_at,
        clock,
        ..RunOptions::default()
    };
    if let Some((id, hash)) = &plan.shard {
        run.shard = Some(ShardMeta {
            index: id.index,
            count: id.count,
            workload_hash: hash.clone(),
            start_at_unix_ms: settings.start_at.map(|t| shard::StartAt(t).unix_ms()),
            start_lateness_us: 0,
            clock: ClockInfo::current(settings.clock_offset_ms),
        });
    }
    if let Err(cause) = preflight(plan).await {
        run.stopped = Some(cause.to_string());
        run.points_not_run = plan.points.iter().map(point_label).collect();
        run.save(&dir)?;
        report::write_report(&run, &dir)?;
        return Err(RunCmdError::Preflight { cause, dir });
    }
    let mut profile = settings.profile.then(|| RunProfile::new(settings.profile_hz));
    let started = Instant::now();
    if plan.points.iter().any(|p| p.workload.peers.iter().any(|x| *x != crate::workbench::peers::Peer::Kprod)) {
        // Peers: every peer at every point, alternating A B C A B C so drift on the machine hits all alike.
        if profile.is_some() {
            eprintln!("note: --profile is ignored when peers run (it would profile the peers' harness too)");
        }
        let root = if std::path::Path::new("scripts/java-peer.sh").exists() {
            PathBuf::from(".")
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        };
        let mut popts = crate::workbench::peers::PeerOptions::new(root, opts.clone());
        popts.bootstrap = plan.bootstrap.clone();
        popts.keep_going = settings.keep_going;
        let dir_ref = &dir;
        let opts_ref = &opts;
        let mut n = 0usize;
        let peers_run = crate::workbench::peers::run_points_with_peers(
            &plan.points,
            &popts,
            |p| {
                let p = p.clone();
                async move {
                    // As without peers: a point that cannot run is kept as failed with its cause; only writing
                    // the run folder is fatal.
                    let mut r = match run_point(&p, plan, settings, opts_ref, None, true).await {
                        Ok((r, iv)) => {
                            iv.save_intervals(dir_ref).map_err(io_err(dir_ref))?;
                            r
                        }
                        Err(e @ RunCmdError::Io { .. }) => return Err(e),
                        Err(e) => failed_point(&p, e.to_string()),
                    };
                    mark_if_nothing_acked(&mut r);
                    mark_if_records_failed(&mut r);
                    Ok::<_, RunCmdError>(r)
                }
            },
            |r| {
                n += 1;
                if settings.progress != Progress::Off {
                    match (&r.status, &r.failure) {
                        (PointStatus::Ok, _) | (_, None) => eprintln!(
                            "[{n}] {} [{}] {}: {:.0} records/s",
                            r.name, r.peer, r.status, r.rate_records_per_s
                        ),
                        (status, Some(cause)) => eprintln!("[{n}] {} [{}] {status}: {cause}", r.name, r.peer),
                    }
                }
                run.points.push(r.clone());
                let _ = run.save(&dir);
                let _ = report::write_report(&run, &dir);
            },
        )
        .await
        .map_err(|e| RunCmdError::Peers(e.to_string()))?;
        run.stopped = peers_run.stopped;
        run.points_not_run = peers_run.not_run;
        run.save(&dir)?;
        report::write_report(&run, &dir)?;
        return Ok(RunOutcome { dir, result: run });
    }
    let n = plan.points.len();
    let not_run = |from: usize| plan.points[from..].iter().map(point_label).collect::<Vec<_>>();
    for (i, point) in plan.points.iter().enumerate() {
        if settings.stop.is_set() {
            run.stopped = Some("interrupted (Ctrl-C) between points".into());
            run.points_not_run = not_run(i);
            break;
        }
        if settings.progress != Progress::Off {
            eprintln!("{}", plan.progress_header(i, started.elapsed()));
        }
        // A searched rate: the search's steps first, then the point at the rate found.
        let mut found = Ok(None);
        if let Some(RateControl::Search(criteria)) = &point.workload.rate_control {
            let search = run_search(point, criteria, plan, settings, &opts).await?;
            if settings.progress != Progress::Off {
                eprintln!("[{}/{n}] {}: {}", i + 1, point.name, search.summary());
            }
            found = match search.max_sustainable_rate {
                Some(rate) if search.ended != "interrupted" => Ok(Some((at_rate(point, rate), search.summary()))),
                _ => Err(format!("the rate search found no sustainable rate: {}", search.summary())),
            };
            run.searches.push(search);
            run.save(&dir)?;
        }
        let measured = match &found {
            Ok(Some((p, _))) => p,
            _ => point,
        };
        let mut result = match &found {
            Err(cause) if !settings.stop.is_set() => failed_point(point, cause.clone()),
            _ => match run_point(measured, plan, settings, &opts, profile.as_mut(), true).await {
                Ok((result, intervals)) => {
                    intervals.save_intervals(&dir).map_err(io_err(&dir))?;
                    result
                }
                Err(e @ (RunCmdError::Io { .. } | RunCmdError::Profile(_))) => return Err(e),
                Err(e) => failed_point(point, e.to_string()),
            },
        };
        if let Ok(Some((_, summary))) = &found {
            result.warnings.push(format!("point {}: rate from the search: {summary}", point.name));
        }
        mark_if_nothing_acked(&mut result);
        mark_if_records_failed(&mut result);
        if let Some(meta) = run.shard.as_mut() {
            meta.start_lateness_us = meta.start_lateness_us.max(result.start_lateness_us.unwrap_or(0));
        }
        if settings.progress != Progress::Off {
            if let Some(cause) = &result.failure {
                let what = if result.status == PointStatus::Partial { "PARTIAL" } else { "FAILED" };
                eprintln!("[{}/{n}] {} {what}: {cause}", i + 1, point.name);
            }
            for w in result.warnings.iter().filter(|w| w.contains("missed its target")) {
                eprintln!("warning: {w}");
            }
        }
        let status = result.status;
        run.points.push(result);
        if status == PointStatus::Interrupted {
            run.stopped = Some(format!("interrupted (Ctrl-C) during point {}", point_label(point)));
            run.points_not_run = not_run(i + 1);
        } else if status == PointStatus::Failed && !settings.keep_going && i + 1 < n {
            run.stopped = Some(format!(
                "point {} failed; the sweep stops there (--keep-going runs the rest)",
                point_label(point)
            ));
            run.points_not_run = not_run(i + 1);
        }
        // After every point, so an interrupted sweep leaves a readable report of what it measured.
        run.save(&dir)?;
        report::write_report(&run, &dir)?;
        if run.stopped.is_some() {
            break;
        }
    }
    run.save(&dir)?;
    report::write_report(&run, &dir)?;
    if let Some(p) = &profile {
        p.write_flamegraph(&dir.join("flamegraph.svg"), &plan.name)?;
        // Every point was profiled (from the end of its warm-up), so the points' acked rate is the profiled rate.
        let (acked, secs) = run.points.iter().fold((0u64, 0.0), |(n, s), q| (n + q.records_acked, s + q.duration_s));
        run.profile = Some(super::profile::ProfileInfo {
            hz: p.hz(),
            samples: p.samples(),
            sampled_s: p.sampled_s(),
            records_per_s: if secs > 0.0 { acked as f64 / secs } else { 0.0 },
            cpu_s: run
                .points
                .iter()
                .filter_map(|q| q.cpu_time_ns_per_record.map(|c| c * q.records_acked as f64 / 1e9))
                .sum(),
        });
        run.save(&dir)?;
        report::write_report(&run, &dir)?;
    }
    Ok(RunOutcome { dir, result: run })
}

/// `point` at a fixed `rate` (records/s).
fn at_rate(point: &WorkloadPoint, rate: f64) -> WorkloadPoint {
    let mut p = point.clone();
    p.workload.rate_records_per_s = Some(rate);
    p.workload.rate_control = None;
    p
}

/// Runs the rate search of `point`: each step a short open-loop point of its own (fresh cluster and producer), judged
/// by [`search::judge`]; progress on the console.
async fn run_search(
    point: &WorkloadPoint,
    criteria: &RateSearch,
    plan: &Plan,
    settings: &RunSettings,
    opts: &RunOptions,
) -> Result<search::SearchResult, RunCmdError> {
    let planned = Duration::from_secs_f64(criteria.step_s);
    let show = settings.progress != Progress::Off;
    if show {
        eprintln!(
            "  rate search: steps of {} + {} s from {} records/s, to within {:.0} %{} (at most {} steps, {} s)",
            criteria.step_warmup_s,
            criteria.step_s,
            runner::thousands(criteria.start),
            criteria.precision * 100.0,
            criteria.p99_ms_max.map_or(String::new(), |m| format!(", p99 ≤ {m} ms")),
            criteria.max_steps,
            criteria.max_s
        );
    }
    // Steps print no per-second progress of their own: one line each says it all.
    let step_opts = RunOptions { progress: Progress::Off, ..opts.clone() };
    let step_opts = &step_opts;
    search::search(
        &point.name,
        criteria,
        |rate| async move {
            if settings.stop.is_set() {
                return Ok(None);
            }
            let mut step = at_rate(point, rate);
            step.name = format!("{} @ {}/s", point.name, runner::thousands(rate));
            step.workload.stop = StopAfter::Duration(planned);
            step.workload.warmup = Duration::from_secs_f64(criteria.step_warmup_s);
            // (No runner-cost measurement per step: it would double a short step's time for a figure not judged.)
            let result = match run_point(&step, plan, settings, step_opts, None, false).await {
                Ok((result, _intervals)) => result,
                Err(e @ RunCmdError::Io { .. }) => return Err(e),
                Err(e) => failed_point(&step, e.to_string()),
            };
            if result.status == PointStatus::Interrupted {
                return Ok(None);
            }
            Ok(Some(search::judge(criteria, rate, planned, &result)))
        },
        |i, s| {
            if show {
                eprintln!(
                    "  search step {}{}: {} records/s → {} acked, p50 {:.2} ms, p99 {:.2} ms: {} ({})",
                    i + 1,
                    if s.attempt > 1 { format!(" (attempt {})", s.attempt) } else { String::new() },
                    runner::thousands(s.rate),
                    runner::thousands(s.achieved_records_per_s),
                    s.response_time_us_p50 as f64 / 1e3,
                    s.response_time_us_p99 as f64 / 1e3,
                    if s.pass { "pass" } else { "FAIL" },
                    s.why
                );
            }
        },
    )
    .await
}

/// A point's name as the plan shows it: `(repeat N)` appended after the first repeat.
pub fn point_label(p: &WorkloadPoint) -> String {
    if p.repeat > 0 { format!("{} (repeat {})", p.name, p.repeat + 1) } else { p.name.clone() }
}

/// The result of a point that could not run: its identity, `failed` and why.
fn failed_point(point: &WorkloadPoint, cause: String) -> PointResult {
    let prefix = format!("point {}: ", point.name);
    let cause = cause.strip_prefix(&prefix).map_or(cause.clone(), str::to_string);
    PointResult {
        name: point.name.clone(),
        dims: point.dims.clone(),
        repeat: point.repeat,
        config: Some(point.workload.clone()),
        seed: point.workload.seed,
        machine: result::Machine::current(),
        start_time_unix_ms: result::unix_ms(SystemTime::now()),
        status: PointStatus::Failed,
        failure: Some(cause),
        ..PointResult::default()
    }
}

/// A point that sent records and had none acknowledged (warm-up included) failed: the cause is what its records
/// failed with.
fn mark_if_nothing_acked(p: &mut PointResult) {
    let Some(a) = p.accounting else { return };
    if p.status != PointStatus::Ok || a.records_acked > 0 || a.records_sent == 0 {
        return;
    }
    let kinds: Vec<String> = p.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
    p.status = PointStatus::Failed;
    p.failure = Some(format!(
        "no record acknowledged: {} sent, {} failed{}{}",
        a.records_sent,
        a.records_failed,
        if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) },
        p.warnings.iter().find(|w| w.contains("metadata for topic")).map_or(String::new(), |w| format!("; {w}"))
    ));
}

/// A point that ran to its end with some records failed is `partial`, its `failure` the counts by Kafka error name
/// (the measured phase's, from `errors`; the totals include the warm-up). Its figures cover only the acknowledged
/// records, so the reports must not show it as a clean point.
pub fn mark_if_records_failed(p: &mut PointResult) {
    let Some(a) = p.accounting else { return };
    if p.status != PointStatus::Ok || a.records_failed == 0 {
        return;
    }
    let kinds: Vec<String> = p.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
    p.status = PointStatus::Partial;
    p.failure = Some(format!(
        "{} of {} records failed{}",
        a.records_failed,
        a.records_sent,
        if kinds.is_empty() { " (in the warm-up)".to_string() } else { format!(" ({})", kinds.join(", ")) }
    ));
}

/// Before the first point: every external target answers (TCP connect, TLS, ApiVersions, SASL) within
/// [`PREFLIGHT_TIMEOUT`] per bootstrap server. `Err` names the bootstrap servers and the cause.
async fn preflight(plan: &Plan) -> Result<(), PreflightError> {
    let mut checked: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for p in &plan.points {
        let Endpoint::External(bootstrap) = endpoint(p, plan.bootstrap.as_deref()) else { continue };
        let props = &p.workload.producer_props;
        let key = (bootstrap.clone(), props.get("security.protocol").cloned(), props.get("sasl.mechanism").cloned());
        if checked.contains(&key) {
            continue;
        }
        let cfg = producer_config(p, &bootstrap).map_err(|e| PreflightError::Config(Box::new(e)))?;
        if let Err(source) = crate::verify::probe(&cfg, PREFLIGHT_TIMEOUT).await {
            return Err(PreflightError::Unreachable { bootstrap, source });
        }
        checked.push(key);
    }
    Ok(())
}

/// Starts the embedded cluster of a point: brokers, topics, faults.
async fn start_cluster(point: &WorkloadPoint, e: &EmbeddedTarget) -> Result<MockCluster, RunCmdError> {
    let w = &point.workload;
    let broker_err = |source| RunCmdError::Broker { point: point.name.clone(), source };
    let mode = match e.mode {
        SinkMode::Sink => StorageMode::Sink,
        SinkMode::Retain => StorageMode::Retain { max_bytes: RETAIN_BYTES_MAX },
    };
    let partitions = w.topics.first().map_or(1, |t| t.partitions);
    let mut builder = MockCluster::builder()
        .brokers(e.brokers as usize)
        .default_partitions(i32::try_from(partitions).unwrap_or(i32::MAX))
        .mode(mode);
    if embedded_tls(point) {
        builder = builder.tls(MockTls::generated());
    }
    if let Some(sasl) = &e.sasl {
        builder =
            sasl.apply(builder).map_err(|source| RunCmdError::EmbeddedSasl { point: point.name.clone(), source })?;
    } else if let Some(s) = embedded_sasl_from_producer(point, e)? {
        builder = builder.sasl_mechanisms(&[s.mechanism]).sasl_user(&s.username, s.password.expose());
    }
    let mut cluster = builder.start().await.map_err(broker_err)?;
    for t in &w.topics {
        let n = i32::try_from(t.partitions).unwrap_or(i32::MAX);
        if let Err(source) = cluster.create_topic(&t.name, n) {
            cluster.shutdown().await;
            return Err(RunCmdError::Topic { point: point.name.clone(), topic: t.name.clone(), source });
        }
    }
    let faults = fault_plan(point, e)?;
    if faults != FaultPlan::default()
        && let Err(source) = cluster.apply_faults(&faults).await
    {
        cluster.shutdown().await;
        return Err(broker_err(source));
    }
    Ok(cluster)
}

/// Runs one point on its own target and producer: on the process's runtime, or with the workload's
/// `worker_threads`, on a runtime of its own that lives for the point (its producer, load tasks, embedded broker and
/// the runner-cost measure all run there).
///
/// A point's own runtime runs on a scoped thread that this call waits for, blocking the calling thread: the
/// workbench calls it from the `block_on` of `main`, never from a worker, and nothing else runs on that thread
/// meanwhile. Ctrl-C still reaches the point: [`Stop`](runner::Stop) is set from the process's runtime and read
/// from any.
async fn run_point(
    point: &WorkloadPoint,
    plan: &Plan,
    settings: &RunSettings,
    opts: &RunOptions,
    profile: Option<&mut RunProfile>,
    runner_cost: bool,
) -> Result<(PointResult, runner::PointRun), RunCmdError> {
    let here = run_point_here(point, plan, settings, opts, profile, runner_cost);
    let Some(threads) = point.workload.worker_threads else { return here.await };
    std::thread::scope(|s| {
        let runs = std::thread::Builder::new().name("kprod-point".into()).spawn_scoped(s, move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads as usize)
                .thread_name("kprod-point-worker")
                .enable_all()
                .build()
                .map_err(|source| RunCmdError::Runtime { point: point.name.clone(), threads, source })?;
            rt.block_on(here)
        });
        match runs {
            Ok(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(source) => Err(RunCmdError::Runtime { point: point.name.clone(), threads, source }),
        }
    })
}

async fn run_point_here(
    point: &WorkloadPoint,
    plan: &Plan,
    settings: &RunSettings,
    opts: &RunOptions,
    profile: Option<&mut RunProfile>,
    runner_cost: bool,
) -> Result<(PointResult, runner::PointRun), RunCmdError> {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let (bootstrap, ca_pem, cluster) = match endpoint(point, plan.bootstrap.as_deref()) {
        Endpoint::External(b) => (b, None, None),
        Endpoint::Embedded(e) => {
            let c = start_cluster(point, &e).await?;
            (c.bootstrap(), c.tls_ca_pem().map(str::to_string), Some(c))
        }
    };
    let mut outcome = measure(point, &bootstrap, ca_pem.as_deref(), settings, opts, profile, runner_cost).await;
    if let Some(c) = cluster {
        c.shutdown().await;
    }
    if let Ok((r, _)) = &mut outcome {
        r.runtime_worker_threads = Some(workers);
    }
    outcome
}

async fn measure(
    point: &WorkloadPoint,
    bootstrap: &str,
    embedded_ca_pem: Option<&str>,
    settings: &RunSettings,
    opts: &RunOptions,
    profile: Option<&mut RunProfile>,
    measure_runner_cost: bool,
) -> Result<(PointResult, runner::PointRun), RunCmdError> {
    let w = &point.workload;
    let mut cfg = producer_config(point, bootstrap)?;
    if let Some(ca) = embedded_ca_pem {
        trust_embedded_ca(&mut cfg, ca)
            .map_err(|source| RunCmdError::ProducerConfig { point: point.name.clone(), source })?;
    }
    let topics: Vec<String> = w.topics.iter().map(|t| t.name.clone()).collect();
    let mut target = ProducerTarget::build(cfg, &topics)
        .map_err(|source| RunCmdError::Producer { point: point.name.clone(), source })?;
    if let Some(spec) = w.transaction {
        target
            .start_transactions(spec, target.producer().config().max_block)
            .await
            .map_err(|source| RunCmdError::Producer { point: point.name.clone(), source })?;
    }
    let target = Arc::new(target);
    // Fetch metadata before the clock starts, so the first records do not pay for the producer's start-up (as
    // with any long-lived producer). A failure here is not fatal: the sends will report it per record.
    let mut early_warnings = Vec::new();
    for t in &topics {
        tokio::select! {
            biased;
            _ = opts.stop.wait() => break,
            r = target.producer().partitions_for(t) => if let Err(e) = r {
                early_warnings.push(format!("point {}: metadata for topic {t} before the run: {e}", point.name));
            }
        }
    }
    // The profiler samples the measured phase only: it starts when the warm-up ends.
    let run = runner::run_point(target.clone(), point, opts);
    tokio::pin!(run);
    let warm = tokio::time::sleep(w.warmup);
    tokio::pin!(warm);
    let mut sampling = None;
    let measured = loop {
        tokio::select! {
            r = &mut run => break r,
            _ = &mut warm, if profile.is_some() && sampling.is_none() => {
                if let Some(p) = profile.as_deref() {
                    sampling = Some(p.start()?);
                }
            }
        }
    };
    if let (Some(p), Some(s)) = (profile, sampling) {
        p.stop(s)?;
    }
    let point_run = measured?;
    let transactions = target.finish_transactions().await;
    let producer = target.producer();
    let close_timeout = if opts.stop.is_set() {
        settings.close_timeout.min(runner::INTERRUPT_DRAIN_MAX)
    } else {
        settings.close_timeout
    };
    let close_err = producer.close(close_timeout).await.err();
    let accounting = settle(&target).await;
    let mut result = point_run.result.clone();
    result.producer_config = producer.config().to_properties();
    result.producer_metrics =
        producer.metrics().into_iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.to_string(), v)).collect();
    result.accounting = Some(accounting);
    // What the harness costs per record, measured once the producer is closed so nothing else runs, and after the
    // point so it never delays a start (a shard must be on time for `--start-at`). Not after a Ctrl-C.
    if measure_runner_cost && !opts.stop.is_set() {
        result.runner_cpu_ns_per_record = runner::runner_cost_ns_per_record(point).await;
    }
    if let Some(e) = transactions.as_ref().and_then(|t| t.first_error.as_ref()) {
        result.warnings.push(format!("point {}: transaction: {e}", point.name));
    }
    result.transactions = transactions;
    result.warnings.extend(early_warnings);
    if let Some(e) = close_err {
        result.warnings.push(format!("point {}: closing the producer: {e}", point.name));
    }
    if !accounting.balanced() {
        result.warnings.push(format!(
            "point {}: {} record(s) without an outcome ({} sent, {} refused, {} acked, {} failed; batches: {} acked, \
             {} failed)",
            point.name,
            accounting.records_unaccounted().max(accounting.batch_records_unaccounted()),
            accounting.records_sent,
            accounting.records_refused,
            accounting.records_acked,
            accounting.records_failed,
            accounting.batch_records_acked,
            accounting.batch_records_failed
        ));
    }
    Ok((result, point_run))
}

/// Waits (bounded) until every ack future handed to the runner has reported, then snapshots the accounting.
async fn settle(target: &ProducerTarget) -> Accounting {
    let deadline = tokio::time::Instant::now() + SETTLE_MAX;
    loop {
        let a = target.accounting();
        if a.balanced() || tokio::time::Instant::now() >= deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
