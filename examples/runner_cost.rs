//! The workbench runner's own cost per record for a workload's first point, measured as `kprod run` does it (the
//! point driven closed-loop against a target that only acknowledges, on a one-thread runtime):
//!
//! ```sh
//! cargo run --release --example runner_cost -- RECORDS WORKLOAD.yaml
//! ```
//!
//! Under callgrind, the difference between two record counts is the runner's instructions per record, free of the
//! fixed costs (payload pool, runtime): `valgrind --tool=callgrind target/release/examples/runner_cost 200000 W`
//! and again at 400000.
use kprod::workbench::runner::{RUNNER_COST_RECORDS, runner_cost_ns_with_records};
use kprod::workbench::workload::Workload;

fn main() {
    let mut args = std::env::args().skip(1);
    let records = match args.next().map(|s| s.parse::<u64>()) {
        None => RUNNER_COST_RECORDS,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => fail("RECORDS must be a positive whole number"),
    };
    let path = args.next().unwrap_or_else(|| "workloads/peers-100b-8p.yaml".into());
    let point = match Workload::load(&path).and_then(|w| w.expand()) {
        Ok(mut points) if !points.is_empty() => points.remove(0),
        Ok(_) => fail(&format!("{path}: the workload has no point")),
        Err(e) => fail(&format!("{path}: {e}")),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    match rt.block_on(runner_cost_ns_with_records(&point, records)) {
        Some(ns) => println!("{records} records: the runner costs {ns:.1} ns of CPU per record"),
        None => fail("the runner's cost could not be measured (not Linux?)"),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("runner_cost: {msg}");
    std::process::exit(2);
}
