//! `kprod broker`: run a mock cluster from the command line until Ctrl-C.
//!
//! Prints one line per broker, `broker N listening on 127.0.0.1:PORT`, then the bootstrap line,
//! so scripts can read the ports (use `--port 0` for free ports).
//!
//! `--tls` serves TLS with a CA and a certificate for `localhost` / `127.0.0.1` generated at start (in memory);
//! `--tls-ca-out FILE` writes the CA certificate (never a key) for clients' `ssl.truststore.location`, and the
//! command prints where it went.

use std::path::PathBuf;

use super::{BrokerError, MockCluster, MockTls, StorageMode, Validation};
use crate::security::SecurityConfigError;

/// Why `kprod broker` could not start or serve; each names the flag or file at fault (never a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerCliError {
    #[error("--sasl-mechanisms: {0}")]
    Mechanism(#[source] SecurityConfigError),
    #[error("--sasl-user: expected NAME:PASSWORD")]
    SaslUser,
    #[error("--reauth-ms needs SASL (--sasl-user)")]
    ReauthWithoutSasl,
    #[error("--sasl-mechanisms needs at least one --sasl-user")]
    MechanismsWithoutUser,
    #[error(transparent)]
    Start(#[from] BrokerError),
    #[error("cannot write the CA to {}: {source}", path.display())]
    WriteCa { path: PathBuf, source: std::io::Error },
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
}

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
    /// Require SASL with these mechanisms (comma-separated: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). With only
    /// --sasl-user, all three are enabled.
    #[arg(long, value_delimiter = ',')]
    pub sasl_mechanisms: Vec<String>,
    /// A SASL user as name:password (repeatable). Note that command lines are visible to other local users.
    #[arg(long = "sasl-user", value_name = "NAME:PASSWORD")]
    pub sasl_users: Vec<String>,
    /// Kafka's connections.max.reauth.ms: clients must re-authenticate within this many ms (SASL only).
    #[arg(long)]
    pub reauth_ms: Option<u64>,
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
    /// The cluster builder these options describe; errors name the bad flag (never a password).
    pub fn builder(&self) -> Result<super::MockClusterBuilder, BrokerCliError> {
        let mode = match self.mode {
            ModeArg::Sink => StorageMode::Sink,
            ModeArg::Retain => StorageMode::Retain { max_bytes: self.retain_bytes },
        };
        let validation = match self.validate {
            ValidateArg::Crc => Validation::Crc,
            ValidateArg::Full => Validation::Full,
        };
        let mut b = MockCluster::builder()
            .brokers(self.brokers)
            .default_partitions(self.partitions)
            .mode(mode)
            .validate(validation)
            .port(self.port);
        if self.tls || self.tls_ca_out.is_some() {
            b = b.tls(MockTls::generated());
        }
        if !self.sasl_mechanisms.is_empty() {
            let ms = self
                .sasl_mechanisms
                .iter()
                .map(|m| crate::security::SaslMechanism::parse(m.trim()).map_err(BrokerCliError::Mechanism))
                .collect::<Result<Vec<_>, _>>()?;
            b = b.sasl_mechanisms(&ms);
        }
        for u in &self.sasl_users {
            let (name, password) = u.split_once(':').ok_or(BrokerCliError::SaslUser)?;
            b = b.sasl_user(name, password);
        }
        if let Some(ms) = self.reauth_ms {
            if self.sasl_users.is_empty() && self.sasl_mechanisms.is_empty() {
                return Err(BrokerCliError::ReauthWithoutSasl);
            }
            b = b.reauth_ms(ms);
        }
        if !self.sasl_mechanisms.is_empty() && self.sasl_users.is_empty() {
            return Err(BrokerCliError::MechanismsWithoutUser);
        }
        Ok(b)
    }
}

/// Starts the cluster, prints the listening lines and serves until Ctrl-C.
pub async fn run_cli(args: BrokerArgs) -> Result<(), BrokerCliError> {
    let cluster = args.builder()?.start().await?;
    for (id, addr) in cluster.addresses().iter().enumerate() {
        println!("broker {id} listening on {addr}");
    }
    println!("bootstrap.servers={}", cluster.bootstrap());
    let sasl = cluster.state().config.sasl.as_ref();
    let protocol = match (cluster.is_tls(), sasl.is_some()) {
        (false, false) => "PLAINTEXT",
        (true, false) => "SSL",
        (false, true) => "SASL_PLAINTEXT",
        (true, true) => "SASL_SSL",
    };
    println!("security.protocol={protocol}");
    if let Some(sasl) = sasl {
        let names: Vec<&str> = sasl.mechanisms.iter().map(|m| m.name()).collect();
        println!("# sasl.enabled.mechanisms={}", names.join(","));
    }
    if let Some(ca) = cluster.tls_ca_pem() {
        match &args.tls_ca_out {
            Some(path) => {
                std::fs::write(path, ca).map_err(|source| BrokerCliError::WriteCa { path: path.clone(), source })?;
                println!("ssl.truststore.type=PEM");
                println!("ssl.truststore.location={}", path.display());
            }
            None => println!("CA certificate (trust it with ssl.truststore.certificates or --tls-ca-out FILE):\n{ca}"),
        }
    }
    tokio::signal::ctrl_c().await.map_err(BrokerCliError::Signal)?;
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
        let cluster = cli.broker.builder().unwrap().start().await.unwrap();
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
        let cluster = cli.broker.builder().unwrap().start().await.unwrap();
        assert!(cluster.is_tls());
        assert!(cluster.tls_ca_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
        cluster.shutdown().await;
    }

    #[tokio::test]
    async fn sasl_flags_configure_the_cluster() {
        let args = |a: &[&str]| Cli::try_parse_from([&["kprod", "--port", "0"], a].concat()).unwrap().broker;
        let cli = args(&[
            "--sasl-mechanisms",
            "PLAIN,SCRAM-SHA-512",
            "--sasl-user",
            "alice:se:cret",
            "--sasl-user",
            "bob:x",
            "--reauth-ms",
            "5000",
        ]);
        let cluster = cli.builder().unwrap().start().await.unwrap();
        let sasl = cluster.state().config.sasl.clone().expect("SASL on");
        use crate::security::SaslMechanism::*;
        assert_eq!(sasl.mechanisms, vec![Plain, ScramSha512]);
        assert_eq!(sasl.users.len(), 2);
        assert_eq!(sasl.reauth, Some(std::time::Duration::from_millis(5000)));
        cluster.shutdown().await;
        for (bad, want) in [
            (&["--sasl-mechanisms", "GSSAPI", "--sasl-user", "a:b"][..], "GSSAPI"),
            (&["--sasl-user", "nocolon"][..], "NAME:PASSWORD"),
            (&["--sasl-mechanisms", "PLAIN"][..], "--sasl-user"),
            (&["--reauth-ms", "10"][..], "needs SASL"),
        ] {
            let e = args(bad).builder().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
        assert!(args(&[]).builder().unwrap().start().await.unwrap().state().config.sasl.is_none());
    }
}
