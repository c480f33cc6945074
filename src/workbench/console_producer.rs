//! `kprod produce`: a drop-in replacement for `kafka-console-producer` (Java's `ConsoleProducer` with its default
//! `LineMessageReader`, Kafka 4.3): one record per stdin line, the same options and defaults, the same line syntax
//! (`headers<TAB>key<TAB>value` with `parse.headers` / `parse.key`).
//!
//! Producer properties are assembled in Java's order: the config file, then `--command-property`, then
//! `bootstrap.servers` from `--bootstrap-server`, `compression.type` from `--compression-codec` (`none` when absent,
//! `gzip` when given without a value — and, as in Java, this overrides a `compression.type` property), `client.id`
//! defaulting to `console-producer`, then each tool option (`--timeout` → `linger.ms`, `--request-required-acks` →
//! `acks`, ...) when it is given or its key is not set yet (Java's `maybeMergeOptions`), with Java's defaults.
//!
//! Differences from Java, on purpose: the exit code is 0 only when every record was acknowledged; each failed
//! record is reported on stderr with its line number (Java logs asynchronous failures and still exits 0);
//! `headers.separator` is a literal string (Java compiles it as a regular expression); a parse error stops
//! reading with one line on stderr instead of a stack trace; custom `--line-reader` classes are not supported.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::producer::config::ConfigError;
use crate::producer::{Producer, ProducerConfig, ProducerError, ProducerRecord};

/// Java's default reader class, the only one accepted.
const LINE_READER: &str = "org.apache.kafka.tools.LineMessageReader";

/// Options of `kprod produce`, named as Java's `kafka-console-producer` (Kafka 4.3).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProduceArgs {
    /// REQUIRED: the server(s) to connect to, HOST1:PORT1,HOST2:PORT2.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    pub bootstrap_server: Option<String>,
    /// REQUIRED: the topic to produce to.
    #[arg(long, value_name = "topic")]
    pub topic: String,
    /// Send synchronously, one record at a time, waiting for each acknowledgement.
    #[arg(long)]
    pub sync: bool,
    /// none, gzip, snappy, lz4 or zstd; without a value: gzip.
    #[arg(long = "compression-codec", value_name = "compression-codec", num_args = 0..=1, default_missing_value = "")]
    pub compression_codec: Option<String>,
    /// batch.size (default 16384).
    #[arg(long = "batch-size", value_name = "size")]
    pub batch_size: Option<i32>,
    /// retries (default 3).
    #[arg(long = "message-send-max-retries")]
    pub message_send_max_retries: Option<i32>,
    /// retry.backoff.ms (default 100).
    #[arg(long = "retry-backoff-ms")]
    pub retry_backoff_ms: Option<i64>,
    /// linger.ms (default 1000).
    #[arg(long, value_name = "timeout_ms")]
    pub timeout: Option<i64>,
    /// acks (default -1).
    #[arg(long = "request-required-acks", value_name = "request required acks", allow_negative_numbers = true)]
    pub request_required_acks: Option<String>,
    /// request.timeout.ms (default 1500).
    #[arg(long = "request-timeout-ms", value_name = "request timeout ms")]
    pub request_timeout_ms: Option<i32>,
    /// metadata.max.age.ms (default 300000).
    #[arg(long = "metadata-expiry-ms", value_name = "metadata expiration interval")]
    pub metadata_expiry_ms: Option<i64>,
    /// max.block.ms (default 60000).
    #[arg(long = "max-block-ms", value_name = "max block on send")]
    pub max_block_ms: Option<i64>,
    /// buffer.memory (default 33554432).
    #[arg(long = "max-memory-bytes", value_name = "total memory in bytes")]
    pub max_memory_bytes: Option<i64>,
    /// (Deprecated) batch.size; overrides --batch-size.
    #[arg(long = "max-partition-memory-bytes", value_name = "memory in bytes per partition")]
    pub max_partition_memory_bytes: Option<i32>,
    /// send.buffer.bytes (default 102400).
    #[arg(long = "socket-buffer-size", value_name = "size")]
    pub socket_buffer_size: Option<i32>,
    /// Only org.apache.kafka.tools.LineMessageReader (the default) is supported.
    #[arg(long = "line-reader", value_name = "reader_class")]
    pub line_reader: Option<String>,
    /// (Deprecated) reader property key=value: parse.key, key.separator, parse.headers, headers.delimiter,
    /// headers.separator, headers.key.separator, null.marker, ignore.error.
    #[arg(long, value_name = "prop")]
    pub property: Vec<String>,
    /// Reader property key=value (see --property).
    #[arg(long = "reader-property", value_name = "prop")]
    pub reader_property: Vec<String>,
    /// Reader properties file; --reader-property takes precedence.
    #[arg(long = "reader-config", value_name = "config file")]
    pub reader_config: Option<PathBuf>,
    /// (Deprecated) producer property key=value.
    #[arg(long = "producer-property", value_name = "producer_prop")]
    pub producer_property: Vec<String>,
    /// Producer property key=value.
    #[arg(long = "command-property", value_name = "producer_prop")]
    pub command_property: Vec<String>,
    /// (Deprecated) producer properties file.
    #[arg(long = "producer.config", value_name = "config file")]
    pub producer_config: Option<PathBuf>,
    /// Producer properties file; --command-property takes precedence.
    #[arg(long = "command-config", value_name = "config file")]
    pub command_config: Option<PathBuf>,
}

/// `LineMessageReader`'s settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    pub parse_key: bool,
    pub key_separator: String,
    pub parse_headers: bool,
    pub headers_delimiter: String,
    pub headers_separator: String,
    pub headers_key_separator: String,
    pub ignore_error: bool,
    pub null_marker: Option<String>,
}

impl Default for LineFormat {
    fn default() -> Self {
        LineFormat {
            parse_key: false,
            key_separator: "\t".into(),
            parse_headers: false,
            headers_delimiter: "\t".into(),
            headers_separator: ",".into(),
            headers_key_separator: ":".into(),
            ignore_error: false,
            null_marker: None,
        }
    }
}

/// Why `kprod produce` stopped (exit code 2). Option errors read as Java's `ConsoleProducer` words them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// Two reader separators that must differ are equal (`what` names both properties).
    #[error("{0} may not be equal")]
    SeparatorsEqual(&'static str),
    /// `null.marker` equals the named separator.
    #[error("null.marker and {0} may not be equal")]
    NullMarkerEqual(&'static str),
    #[error("headers.separator and headers.key.separator may not be empty")]
    EmptyHeaderSeparator,
    /// A `--property`-style argument that is not `key=value`; `what` names the kind of property.
    #[error("Invalid {what} '{arg}': expected key=value")]
    NotKeyValue { what: &'static str, arg: String },
    #[error("cannot read {}: {source}", path.display())]
    ReadProperties { path: PathBuf, source: std::io::Error },
    /// `line` is 1-based.
    #[error("{}: line {line}: expected key=value", path.display())]
    PropertiesLine { path: PathBuf, line: usize },
    #[error("Options --reader-property and --property cannot be specified together.")]
    ReaderAndProperty,
    #[error("--line-reader {0}: only {LINE_READER} is supported")]
    LineReader(String),
    #[error("Options --command-config and --producer.config cannot be specified together.")]
    CommandAndProducerConfig,
    #[error("Options --command-property and --producer-property cannot be specified together.")]
    CommandAndProducerProperty,
    #[error("Missing required argument \"[bootstrap-server]\" (the server(s) to connect to, HOST1:PORT1,...)")]
    MissingBootstrap,
    /// A producer property (from a file or `--command-property`) is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The value an option sets is refused; `option` names it (`--compression-codec`, ...).
    #[error("{option}: {source}")]
    Option { option: &'static str, source: ConfigError },
    #[error("cannot read stdin: {0}")]
    ReadStdin(#[source] std::io::Error),
    #[error("flush failed: {0}")]
    Flush(#[source] ProducerError),
    /// The producer cannot be built from the configuration.
    #[error(transparent)]
    Producer(#[from] ProducerError),
}

fn is_true(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

impl LineFormat {
    /// From reader properties, with Java's checks (separators may not collide, nor equal the null marker).
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<LineFormat, ProduceError> {
        let mut f = LineFormat::default();
        let get = |k: &str| props.get(k).cloned();
        if let Some(v) = get("parse.key") {
            f.parse_key = is_true(&v);
        }
        if let Some(v) = get("key.separator") {
            f.key_separator = v;
        }
        if let Some(v) = get("parse.headers") {
            f.parse_headers = is_true(&v);
        }
        if let Some(v) = get("headers.delimiter") {
            f.headers_delimiter = v;
        }
        if let Some(v) = get("headers.separator") {
            f.headers_separator = v;
        }
        if let Some(v) = get("headers.key.separator") {
            f.headers_key_separator = v;
        }
        if let Some(v) = get("ignore.error") {
            f.ignore_error = is_true(&v);
        }
        f.null_marker = get("null.marker");
        let pairs = [
            (&f.headers_delimiter, &f.headers_separator, "headers.delimiter and headers.separator"),
            (&f.headers_delimiter, &f.headers_key_separator, "headers.delimiter and headers.key.separator"),
            (&f.headers_separator, &f.headers_key_separator, "headers.separator and headers.key.separator"),
        ];
        for (a, b, what) in pairs {
            if a == b {
                return Err(ProduceError::SeparatorsEqual(what));
            }
        }
        if let Some(m) = &f.null_marker {
            let seps = [
                (&f.key_separator, "key.separator"),
                (&f.headers_separator, "headers.separator"),
                (&f.headers_delimiter, "headers.delimiter"),
                (&f.headers_key_separator, "headers.key.separator"),
            ];
            for (s, name) in seps {
                if s == m {
                    return Err(ProduceError::NullMarkerEqual(name));
                }
            }
        }
        if f.headers_separator.is_empty() || f.headers_key_separator.is_empty() {
            return Err(ProduceError::EmptyHeaderSeparator);
        }
        Ok(f)
    }

    fn null_if_marker<'a>(&self, s: &'a str) -> Option<&'a str> {
        if self.null_marker.as_deref() == Some(s) { None } else { Some(s) }
    }
}

/// One parsed line; `None` stands for a null key, value or header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    pub key: Option<&'a str>,
    pub value: Option<&'a str>,
    pub headers: Vec<(&'a str, Option<&'a str>)>,
}

/// A line that does not parse; worded as Java's `LineMessageReader`. `line_no` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The headers delimiter or key separator (`separator` names which) is missing.
    #[error("No {separator} found on line number {line_no}: '{line}'")]
    NoSeparator { separator: &'static str, line_no: u64, line: String },
    #[error("No header key separator found in pair '{pair}' on line number {line_no}")]
    NoHeaderKeySeparator { pair: String, line_no: u64 },
    #[error("Header keys should not be equal to the null marker '{marker}' as they can't be null")]
    HeaderKeyIsNullMarker { marker: String },
}

/// `part` of `line` from `start` to the next `sep` (Java `LineMessageReader.parse`).
fn field<'a>(
    f: &LineFormat,
    line: &'a str,
    start: usize,
    sep: &str,
    separator: &'static str,
    line_no: u64,
) -> Result<Option<&'a str>, LineError> {
    match line[start..].find(sep) {
        Some(i) => Ok(Some(&line[start..start + i])),
        None if f.ignore_error => Ok(None),
        None => Err(LineError::NoSeparator { separator, line_no, line: line.to_string() }),
    }
}

/// Parses one line (without its line terminator) as Java's `LineMessageReader` does: headers first (up to
/// `headers.delimiter`), then the key (up to `key.separator`), the rest is the value.
pub fn parse_line<'a>(f: &LineFormat, line: &'a str, line_no: u64) -> Result<ParsedLine<'a>, LineError> {
    let headers =
        if f.parse_headers { field(f, line, 0, &f.headers_delimiter, "headers delimiter", line_no)? } else { None };
    let header_offset = headers.map_or(0, |h| h.len() + f.headers_delimiter.len());
    let key =
        if f.parse_key { field(f, line, header_offset, &f.key_separator, "key separator", line_no)? } else { None };
    let key_offset = key.map_or(0, |k| k.len() + f.key_separator.len());
    let value = &line[header_offset + key_offset..];
    let mut parsed =
        ParsedLine { key: key.and_then(|k| f.null_if_marker(k)), value: f.null_if_marker(value), headers: Vec::new() };
    if let Some(h) = headers.and_then(|h| f.null_if_marker(h)) {
        // As Java's Pattern.split: no separator → the whole string; otherwise trailing empty pieces are dropped.
        let mut pairs: Vec<&str> = h.split(f.headers_separator.as_str()).collect();
        if h.contains(f.headers_separator.as_str()) {
            while pairs.last().is_some_and(|p| p.is_empty()) {
                pairs.pop();
            }
        }
        for pair in pairs {
            let Some(i) = pair.find(f.headers_key_separator.as_str()) else {
                if f.ignore_error {
                    parsed.headers.push((pair, None));
                    continue;
                }
                return Err(LineError::NoHeaderKeySeparator { pair: pair.to_string(), line_no });
            };
            let hkey = &pair[..i];
            if let Some(m) = f.null_marker.as_deref().filter(|m| *m == hkey) {
                return Err(LineError::HeaderKeyIsNullMarker { marker: m.to_string() });
            }
            parsed.headers.push((hkey, f.null_if_marker(&pair[i + f.headers_key_separator.len()..])));
        }
    }
    Ok(parsed)
}

fn key_value(s: &str, what: &'static str) -> Result<(String, String), ProduceError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ProduceError::NotKeyValue { what, arg: s.to_string() }),
    }
}

/// Reads a simple `.properties` file (`key=value` or `key:value`, `#`/`!` comments) for the reader settings.
fn read_simple_properties(path: &Path) -> Result<BTreeMap<String, String>, ProduceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ProduceError::ReadProperties { path: path.to_path_buf(), source })?;
    let mut m = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        let Some(i) = l.find(['=', ':']) else {
            return Err(ProduceError::PropertiesLine { path: path.to_path_buf(), line: n + 1 });
        };
        m.insert(l[..i].trim().to_string(), l[i + 1..].trim_start().to_string());
    }
    Ok(m)
}

/// The reader settings these options give (`--reader-config`, then `--property` / `--reader-property`).
pub fn line_format(args: &ProduceArgs) -> Result<LineFormat, ProduceError> {
    if !args.property.is_empty() && !args.reader_property.is_empty() {
        return Err(ProduceError::ReaderAndProperty);
    }
    if let Some(r) = &args.line_reader
        && r != LINE_READER
    {
        return Err(ProduceError::LineReader(r.clone()));
    }
    let mut props = match &args.reader_config {
        Some(p) => read_simple_properties(p)?,
        None => BTreeMap::new(),
    };
    props.insert("topic".into(), args.topic.clone());
    for p in args.property.iter().chain(&args.reader_property) {
        let (k, v) = key_value(p, "reader property")?;
        props.insert(k, v);
    }
    LineFormat::from_props(&props)
}

/// The producer configuration these options give, assembled in Java's order (see the module doc).
pub fn producer_config(args: &ProduceArgs) -> Result<ProducerConfig, ProduceError> {
    if args.command_config.is_some() && args.producer_config.is_some() {
        return Err(ProduceError::CommandAndProducerConfig);
    }
    if !args.command_property.is_empty() && !args.producer_property.is_empty() {
        return Err(ProduceError::CommandAndProducerProperty);
    }
    let bootstrap =
        args.bootstrap_server.as_deref().filter(|b| !b.trim().is_empty()).ok_or(ProduceError::MissingBootstrap)?;
    let mut cfg = match args.command_config.as_ref().or(args.producer_config.as_ref()) {
        Some(path) => ProducerConfig::from_properties_file(path)?,
        None => ProducerConfig::default(),
    };
    for p in args.command_property.iter().chain(&args.producer_property) {
        let (k, v) = key_value(p, "producer property")?;
        cfg.set(&k, &v)?;
    }
    let mut set = |k: &str, v: &str, option: &'static str| {
        cfg.set(k, v).map_err(|source| ProduceError::Option { option, source })
    };
    set("bootstrap.servers", bootstrap, "--bootstrap-server")?;
    let codec = match args.compression_codec.as_deref() {
        None => "none",
        Some("") => "gzip",
        Some(c) => c,
    };
    set("compression.type", codec, "--compression-codec")?;
    if !cfg.explicitly_set.contains("client.id") {
        cfg.set("client.id", "console-producer")?;
    }
    let opt = |v: Option<String>, default: &str| (v.is_some(), v.unwrap_or_else(|| default.to_string()));
    let batch_size = match (args.max_partition_memory_bytes, args.batch_size) {
        (Some(m), _) => Some(m.to_string()),
        (None, b) => b.map(|b| b.to_string()),
    };
    let merges = [
        ("linger.ms", "--timeout", opt(args.timeout.map(|v| v.to_string()), "1000")),
        ("acks", "--request-required-acks", opt(args.request_required_acks.clone(), "-1")),
        ("request.timeout.ms", "--request-timeout-ms", opt(args.request_timeout_ms.map(|v| v.to_string()), "1500")),
        ("retries", "--message-send-max-retries", opt(args.message_send_max_retries.map(|v| v.to_string()), "3")),
        ("retry.backoff.ms", "--retry-backoff-ms", opt(args.retry_backoff_ms.map(|v| v.to_string()), "100")),
        ("send.buffer.bytes", "--socket-buffer-size", opt(args.socket_buffer_size.map(|v| v.to_string()), "102400")),
        ("buffer.memory", "--max-memory-bytes", opt(args.max_memory_bytes.map(|v| v.to_string()), "33554432")),
        ("batch.size", "--batch-size", opt(batch_size, "16384")),
        ("metadata.max.age.ms", "--metadata-expiry-ms", opt(args.metadata_expiry_ms.map(|v| v.to_string()), "300000")),
        ("max.block.ms", "--max-block-ms", opt(args.max_block_ms.map(|v| v.to_string()), "60000")),
    ];
    for (key, option, (given, value)) in merges {
        if given || !cfg.explicitly_set.contains(key) {
            cfg.set(key, &value).map_err(|source| ProduceError::Option { option, source })?;
        }
    }
    cfg.resolve()?;
    Ok(cfg)
}

/// Outcome of one `produce` run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProduceSummary {
    pub lines: u64,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// The parse error that stopped reading, if any.
    pub parse_error: Option<LineError>,
}

/// Reads `input` line by line and sends one record per line; reports each failed record on `errors` with its line
/// number. Waits for every acknowledgement before returning.
pub async fn produce_lines<R: AsyncBufRead + Unpin>(
    producer: &Producer,
    topic: &str,
    format: &LineFormat,
    sync: bool,
    mut input: R,
    prompt: bool,
) -> Result<ProduceSummary, ProduceError> {
    let topic: Arc<str> = Arc::from(topic);
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut summary = ProduceSummary::default();
    let mut buf = Vec::new();
    loop {
        if prompt {
            print!(">");
            let _ = std::io::stdout().flush();
        }
        buf.clear();
        let n = input.read_until(b'\n', &mut buf).await.map_err(ProduceError::ReadStdin)?;
        if n == 0 {
            break;
        }
        summary.lines += 1;
        let line_no = summary.lines;
        let text = String::from_utf8_lossy(&buf);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let parsed = match parse_line(format, line, line_no) {
            Ok(p) => p,
            Err(e) => {
                summary.parse_error = Some(e);
                break;
            }
        };
        let mut record = ProducerRecord {
            topic: topic.clone(),
            partition: None,
            key: parsed.key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: parsed.value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Vec::with_capacity(parsed.headers.len()),
            timestamp_ms: None,
            user_data: line_no,
        };
        for (k, v) in parsed.headers {
            record = record.with_header(k, v.map(|v| Bytes::copy_from_slice(v.as_bytes())));
        }
        summary.sent += 1;
        let fail = {
            let (failed, errors) = (failed.clone(), errors.clone());
            move |e: String| {
                failed.fetch_add(1, Ordering::Relaxed);
                errors.lock().unwrap_or_else(|p| p.into_inner()).push(format!("line {line_no}: {e}"));
            }
        };
        if sync {
            match producer.send(record).await {
                Ok(f) => match f.await {
                    Ok(_) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => fail(e.to_string()),
                },
                Err(e) => fail(e.to_string()),
            }
        } else {
            let acked = acked.clone();
            let fail2 = fail.clone();
            let r = producer
                .send_with_callback(record, move |r| match r {
                    Ok(_) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => fail2(e.to_string()),
                })
                .await;
            if let Err(e) = r {
                fail(e.to_string());
            }
        }
        for e in errors.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            eprintln!("{e}");
        }
    }
    producer.flush().await.map_err(ProduceError::Flush)?;
    for e in errors.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
        eprintln!("{e}");
    }
    summary.acked = acked.load(Ordering::Relaxed);
    summary.failed = failed.load(Ordering::Relaxed);
    Ok(summary)
}

/// Runs `kprod produce` on stdin; returns the exit code (0 only when every record was acknowledged).
pub async fn run_cli(args: ProduceArgs) -> Result<i32, ProduceError> {
    for (deprecated, given, instead) in [
        ("--producer-property", !args.producer_property.is_empty(), "--command-property"),
        ("--producer.config", args.producer_config.is_some(), "--command-config"),
        ("--property", !args.property.is_empty(), "--reader-property"),
    ] {
        if given {
            eprintln!(
                "Warning: {deprecated} is deprecated and will be removed in a future version. Use {instead} instead."
            );
        }
    }
    let format = line_format(&args)?;
    let cfg = producer_config(&args)?;
    let producer = Producer::new(cfg)?;
    let prompt = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let result = produce_lines(&producer, &args.topic, &format, args.sync, stdin, prompt).await;
    let closed = producer.close(Duration::from_secs(30)).await;
    let s = result?;
    if let Err(e) = closed {
        eprintln!("closing the producer failed: {e}");
        return Ok(1);
    }
    if let Some(e) = &s.parse_error {
        eprintln!("{e}");
    }
    if s.failed > 0 || s.acked != s.sent || s.parse_error.is_some() {
        eprintln!(
            "{} of {} record(s) acknowledged, {} failed{}",
            s.acked,
            s.sent,
            s.failed,
            if s.parse_error.is_some() { "; stopped at a parse error" } else { "" }
        );
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
#[path = "console_producer_tests.rs"]
mod tests;
