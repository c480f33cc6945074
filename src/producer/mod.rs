pub mod config;
pub mod partitioner;
