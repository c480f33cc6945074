//! Produce requests: drain per ready node, build one ProduceRequest carrying many partitions, and classify each
//! partition's answer as success, retry (with backoff, metadata refresh, idempotent sequence handling), split
//! (MESSAGE_TOO_LARGE) or failure — as Java's `Sender.completeBatch`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::conn::{InFlightKind, InFlightRequest};
use super::timer::Timer;
use super::{SenderCore, decode_body, exp_backoff, group_by_topic};
use crate::producer::accumulator::{
    BatchAck, BatchCompletion, DrainGate, OpenGate, ProducerBatch, RecordInfo, batch::BatchBytes,
};
use crate::producer::config::Acks;
use crate::producer::error::ProducerError;
use crate::producer::hooks::{BatchEvent, RequestEvent};
use crate::producer::sender::Shared;
use crate::protocol::error::ErrorCode;
use crate::protocol::produce::{PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData};
use crate::protocol::versions::ApiKey;
use crate::record::{BatchBuilder, RecordBatch};

impl SenderCore {
    /// For every ready node with room in flight, drains and sends one ProduceRequest.
    pub(super) fn send_produce_requests(&mut self, now: Instant) {
        if self.idem.as_ref().is_some_and(|i| !i.is_ready()) {
            return;
        }
        let cluster = self.cluster.clone();
        let ready = self.sh.acc.ready(&*cluster, now);
        if !ready.unknown_leader_topics.is_empty() {
            self.sh.metadata.request_refresh();
        }
        if let Some(n) = ready.next_ready_in {
            self.timers.set_earliest(Timer::Ready, now + n);
        }
        let max_in_flight = self.sh.config.max_in_flight;
        for node in ready.ready_nodes {
            let Some(conn) = self.ready_connection(node, now) else { continue };
            if conn.produce_in_flight() >= max_in_flight {
                continue;
            }
            let Some(version) = conn.versions.get(ApiKey::Produce) else { continue };
            let max = self.sh.config.max_request_size;
            let (batches, version) = match (&mut self.idem, &self.sh.txn) {
                (Some(idem), None) => {
                    (self.sh.acc.drain(&*cluster, node, max, idem as &mut dyn DrainGate, now), version)
                }
                (None, _) => (self.sh.acc.drain(&*cluster, node, max, &mut OpenGate, now), version),
                (Some(idem), Some(t)) => {
                    // A partition drains only once it is in the transaction.
                    let mut m = t.lock();
                    let version = if m.is_v2() { version } else { version.min(11) };
                    let mut gate = super::transactional::TxnGate { idem, txn: &mut m };
                    (self.sh.acc.drain(&*cluster, node, max, &mut gate, now), version)
                }
            };
            if batches.is_empty() {
                continue;
            }
            self.send_batches(node, version, batches, now);
        }
    }

    fn send_batches(&mut self, node: i32, version: i16, batches: Vec<ProducerBatch>, now: Instant) {
        let sh = self.sh.clone();
        let mut records = 0;
        let mut bytes = 0;
        for b in &batches {
            records += b.record_count();
            let wire = b.wire_bytes().map_or(0, Bytes::len);
            bytes += wire;
            let queue_us = now.saturating_duration_since(b.created).as_micros() as u64;
            sh.metrics.record_batch(wire, b.uncompressed_bytes(), queue_us);
            if b.attempts > 0 {
                sh.metrics.records_retried.fetch_add(b.record_count() as u64, Ordering::Relaxed);
            }
            if let Some(h) = &sh.hooks {
                h.on_batch_drained(&event(b, None, -1));
            }
            if self.guarantee_order {
                sh.acc.set_muted(&b.tp, true);
            }
        }
        sh.metrics.record_request(records);
        let acks = match sh.config.acks {
            Acks::Zero => 0,
            Acks::One => 1,
            Acks::All => -1,
        };
        let req = ProduceRequest {
            transactional_id: sh.config.transactional_id.clone(),
            acks,
            timeout_ms: sh.config.request_timeout.as_millis().min(i32::MAX as u128) as i32,
            topic_data: group_by_topic(&batches)
                .into_iter()
                .map(|(topic, idx)| TopicProduceData {
                    name: topic.to_string(),
                    partition_data: idx
                        .into_iter()
                        .map(|i| PartitionProduceData {
                            index: batches[i].tp.partition,
                            records: batches[i].wire_bytes().cloned(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let conn = self.conns.get_mut(&node).expect("ready_connection returned it");
        // The frame references each batch's bytes (no copy): the hint is only for the prefixes between them.
        let sent = conn.send(version, &req, 64 * batches.len());
        drop(req);
        let correlation_id = match sent {
            Ok((correlation_id, _)) => correlation_id,
            Err(e) => {
                // Only a version this codec does not implement gets here; fail the batches rather than loop.
                let message = format!("cannot encode Produce v{version}: {e}");
                for b in batches {
                    let err = ProducerError::Broker {
                        topic_partition: b.tp.clone(),
                        code: ErrorCode::UnsupportedVersion,
                        message: Some(message.clone()),
                    };
                    self.fail_batch(b, err, now);
                }
                return;
            }
        };
        if let Some(h) = &sh.hooks {
            h.on_request_sent(&RequestEvent {
                broker: node,
                batches: batches.len(),
                records,
                bytes,
                sent: now,
                completed: None,
            });
        }
        if acks == 0 {
            // No response will come: the batches are done once written (offsets unknown).
            for b in batches {
                if let Some(idem) = &mut self.idem {
                    idem.on_response(&b);
                    idem.on_acked(&b);
                }
                complete_batch(
                    &sh,
                    b,
                    Ok(BatchAck { base_offset: -1, log_append_time_ms: -1 }),
                    now,
                    self.guarantee_order,
                );
            }
            return;
        }
        conn.in_flight.push_back(InFlightRequest {
            correlation_id,
            api_key: ApiKey::Produce,
            version,
            sent: now,
            kind: InFlightKind::Produce { batches, records, bytes },
        });
        sh.metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_produce_response(
        &mut self,
        node: i32,
        address: &str,
        version: i16,
        sent: Instant,
        batches: Vec<ProducerBatch>,
        records: usize,
        bytes: usize,
        frame: Bytes,
        now: Instant,
    ) {
        let latency_us = now.saturating_duration_since(sent).as_micros() as u64;
        self.sh.metrics.record_latency(latency_us);
        if let Some(h) = &self.sh.hooks {
            h.on_request_completed(&RequestEvent {
                broker: node,
                batches: batches.len(),
                records,
                bytes,
                sent,
                completed: Some(now),
            });
        }
        let resp = match decode_body::<ProduceResponse>(frame, version) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(broker = %address, error = %e, "undecodable produce response");
                for b in batches {
                    self.handle_batch_error(b, ErrorCode::NetworkException, Some(e.clone()), now);
                }
                self.on_connection_lost(node, e, now);
                return;
            }
        };
        let mut by_tp: HashMap<(&str, i32), &crate::protocol::produce::PartitionProduceResponse> = HashMap::new();
        for t in &resp.responses {
            for p in &t.partition_responses {
                by_tp.insert((t.name.as_str(), p.index), p);
            }
        }
        let mut outcomes = Vec::with_capacity(batches.len());
        for b in batches {
            let r = by_tp
                .get(&(&*b.tp.topic, b.tp.partition))
                .map(|p| (p.error_code, p.base_offset, p.log_append_time_ms, p.error_message.clone()));
            outcomes.push((b, r));
        }
        drop(by_tp);
        for (b, r) in outcomes {
            match r {
                None => self.handle_batch_error(
                    b,
                    ErrorCode::NetworkException,
                    Some("partition missing from response".into()),
                    now,
                ),
                Some((ErrorCode::None, base_offset, log_append_time_ms, _)) => {
                    if let Some(idem) = &mut self.idem {
                        idem.on_response(&b);
                        idem.on_acked(&b);
                    }
                    complete_batch(
                        &self.sh,
                        b,
                        Ok(BatchAck { base_offset, log_append_time_ms }),
                        now,
                        self.guarantee_order,
                    )
                }
                Some((code, _, _, msg)) => self.handle_batch_error(b, code, msg, now),
            }
        }
    }

    /// Java's `completeBatch` error path: retry, split, bump the epoch, or fail.
    pub(super) fn handle_batch_error(
        &mut self,
        batch: ProducerBatch,
        code: ErrorCode,
        message: Option<String>,
        now: Instant,
    ) {
        let mut batch = batch;
        if matches!(
            code,
            ErrorCode::NetworkException | ErrorCode::RequestTimedOut | ErrorCode::NotEnoughReplicasAfterAppend
        ) {
            batch.maybe_appended = true;
        }
        let cfg = &self.sh.config;
        let timed_out = now.saturating_duration_since(batch.created) >= cfg.delivery_timeout;
        if code == ErrorCode::DuplicateSequenceNumber {
            // The broker already has it: success, offset unknown.
            if let Some(idem) = &mut self.idem {
                idem.on_response(&batch);
                idem.on_acked(&batch);
            }
            complete_batch(
                &self.sh,
                batch,
                Ok(BatchAck { base_offset: -1, log_append_time_ms: -1 }),
                now,
                self.guarantee_order,
            );
            return;
        }
        if matches!(code, ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge) && batch.maybe_appended {
            // An earlier attempt may be in the log: its pieces would carry sequences the broker cannot match to it,
            // so splitting could write the records twice. Fail it, saying why.
            let err = ProducerError::Broker {
                topic_partition: batch.tp.clone(),
                code,
                message: Some(
                    "the batch is too large for the broker now, and an earlier attempt may already be in the log; \
                     not split, so its records are not written twice"
                        .into(),
                ),
            };
            self.fail_batch(batch, err, now);
            return;
        }
        if matches!(code, ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge)
            && batch.record_count() > 1
            && !timed_out
        {
            // The pieces take over the batch's sequence range (see `split_and_reenqueue`): no epoch bump.
            self.split_and_reenqueue(batch, now);
            return;
        }
        if code.invalidates_metadata() || code == ErrorCode::NetworkException {
            self.sh.metadata.request_refresh();
        }
        let idem_retry = match &mut self.idem {
            Some(idem) if matches!(code, ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId) => {
                let first = idem.is_first_in_line(&batch);
                if first && idem.overtaken(&batch) {
                    // A later batch of this partition is already in the log (the broker had no state for us when
                    // it took it). Re-sending this one would put it behind those records: fail it instead, as
                    // Java's OutOfOrderSequenceException does, and never reorder silently.
                    tracing::warn!(topic_partition = %batch.tp, error = %code, "batch overtaken by a later one; failing it to keep order");
                    let err = ProducerError::Broker {
                        topic_partition: batch.tp.clone(),
                        code: ErrorCode::OutOfOrderSequenceNumber,
                        message: Some(
                            "a later batch of this partition was already written (the broker had lost or never had \
                             this producer's state); re-sending this one would reorder the partition"
                                .into(),
                        ),
                    };
                    self.fail_batch(batch, err, now);
                    return;
                }
                let wait = idem.later_in_flight(&batch);
                idem.on_response(&batch);
                if first && !wait {
                    // Nothing earlier explains the gap: the broker lost our state. Bump the epoch and resend.
                    // (With a later batch still in flight, retry as is: once it is answered, this batch is either
                    // in order again or known to be overtaken.)
                    idem.bump_needed = true;
                }
                true
            }
            _ => false,
        };
        let retriable = idem_retry || code.is_retriable();
        if retriable && !timed_out && batch.attempts < cfg.retries {
            if let Some(idem) = &mut self.idem {
                idem.on_response(&batch);
                idem.on_retry(&batch);
            }
            let backoff = exp_backoff(cfg.retry_backoff, cfg.retry_backoff_max, batch.attempts + 1, &mut self.rng);
            tracing::debug!(topic_partition = %batch.tp, error = %code, attempt = batch.attempts + 1, "retrying batch");
            if self.guarantee_order {
                self.sh.acc.set_muted(&batch.tp, false);
            }
            self.sh.acc.reenqueue(batch, backoff, now);
            return;
        }
        let err = if timed_out {
            self.timeout_error(&batch, now)
        } else if retriable {
            ProducerError::RetriesExhausted {
                topic_partition: batch.tp.clone(),
                attempts: batch.attempts + 1,
                last: code,
            }
        } else {
            ProducerError::Broker { topic_partition: batch.tp.clone(), code, message }
        };
        self.fail_batch(batch, err, now);
    }

    /// Splits a batch the broker found too large into `batch.size` pieces and puts them back at the front of the
    /// partition queue. Record futures follow their record into the new pieces.
    fn split_and_reenqueue(&mut self, mut batch: ProducerBatch, now: Instant) {
        // At most half the rejected size, so every split makes progress even when the batch was within batch.size
        // (Java splits to batch.size, which can repeat forever when the broker's limit is below it).
        let wire_len = batch.wire_bytes().map_or(0, bytes::Bytes::len);
        let target = self.sh.acc.config().batch_size.min(wire_len / 2).max(1);
        let pieces = match split_batch(&batch, target, self.sh.acc.config().compression) {
            Ok(p) => p,
            Err(e) => {
                let err = ProducerError::Broker {
                    topic_partition: batch.tp.clone(),
                    code: ErrorCode::MessageTooLarge,
                    message: Some(format!("splitting failed: {e}")),
                };
                self.fail_batch(batch, err, now);
                return;
            }
        };
        tracing::debug!(topic_partition = %batch.tp, pieces = pieces.len(), "split oversized batch");
        batch.completion.redirect(pieces.iter().map(|(start, p)| (*start, p.completion.clone())).collect());
        // Move callbacks into the pieces; the reservation stays with the first piece.
        let mut callbacks = std::mem::take(&mut batch.callbacks);
        let mut pieces: Vec<ProducerBatch> = pieces.into_iter().map(|(_, p)| p).collect();
        let mut start = 0u32;
        for p in pieces.iter_mut() {
            let end = start + p.record_count() as u32;
            let (mine, rest): (Vec<_>, Vec<_>) = callbacks.into_iter().partition(|(i, _, _)| *i < end);
            p.callbacks = mine.into_iter().map(|(i, info, cb)| (i - start, info, cb)).collect();
            callbacks = rest;
            start = end;
        }
        self.sh.acc.note_split(batch.id, pieces.len());
        if let Some(first) = pieces.first_mut() {
            first.reserved_bytes = batch.reserved_bytes;
            first.id = batch.id;
        }
        batch.reserved_bytes = 0;
        // As Java's `splitAndReenqueue`: the broker appended nothing of the batch, so its pieces take over its
        // sequence range under the same producer id and epoch. Later batches of the partition keep theirs, and
        // nothing needs an epoch bump (which would also break the broker's duplicate detection of any batch whose
        // outcome is still unknown).
        if let Some(idem) = &mut self.idem {
            idem.on_response(&batch);
            if let (true, Some((pid, epoch, base))) = (idem.is_current(&batch), batch.stamped) {
                let mut seq = base;
                for p in &mut pieces {
                    p.stamp(pid, epoch, seq, idem.transactional);
                    idem.on_retry(p);
                    seq = super::idempotence::next_seq(seq, p.record_count());
                }
            }
        }
        // In order: the accumulator puts each piece after the ones already back (same batch id) and before every
        // later batch of the partition.
        for p in pieces {
            self.sh.acc.reenqueue(p, Duration::ZERO, now);
        }
    }
}

/// Rebuilds the records of `batch` into pieces of at most `batch_size` bytes. Returns (first record index, piece).
fn split_batch(
    batch: &ProducerBatch,
    batch_size: usize,
    compression: crate::record::Compression,
) -> Result<Vec<(u32, ProducerBatch)>, crate::record::RecordError> {
    let mut wire = batch.wire_bytes().cloned().unwrap_or_default();
    let parsed = RecordBatch::parse(&mut wire)?;
    let base_ts = parsed.base_timestamp();
    let mut out: Vec<(u32, ProducerBatch)> = Vec::new();
    let mut builder: Option<(u32, BatchBuilder, Vec<RecordInfo>)> = None;
    for (i, r) in parsed.records()?.enumerate() {
        let r = r?;
        let ts = base_ts + r.timestamp_delta;
        let (key, value) = (r.key.as_deref(), r.value.as_deref());
        let fits = builder.as_ref().is_some_and(|(_, b, _)| {
            b.uncompressed_bytes() + b.record_size(ts, key, value, &r.headers) <= batch_size.max(1)
        });
        if !fits && let Some((start, b, infos)) = builder.take() {
            out.push((start, piece(batch, start, b, infos)?));
        }
        let (_, b, infos) = builder.get_or_insert_with(|| {
            (i as u32, BatchBuilder::new(BytesMut::with_capacity(batch_size), compression, ts), Vec::new())
        });
        b.append(ts, key, value, &r.headers);
        // The pieces keep their records' facts when the batch did (the accumulator keeps all or none).
        if let Some(info) = batch.records.get(i) {
            infos.push(*info);
        }
    }
    if let Some((start, b, infos)) = builder.take() {
        out.push((start, piece(batch, start, b, infos)?));
    }
    Ok(out)
}

fn piece(
    parent: &ProducerBatch,
    start: u32,
    b: BatchBuilder,
    records: Vec<RecordInfo>,
) -> Result<ProducerBatch, crate::record::RecordError> {
    let closed = b.close()?;
    Ok(ProducerBatch {
        tp: parent.tp.clone(),
        id: parent.id,
        appended: closed.record_count as u32,
        bytes: BatchBytes::Sealed { uncompressed: closed.uncompressed_bytes, bytes: closed.bytes.freeze() },
        records,
        callbacks: Vec::new(),
        completion: Arc::new(BatchCompletion::default()),
        reserved_bytes: 0,
        limit: 0,
        created: parent.created,
        last_attempt: parent.last_attempt,
        drained_at: None,
        attempts: parent.attempts,
        retry_at: None,
        stamped: None,
        in_retry: false,
        split_offset: parent.split_offset + start,
        maybe_appended: false,
    })
}

fn event<'a>(b: &'a ProducerBatch, completed: Option<Instant>, base_offset: i64) -> BatchEvent<'a> {
    BatchEvent {
        tp: &b.tp,
        records: &b.records,
        uncompressed_bytes: b.uncompressed_bytes(),
        wire_bytes: b.wire_bytes().map_or(0, Bytes::len),
        created: b.created,
        drained: b.drained_at,
        completed,
        attempts: b.attempts,
        base_offset,
    }
}

/// Delivers a batch outcome: the shared slot, callbacks, interceptors, hooks, metrics; then frees its memory.
pub(crate) fn complete_batch(
    sh: &Shared,
    mut batch: ProducerBatch,
    result: Result<BatchAck, ProducerError>,
    now: Instant,
    unmute: bool,
) {
    let n = batch.record_count() as u64;
    match &result {
        Ok(ack) => {
            sh.metrics.records_sent.fetch_add(n, Ordering::Relaxed);
            if let Some(h) = &sh.hooks {
                h.on_batch_acked(&event(&batch, Some(now), ack.base_offset));
            }
        }
        Err(e) => {
            sh.metrics.records_failed.fetch_add(n, Ordering::Relaxed);
            tracing::debug!(topic_partition = %batch.tp, records = n, error = %e, "batch failed");
            if let Some(h) = &sh.hooks {
                h.on_batch_failed(&event(&batch, Some(now), -1), e);
            }
        }
    }
    let callbacks = std::mem::take(&mut batch.callbacks);
    for (i, info, cb) in callbacks {
        cb(match &result {
            Ok(ack) => Ok(batch.record_metadata_with(i as usize, &info, ack)),
            Err(e) => Err(e.clone()),
        });
    }
    if let Some(ack_i) = &sh.ack_interceptors {
        for i in 0..batch.record_count() {
            match &result {
                Ok(ack) => ack_i(Ok(&batch.record_metadata(i, ack))),
                Err(e) => ack_i(Err(e)),
            }
        }
    }
    batch.completion.complete(result);
    if unmute {
        sh.acc.set_muted(&batch.tp, false);
    }
    sh.acc.deallocate(&mut batch);
    sh.batch_done.notify_waiters();
    // New space or a finished flush may unblock the loop.
    sh.wakeup.notify_one();
}
