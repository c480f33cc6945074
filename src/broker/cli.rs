//! `kprod broker`: run a mock cluster from the command line until Ctrl-C.
//!
//! Prints one line per broker, `broker N listening on 127.0.0.1:PORT`, then the bootstrap line,
//! so scripts can read the ports (use `--port 0` for free ports).

use super::{MockCluster, StorageMode, Validation};

/// Options of `kprod broker`.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Port of broker 0; brokers 1.. take the following ports. 0 picks free ports.
    #[arg(long, default_value_t = 9092)]
    pub port: u16,
    /// Number of brokers.
    #[arg(long, default_value_t = 1)]
    pub brokers: usize,
    /// Partitions of auto-created topics.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// sink: count and drop; retain: keep batches in memory (for consumers and checks).
    #[arg(long, value_enum, default_value_t = ModeArg::Sink)]
    pub mode: ModeArg,
    /// Cap on retained bytes in retain mode; beyond it produce fails with POLICY_VIOLATION.
    #[arg(long, default_value_t = 1 << 30)]
    pub retain_bytes: u64,
    /// crc: header and CRC-32C; full: also decompress and check every record.
    #[arg(long, value_enum, default_value_t = ValidateArg::Crc)]
    pub validate: ValidateArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Sink,
    Retain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateArg {
    Crc,
    Full,
}

impl BrokerArgs {
    /// The cluster builder these options describe.
    pub fn builder(&self) -> super::MockClusterBuilder {
        let mode = match self.mode {
            ModeArg::Sink => StorageMode::Sink,
            ModeArg::Retain => StorageMode::Retain { max_bytes: self.retain_bytes },
        };
        let validation = match self.validate {
            ValidateArg::Crc => Validation::Crc,
            ValidateArg::Full => Validation::Full,
        };
        MockCluster::builder()
            .brokers(self.brokers)
            .default_partitions(self.partitions)
            .mode(mode)
            .validate(validation)
            .port(self.port)
    }
}

/// Starts the cluster, prints the listening lines and serves until Ctrl-C.
pub async fn run_cli(args: BrokerArgs) -> Result<(), String> {
    let cluster = args.builder().start().await.map_err(|e| e.to_string())?;
    for (id, addr) in cluster.addresses().iter().enumerate() {
        println!("broker {id} listening on {addr}");
    }
    println!("bootstrap.servers={}", cluster.bootstrap());
    tokio::signal::ctrl_c().await.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    let stats = cluster.stats();
    cluster.shutdown().await;
    println!(
        "mock cluster stopped: {} produce requests, {} records, {} bytes",
        stats.produce_requests, stats.produce_records, stats.produce_bytes
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        broker: BrokerArgs,
    }

    #[tokio::test]
    async fn flags_parse_and_start_the_described_cluster() {
        let cli = Cli::try_parse_from([
            "kprod",
            "--port",
            "0",
            "--brokers",
            "2",
            "--partitions",
            "3",
            "--mode",
            "retain",
            "--retain-bytes",
            "1000",
            "--validate",
            "full",
        ])
        .unwrap();
        let cluster = cli.broker.builder().start().await.unwrap();
        assert_eq!(cluster.addresses().len(), 2);
        assert!(cluster.addresses().iter().all(|a| a.port() != 0 && a.ip().is_loopback()));
        let c = &cluster.state().config;
        assert_eq!(
            (c.default_partitions, c.mode, c.validation),
            (3, StorageMode::Retain { max_bytes: 1000 }, Validation::Full)
        );
        cluster.shutdown().await;
        assert!(Cli::try_parse_from(["kprod", "--mode", "keep"]).is_err());
    }
}
