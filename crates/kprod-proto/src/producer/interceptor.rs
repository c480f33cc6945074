//! Interceptors, as Java's `ProducerInterceptor`: `on_send` sees (and may replace) every record before it is
//! serialized; `on_acknowledgement` sees every outcome, success or failure. An interceptor's error is logged and
//! never aborts a send: the record continues as it was before that interceptor.

use crate::producer::error::ProducerError;
use crate::producer::record::{ProducerRecord, RecordMetadata};

/// Why an interceptor failed; logged, never propagated.
///
/// ```
/// use kprod_proto::producer::interceptor::InterceptorError;
///
/// let e = InterceptorError("schema registry unreachable".into());
/// assert_eq!(e.to_string(), "schema registry unreachable");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct InterceptorError(pub String);

/// Java's `ProducerInterceptor`: sees every record before it is serialized, and every outcome.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use kprod_proto::producer::interceptor::{InterceptorError, ProducerInterceptor, run_on_send};
/// use kprod_proto::producer::record::ProducerRecord;
///
/// /// Stamps every record with where it came from.
/// struct Origin;
/// impl ProducerInterceptor<Bytes, Bytes> for Origin {
///     fn on_send(
///         &self,
///         record: &ProducerRecord<Bytes, Bytes>,
///     ) -> Result<Option<ProducerRecord<Bytes, Bytes>>, InterceptorError> {
///         Ok(Some(record.clone().with_header("origin", Some(Bytes::from_static(b"web")))))
///     }
/// }
/// let chain: Vec<Arc<dyn ProducerInterceptor<Bytes, Bytes>>> = vec![Arc::new(Origin)];
/// let record = run_on_send(&chain, ProducerRecord::new("events", Bytes::from_static(b"v")));
/// assert_eq!(record.headers[0].key, "origin");
/// ```
pub trait ProducerInterceptor<K, V>: Send + Sync + 'static {
    /// Returns `Ok(Some(r))` to replace the record, `Ok(None)` to keep it.
    fn on_send(&self, _record: &ProducerRecord<K, V>) -> Result<Option<ProducerRecord<K, V>>, InterceptorError> {
        Ok(None)
    }
    /// Called once per record with its outcome.
    fn on_acknowledgement(&self, _outcome: Result<&RecordMetadata, &ProducerError>) {}
    /// A name for the logs.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// Runs the chain in order, as Java's `ProducerInterceptors.onSend`.
pub fn run_on_send<K: 'static, V: 'static>(
    chain: &[std::sync::Arc<dyn ProducerInterceptor<K, V>>],
    mut record: ProducerRecord<K, V>,
) -> ProducerRecord<K, V> {
    for i in chain {
        match i.on_send(&record) {
            Ok(Some(r)) => record = r,
            Ok(None) => {}
            Err(e) => tracing::warn!(interceptor = i.name(), topic = %record.topic, error = %e,
                "interceptor on_send failed; continuing with the record unchanged"),
        }
    }
    record
}
