//! The project's one integration-test binary.

mod alloc;
mod broker;
mod cli_tools;
mod java_interop;
mod producer;
#[cfg(feature = "peer-rdkafka")]
mod rdkafka_interop;
mod real_broker;
mod real_cluster;
mod transactions;
mod workbench_run;
