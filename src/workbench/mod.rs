//! The workbench: measures the producer with open-loop load, HDR histograms, sweeps and reports.
//!
//! ```text
//! workload.rs (YAML, OMB-compatible) ──► sweep.rs (points) ──► generator.rs (sizes, payloads, keys, schedule)
//!        ──► runner.rs (tasks → LoadTarget, histograms.rs) ──► result.rs (result.json)
//!        ──► report/ (index.html, summary.md, results.csv) and compare.rs (base vs new)
//! ```
//!
//! Nothing here needs a network: the runner drives any [`runner::LoadTarget`], which the producer (or a test
//! fake) implements.

pub mod compare;
pub mod generator;
pub mod histograms;
pub mod peers;
pub mod report;
pub mod result;
pub mod runner;
pub mod sweep;
pub mod workload;
