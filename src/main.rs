//! The `kprod` command: a Kafka producer workbench.
//!
//! Subcommands: `run`, `report`, `merge`, `compare` (the workbench), `perf-test` (kafka-producer-perf-test), `produce`
//! (kafka-console-producer), `broker` (the in-process mock cluster, standalone).
//! Exit codes: 0 success, 1 a failed check (`run`, `merge`: records unaccounted for; `compare`: a regression; `produce`: a
//! record not acknowledged), 2 an error.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "kprod", version, about = "A Kafka producer in Rust, and the workbench that measures it")]
struct Cli {
    /// Worker threads of the process's async runtime (default: one per core, or TOKIO_WORKER_THREADS). `1` keeps
    /// the load and an embedded broker on one thread (and the producer's sender too with `sender.thread=false`;
    /// by default it has a thread of its own). A workload's `worker_threads` field sets it per point for
    /// `kprod run`.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    worker_threads: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the mock Kafka cluster standalone until Ctrl-C (any Kafka client can produce to it).
    Broker(kprod::broker::cli::BrokerArgs),
    /// Run a workload (or a sweep) and write reports/<timestamp>-<name>/.
    Run(kprod::workbench::cli::RunArgs),
    /// Rebuild index.html, summary.md and results.csv of a run folder from its result.json.
    Report(kprod::workbench::cli::ReportArgs),
    /// Merge the result folders of `kprod run --shard I/N` into one run (counts summed, histograms added).
    Merge(kprod::workbench::cli::MergeArgs),
    /// Compare two runs point by point; exit code 1 on a regression.
    Compare(kprod::workbench::cli::CompareArgs),
    /// Drop-in replacement for kafka-producer-perf-test (same options and output lines).
    PerfTest(kprod::workbench::perf_test::PerfTestArgs),
    /// Drop-in replacement for kafka-console-producer: one record per stdin line.
    Produce(kprod::workbench::console_producer::ProduceArgs),
}

/// What a subcommand failed with (exit code 2): each command's own error, shown as it renders.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Broker(#[from] kprod::broker::cli::BrokerCliError),
    #[error(transparent)]
    Workbench(#[from] kprod::workbench::cli::CliError),
    #[error(transparent)]
    PerfTest(#[from] kprod::workbench::perf_test::PerfTestError),
    #[error(transparent)]
    Produce(#[from] kprod::workbench::console_producer::ProduceError),
}

fn main() {
    let cli = Cli::parse();
    // `kprod run` prints the producer config's warnings once in its plan: the producer's own copy (one per point)
    // would repeat them.
    let default_filter =
        if matches!(cli.command, Command::Run(_)) { "warn,kprod::producer::config=error" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KPROD_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: `2>log` gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.worker_threads {
        builder.worker_threads(usize::from(n));
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kprod: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let result: Result<i32, CommandError> = rt.block_on(async {
        match cli.command {
            Command::Broker(args) => Ok(kprod::broker::cli::run_cli(args).await.map(|()| 0)?),
            Command::Run(args) => Ok(kprod::workbench::cli::run_cli(args).await?),
            Command::Report(args) => Ok(kprod::workbench::cli::report_cli(args)?),
            Command::Merge(args) => Ok(kprod::workbench::cli::merge_cli(args)?),
            Command::Compare(args) => Ok(kprod::workbench::cli::compare_cli(args)?),
            Command::PerfTest(args) => Ok(kprod::workbench::perf_test::run_cli(args).await?),
            Command::Produce(args) => Ok(kprod::workbench::console_producer::run_cli(args).await?),
        }
    });
    match result {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("kprod: {e}");
            std::process::exit(2);
        }
    }
}
