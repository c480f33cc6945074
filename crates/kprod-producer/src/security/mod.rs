//! Security of a connection: the sans-IO settings and SASL mechanisms (re-exported from `kprod-proto`), plus the
//! two parts that need a stream: [`tls`] (rustls client configuration and handshake) and [`authenticate`] (the async
//! SaslHandshake + SaslAuthenticate exchange).

pub use kprod_proto::security::*;

pub mod authenticate;
pub mod tls;
