//! Produces N records to a broker and waits for every acknowledgement: `cargo run --example produce_smoke -- HOST:PORT [N]`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kprod::producer::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bootstrap = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:9092".into());
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let extra: Vec<(String, String)> = args[3.min(args.len())..]
        .iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let mut pairs = vec![("bootstrap.servers".to_string(), bootstrap)];
    pairs.extend(extra);
    let config = ProducerConfig::from_pairs(pairs)?;
    let producer = Producer::new(config)?;
    let value = Bytes::from(vec![b'x'; 100]);
    let start = Instant::now();
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let rec = ProducerRecord::new("smoke", value.clone()).with_key(Bytes::from(format!("k{}", i % 100)));
        futures.push(producer.send(rec).await?);
    }
    let mut ok = 0;
    let mut last = None;
    for f in futures {
        match f.await {
            Ok(m) => {
                ok += 1;
                last = Some(m);
            }
            Err(e) => eprintln!("failed: {e}"),
        }
    }
    let el = start.elapsed();
    println!("{ok}/{n} acknowledged in {:.2?} ({:.0} records/s); last: {last:?}", el, n as f64 / el.as_secs_f64());
    println!("{:?}", producer.metrics());
    producer.close(Duration::from_secs(10)).await?;
    Ok(())
}
