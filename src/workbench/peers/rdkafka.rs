//! The librdkafka peer (cargo feature `peer-rdkafka`): a [`LoadTarget`] over rust-rdkafka's `ThreadedProducer`,
//! driven by the same runner as kprod, so both are measured by the same code.
//!
//! It takes the runner's bulk path as kprod does: each message carries the runner's tag as its delivery opaque (a
//! `usize`, no allocation), and librdkafka's delivery report (`ProducerContext::delivery`, on the producer's polling
//! thread) reports it to [`BulkAcks`]. Until session 3 this peer used `FutureProducer` (a oneshot and a future per
//! record) while kprod used its batch hooks, which favoured kprod. The configuration comes from
//! [`rdkafka_config`](super::rdkafka_config::rdkafka_config), which lists the Java → librdkafka key mapping.
//!
//! librdkafka never blocks in `produce`: a full queue (`queue.buffering.max.kbytes`, sized from `buffer.memory`)
//! returns `QueueFull`. Like Java's `send()` blocking on `buffer.memory`, [`RdkafkaTarget::send_tagged`] waits and
//! retries for at most `max.block.ms`, then fails the record with kind `buffer_exhausted`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::{Peer, PeerError};
use crate::producer::config::ProducerConfig;
use crate::workbench::generator::GenRecord;
use crate::workbench::result::PointResult;
use crate::workbench::runner::{self, BulkAcks, LoadTarget, RunOptions, Tagged, TargetError};
use crate::workbench::workload::WorkloadPoint;

/// Pause between retries while librdkafka's queue is full (its delivery reports free room meanwhile).
const QUEUE_FULL_PAUSE: Duration = Duration::from_micros(200);

/// Routes librdkafka's delivery reports to the runner.
#[derive(Default)]
pub struct BulkContext {
    acks: RwLock<Option<Arc<BulkAcks>>>,
}

impl ClientContext for BulkContext {}

impl ProducerContext for BulkContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: usize) {
        let Some(acks) = self.acks.read().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        match result {
            Ok(m) => {
                let bytes = m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len);
                acks.acked([(tag as u64, bytes as u64)], tokio::time::Instant::now())
            }
            Err((e, _)) => acks.failed([tag as u64], &error_kind(e)),
        }
    }
}

/// librdkafka as a [`LoadTarget`].
pub struct RdkafkaTarget {
    producer: ThreadedProducer<BulkContext>,
    max_block: Duration,
}

impl RdkafkaTarget {
    /// Creates the producer from a librdkafka configuration (see [`super::rdkafka_config`]).
    pub fn new(config: &std::collections::BTreeMap<String, String>, max_block: Duration) -> Result<Self, KafkaError> {
        let mut c = ClientConfig::new();
        for (k, v) in config {
            c.set(k, v);
        }
        let producer = c.create_with_context(BulkContext::default())?;
        Ok(RdkafkaTarget { producer, max_block })
    }

    /// Waits for every queued record (used before the producer is dropped).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

/// Groups librdkafka errors by their code name, as kprod groups by Kafka error name.
fn error(e: KafkaError) -> TargetError {
    TargetError { kind: error_kind(&e), message: e.to_string() }
}

fn error_kind(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "librdkafka".into(),
    }
}

impl LoadTarget for RdkafkaTarget {
    /// Never produced: this target only has the bulk path.
    type Ack = std::future::Ready<Result<(), TargetError>>;

    async fn send(&self, _record: GenRecord<'_>) -> Result<Self::Ack, TargetError> {
        Err(TargetError {
            kind: "unsupported".into(),
            message: format!(
                "the librdkafka peer reports deliveries in bulk only (at most {} tasks)",
                runner::BULK_MAX_TASKS
            ),
        })
    }

    fn attach_bulk(&self, acks: Option<Arc<BulkAcks>>) -> bool {
        *self.producer.context().acks.write().unwrap_or_else(|e| e.into_inner()) = acks;
        true
    }

    /// One `produce` call at once (no future); a full queue gets the waiting retry loop, as kprod's full buffer
    /// gets its waiting send.
    fn send_tagged(
        &self,
        record: GenRecord<'_>,
        tag: u64,
    ) -> Tagged<impl Future<Output = Result<(), TargetError>> + Send> {
        let headers = (!record.headers.is_empty()).then(|| {
            record
                .headers
                .iter()
                .fold(OwnedHeaders::new(), |h, (k, v)| h.insert(Header { key: k, value: Some(&v[..]) }))
        });
        match self.produce_once(&record, headers.as_ref(), tag) {
            Ok(true) => return Tagged::Done(Ok(())),
            Err(e) => return Tagged::Done(Err(e)),
            Ok(false) => {}
        }
        Tagged::Wait(async move {
            let started = tokio::time::Instant::now();
            loop {
                if started.elapsed() >= self.max_block {
                    return Err(TargetError {
                        kind: "buffer_exhausted".into(),
                        message: format!("librdkafka queue full for max.block.ms ({:?})", self.max_block),
                    });
                }
                tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                if self.produce_once(&record, headers.as_ref(), tag)? {
                    return Ok(());
                }
            }
        })
    }
}

impl RdkafkaTarget {
    /// One `produce` call: `Ok(false)` when librdkafka's queue is full.
    fn produce_once(
        &self,
        record: &GenRecord<'_>,
        headers: Option<&OwnedHeaders>,
        tag: u64,
    ) -> Result<bool, TargetError> {
        let mut r =
            BaseRecord::<[u8], [u8], usize>::with_opaque_to(&**record.topic, tag as usize).payload(&record.value[..]);
        if let Some(k) = &record.key {
            r = r.key(&k[..]);
        }
        if let Some(p) = record.partition {
            r = r.partition(p);
        }
        if let Some(h) = headers {
            r = r.headers(h.clone());
        }
        match self.producer.send(r) {
            Ok(()) => Ok(true),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Ok(false),
            Err((e, _)) => Err(error(e)),
        }
    }
}

/// Measures librdkafka at `point` against `bootstrap` with the shared runner.
pub async fn run_point(point: &WorkloadPoint, bootstrap: &str, opts: &RunOptions) -> Result<PointResult, PeerError> {
    let props = &point.workload.producer_props;
    let config_err =
        |source: super::PeerCause| PeerError::Config { point: point.name.clone(), peer: Peer::Librdkafka, source };
    let config = super::rdkafka_config(props, bootstrap).map_err(|e| config_err(e.into()))?;
    let max_block = ProducerConfig::from_pairs(props.iter()).map_err(|e| config_err(e.into()))?.max_block;
    let target = Arc::new(RdkafkaTarget::new(&config, max_block).map_err(|e| config_err(e.into()))?);
    let run = runner::run_point(target.clone(), point, opts).await;
    // Dropping the producer flushes and joins librdkafka threads: keep that off the async workers.
    let _ = tokio::task::spawn_blocking(move || {
        let _ = target.flush(Duration::from_secs(5));
        drop(target);
    })
    .await;
    let mut result =
        run.map_err(|e| PeerError::Run { point: point.name.clone(), peer: Peer::Librdkafka, source: e.into() })?.result;
    result.peer = Peer::Librdkafka;
    // The same harness as kprod's, its cost measured the same way (after the point, the producer gone).
    result.runner_cpu_ns_per_record = runner::runner_cost_ns_per_record(point).await;
    Ok(result)
}
