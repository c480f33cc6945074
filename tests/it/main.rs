//! The project's one integration-test binary.

mod broker;
mod java_interop;
#[cfg(feature = "peer-rdkafka")]
mod rdkafka_interop;
