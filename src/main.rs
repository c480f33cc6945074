//! The `kprod` command: a Kafka producer workbench.
//!
//! Subcommands: `broker` (the in-process mock cluster, standalone), `perf-test` (kafka-producer-perf-test),
//! `produce` (kafka-console-producer).

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "kprod", version, about = "A Kafka producer in Rust, and the workbench that measures it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the mock Kafka cluster standalone until Ctrl-C (any Kafka client can produce to it).
    Broker(kprod::broker::cli::BrokerArgs),
    /// Drop-in replacement for kafka-producer-perf-test (same options and output lines).
    PerfTest(kprod::workbench::perf_test::PerfTestArgs),
    /// Drop-in replacement for kafka-console-producer: one record per stdin line.
    Produce(kprod::workbench::console_producer::ProduceArgs),
}

/// Exits with a tool's own code (it printed its errors); `Err` falls through to the common error line.
fn exit_with(r: Result<i32, String>) -> Result<(), String> {
    match r {
        Ok(0) => Ok(()),
        Ok(code) => std::process::exit(code),
        Err(e) => Err(e),
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("KPROD_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kprod: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let result: Result<(), String> = rt.block_on(async {
        match cli.command {
            Command::Broker(args) => kprod::broker::cli::run_cli(args).await,
            Command::PerfTest(args) => exit_with(kprod::workbench::perf_test::run_cli(args).await),
            Command::Produce(args) => exit_with(kprod::workbench::console_producer::run_cli(args).await),
        }
    });
    if let Err(e) = result {
        eprintln!("kprod: {e}");
        std::process::exit(1);
    }
}
