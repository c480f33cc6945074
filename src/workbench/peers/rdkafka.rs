//! The librdkafka peer (cargo feature `peer-rdkafka`): a [`LoadTarget`] over rust-rdkafka's `FutureProducer`,
//! driven by the same runner as kprod, so both are measured by the same code.
//!
//! `FutureProducer` gives a per-record delivery future (a oneshot completed from librdkafka's delivery report on
//! its polling thread), which is what the runner needs for per-record response times; the per-record oneshot is
//! librdkafka-side cost a callback-based `BaseProducer` would share (its opaque per message), so it is kept.
//! The configuration comes from [`rdkafka_config`](super::rdkafka_config::rdkafka_config), which lists the Java →
//! librdkafka key mapping.
//!
//! librdkafka never blocks in `produce`: a full queue (`queue.buffering.max.kbytes`, sized from `buffer.memory`)
//! returns `QueueFull`. Like Java's `send()` blocking on `buffer.memory`, [`RdkafkaTarget::send`] waits and retries
//! for at most `max.block.ms`, then fails the record with kind `buffer_exhausted`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::{Peer, PeerError};
use crate::producer::config::ProducerConfig;
use crate::workbench::generator::GenRecord;
use crate::workbench::result::PointResult;
use crate::workbench::runner::{self, LoadTarget, RunOptions, TargetError};
use crate::workbench::workload::WorkloadPoint;

/// Pause between retries while librdkafka's queue is full (its delivery reports free room meanwhile).
const QUEUE_FULL_PAUSE: Duration = Duration::from_micros(200);

/// librdkafka as a [`LoadTarget`].
pub struct RdkafkaTarget {
    producer: FutureProducer,
    max_block: Duration,
}

impl RdkafkaTarget {
    /// Creates the producer from a librdkafka configuration (see [`super::rdkafka_config`]).
    pub fn new(config: &std::collections::BTreeMap<String, String>, max_block: Duration) -> Result<Self, String> {
        let mut c = ClientConfig::new();
        for (k, v) in config {
            c.set(k, v);
        }
        let producer: FutureProducer = c.create().map_err(|e| e.to_string())?;
        Ok(RdkafkaTarget { producer, max_block })
    }

    /// Waits for every queued record (used before the producer is dropped).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.producer.flush(timeout).map_err(|e| e.to_string())
    }
}

/// A record's acknowledgement: librdkafka's delivery report.
pub struct RdAck(DeliveryFuture);

impl Future for RdAck {
    type Output = Result<(), TargetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // DeliveryFuture wraps a oneshot receiver: Unpin.
        Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(error(e)),
            Err(_) => Err(TargetError { kind: "canceled".into(), message: "producer dropped before delivery".into() }),
        })
    }
}

/// Groups librdkafka errors by their code name, as kprod groups by Kafka error name.
fn error(e: KafkaError) -> TargetError {
    let kind = match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "librdkafka".into(),
    };
    TargetError { kind, message: e.to_string() }
}

impl LoadTarget for RdkafkaTarget {
    type Ack = RdAck;

    async fn send(&self, record: GenRecord<'_>) -> Result<RdAck, TargetError> {
        let headers = (!record.headers.is_empty()).then(|| {
            record
                .headers
                .iter()
                .fold(OwnedHeaders::new(), |h, (k, v)| h.insert(Header { key: k, value: Some(&v[..]) }))
        });
        let started = tokio::time::Instant::now();
        loop {
            let mut r = FutureRecord::<[u8], [u8]>::to(record.topic).payload(&record.value[..]);
            if let Some(k) = &record.key {
                r = r.key(&k[..]);
            }
            if let Some(p) = record.partition {
                r = r.partition(p);
            }
            if let Some(h) = &headers {
                r = r.headers(h.clone());
            }
            match self.producer.send_result(r) {
                Ok(f) => return Ok(RdAck(f)),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if started.elapsed() >= self.max_block {
                        return Err(TargetError {
                            kind: "buffer_exhausted".into(),
                            message: format!("librdkafka queue full for max.block.ms ({:?})", self.max_block),
                        });
                    }
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((e, _)) => return Err(error(e)),
            }
        }
    }
}

/// Measures librdkafka at `point` against `bootstrap` with the shared runner.
pub async fn run_point(point: &WorkloadPoint, bootstrap: &str, opts: &RunOptions) -> Result<PointResult, PeerError> {
    let props = &point.workload.producer_props;
    let config_err = |message: String| PeerError::Config { point: point.name.clone(), peer: Peer::Librdkafka, message };
    let config = super::rdkafka_config(props, bootstrap).map_err(config_err)?;
    let max_block = ProducerConfig::from_pairs(props.iter()).map_err(|e| config_err(e.to_string()))?.max_block;
    let target = Arc::new(RdkafkaTarget::new(&config, max_block).map_err(config_err)?);
    let run = runner::run_point(target.clone(), point, opts).await;
    // Dropping a FutureProducer flushes and joins librdkafka threads: keep that off the async workers.
    let _ = tokio::task::spawn_blocking(move || {
        let _ = target.flush(Duration::from_secs(5));
        drop(target);
    })
    .await;
    let mut result = run
        .map_err(|e| PeerError::Run { point: point.name.clone(), peer: Peer::Librdkafka, message: e.to_string() })?
        .result;
    result.peer = Peer::Librdkafka;
    Ok(result)
}
