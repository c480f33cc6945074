//! The workbench: measures the producer with open-loop load, HDR histograms, sweeps and reports.
//!
//! ```text
//! workload.rs (YAML, OMB-compatible) ──► sweep.rs (points) ──► generator.rs (sizes, payloads, keys, schedule)
//!        ──► runner.rs (tasks → LoadTarget, histograms.rs) ──► result.rs (result.json)
//!        ──► report/ (index.html, summary.md, results.csv) and compare.rs (base vs new)
//! ```
//!
//! Nothing here needs a network: the runner drives any [`runner::LoadTarget`], which the producer (or a test
//! fake) implements. [`producer_target`] is that implementation over the real producer (with the hooks that feed the
//! histograms); [`run_cmd`] runs a whole workload file (embedded mock cluster or a real one, every sweep point, the
//! run folder, the accounting check, [`profile`] for flame graphs); [`cli`] holds `kprod run`, `kprod report` and
//! `kprod compare`.

pub mod cli;
pub mod compare;
pub mod console_producer;
pub mod generator;
pub mod histograms;
pub mod merge;
pub mod pacer;
pub mod peers;
pub mod perf_test;
pub mod perf_txn;
pub mod producer_target;
pub mod profile;
pub mod report;
pub mod result;
pub mod run_cmd;
pub mod runner;
pub mod search;
pub mod secrets;
pub mod shard;
pub mod sweep;
pub mod txn_driver;
pub mod workload;
