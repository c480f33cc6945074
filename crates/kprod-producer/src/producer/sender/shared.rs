//! The state the producer's front door (`Producer::send`, flush, close, the transaction calls) and the sender share.
//! It is the sender's state, reached from the front door through one `Arc`; every field says why it exists.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

use crate::producer::accumulator::RecordAccumulator;
use crate::producer::client::{AckInterceptor, PartitionerChoice, TxnShared};
use crate::producer::config::ProducerConfig;
use crate::producer::error::ProducerError;
use crate::producer::hooks::ProducerHooks;
use crate::producer::metadata::MetadataHandle;
use crate::producer::metrics::ProducerMetrics;

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
    pub partitioner: PartitionerChoice,
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
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Fails what is left and stops the sender (implies closed).
    pub fn abort(&self) {
        self.closed.store(true, Ordering::Release);
        self.aborted.store(true, Ordering::Release);
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Records a fatal error; the first one wins and every later call fails with it.
    pub fn fail(&self, e: ProducerError) {
        let _ = self.fatal.set(e);
    }

    pub fn fatal(&self) -> Option<&ProducerError> {
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
