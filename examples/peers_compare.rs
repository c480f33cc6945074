//! Measures kprod, librdkafka and the Java producer side by side on a workload's points, until `kprod run` does it:
//!
//! ```sh
//! cargo run --release --features peer-rdkafka --example peers_compare -- workloads/peers-100b.yaml \
//!     [--bootstrap 127.0.0.1:9092] [--out reports] [--set key=value]...
//! ```
//!
//! Every point runs each peer in turn (A B C A B C, see `kprod::workbench::peers`); kprod runs through a minimal
//! `LoadTarget` over `Producer<Bytes, Bytes>` defined here. Prints one line per result and the per-point ratios,
//! then writes `result.json` and the HTML report into `<out>/<timestamp>-<name>/`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use kprod::broker::{MockCluster, StorageMode};
use kprod::producer::{DeliveryFuture, Producer, ProducerConfig, ProducerError, ProducerRecord};
use kprod::record::Header;
use kprod::workbench::generator::GenRecord;
use kprod::workbench::peers::{Peer, PeerOptions, run_points_with_peers};
use kprod::workbench::report;
use kprod::workbench::result::{self, PointResult, RunResult};
use kprod::workbench::runner::{self, LoadTarget, Progress, RunOptions, TargetError};
use kprod::workbench::workload::{SinkMode, TargetSpec, Workload, WorkloadPoint};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// kprod as a load target: one producer; records carry the generator's shared topic name (no allocation).
struct KprodTarget {
    producer: Producer<Bytes, Bytes>,
}

struct KprodAck(DeliveryFuture);

fn target_error(e: ProducerError) -> TargetError {
    let debug = format!("{e:?}");
    let kind = debug.split(['(', ' ', '{']).next().unwrap_or("producer").to_string();
    TargetError { kind, message: e.to_string() }
}

impl Future for KprodAck {
    type Output = Result<(), TargetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.map(|_| ()).map_err(target_error))
    }
}

impl LoadTarget for KprodTarget {
    type Ack = KprodAck;

    fn send(&self, r: GenRecord<'_>) -> impl Future<Output = Result<KprodAck, TargetError>> + Send {
        let mut rec = ProducerRecord::new(r.topic.clone(), r.value);
        rec.key = r.key;
        rec.partition = r.partition;
        rec.headers = r.headers.iter().map(|(k, v)| Header { key: k.clone(), value: Some(v.clone()) }).collect();
        async move { self.producer.send(rec).await.map(KprodAck).map_err(target_error) }
    }
}

/// Runs kprod at one point on its own embedded cluster (or the bootstrap servers).
async fn run_kprod(point: &WorkloadPoint, bootstrap: Option<&str>, opts: &RunOptions) -> Result<PointResult, BoxError> {
    let w = &point.workload;
    let mut cluster = None;
    let servers = match (bootstrap, &w.target) {
        (Some(b), _) => b.to_string(),
        (None, TargetSpec::Bootstrap(b)) => b.clone(),
        (None, TargetSpec::Embedded(e)) => {
            let mode = match e.mode {
                SinkMode::Sink => StorageMode::Sink,
                SinkMode::Retain => StorageMode::Retain { max_bytes: 1 << 30 },
            };
            let c = MockCluster::builder()
                .brokers(e.brokers as usize)
                .default_partitions(w.topics[0].partitions as i32)
                .mode(mode)
                .start()
                .await?;
            for t in &w.topics {
                c.create_topic(&t.name, t.partitions as i32)?;
            }
            let b = c.bootstrap();
            cluster = Some(c);
            b
        }
    };
    let mut pairs: Vec<(String, String)> = w.producer_props.clone().into_iter().collect();
    pairs.push(("bootstrap.servers".into(), servers));
    let producer = Producer::new(ProducerConfig::from_pairs(pairs)?)?;
    let target = Arc::new(KprodTarget { producer });
    let run = runner::run_point(target.clone(), point, opts).await;
    let _ = target.producer.close(std::time::Duration::from_secs(10)).await;
    if let Some(c) = cluster {
        c.shutdown().await;
    }
    Ok(run?.result)
}

fn line(r: &PointResult) -> String {
    format!(
        "{:<28} {:<10} {:>11.0} rec/s {:>8.2} MB/s  p50 {:>9.3} ms  p99 {:>9.3} ms  p99.9 {:>9.3} ms  failed {}",
        r.name,
        r.peer.name(),
        r.rate_records_per_s,
        r.rate_mb_per_s,
        r.response_time_us_p50 as f64 / 1e3,
        r.response_time_us_p99 as f64 / 1e3,
        r.response_time_us_p99_9 as f64 / 1e3,
        r.records_failed
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(
        args.next().ok_or("usage: peers_compare WORKLOAD.yaml [--bootstrap B] [--out DIR] [--set k=v]...")?,
    );
    let (mut bootstrap, mut out, mut sets) = (None, PathBuf::from("reports"), Vec::new());
    while let Some(a) = args.next() {
        let v = args.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--bootstrap" => bootstrap = Some(v),
            "--out" => out = PathBuf::from(v),
            "--set" => sets.push(v),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let mut workload = Workload::load(&file)?;
    workload.apply_overrides(&sets)?;
    let points = workload.expand()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let run_opts = RunOptions { progress: Progress::Off, git_commit: result::git_commit(), ..RunOptions::default() };
    let mut opts = PeerOptions::new(&root, run_opts.clone());
    opts.bootstrap = bootstrap.clone();
    let name = points.first().map_or("peers".to_string(), |p| p.workload.name.clone());
    let results = run_points_with_peers(
        &points,
        &opts,
        |p| {
            let (b, o) = (bootstrap.clone(), run_opts.clone());
            let p = p.clone();
            async move { run_kprod(&p, b.as_deref(), &o).await }
        },
        |r| println!("{}", line(r)),
    )
    .await?
    .results;
    println!("\nratios (kprod / peer): throughput, p99");
    for p in &points {
        let of = |peer: Peer| results.iter().find(|r| r.name == p.name && r.repeat == p.repeat && r.peer == peer);
        let Some(k) = of(Peer::Kprod) else { continue };
        for peer in [Peer::Librdkafka, Peer::Java] {
            if let Some(o) = of(peer) {
                println!(
                    "{:<28} r{} kprod/{:<10} throughput {:>6.2}x  p99 {:>6.2}x",
                    p.name,
                    p.repeat,
                    peer.name(),
                    k.rate_records_per_s / o.rate_records_per_s.max(1e-9),
                    k.response_time_us_p99 as f64 / (o.response_time_us_p99 as f64).max(1.0)
                );
            }
        }
    }
    let mut run = RunResult::new(&name);
    run.workload_file = Some(file);
    run.points = results;
    let dir = result::run_dir(&out, &name, SystemTime::now());
    run.save(&dir)?;
    report::write_report(&run, &dir)?;
    println!("\nreport: {}", dir.join("index.html").display());
    Ok(())
}
