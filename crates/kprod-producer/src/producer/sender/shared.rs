//! The state the producer's front door (`Producer::send`, flush, close, the transaction calls) and the sender share.
//! It is the sender's state, reached from the front door through one `Arc`; every field says why it exists.

use std::sync::atomic::AtomicU8;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::Notify;

use crate::producer::accumulator::RecordAccumulator;
use crate::producer::config::ProducerConfig;
use crate::producer::error::ProducerError;
use crate::producer::hooks::ProducerHooks;
use crate::producer::metadata::MetadataHandle;
use crate::producer::metrics::ProducerMetrics;
use crate::producer::partitioner::{BuiltInPartitioner, Partitioner};
use crate::producer::record::{RecordMetadata, TopicPartition};
use crate::producer::transaction::{TransactionManager, TxnSettings, TxnState};

/// Runs every `on_acknowledgement` interceptor for one record outcome (type-erased for the sender).
pub(crate) type AckInterceptor = Arc<dyn Fn(Result<&RecordMetadata, &ProducerError>) + Send + Sync>;

/// The partitioner a built producer uses for keyless (and, for custom ones, all) records: the built-in one
/// (murmur2 of the key, else KIP-794 sticky; the sender feeds it queue sizes) or the user's.
/// Not to be confused with [`crate::producer::partitioner::PartitionerChoice`], what a configuration name resolves to.
pub(crate) enum ActivePartitioner {
    BuiltIn(BuiltInPartitioner),
    Custom(Arc<dyn Partitioner>),
}

/// State shared by the front door and the sender.
pub(crate) struct Shared {
    /// Process-unique: keys this producer's entries in the per-thread send cache.
    pub id: u64,
    /// The resolved configuration (read by both sides; never changes after `build`).
    pub config: ProducerConfig,
    /// Where records wait: appended to by the front door, drained by the sender.
    pub acc: RecordAccumulator,
    /// The cluster snapshot the sender refreshes and the front door partitions with, and the topics wanted.
    pub metadata: MetadataHandle,
    /// Wakes the sender: a batch is full, a batch was created, a flush or close began, metadata is wanted.
    pub wakeup: Notify,
    /// Woken whenever a batch completes (memory freed, flush progress).
    pub batch_done: Notify,
    /// Observers of batches and requests (the workbench's measurements plug in here).
    pub hooks: Option<Arc<dyn ProducerHooks>>,
    /// Java-named counters (`record-send-rate`, ...), updated by the sender, read by `Producer::metrics`.
    pub metrics: ProducerMetrics,
    /// Which partitioner the front door uses; the sender feeds the built-in one queue sizes (KIP-794).
    pub partitioner: ActivePartitioner,
    /// `on_acknowledgement` of the interceptors, type-erased so the sender can call it per record outcome.
    pub ack_interceptors: Option<AckInterceptor>,
    /// Closing, aborting or failed for good: one type instead of three flags.
    pub shutdown: Shutdown,
    /// The transaction manager, when `transactional.id` is set.
    pub txn: Option<TxnShared>,
    /// The sender's tokio task, joined by `close`.
    pub sender_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// `security.protocol=SSL|SASL_SSL`: the TLS config every connection shares, built once at `build`.
    pub tls: Option<crate::security::tls::TlsSettings>,
    /// SASL mechanism and credentials (`security.protocol` SASL_*), resolved once at build.
    pub sasl: Option<Arc<crate::security::SaslSettings>>,
}

/// The transaction manager as the client and the sender share it.
pub(crate) struct TxnShared {
    mgr: Mutex<TransactionManager>,
    /// The manager's state, readable without its lock (the send path's check).
    state: Arc<AtomicU8>,
    /// Woken by the sender whenever a transactional request completes.
    pub done: Notify,
}

impl TxnShared {
    /// A manager when `transactional.id` is set.
    pub(crate) fn from_config(cfg: &ProducerConfig) -> Option<TxnShared> {
        let id = cfg.transactional_id.as_deref()?;
        let mgr = TransactionManager::new(
            id,
            TxnSettings {
                transaction_timeout: cfg.transaction_timeout,
                retry_backoff: cfg.retry_backoff,
                retry_backoff_max: cfg.retry_backoff_max,
            },
        );
        let state = mgr.state_mirror();
        Some(TxnShared { mgr: Mutex::new(mgr), state, done: Notify::new() })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TransactionManager> {
        self.mgr.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[inline]
    pub(crate) fn fail_if_not_ready_for_send(&self) -> Result<(), ProducerError> {
        if TransactionManager::mirrored_state(&self.state) == TxnState::InTransaction {
            return Ok(());
        }
        self.lock().fail_if_not_ready_for_send()
    }

    /// The manager's state, read without its lock.
    pub(crate) fn state(&self) -> TxnState {
        TransactionManager::mirrored_state(&self.state)
    }

    pub(crate) fn maybe_add_partition(&self, tp: &TopicPartition) {
        self.lock().maybe_add_partition(tp);
    }
}

/// How far the producer is in shutting down. The stages only move forward: closed (no new sends; the sender
/// finishes what is queued and in flight, then stops), aborted (close timed out or the last handle was dropped:
/// fail whatever is left at once), and, at any time, failed for good with a fatal error.
#[derive(Debug, Default)]
pub(crate) struct Shutdown {
    closed: AtomicBool,
    aborted: AtomicBool,
    fatal: OnceLock<ProducerError>,
}

impl Shutdown {
    /// Stops new sends. Returns true for the call that closed it.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Fails what is left and stops the sender (implies closed).
    pub(crate) fn abort(&self) {
        self.closed.store(true, Ordering::Release);
        self.aborted.store(true, Ordering::Release);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Records a fatal error; the first one wins and every later call fails with it.
    pub(crate) fn fail(&self, e: ProducerError) {
        let _ = self.fatal.set(e);
    }

    pub(crate) fn fatal(&self) -> Option<&ProducerError> {
        self.fatal.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_only_move_forward() {
        let s = Shutdown::default();
        assert!(!s.is_closed() && !s.is_aborted() && s.fatal().is_none());
        assert!(s.close(), "the first close closes");
        assert!(!s.close(), "a second close is a no-op");
        assert!(!s.is_aborted());
        s.abort();
        assert!(s.is_closed() && s.is_aborted());
        s.fail(ProducerError::Closed);
        s.fail(ProducerError::Timeout(std::time::Duration::from_secs(1)));
        assert!(matches!(s.fatal(), Some(ProducerError::Closed)), "the first fatal error wins");
    }
}
