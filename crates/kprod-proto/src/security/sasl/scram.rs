//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), client and server, without channel binding (`n,,`), as
//! Kafka uses them.
//!
//! ```text
//! client-first  n,,n=<user>,r=<cnonce>
//! server-first  r=<cnonce><snonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<base64 ClientKey XOR HMAC(StoredKey, AuthMessage)>
//! server-final  v=<base64 HMAC(ServerKey, AuthMessage)>   or   e=<error>
//! ```
//! SaltedPassword = PBKDF2-HMAC(password, salt, i); ClientKey = HMAC(SaltedPassword, "Client Key");
//! StoredKey = H(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key");
//! AuthMessage = client-first-bare "," server-first "," client-final-without-proof.
//!
//! Usernames are escaped (`,` → `=2C`, `=` → `=3D`). Passwords are not SASLprep-normalized: Kafka's Java client
//! and broker use the UTF-8 bytes as they are, and matching them is what lets kprod authenticate against the same
//! stored credentials; control characters are refused. Iterations are bounded to Kafka's 4096..=16384 so a
//! hostile server cannot make the client spin.
//!
//! # References
//! - RFC 5802 §3 (algorithm), §5.1 (attributes), §7 (grammar); RFC 7677 §3 (SHA-256 test vector).
//! - Kafka `ScramMechanism` (min 4096 / max 16384 iterations), `ScramSaslServer` (error texts).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha256, Sha512};

use super::{SaslError, check_credential, ct_eq};
use crate::security::{SaslMechanism, Secret};

/// Fewest iterations accepted (Kafka's `ScramMechanism.minIterations`, also the default).
pub const MIN_ITERATIONS: u32 = 4096;
/// Most iterations accepted (Kafka's `ScramMechanism.maxIterations`).
pub const MAX_ITERATIONS: u32 = 16384;
/// Longest SCRAM message parsed; real ones are ~200 bytes.
const MESSAGE_MAX_BYTES: usize = 4096;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    /// The hash of a SCRAM mechanism; `None` for PLAIN.
    pub fn of(m: SaslMechanism) -> Option<Self> {
        match m {
            SaslMechanism::ScramSha256 => Some(ScramHash::Sha256),
            SaslMechanism::ScramSha512 => Some(ScramHash::Sha512),
            SaslMechanism::Plain => None,
        }
    }

    /// The SASL mechanism of this hash.
    pub fn mechanism(self) -> SaslMechanism {
        match self {
            ScramHash::Sha256 => SaslMechanism::ScramSha256,
            ScramHash::Sha512 => SaslMechanism::ScramSha512,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn h(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802 `Hi()`: PBKDF2 with HMAC of this hash.
    fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, iterations).to_vec()
            }
            ScramHash::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password.as_bytes(), salt, iterations).to_vec()
            }
        }
    }
}

/// What a server stores per user and mechanism (never the password).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// Random salt for the password hash.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations (Kafka: 4096 at least).
    pub iterations: u32,
    /// `H(ClientKey)`: checks the client proof.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server-final message.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are password-equivalent for an offline attack: print only the public parameters.
        f.debug_struct("ScramCredential").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Derives the stored credential of `password` (as Kafka's `kafka-configs --add-config SCRAM-SHA-256=[...]`).
    pub fn new(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = hash.salted_password(password, salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.h(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        }
    }

    /// With a fresh random 32-byte salt.
    pub fn generate(hash: ScramHash, password: &str, iterations: u32) -> Self {
        let salt: [u8; 32] = rand::thread_rng().r#gen();
        Self::new(hash, password, &salt, iterations)
    }
}

/// A printable nonce without ',' (RFC 5802 `printable`): 24 random bytes in base64.
pub fn random_nonce() -> String {
    let raw: [u8; 24] = rand::thread_rng().r#gen();
    B64.encode(raw)
}

/// `saslname` escaping of RFC 5802 §5.1.
fn escape_username(u: &str) -> String {
    u.replace('=', "=3D").replace(',', "=2C")
}

fn unescape_username(s: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslError::Malformed("invalid '=' escape in the username".into())),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses `k=v,k=v,...` into attributes, checking the order of the leading ones.
fn attrs<'a>(msg: &'a str, what: &str) -> Result<Vec<(char, &'a str)>, SaslError> {
    msg.split(',')
        .map(|part| {
            let mut c = part.chars();
            match (c.next(), c.next()) {
                (Some(k), Some('=')) if k.is_ascii_alphabetic() => Ok((k, &part[2..])),
                _ => Err(SaslError::Malformed(format!("{what}: expected attribute=value, got a malformed attribute"))),
            }
        })
        .collect()
}

fn text(msg: &[u8], what: &str) -> Result<String, SaslError> {
    if msg.len() > MESSAGE_MAX_BYTES {
        return Err(SaslError::Malformed(format!("{what} of {} bytes is too long", msg.len())));
    }
    String::from_utf8(msg.to_vec()).map_err(|_| SaslError::Malformed(format!("{what} is not UTF-8")))
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

#[derive(Debug)]
enum ClientState {
    Initial,
    FirstSent { client_first_bare: String },
    FinalSent { server_signature: Vec<u8> },
    Complete,
}

/// The client side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramClient {
    hash: ScramHash,
    username: String,
    password: Secret,
    nonce: String,
    state: ClientState,
}

impl ScramClient {
    /// A client with a fresh random nonce.
    pub fn new(hash: ScramHash, username: &str, password: &Secret) -> Result<Self, SaslError> {
        Self::with_nonce(hash, username, password, random_nonce())
    }

    /// A client with a given nonce (tests, published vectors).
    pub fn with_nonce(hash: ScramHash, username: &str, password: &Secret, nonce: String) -> Result<Self, SaslError> {
        check_credential("username", username)?;
        check_credential("password", password.expose())?;
        if username.is_empty() {
            return Err(SaslError::InvalidCredential { field: "username", reason: "is empty" });
        }
        Ok(ScramClient {
            hash,
            username: username.into(),
            password: password.clone(),
            nonce,
            state: ClientState::Initial,
        })
    }

    /// The hash this client uses.
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// True once the server signature was verified.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, ClientState::Complete)
    }

    /// `n,,n=<user>,r=<nonce>`.
    pub fn client_first(&mut self) -> Vec<u8> {
        let bare = format!("n={},r={}", escape_username(&self.username), self.nonce);
        let msg = format!("n,,{bare}").into_bytes();
        self.state = ClientState::FirstSent { client_first_bare: bare };
        msg
    }

    /// Handles server-first (→ client-final) or server-final (→ `None`, after checking the server signature).
    pub fn step(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        match std::mem::replace(&mut self.state, ClientState::Complete) {
            ClientState::FirstSent { client_first_bare } => self.client_final(&client_first_bare, server).map(Some),
            ClientState::FinalSent { server_signature } => {
                self.verify_server_final(&server_signature, server).map(|()| None)
            }
            ClientState::Initial => Err(SaslError::Malformed("server spoke before the client-first message".into())),
            ClientState::Complete => Err(SaslError::AlreadyComplete),
        }
    }

    fn client_final(&mut self, client_first_bare: &str, server: &[u8]) -> Result<Vec<u8>, SaslError> {
        let server_first = text(server, "server-first message")?;
        let a = attrs(&server_first, "server-first message")?;
        if let Some((_, e)) = a.iter().find(|(k, _)| *k == 'e') {
            return Err(SaslError::ServerRejected(e.to_string()));
        }
        let (Some(('r', nonce)), Some(('s', salt)), Some(('i', iterations))) =
            (a.first().copied(), a.get(1).copied(), a.get(2).copied())
        else {
            return Err(SaslError::Malformed("server-first message: expected r=,s=,i=".into()));
        };
        if a.iter().any(|(k, _)| *k == 'm') {
            return Err(SaslError::Malformed(
                "server-first message has a mandatory extension (m=) kprod does not know".into(),
            ));
        }
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(SaslError::Malformed("server nonce does not extend the client nonce".into()));
        }
        let salt = B64.decode(salt).map_err(|_| SaslError::Malformed("salt is not base64".into()))?;
        let iterations: u32 =
            iterations.parse().map_err(|_| SaslError::Malformed("iteration count is not a number".into()))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError::Malformed(format!(
                "iteration count {iterations} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            )));
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let h = self.hash;
        let salted = h.salted_password(self.password.expose(), &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.h(&client_key);
        let proof = xor(&client_key, &h.hmac(&stored_key, auth_message.as_bytes()));
        let server_key = h.hmac(&salted, b"Server Key");
        self.state = ClientState::FinalSent { server_signature: h.hmac(&server_key, auth_message.as_bytes()) };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    fn verify_server_final(&mut self, expected: &[u8], server: &[u8]) -> Result<(), SaslError> {
        let msg = text(server, "server-final message")?;
        let a = attrs(&msg, "server-final message")?;
        match a.first() {
            Some(('e', e)) => Err(SaslError::ServerRejected(e.to_string())),
            Some(('v', v)) => {
                let got = B64.decode(v).map_err(|_| SaslError::Malformed("server signature is not base64".into()))?;
                if ct_eq(&got, expected) {
                    self.state = ClientState::Complete;
                    Ok(())
                } else {
                    Err(SaslError::ServerSignatureMismatch)
                }
            }
            _ => Err(SaslError::Malformed("server-final message: expected v= or e=".into())),
        }
    }
}

#[derive(Debug)]
enum ServerState {
    Initial,
    FirstSent { auth_prefix: String, nonce: String, credential: ScramCredential, username: String },
    Complete,
}

/// The server side of one SCRAM exchange (the mock broker's).
#[derive(Debug)]
pub struct ScramServer {
    hash: ScramHash,
    server_nonce: String,
    state: ServerState,
}

impl ScramServer {
    /// A server with a fresh random nonce.
    pub fn new(hash: ScramHash) -> Self {
        Self::with_nonce(hash, random_nonce())
    }

    /// A server with a chosen nonce (deterministic tests); [`new`](Self::new) draws a random one.
    pub fn with_nonce(hash: ScramHash, server_nonce: String) -> Self {
        ScramServer { hash, server_nonce, state: ServerState::Initial }
    }

    /// The hash this server uses.
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// The text Kafka's broker answers bad credentials with.
    pub fn invalid_credentials_message(&self) -> String {
        format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            self.hash.mechanism()
        )
    }

    /// Handles client-first (→ server-first) or client-final (→ server-final, `Ok((bytes, Some(user)))` when the
    /// client proved the password). `lookup` finds a user's stored credential.
    pub fn step(
        &mut self,
        client: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<(Vec<u8>, Option<String>), SaslError> {
        match std::mem::replace(&mut self.state, ServerState::Complete) {
            ServerState::Initial => self.server_first(client, lookup).map(|b| (b, None)),
            ServerState::FirstSent { auth_prefix, nonce, credential, username } => {
                let signature = self.check_final(client, &auth_prefix, &nonce, &credential)?;
                Ok((format!("v={}", B64.encode(signature)).into_bytes(), Some(username)))
            }
            ServerState::Complete => Err(SaslError::AlreadyComplete),
        }
    }

    fn server_first(
        &mut self,
        client: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, SaslError> {
        let msg = text(client, "client-first message")?;
        let bare = match msg.strip_prefix("n,,") {
            Some(b) => b,
            None if msg.starts_with("y,") || msg.starts_with("p=") => {
                return Err(SaslError::AuthenticationFailed("channel binding is not supported".into()));
            }
            None => {
                // A gs2 header with an authzid: "n,a=<name>,". Kafka allows it when it equals the username.
                let Some(rest) = msg.strip_prefix("n,a=") else {
                    return Err(SaslError::Malformed("client-first message: bad gs2 header".into()));
                };
                rest.split_once(',').map(|(_, b)| b).ok_or_else(|| SaslError::Malformed("bad gs2 header".into()))?
            }
        };
        let a = attrs(bare, "client-first message")?;
        let (Some(('n', user)), Some(('r', cnonce))) = (a.first().copied(), a.get(1).copied()) else {
            return Err(SaslError::Malformed("client-first message: expected n=,r=".into()));
        };
        if cnonce.is_empty() {
            return Err(SaslError::Malformed("empty client nonce".into()));
        }
        let username = unescape_username(user)?;
        let Some(credential) = lookup(&username) else {
            return Err(SaslError::AuthenticationFailed(self.invalid_credentials_message()));
        };
        let nonce = format!("{cnonce}{}", self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", B64.encode(&credential.salt), credential.iterations);
        let auth_prefix = format!("{bare},{server_first}");
        self.state = ServerState::FirstSent { auth_prefix, nonce, credential, username };
        Ok(server_first.into_bytes())
    }

    fn check_final(
        &self,
        client: &[u8],
        auth_prefix: &str,
        nonce: &str,
        cred: &ScramCredential,
    ) -> Result<Vec<u8>, SaslError> {
        let msg = text(client, "client-final message")?;
        let (without_proof, proof) =
            msg.rsplit_once(",p=").ok_or_else(|| SaslError::Malformed("client-final message has no proof".into()))?;
        let a = attrs(without_proof, "client-final message")?;
        if a.iter().find(|(k, _)| *k == 'r').map(|(_, v)| *v) != Some(nonce) {
            return Err(SaslError::AuthenticationFailed("Invalid client nonce in the final client message.".into()));
        }
        let proof = B64.decode(proof).map_err(|_| SaslError::Malformed("proof is not base64".into()))?;
        let auth_message = format!("{auth_prefix},{without_proof}");
        let h = self.hash;
        let client_signature = h.hmac(&cred.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() || !ct_eq(&h.h(&xor(&proof, &client_signature)), &cred.stored_key) {
            return Err(SaslError::AuthenticationFailed(self.invalid_credentials_message()));
        }
        Ok(h.hmac(&cred.server_key, auth_message.as_bytes()))
    }
}

#[cfg(test)]
mod tests;
