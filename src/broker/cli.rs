//! `kprod broker`: run a mock cluster from the command line until Ctrl-C.
//!
//! Prints one line per broker, `broker N listening on 127.0.0.1:PORT`, then the bootstrap line,
//! so scripts can read the ports (use `--port 0` for free ports).
//!
//! `--tls` serves TLS with a CA and a certificate for `localhost` / `127.0.0.1` generated at start (in memory);
//! `--tls-ca-out FILE` writes the CA certificate (never a key) for clients' `ssl.truststore.location`, and the
//! command prints where it went.

use std::path::PathBuf;

use super::{MockCluster, MockTls, StorageMode, Validation};

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
    /// Serve TLS (security.protocol=SSL) with a CA and server certificate generated at start.
    #[arg(long)]
    pub tls: bool,
    /// Write the generated CA certificate (PEM) here, for the clients' ssl.truststore.location. Implies --tls.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_out: Option<PathBuf>,
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
        let builder = MockCluster::builder()
            .brokers(self.brokers)
            .default_partitions(self.partitions)
            .mode(mode)
            .validate(validation)
            .port(self.port);
        if self.tls || self.tls_ca_out.is_some() { builder.tls(MockTls::generated()) } else { builder }
    }
}

/// Starts the cluster, prints the listening lines and serves until Ctrl-C.
pub async fn run_cli(args: BrokerArgs) -> Result<(), String> {
    let cluster = args.builder().start().await.map_err(|e| e.to_string())?;
    for (id, addr) in cluster.addresses().iter().enumerate() {
        println!("broker {id} listening on {addr}");
    }
    println!("bootstrap.servers={}", cluster.bootstrap());
    if let Some(ca) = cluster.tls_ca_pem() {
        println!("security.protocol=SSL");
        match &args.tls_ca_out {
            Some(path) => {
                std::fs::write(path, ca).map_err(|e| format!("cannot write the CA to {}: {e}", path.display()))?;
                println!("ssl.truststore.type=PEM");
                println!("ssl.truststore.location={}", path.display());
            }
            None => println!("CA certificate (trust it with ssl.truststore.certificates or --tls-ca-out FILE):\n{ca}"),
        }
    }
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
        assert!(cluster.tls_ca_pem().is_none(), "PLAINTEXT unless asked");
        cluster.shutdown().await;
        assert!(Cli::try_parse_from(["kprod", "--mode", "keep"]).is_err());
    }

    #[tokio::test]
    async fn tls_ca_out_implies_tls_and_generates_a_ca() {
        let cli = Cli::try_parse_from(["kprod", "--port", "0", "--tls-ca-out", "/tmp/ca.pem"]).unwrap();
        assert_eq!(cli.broker.tls_ca_out.as_deref(), Some(std::path::Path::new("/tmp/ca.pem")));
        let cluster = cli.broker.builder().start().await.unwrap();
        assert!(cluster.is_tls());
        assert!(cluster.tls_ca_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
        cluster.shutdown().await;
    }
}
