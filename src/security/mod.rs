//! Security for connections to brokers: TLS ([`tls`]). SASL lives beside it (see the `sasl` branch).

pub mod tls;
