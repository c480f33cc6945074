//! The transactional API of [`Producer`]: Java's `initTransactions`, `beginTransaction`,
//! `sendOffsetsToTransaction`, `commitTransaction` and `abortTransaction`. Each call changes the
//! [`TransactionManager`]'s state and, for the asynchronous ones, waits (bounded by its timeout) for the sender's
//! task to complete the requests it queued.

use std::time::{Duration, Instant};

use super::{Producer, Shared, TxnShared, sender_finished};
use crate::producer::error::{ProducerError, TxnErrorKind};
use crate::producer::record::TopicPartition;
use crate::producer::transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TxnOperation, TxnResult, TxnState};

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> Producer<K, V> {
    fn txn(&self) -> Result<&TxnShared, ProducerError> {
        self.shared.txn.as_ref().ok_or_else(|| {
            ProducerError::config(
                "transactions need a transactional.id: set it in the producer config to use the transactional API",
            )
        })
    }

    fn throw_if_closed(&self) -> Result<(), ProducerError> {
        if self.shared.shutdown.is_closed() {
            return Err(ProducerError::Closed);
        }
        Ok(())
    }

    /// Gets a producer id and epoch from the transaction coordinator, fencing any older producer with the same
    /// `transactional.id` and completing (or aborting) its open transaction. Call once, before any other
    /// transactional call. On a timeout, calling again keeps waiting for the same outcome.
    pub async fn init_transactions(&self, timeout: Duration) -> Result<(), ProducerError> {
        self.throw_if_closed()?;
        let t = self.txn()?;
        let result = t.lock().initialize()?;
        await_result(&self.shared, t, TxnOperation::InitTransactions, &result, timeout).await
    }

    /// Starts a transaction: sends are allowed until `commit_transaction` or `abort_transaction`.
    pub fn begin_transaction(&self) -> Result<(), ProducerError> {
        self.throw_if_closed()?;
        self.txn()?.lock().begin()
    }

    /// Adds consumer offsets to the transaction: they are committed to `group`'s offsets if, and only if, the
    /// transaction commits (the consume-transform-produce pattern). Waits up to `max.block.ms`.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &ConsumerGroupMetadata,
    ) -> Result<(), ProducerError> {
        self.throw_if_closed()?;
        let t = self.txn()?;
        if offsets.is_empty() {
            // Java sends nothing for an empty map, but still checks the state.
            let m = t.lock();
            return if m.state() == TxnState::InTransaction {
                Ok(())
            } else {
                Err(m.error(TxnErrorKind::InvalidState, format!("cannot send offsets in state {}", m.state())))
            };
        }
        let result = t.lock().send_offsets(offsets.to_vec(), group.clone())?;
        self.shared.wakeup.notify_one();
        await_result(&self.shared, t, TxnOperation::SendOffsets, &result, self.shared.config.max_block).await
    }

    /// Sends every record of the transaction (a flush), then commits it. A failure other than a timeout means
    /// the transaction cannot commit: abort it (abortable errors) or close the producer (fatal ones).
    pub async fn commit_transaction(&self, timeout: Duration) -> Result<(), ProducerError> {
        self.throw_if_closed()?;
        let t = self.txn()?;
        let result = t.lock().begin_commit()?;
        self.shared.wakeup.notify_one();
        await_result(&self.shared, t, TxnOperation::Commit, &result, timeout).await
    }

    /// Aborts the transaction: records not yet sent fail with a "transaction aborted" error, records in flight
    /// are awaited, and the coordinator writes abort markers. After an abortable error this makes the producer
    /// usable again.
    pub async fn abort_transaction(&self, timeout: Duration) -> Result<(), ProducerError> {
        self.throw_if_closed()?;
        let t = self.txn()?;
        let result = t.lock().begin_abort()?;
        self.shared.wakeup.notify_one();
        await_result(&self.shared, t, TxnOperation::Abort, &result, timeout).await
    }

    /// The transaction protocol of the current (or next) transaction: 2 (KIP-890: partitions added by Produce v12,
    /// EndTxn bumps the epoch) or 1; `None` without a `transactional.id`.
    pub fn transaction_protocol_version(&self) -> Option<u8> {
        self.shared.txn.as_ref().map(|t| if t.lock().is_v2() { 2 } else { 1 })
    }

    /// The transaction state (`READY`, `IN_TRANSACTION`...), `None` without a `transactional.id`.
    pub fn transaction_state(&self) -> Option<TxnState> {
        self.shared.txn.as_ref().map(|t| t.state())
    }
}

/// Waits for `result`, at most `timeout`; a timeout leaves the operation pending so the same call can resume it.
async fn await_result(
    sh: &Shared,
    t: &TxnShared,
    op: TxnOperation,
    result: &TxnResult,
    timeout: Duration,
) -> Result<(), ProducerError> {
    sh.wakeup.notify_one();
    let deadline = Instant::now() + timeout;
    loop {
        let notified = t.done.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(r) = result.get() {
            t.lock().ack(op);
            return r;
        }
        let now = Instant::now();
        if now >= deadline {
            let m = t.lock();
            return Err(m.error(
                TxnErrorKind::Timeout,
                format!("{} did not complete within {} ms (state {})", op.name(), timeout.as_millis(), m.state()),
            ));
        }
        if sh.shutdown.is_aborted() && sender_finished(sh) {
            return Err(ProducerError::Closed);
        }
        let _ = tokio::time::timeout((deadline - now).min(Duration::from_millis(100)), notified).await;
    }
}
