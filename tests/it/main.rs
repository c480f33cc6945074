//! The project's one integration-test binary.

mod alloc;
mod broker;
mod cli_tools;
mod java_interop;
mod producer;
#[cfg(feature = "peer-rdkafka")]
mod rdkafka_interop;
mod real_broker;
mod real_broker_security;
mod real_cluster;
mod security;
mod shards;
mod tls;
mod transactions;
mod workbench_run;
