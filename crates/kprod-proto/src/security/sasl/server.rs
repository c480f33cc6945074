//! The broker side of SASL, for the mock broker: a user store holding, per user, the PLAIN password and the SCRAM
//! credentials derived from it at setup (salt, iterations, StoredKey, ServerKey — as Kafka keeps them), and a
//! per-connection [`SaslServer`] that runs one exchange.
//!
//! # References
//! - Kafka `ScramCredential`, `CredentialCache`, `PlainSaslServer`, `ScramSaslServer` (behaviour and messages).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use super::plain;
use super::scram::{ScramCredential, ScramHash, ScramServer};
use super::{SaslError, check_credential};
use crate::security::{SaslMechanism, Secret};

/// What the store keeps per user.
#[derive(Debug, Clone)]
struct UserEntry {
    /// PLAIN needs the password itself (Kafka's JAAS `user_<name>="..."` entries are the same).
    plain: Secret,
    scram_sha256: ScramCredential,
    scram_sha512: ScramCredential,
}

/// Users a broker accepts. `Debug` shows names only. Clones share one store, which can change while the broker
/// runs (as Kafka's credential cache follows `kafka-configs --alter`): tests revoke a user mid-session.
#[derive(Clone, Default)]
pub struct SaslUsers {
    users: Arc<RwLock<HashMap<String, UserEntry>>>,
}

impl std::fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users = self.read();
        let mut names: Vec<&String> = users.keys().collect();
        names.sort();
        f.debug_struct("SaslUsers").field("names", &names).finish()
    }
}

impl SaslUsers {
    /// Adds (or replaces) a user, deriving its SCRAM credentials with a random salt and `iterations`
    /// (clamped to Kafka's 4096..=16384).
    pub fn add(&self, name: &str, password: &Secret, iterations: u32) -> Result<(), SaslError> {
        check_credential("username", name)?;
        check_credential("password", password.expose())?;
        if name.is_empty() {
            return Err(SaslError::InvalidCredential { field: "username", reason: "is empty" });
        }
        let it = iterations.clamp(super::scram::MIN_ITERATIONS, super::scram::MAX_ITERATIONS);
        let entry = UserEntry {
            plain: password.clone(),
            scram_sha256: ScramCredential::generate(ScramHash::Sha256, password.expose(), it),
            scram_sha512: ScramCredential::generate(ScramHash::Sha512, password.expose(), it),
        };
        self.users.write().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), entry);
        Ok(())
    }

    /// Revokes a user: its next authentication fails. Returns whether it existed.
    pub fn remove(&self, name: &str) -> bool {
        self.users.write().unwrap_or_else(|e| e.into_inner()).remove(name).is_some()
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True without users.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, UserEntry>> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }

    fn scram(&self, name: &str, hash: ScramHash) -> Option<ScramCredential> {
        self.read().get(name).map(|u| match hash {
            ScramHash::Sha256 => u.scram_sha256.clone(),
            ScramHash::Sha512 => u.scram_sha512.clone(),
        })
    }
}

/// What the server says after a client token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send these bytes and wait for the next client token.
    Continue(Vec<u8>),
    /// Authenticated as `principal`; send `auth_bytes` (possibly empty) with the success.
    Complete {
        /// The authenticated user.
        principal: String,
        /// The server's final token.
        auth_bytes: Vec<u8>,
    },
}

/// One server-side exchange.
#[derive(Debug)]
pub enum SaslServer {
    /// A PLAIN exchange; `done` once its one token was read.
    Plain {
        /// The client's token has been read.
        done: bool,
    },
    /// A SCRAM exchange.
    Scram(ScramServer),
}

impl SaslServer {
    /// The server side of an exchange with `mechanism`.
    pub fn new(mechanism: SaslMechanism) -> Self {
        match ScramHash::of(mechanism) {
            Some(h) => SaslServer::Scram(ScramServer::new(h)),
            None => SaslServer::Plain { done: false },
        }
    }

    /// Handles one client token. An `Err(AuthenticationFailed(text))` is what the broker answers (and then it
    /// closes the connection, as Kafka does).
    pub fn step(&mut self, users: &SaslUsers, client: &[u8]) -> Result<ServerStep, SaslError> {
        match self {
            SaslServer::Plain { done } => {
                if *done {
                    return Err(SaslError::AlreadyComplete);
                }
                *done = true;
                let principal = plain::verify(client, |u| users.read().get(u).map(|e| e.plain.clone()))?;
                Ok(ServerStep::Complete { principal, auth_bytes: Vec::new() })
            }
            SaslServer::Scram(s) => {
                let hash = s.hash();
                match s.step(client, |u| users.scram(u, hash))? {
                    (bytes, None) => Ok(ServerStep::Continue(bytes)),
                    (auth_bytes, Some(principal)) => Ok(ServerStep::Complete { principal, auth_bytes }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::SaslSettings;
    use crate::security::sasl::SaslClient;

    fn run(users: &SaslUsers, m: SaslMechanism, user: &str, pw: &str) -> Result<String, SaslError> {
        let settings = SaslSettings { mechanism: m, username: user.into(), password: Secret::from(pw) };
        let mut c = SaslClient::new(&settings)?;
        let mut s = SaslServer::new(m);
        let mut token = c.initial();
        loop {
            match s.step(users, &token)? {
                ServerStep::Continue(b) => token = c.step(&b)?.expect("client has more to say"),
                ServerStep::Complete { principal, auth_bytes } => {
                    assert_eq!(c.step(&auth_bytes)?, None);
                    assert!(c.is_complete());
                    return Ok(principal);
                }
            }
        }
    }

    #[test]
    fn every_mechanism_authenticates_and_refuses() {
        let users = SaslUsers::default();
        users.add("alice", &Secret::from("s3cret"), 4096).unwrap();
        assert_eq!(users.len(), 1);
        for m in SaslMechanism::ALL {
            assert_eq!(run(&users, m, "alice", "s3cret").unwrap(), "alice", "{m}");
            let e = run(&users, m, "alice", "wrong").unwrap_err();
            assert!(matches!(e, SaslError::AuthenticationFailed(_)), "{m}: {e}");
            if m.is_scram() {
                assert!(e.to_string().ends_with(m.name()), "{e}");
            }
            assert!(run(&users, m, "bob", "s3cret").is_err(), "{m}");
        }
        assert!(!format!("{users:?}").contains("s3cret"));
        assert!(users.remove("alice") && !users.remove("alice"));
        assert!(run(&users, SaslMechanism::Plain, "alice", "s3cret").is_err(), "a revoked user is refused");
    }
}
