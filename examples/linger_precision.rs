//! How precisely the sender honours `linger.ms`: one record every few milliseconds to the in-process mock broker, so
//! every batch holds one record and leaves when its linger ends. Prints the distribution of (drained − created) per
//! batch, in microseconds.
//!
//! `cargo run --release --example linger_precision -- [LINGER_MS] [BATCHES] [GAP_MS]` (defaults 1, 1000, 4)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kprod::broker::MockCluster;
use kprod::producer::{BatchEvent, Producer, ProducerConfig, ProducerHooks, ProducerRecord};

#[derive(Default)]
struct Waits(Mutex<Vec<u64>>);

impl ProducerHooks for Waits {
    fn on_batch_drained(&self, ev: &BatchEvent<'_>) {
        if let Some(d) = ev.drained {
            self.0.lock().unwrap().push(d.saturating_duration_since(ev.created).as_micros() as u64);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let linger_ms: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let batches: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let gap_ms: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let cluster = MockCluster::builder().brokers(1).default_partitions(1).start().await?;
    let config = ProducerConfig::from_pairs([
        ("bootstrap.servers", cluster.bootstrap()),
        ("linger.ms", linger_ms.to_string()),
        ("acks", "1".into()),
    ])?;
    let waits = Arc::new(Waits::default());
    let producer = Producer::<Bytes, Bytes>::builder(config).hooks(waits.clone()).build()?;
    // Warm up: metadata, producer id, connection.
    producer.send(ProducerRecord::new("linger", Bytes::from_static(b"w"))).await?.await?;
    waits.0.lock().unwrap().clear();
    for _ in 0..batches {
        producer.send(ProducerRecord::new("linger", Bytes::from_static(b"x"))).await?.await?;
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
    }
    producer.close(Duration::from_secs(10)).await?;
    let mut w = waits.0.lock().unwrap().clone();
    w.sort_unstable();
    let q = |p: f64| w[((w.len() as f64 * p) as usize).min(w.len() - 1)];
    println!(
        "linger.ms={linger_ms}: {} batches, wait from creation to drain: min {} µs, p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
        w.len(),
        w[0],
        q(0.5),
        q(0.9),
        q(0.99),
        w[w.len() - 1]
    );
    Ok(())
}
