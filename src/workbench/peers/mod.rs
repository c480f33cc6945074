//! Peers: kprod, librdkafka and the Java producer measured side by side, point by point.
//!
//! A workload lists the producers to measure (`peers: [kprod, librdkafka, java]`, default `[kprod]`).
//! [`run_points_with_peers`] runs every peer at every point, alternating A B C A B C so slow drift (page cache,
//! thermal, a noisy neighbour) hits every peer alike, and tags each [`PointResult`] with its [`Peer`]:
//!
//! - **kprod** through the caller's closure (the `kprod run` command's own point runner);
//! - **librdkafka** (`rdkafka`, cargo feature `peer-rdkafka`): a [`LoadTarget`](super::runner::LoadTarget) over
//!   `ThreadedProducer` on the runner's bulk path (delivery reports, as kprod's batch hooks), driven by the same
//!   runner as kprod, configured by [`rdkafka_config()`] from the point's Java properties;
//! - **Java** ([`java`]): `scripts/java-peer.sh` (the `KafkaProducer` driver in `peers/java`), same open-loop
//!   measurement, its JSON and HDR histograms turned into a [`PointResult`].
//!
//! Every peer gets exactly the producer properties kprod resolves for the point (Java defaults filled in), each set
//! explicitly. With an `embedded` target each librdkafka/Java run gets a fresh in-process mock cluster (the same
//! shape kprod gets), so no peer inherits another's broker state; with `bootstrap` they all use that cluster.

pub mod java;
pub mod java_perf_test;
#[cfg(feature = "peer-rdkafka")]
pub mod rdkafka;
pub mod rdkafka_config;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use rdkafka_config::rdkafka_config;

use super::result::{PointResult, PointStatus};
use super::runner::RunOptions;
use super::workload::{SinkMode, TargetSpec, WorkloadPoint};
use crate::broker::{MockCluster, StorageMode, TopicError};

/// A producer implementation under measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    #[default]
    Kprod,
    Librdkafka,
    Java,
    /// Java's own `kafka-producer-perf-test` (kafka-tools), its summary line parsed ([`java_perf_test`]).
    #[serde(rename = "java-perf-test")]
    JavaPerfTest,
}

impl Peer {
    pub const ALL: [Peer; 4] = [Peer::Kprod, Peer::Librdkafka, Peer::Java, Peer::JavaPerfTest];

    /// The name used in workloads, results and reports.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Kprod => "kprod",
            Peer::Librdkafka => "librdkafka",
            Peer::Java => "java",
            Peer::JavaPerfTest => "java-perf-test",
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Peer {
    type Err = UnknownPeer;

    fn from_str(s: &str) -> Result<Peer, UnknownPeer> {
        Peer::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownPeer(s.to_string()))
    }
}

/// A peer name kprod does not know (as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown peer `{0}` (expected kprod, librdkafka, java or java-perf-test)")]
pub struct UnknownPeer(pub String);

/// The cause inside a [`PeerError`]: the peer module's own typed error, boxed (downcast it to inspect it).
pub type PeerCause = Box<dyn std::error::Error + Send + Sync>;

/// Why an external tool (a peer's script) ended without output to read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    #[error("cannot start: {0}")]
    Start(#[source] std::io::Error),
    #[error("started, but has no process id")]
    NoProcessId,
    #[error("waiting: {0}")]
    Wait(#[source] std::io::Error),
    /// Ctrl-C stopped it (the message starts with "interrupted (Ctrl-C)").
    #[error("{TOOL_INTERRUPTED} (its process group terminated)")]
    Interrupted,
    /// It ran past its time budget and was killed.
    #[error("no result within {0:?}; killed")]
    Overdue(Duration),
}

/// Why a peer could not be measured at a point. Each names the peer and the point.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    #[error("point {point}: kprod: {source}")]
    Kprod { point: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("point {point}: {peer} cannot run it: {source}")]
    Unsupported { point: String, peer: Peer, source: PeerCause },
    #[error("point {point}: librdkafka is not built in: rebuild with `--features peer-rdkafka`")]
    NotBuilt { point: String },
    #[error("point {point}: {peer} config: {source}")]
    Config { point: String, peer: Peer, source: PeerCause },
    #[error("point {point}: embedded mock cluster for {peer}: {source}")]
    Broker { point: String, peer: Peer, source: PeerCause },
    #[error("point {point}: {peer}: {source}")]
    Run { point: String, peer: Peer, source: PeerCause },
    #[error("point {point}: java peer ({script}): {source}")]
    Java { point: String, script: PathBuf, source: java::JavaRunError },
}

/// Settings for the peers that are not part of the workload.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Runner settings for librdkafka (kprod's closure uses its own).
    pub run: RunOptions,
    /// `scripts/java-peer.sh`.
    pub java_script: PathBuf,
    /// Extra time a Java run may take beyond warm-up + duration (JVM start, metadata, drain) before it is killed.
    pub java_slack: Duration,
    /// Bootstrap servers that replace every point's target for the peers (as `kprod run --bootstrap` does for
    /// kprod); `None` = the point's own target.
    pub bootstrap: Option<String>,
    /// Run the rest after a peer fails at a point (`kprod run --keep-going`); default: stop there.
    pub keep_going: bool,
}

impl PeerOptions {
    /// Options for a checkout at `repo_root` (where `scripts/java-peer.sh` lives).
    pub fn new(repo_root: impl Into<PathBuf>, run: RunOptions) -> PeerOptions {
        PeerOptions {
            run,
            java_script: repo_root.into().join("scripts/java-peer.sh"),
            java_slack: Duration::from_secs(180),
            bootstrap: None,
            keep_going: false,
        }
    }
}

/// The run order: for every point, every one of its peers (A B C A B C ...). Entries are (point index, peer).
pub fn run_order(points: &[WorkloadPoint]) -> Vec<(usize, Peer)> {
    points.iter().enumerate().flat_map(|(i, p)| p.workload.peers.iter().map(move |peer| (i, *peer))).collect()
}

/// What [`run_points_with_peers`] ran, and what it did not.
#[derive(Debug, Default)]
pub struct PeersRun {
    /// In run order, each tagged with its peer. A peer that failed at a point has a `failed` result with the cause;
    /// one stopped by Ctrl-C an `interrupted` one.
    pub results: Vec<PointResult>,
    /// Why the run ended early (Ctrl-C, a failed point without `keep_going`).
    pub stopped: Option<String>,
    /// `point [peer]` of every run not started.
    pub not_run: Vec<String>,
}

/// Runs every peer of every point in [`run_order`] and returns the results in that order, each tagged with its
/// peer. `run_kprod` measures kprod at a point (it owns kprod's target: embedded cluster or bootstrap; its `Err` is
/// fatal: the harness failed); `on_result` sees each result as soon as it exists (progress lines, incremental
/// saves).
///
/// A peer that fails while running (its process exits without a result, its cluster does not start) gives a
/// `failed` result with the cause, and, unless [`PeerOptions::keep_going`], nothing after it runs; a peer that
/// cannot express the point (unsupported, not built, bad config) is an `Err`: the workload asks for the impossible.
/// Ctrl-C ([`RunOptions::stop`]) stops the peer's process and runs nothing after it.
///
/// Integration in `kprod run` (sketch):
/// ```ignore
/// let opts = PeerOptions::new(repo_root, run_opts.clone());
/// let run = run_points_with_peers(&points, &opts, |p| run_kprod_point(p), |r| eprintln!("{}", r.name)).await?;
/// ```
pub async fn run_points_with_peers<F, Fut, E>(
    points: &[WorkloadPoint],
    opts: &PeerOptions,
    mut run_kprod: F,
    mut on_result: impl FnMut(&PointResult),
) -> Result<PeersRun, PeerError>
where
    F: FnMut(&WorkloadPoint) -> Fut,
    Fut: Future<Output = Result<PointResult, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut run = PeersRun::default();
    let order = run_order(points);
    let label = |(i, peer): (usize, Peer)| format!("{} [{peer}]", super::run_cmd::point_label(&points[i]));
    for (k, &(i, peer)) in order.iter().enumerate() {
        let point = &points[i];
        if opts.run.stop.is_set() {
            run.stopped = Some(format!("interrupted (Ctrl-C) before {}", label((i, peer))));
            run.not_run = order[k..].iter().map(|x| label(*x)).collect();
            break;
        }
        let mut result = match peer {
            Peer::Kprod => {
                run_kprod(point).await.map_err(|e| PeerError::Kprod { point: point.name.clone(), source: e.into() })?
            }
            other => {
                // What the peer before it reached here: sizes kafka-producer-perf-test's record count.
                let hint = run.results.iter().rev().find(|r| r.name == point.name && r.rate_records_per_s > 0.0);
                match run_peer(other, point, opts, hint.map(|r| r.rate_records_per_s)).await {
                    Ok(r) => r,
                    Err(e @ (PeerError::Run { .. } | PeerError::Java { .. } | PeerError::Broker { .. })) => {
                        peer_failed(point, other, &e.to_string(), opts.run.stop.is_set())
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        result.peer = peer;
        on_result(&result);
        let status = result.status;
        run.results.push(result);
        let rest = || order[k + 1..].iter().map(|x| label(*x)).collect::<Vec<_>>();
        if status == PointStatus::Interrupted {
            run.stopped = Some(format!("interrupted (Ctrl-C) during {}", label((i, peer))));
            run.not_run = rest();
            break;
        }
        if status == PointStatus::Failed && !opts.keep_going && k + 1 < order.len() {
            run.stopped =
                Some(format!("{} failed; the sweep stops there (--keep-going runs the rest)", label((i, peer))));
            run.not_run = rest();
            break;
        }
    }
    Ok(run)
}

/// The result of a peer run that ended without a result: `failed` with the cause, or `interrupted` after Ctrl-C.
pub fn peer_failed(point: &WorkloadPoint, peer: Peer, cause: &str, interrupted: bool) -> PointResult {
    let prefix = format!("point {}: ", point.name);
    let cause = cause.strip_prefix(&prefix).unwrap_or(cause).to_string();
    PointResult {
        name: point.name.clone(),
        dims: point.dims.clone(),
        repeat: point.repeat,
        peer,
        config: Some(point.workload.clone()),
        seed: point.workload.seed,
        machine: super::result::Machine::current(),
        start_time_unix_ms: super::result::unix_ms(std::time::SystemTime::now()),
        status: if interrupted { PointStatus::Interrupted } else { PointStatus::Failed },
        failure: Some(cause),
        ..PointResult::default()
    }
}

/// Measures one non-kprod peer at one point, on a fresh embedded cluster or the point's bootstrap servers.
/// `rate_hint` (records/s another peer reached at this point) sizes a closed-loop `java-perf-test` run, which
/// takes a record count rather than a duration.
pub async fn run_peer(
    peer: Peer,
    point: &WorkloadPoint,
    opts: &PeerOptions,
    rate_hint: Option<f64>,
) -> Result<PointResult, PeerError> {
    let target = match &opts.bootstrap {
        Some(b) => PeerTarget { bootstrap: b.clone(), cluster: None },
        None => PeerTarget::start(peer, point).await?,
    };
    let result = match peer {
        Peer::Kprod => Err(PeerError::Unsupported {
            point: point.name.clone(),
            peer,
            source: "kprod runs through the caller's closure".into(),
        }),
        Peer::Librdkafka => run_librdkafka(point, &target.bootstrap, opts).await,
        Peer::Java => java::run_point(point, &target.bootstrap, opts).await,
        Peer::JavaPerfTest => java_perf_test::run_point(point, &target.bootstrap, opts, rate_hint).await,
    };
    target.stop().await;
    let mut result = result?;
    result.peer = peer;
    Ok(result)
}

#[cfg(feature = "peer-rdkafka")]
async fn run_librdkafka(point: &WorkloadPoint, bootstrap: &str, opts: &PeerOptions) -> Result<PointResult, PeerError> {
    rdkafka::run_point(point, bootstrap, &opts.run).await
}

#[cfg(not(feature = "peer-rdkafka"))]
async fn run_librdkafka(
    point: &WorkloadPoint,
    _bootstrap: &str,
    _opts: &PeerOptions,
) -> Result<PointResult, PeerError> {
    Err(PeerError::NotBuilt { point: point.name.clone() })
}

/// What a peer's process left: its stdout, the last lines of its stderr and its exit status.
pub(crate) struct ToolOutput {
    pub stdout: String,
    pub stderr_tail: String,
    pub status: std::process::ExitStatus,
}

/// Process groups of the peer tools running now, so a second Ctrl-C (which exits at once, without unwinding) can
/// kill them first: [`kill_running_tools`].
static TOOL_GROUPS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Kills (SIGKILL) the process group of every peer tool still running. Called before `kprod run` exits on a second
/// Ctrl-C, so no JVM outlives kprod.
pub fn kill_running_tools() {
    let groups = TOOL_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    for pgid in groups.iter() {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe { libc::kill(-*pgid, libc::SIGKILL) };
    }
}

/// A tool's process group while it runs: registered in [`TOOL_GROUPS`]; killed when dropped unless it ended.
struct ToolGroup {
    pgid: i32,
    ended: bool,
}

impl ToolGroup {
    fn register(pgid: i32) -> ToolGroup {
        TOOL_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(pgid);
        ToolGroup { pgid, ended: false }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: as in `kill_running_tools`.
        unsafe { libc::kill(-self.pgid, sig) };
    }
}

impl Drop for ToolGroup {
    fn drop(&mut self) {
        if !self.ended {
            self.signal(libc::SIGKILL);
        }
        TOOL_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|g| *g != self.pgid);
    }
}

/// How long a stopped or overdue tool gets after SIGTERM before its group is killed.
const TOOL_TERM_GRACE: Duration = Duration::from_secs(2);

/// Prefix of [`run_tool`]'s error when `stop` (Ctrl-C) ended the tool.
pub(crate) const TOOL_INTERRUPTED: &str = "interrupted (Ctrl-C): stopped";

/// Runs `program args...` with no stdin and keeps its output. It runs in a process group of its own (a shell script
/// and the JVM it starts), which is terminated (SIGTERM, then SIGKILL after [`TOOL_TERM_GRACE`]) when `budget`
/// passes, when `stop` is triggered (Ctrl-C), or when the future is dropped; a second Ctrl-C kills it through
/// [`kill_running_tools`]. Own process group, because killing the shell alone would orphan the JVM it started.
pub(crate) async fn run_tool(
    program: &std::path::Path,
    args: &[String],
    budget: Duration,
    stop: &super::runner::Stop,
) -> Result<ToolOutput, ToolError> {
    use tokio::io::AsyncReadExt;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(ToolError::Start)?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok()).ok_or(ToolError::NoProcessId)?;
    let mut group = ToolGroup::register(pgid);
    let (mut out_pipe, mut err_pipe) = (child.stdout.take(), child.stderr.take());
    enum End {
        Exited(std::io::Result<std::process::ExitStatus>),
        Overdue,
        Stopped,
    }
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let end = {
        let run = async {
            let read_out = async {
                if let Some(p) = out_pipe.as_mut() {
                    let _ = p.read_to_end(&mut stdout).await;
                }
            };
            let read_err = async {
                if let Some(p) = err_pipe.as_mut() {
                    let _ = p.read_to_end(&mut stderr).await;
                }
            };
            let (status, (), ()) = tokio::join!(child.wait(), read_out, read_err);
            End::Exited(status)
        };
        tokio::select! {
            end = run => end,
            _ = tokio::time::sleep(budget) => End::Overdue,
            _ = stop.wait() => End::Stopped,
        }
    };
    let status = match end {
        End::Exited(status) => {
            group.ended = true;
            status.map_err(ToolError::Wait)?
        }
        stopped @ (End::Overdue | End::Stopped) => {
            group.signal(libc::SIGTERM);
            if tokio::time::timeout(TOOL_TERM_GRACE, child.wait()).await.is_err() {
                group.signal(libc::SIGKILL);
                let _ = child.wait().await;
            }
            // Whatever else is left of its group goes when `group` is dropped.
            return Err(if matches!(stopped, End::Stopped) {
                ToolError::Interrupted
            } else {
                ToolError::Overdue(budget)
            });
        }
    };
    let stderr = String::from_utf8_lossy(&stderr);
    let mut tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    tail.reverse();
    Ok(ToolOutput { stdout: String::from_utf8_lossy(&stdout).into_owned(), stderr_tail: tail.join("\n"), status })
}

/// Where a peer sends: a mock cluster started for this run, or the workload's bootstrap servers.
pub struct PeerTarget {
    pub bootstrap: String,
    cluster: Option<MockCluster>,
}

impl PeerTarget {
    /// Starts a mock cluster shaped like the point's `embedded` target (brokers, partitions, storage mode), with
    /// the point's topics created; or just names the `bootstrap` servers.
    pub async fn start(peer: Peer, point: &WorkloadPoint) -> Result<PeerTarget, PeerError> {
        let w = &point.workload;
        let e = match &w.target {
            TargetSpec::Bootstrap(b) => return Ok(PeerTarget { bootstrap: b.clone(), cluster: None }),
            TargetSpec::Embedded(e) => e,
        };
        let err = |source: PeerCause| PeerError::Broker { point: point.name.clone(), peer, source };
        if !e.faults.is_empty() {
            return Err(PeerError::Unsupported {
                point: point.name.clone(),
                peer,
                source: "fault injection on the embedded target is kprod-only".into(),
            });
        }
        let partitions = w.topics.first().map_or(1, |t| t.partitions) as i32;
        let mode = match e.mode {
            SinkMode::Sink => StorageMode::Sink,
            SinkMode::Retain => StorageMode::Retain { max_bytes: 1 << 30 },
        };
        let cluster = MockCluster::builder()
            .brokers(e.brokers as usize)
            .default_partitions(partitions)
            .mode(mode)
            .start()
            .await
            .map_err(|e| err(e.into()))?;
        for t in &w.topics {
            match cluster.create_topic(&t.name, t.partitions as i32) {
                Ok(()) | Err(TopicError::AlreadyExists { .. }) => {}
                Err(e) => return Err(err(e.into())),
            }
        }
        Ok(PeerTarget { bootstrap: cluster.bootstrap(), cluster: Some(cluster) })
    }

    /// Shuts the embedded cluster down (nothing to do for bootstrap servers).
    pub async fn stop(self) {
        if let Some(c) = self.cluster {
            c.shutdown().await;
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
