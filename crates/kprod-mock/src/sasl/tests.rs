//! The SASL gate and exchanges through the sans-IO handler.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::handler::{Outcome, handle_frame};
use crate::protocol::{
    ApiMessage, ApiVersionsRequest, Decode, Encode, MetadataRequest, RequestHeader, decode_response, encode_request,
    split_frame,
};
use crate::security::SaslSettings;
use crate::security::sasl::SaslClient;
use crate::state::{ClusterConfig, ClusterState};

fn cluster(sasl: Option<BrokerSasl>) -> ClusterState {
    ClusterState::new(ClusterConfig { sasl, ..Default::default() }, vec!["127.0.0.1:1".parse().unwrap()])
}

fn sasl_config() -> BrokerSasl {
    let mut s = BrokerSasl {
        mechanisms: vec![SaslMechanism::Plain, SaslMechanism::ScramSha256],
        reauth: Some(Duration::from_millis(1000)),
        ..Default::default()
    };
    s.add_user("alice", &Secret::from("pw")).unwrap();
    s
}

/// Sends `req` at `version`; returns the outcome and the decoded response (when one was written).
fn call<Req: Encode + ApiMessage, Resp: Decode + ApiMessage>(
    st: &ClusterState,
    session: &mut Session,
    version: i16,
    req: &Req,
) -> (Outcome, Option<Resp>) {
    let header = RequestHeader { api_key: Req::API_KEY, api_version: version, correlation_id: 3, client_id: None };
    let mut frame = BytesMut::new();
    encode_request(&mut frame, &header, req).unwrap();
    let mut out = BytesMut::new();
    let h = handle_frame(st, 0, session, frame.freeze().slice(4..), &mut out);
    let resp = (h.outcome == Outcome::Respond)
        .then(|| decode_response::<Resp>(split_frame(&mut out, usize::MAX).unwrap().unwrap(), version).unwrap().1);
    (h.outcome, resp)
}

fn metadata(st: &ClusterState, s: &mut Session) -> Outcome {
    call::<_, crate::protocol::MetadataResponse>(st, s, 12, &MetadataRequest::default()).0
}

fn handshake(st: &ClusterState, s: &mut Session, m: &str) -> SaslHandshakeResponse {
    call(st, s, 1, &SaslHandshakeRequest { mechanism: m.into() }).1.unwrap()
}

fn auth(st: &ClusterState, s: &mut Session, v: i16, bytes: Vec<u8>) -> SaslAuthenticateResponse {
    call(st, s, v, &SaslAuthenticateRequest { auth_bytes: Bytes::from(bytes) }).1.unwrap()
}

#[test]
fn only_api_versions_and_sasl_before_authentication() {
    let st = cluster(Some(sasl_config()));
    let mut s = Session::default();
    let (o, _) = call::<_, crate::protocol::ApiVersionsResponse>(&st, &mut s, 3, &ApiVersionsRequest::default());
    assert_eq!(o, Outcome::Respond);
    assert_eq!(metadata(&st, &mut s), Outcome::Close, "Metadata before authentication closes");
    let mut s = Session::default();
    let (o, _) = call::<_, SaslAuthenticateResponse>(&st, &mut s, 2, &SaslAuthenticateRequest::default());
    assert_eq!(o, Outcome::Close, "SaslAuthenticate before SaslHandshake closes");
}

#[test]
fn unknown_mechanism_and_wrong_password_answer_then_close() {
    let st = cluster(Some(sasl_config()));
    let mut s = Session::default();
    let r = handshake(&st, &mut s, "SCRAM-SHA-512");
    assert_eq!(r.error_code, ErrorCode::UnsupportedSaslMechanism);
    assert_eq!(r.mechanisms, vec!["PLAIN".to_string(), "SCRAM-SHA-256".to_string()]);
    assert!(s.close_after_response);

    let mut s = Session::default();
    assert_eq!(handshake(&st, &mut s, "PLAIN").error_code, ErrorCode::None);
    let r = auth(&st, &mut s, 2, b"\0alice\0nope".to_vec());
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed);
    assert_eq!(r.error_message.as_deref(), Some("Authentication failed: Invalid username or password"));
    assert!(s.close_after_response && s.principal().is_none());
}

#[test]
fn scram_exchange_then_lifetime_expiry_and_reauthentication() {
    let st = cluster(Some(sasl_config()));
    let mut s = Session::default();
    assert_eq!(handshake(&st, &mut s, "SCRAM-SHA-256").error_code, ErrorCode::None);
    let settings =
        SaslSettings { mechanism: SaslMechanism::ScramSha256, username: "alice".into(), password: Secret::from("pw") };
    let mut c = SaslClient::new(&settings).unwrap();
    let r1 = auth(&st, &mut s, 2, c.initial());
    assert_eq!((r1.error_code, r1.session_lifetime_ms), (ErrorCode::None, 0));
    let r2 = auth(&st, &mut s, 2, c.step(&r1.auth_bytes).unwrap().unwrap());
    assert_eq!((r2.error_code, r2.session_lifetime_ms), (ErrorCode::None, 1000));
    assert_eq!(c.step(&r2.auth_bytes).unwrap(), None, "the broker's signature verifies");
    assert_eq!(s.principal(), Some("alice"));
    assert_eq!(s.take_lifetime(), Some(Duration::from_millis(1000)));
    assert_eq!(metadata(&st, &mut s), Outcome::Respond);
    // The server marks the session expired: anything but a new handshake closes the connection.
    s.expired = true;
    assert_eq!(metadata(&st, &mut s), Outcome::Close);
    assert_eq!(handshake(&st, &mut s, "PLAIN").error_code, ErrorCode::None);
    let r = auth(&st, &mut s, 0, b"\0alice\0pw".to_vec());
    assert_eq!((r.error_code, r.session_lifetime_ms), (ErrorCode::None, 0), "v0 carries no lifetime");
    assert_eq!(metadata(&st, &mut s), Outcome::Respond);
}

#[test]
fn without_sasl_the_apis_answer_illegal_state_and_nothing_is_gated() {
    let st = cluster(None);
    let mut s = Session::default();
    assert_eq!(metadata(&st, &mut s), Outcome::Respond);
    assert_eq!(handshake(&st, &mut s, "PLAIN").error_code, ErrorCode::IllegalSaslState);
    assert_eq!(auth(&st, &mut s, 1, vec![]).error_code, ErrorCode::IllegalSaslState);
}
