//! The project's one integration-test binary.

mod broker;
#[cfg(feature = "peer-rdkafka")]
mod rdkafka_interop;
