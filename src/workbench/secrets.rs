//! Credentials in workloads, kept out of run folders: the embedded target's SASL section, and the redaction
//! applied to everything the workbench writes (result.json's resolved workload, the plan printout, the copy of
//! the workload file). Secrets print as `[hidden]`, as Java prints password-typed configs.
//!
//! ```yaml
//! target:
//!   embedded:
//!     sasl: {mechanisms: [SCRAM-SHA-256], users: {alice: alice-secret}, reauth_ms: 60000}
//! producer: {security.protocol: SASL_PLAINTEXT, sasl.mechanism: SCRAM-SHA-256,
//!            sasl.username: alice, sasl.password: alice-secret}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::Value;

use crate::broker::MockClusterBuilder;
use crate::producer::config::is_secret_key;
use crate::security::SaslMechanism;

/// What secrets are replaced with in anything written out.
pub const HIDDEN: &str = "[hidden]";

/// `target.embedded.sasl`: the mock cluster requires SASL (a `SASL_PLAINTEXT` listener).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSasl {
    /// Enabled mechanisms; all of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 when empty.
    #[serde(default)]
    pub mechanisms: Vec<String>,
    /// User name → password. Written out as `[hidden]`.
    #[serde(serialize_with = "hidden_values")]
    pub users: BTreeMap<String, String>,
    /// Kafka's `connections.max.reauth.ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauth_ms: Option<u64>,
}

/// A `target.embedded.sasl` section the mock cluster cannot serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedSaslError {
    #[error("target.embedded.sasl.mechanisms: {0}")]
    Mechanism(#[source] crate::security::SecurityConfigError),
    #[error("target.embedded.sasl.users: give at least one user (name: password)")]
    NoUser,
}

impl EmbeddedSasl {
    /// Applies this section to a mock cluster builder.
    pub fn apply(&self, mut b: MockClusterBuilder) -> Result<MockClusterBuilder, EmbeddedSaslError> {
        if !self.mechanisms.is_empty() {
            let ms = self
                .mechanisms
                .iter()
                .map(|m| SaslMechanism::parse(m).map_err(EmbeddedSaslError::Mechanism))
                .collect::<Result<Vec<_>, _>>()?;
            b = b.sasl_mechanisms(&ms);
        }
        if self.users.is_empty() {
            return Err(EmbeddedSaslError::NoUser);
        }
        for (name, password) in &self.users {
            b = b.sasl_user(name, password);
        }
        if let Some(ms) = self.reauth_ms {
            b = b.reauth_ms(ms);
        }
        Ok(b)
    }
}

fn hidden_values<S: Serializer>(m: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.keys().map(|k| (k, HIDDEN)))
}

/// Serializes producer properties with secret values (`sasl.jaas.config`, `sasl.password`, `ssl.*password*`...)
/// replaced by `[hidden]`.
pub fn hidden_props<S: Serializer>(m: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|(k, v)| (k, if is_secret_key(k) { HIDDEN } else { v.as_str() })))
}

/// The value of producer property `key` as it may be shown.
pub fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) { HIDDEN } else { value }
}

/// Replaces, anywhere in a YAML document, the values of secret keys and the passwords of `sasl.users`. Returns
/// whether anything was hidden.
pub fn redact_yaml(v: &mut Value) -> bool {
    let mut changed = false;
    match v {
        Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                let key = k.as_str().unwrap_or("");
                if key == "users" && val.is_mapping() {
                    if let Value::Mapping(users) = val {
                        for (_, pw) in users.iter_mut() {
                            *pw = Value::String(HIDDEN.into());
                            changed = true;
                        }
                    }
                } else if is_secret_key(key) && !val.is_mapping() {
                    *val = Value::String(HIDDEN.into());
                    changed = true;
                } else {
                    changed |= redact_yaml(val);
                }
            }
        }
        Value::Sequence(s) => {
            for x in s {
                changed |= redact_yaml(x);
            }
        }
        Value::Tagged(t) => changed |= redact_yaml(&mut t.value),
        _ => {}
    }
    changed
}

/// The text to store as the run's copy of a workload file: verbatim unless it holds secrets, else the redacted
/// document (comments are lost then; the secrets are not written).
pub fn redacted_workload_text(text: &str) -> String {
    let Ok(mut doc) = serde_yaml_ng::from_str::<Value>(text) else { return text.to_string() };
    if !redact_yaml(&mut doc) {
        return text.to_string();
    }
    let body = serde_yaml_ng::to_string(&doc).unwrap_or_default();
    format!("# copy of the workload file with credentials replaced by {HIDDEN}\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_secrets_are_hidden_and_other_values_kept() {
        let text = "name: x\ntarget: {embedded: {sasl: {users: {alice: pw-one}}}}\n\
                    producer: {sasl.password: pw-two, sasl.jaas.config: 'm required password=\"pw-three\";', linger.ms: 5}\n\
                    sweep: {producer: {ssl.key.password: [pw-four]}}\n";
        let out = redacted_workload_text(text);
        for pw in ["pw-one", "pw-two", "pw-three", "pw-four"] {
            assert!(!out.contains(pw), "{pw} in {out}");
        }
        assert!(out.contains("alice") && out.contains("linger.ms") && out.contains(HIDDEN), "{out}");
        let plain = "name: x\nproducer: {linger.ms: 5} # comment\n";
        assert_eq!(redacted_workload_text(plain), plain);
    }

    #[test]
    fn serialized_sasl_section_hides_passwords() {
        let s = EmbeddedSasl {
            mechanisms: vec!["PLAIN".into()],
            users: [("alice".to_string(), "pw-one".to_string())].into(),
            reauth_ms: None,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("alice") && !json.contains("pw-one"), "{json}");
        assert!(s.apply(crate::broker::MockCluster::builder()).is_ok());
        let bad = EmbeddedSasl { mechanisms: vec!["GSSAPI".into()], ..s.clone() };
        assert!(bad.apply(crate::broker::MockCluster::builder()).unwrap_err().to_string().contains("GSSAPI"));
    }
}
