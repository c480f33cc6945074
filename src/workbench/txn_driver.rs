//! Transactions in a workload run: the [`ProducerTarget`](super::producer_target::ProducerTarget) of a
//! transactional workload sends under a commit gate (many runner tasks send at once; a commit must not overlap a
//! send, or the send would find the transaction closed), commits every N records or every T ms, begins the next
//! transaction at once, and times every commit into an HDR histogram (µs) for result.json and the report.
//!
//! A failed commit is counted, the transaction aborted when the error allows it, and the run goes on with a new
//! transaction; the error is kept for the point's warnings.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::workload::TransactionSpec;
use crate::producer::{Producer, ProducerError, TxnErrorKind};

/// Transaction figures of one point (result.json `transactions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TxnSummary {
    pub transactions_committed: u64,
    pub transactions_failed: u64,
    pub commit_latency_us_p50: u64,
    pub commit_latency_us_p99: u64,
    pub commit_latency_us_max: u64,
    pub commit_latency_us_mean: f64,
    /// Base64 of the HdrHistogram (V2 + deflate) of commit latencies, µs.
    pub commit_latency_us_histogram: String,
    /// The first commit error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

struct Stats {
    commit_us: Histogram<u64>,
    failed: u64,
    first_error: Option<String>,
}

/// Begins, commits and times the transactions of one producer.
pub struct TxnDriver {
    spec: TransactionSpec,
    timeout: Duration,
    /// Sends hold it shared; a commit holds it exclusively.
    gate: tokio::sync::RwLock<()>,
    records_in_txn: AtomicU64,
    opened_at: Mutex<Instant>,
    stats: Mutex<Stats>,
}

impl TxnDriver {
    pub fn new(spec: TransactionSpec, timeout: Duration) -> Self {
        TxnDriver {
            spec,
            timeout,
            gate: tokio::sync::RwLock::new(()),
            records_in_txn: AtomicU64::new(0),
            opened_at: Mutex::new(Instant::now()),
            stats: Mutex::new(Stats {
                commit_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
                failed: 0,
                first_error: None,
            }),
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `init_transactions` then the first `begin_transaction`.
    pub async fn start(&self, p: &Producer) -> Result<(), ProducerError> {
        p.init_transactions(self.timeout).await?;
        p.begin_transaction()?;
        *self.opened_at.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(())
    }

    fn due(&self) -> bool {
        match (self.spec.records, self.spec.duration_ms) {
            (Some(n), _) => self.records_in_txn.load(Ordering::Acquire) >= n,
            (None, Some(ms)) => {
                self.records_in_txn.load(Ordering::Acquire) > 0
                    && self.opened_at.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= Duration::from_millis(ms)
            }
            (None, None) => false,
        }
    }

    /// Runs `send` (a record's send) inside the open transaction; commits (and begins the next) when it is due.
    pub async fn gated<T>(
        &self,
        p: &Producer,
        send: impl Future<Output = Result<T, ProducerError>>,
    ) -> Result<T, ProducerError> {
        let sent = {
            let _shared = self.gate.read().await;
            send.await
        };
        if sent.is_ok() {
            self.records_in_txn.fetch_add(1, Ordering::AcqRel);
            if self.due() {
                let _exclusive = self.gate.write().await;
                // Another task may have committed while this one waited for the gate.
                if self.due() {
                    self.commit(p).await;
                    if let Err(e) = p.begin_transaction() {
                        self.note_failure(format!("begin_transaction: {e}"));
                    }
                    *self.opened_at.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                }
            }
        }
        sent
    }

    async fn commit(&self, p: &Producer) {
        let t0 = Instant::now();
        let r = p.commit_transaction(self.timeout).await;
        self.records_in_txn.store(0, Ordering::Release);
        match r {
            Ok(()) => {
                let us = (t0.elapsed().as_micros() as u64).max(1);
                let _ = self.stats().commit_us.record(us);
            }
            Err(e) => {
                self.note_failure(format!("commit_transaction: {e}"));
                if e.txn_kind() == Some(TxnErrorKind::Abortable)
                    && let Err(a) = p.abort_transaction(self.timeout).await
                {
                    self.note_failure(format!("abort_transaction: {a}"));
                }
            }
        }
    }

    fn note_failure(&self, e: String) {
        tracing::warn!(error = %e, "workbench transaction failed");
        let mut s = self.stats();
        s.failed += 1;
        s.first_error.get_or_insert(e);
    }

    /// Commits the open transaction (if it holds records) and summarizes.
    pub async fn finish(&self, p: &Producer) -> TxnSummary {
        {
            let _exclusive = self.gate.write().await;
            if self.records_in_txn.load(Ordering::Acquire) > 0 {
                self.commit(p).await;
            } else if let Err(e) = p.abort_transaction(self.timeout).await {
                // Nothing in it: an abort sends no EndTxn, it only closes the transaction.
                self.note_failure(format!("closing the empty transaction: {e}"));
            }
        }
        let s = self.stats();
        let h = &s.commit_us;
        TxnSummary {
            transactions_committed: h.len(),
            transactions_failed: s.failed,
            commit_latency_us_p50: h.value_at_quantile(0.5),
            commit_latency_us_p99: h.value_at_quantile(0.99),
            commit_latency_us_max: h.max(),
            commit_latency_us_mean: if h.is_empty() { 0.0 } else { h.mean() },
            commit_latency_us_histogram: super::result::base64_encode(&super::histograms::serialize(h)),
            first_error: s.first_error.clone(),
        }
    }
}
