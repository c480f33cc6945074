//! Transactions in `kprod perf-test`, as Java's `ProducerPerformance` (Kafka 4.x) runs them: enabled by
//! `--transactional-id`, `--transaction-duration-ms` or a `transactional.id` property; the duration defaults to
//! 3000 ms and the id to `performance-producer-<random>`; a transaction begins before the first record after the
//! previous commit and commits after the send that finds it at least the duration old; the last one commits at
//! the end. kprod adds the commit latency (HDR histogram, microseconds) to the summary.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::producer::{Producer, ProducerConfig, ProducerError};

/// Java's `DEFAULT_TRANSACTION_DURATION_MS`.
pub const DEFAULT_TRANSACTION_DURATION_MS: u64 = 3000;

/// The resolved transaction settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnPlan {
    pub transactional_id: String,
    pub duration: Duration,
}

/// Java's rules: `--transactional-id` beats the `transactional.id` property; either, or a duration, enables
/// transactions. Sets `transactional.id` in `config` when enabled.
pub fn resolve(
    arg_id: Option<&str>,
    arg_duration_ms: Option<i64>,
    config: &mut ProducerConfig,
) -> Result<Option<TxnPlan>, super::perf_test::PerfTestError> {
    if arg_id.is_none() && arg_duration_ms.is_none() && config.transactional_id.is_none() {
        return Ok(None);
    }
    let duration_ms = match arg_duration_ms {
        Some(d) if d <= 0 => return Err(super::perf_test::PerfTestError::TransactionDuration),
        Some(d) => d as u64,
        None => DEFAULT_TRANSACTION_DURATION_MS,
    };
    let id = match (arg_id, &config.transactional_id) {
        (Some(id), _) => id.to_string(),
        (None, Some(id)) => id.clone(),
        (None, None) => format!("performance-producer-{:032x}", rand::random::<u128>()),
    };
    config.set("transactional.id", &id).map_err(super::perf_test::PerfTestError::TransactionalId)?;
    Ok(Some(TxnPlan { transactional_id: id, duration: Duration::from_millis(duration_ms) }))
}

/// Begins and commits transactions around the sends, timing each commit.
pub struct TxnPacer {
    plan: TxnPlan,
    commit_timeout: Duration,
    open_since: Option<Instant>,
    commit_us: Histogram<u64>,
}

impl TxnPacer {
    pub fn new(plan: TxnPlan, commit_timeout: Duration) -> Self {
        TxnPacer {
            plan,
            commit_timeout,
            open_since: None,
            commit_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
        }
    }

    /// `init_transactions`, bounded by `max.block.ms` as Java's.
    pub async fn init<K: Send + Sync + 'static, V: Send + Sync + 'static>(
        &self,
        p: &Producer<K, V>,
    ) -> Result<(), ProducerError> {
        p.init_transactions(self.commit_timeout).await
    }

    /// Before a send: begin a transaction if none is open.
    pub fn before_send<K: Send + Sync + 'static, V: Send + Sync + 'static>(
        &mut self,
        p: &Producer<K, V>,
    ) -> Result<(), ProducerError> {
        if self.open_since.is_none() {
            p.begin_transaction()?;
            self.open_since = Some(Instant::now());
        }
        Ok(())
    }

    /// After a send at `send_start`: commit once the transaction is `duration` old.
    pub async fn after_send<K: Send + Sync + 'static, V: Send + Sync + 'static>(
        &mut self,
        p: &Producer<K, V>,
        send_start: Instant,
    ) -> Result<(), ProducerError> {
        match self.open_since {
            Some(t) if send_start.saturating_duration_since(t) >= self.plan.duration => self.commit(p).await,
            _ => Ok(()),
        }
    }

    /// Commits the open transaction, if any.
    pub async fn finish<K: Send + Sync + 'static, V: Send + Sync + 'static>(
        &mut self,
        p: &Producer<K, V>,
    ) -> Result<(), ProducerError> {
        if self.open_since.is_some() { self.commit(p).await } else { Ok(()) }
    }

    async fn commit<K: Send + Sync + 'static, V: Send + Sync + 'static>(
        &mut self,
        p: &Producer<K, V>,
    ) -> Result<(), ProducerError> {
        let t0 = Instant::now();
        p.commit_transaction(self.commit_timeout).await?;
        self.open_since = None;
        let _ = self.commit_us.record((t0.elapsed().as_micros() as u64).max(1));
        Ok(())
    }

    /// Commits so far.
    pub fn commits(&self) -> u64 {
        self.commit_us.len()
    }

    /// The commit-latency summary line printed after Java's totals.
    pub fn summary_line(&self) -> String {
        let h = &self.commit_us;
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "{} transactions committed (transactional.id {}, every {} ms): commit latency {:.2} ms avg, {:.2} ms \
             50th, {:.2} ms 99th, {:.2} ms max.",
            h.len(),
            self.plan.transactional_id,
            self.plan.duration.as_millis(),
            h.mean() / 1000.0,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_rules_for_enabling_transactions() {
        let mut c = ProducerConfig::default();
        assert_eq!(resolve(None, None, &mut c).unwrap(), None);
        let p = resolve(Some("tx"), None, &mut c).unwrap().unwrap();
        assert_eq!(p, TxnPlan { transactional_id: "tx".into(), duration: Duration::from_millis(3000) });
        assert_eq!(c.transactional_id.as_deref(), Some("tx"));
        // The property alone enables them; the argument wins over it.
        let mut c = ProducerConfig::from_pairs([("transactional.id", "prop")]).unwrap();
        assert_eq!(resolve(None, Some(50), &mut c).unwrap().unwrap().transactional_id, "prop");
        assert_eq!(resolve(Some("arg"), Some(50), &mut c).unwrap().unwrap().transactional_id, "arg");
        // A duration alone gets a random id.
        let mut c = ProducerConfig::default();
        let p = resolve(None, Some(100), &mut c).unwrap().unwrap();
        assert!(p.transactional_id.starts_with("performance-producer-"), "{p:?}");
        assert_eq!(p.duration, Duration::from_millis(100));
        assert!(resolve(None, Some(0), &mut c).unwrap_err().to_string().contains("greater than zero"));
    }
}
