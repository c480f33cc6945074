//! Option parsing, Java number formatting and output lines compared with lines captured from Java's
//! `kafka-producer-perf-test` (Kafka 4.3.1, run against `kprod broker`).

use super::*;
use clap::Parser;

#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: PerfTestArgs,
}

fn parse(argv: &[&str]) -> Result<PerfTestArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("perf-test").chain(argv.iter().copied())).map(|c| c.args)
}

const BASE: &[&str] = &["--topic", "t", "--num-records", "10", "--throughput", "-1"];

fn with_base(extra: &[&str]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = BASE.to_vec();
    for e in extra {
        v.push(Box::leak(e.to_string().into_boxed_str()));
    }
    v
}

#[test]
fn options_as_java() {
    let a = parse(&with_base(&[
        "--record-size",
        "100",
        "--producer-props",
        "linger.ms=5",
        "batch.size=262144",
        "acks=1",
        "--print-metrics",
        "--warmup-records",
        "3",
        "--bootstrap-server",
        "h:1",
        "--reporting-interval",
        "1000",
    ]))
    .unwrap();
    assert_eq!(a.record_size, Some(100));
    assert_eq!(a.producer_props, ["linger.ms=5", "batch.size=262144", "acks=1"]);
    assert!(a.print_metrics);
    assert_eq!(a.warmup_records, 3);
    assert_eq!(a.throughput, -1.0);
    assert_eq!(a.reporting_interval, 1000);
    assert_eq!(a.payload_delimiter, "\\n");
    let p = plan(&a).unwrap();
    assert_eq!(p.throughput, None);
    assert!(!p.embedded);
    assert_eq!(p.config.bootstrap_servers, ["h:1"]);
    assert_eq!(p.config.batch_size, 262144);
    assert_eq!(p.config.linger, Duration::from_millis(5));
    assert_eq!(p.config.client_id, "perf-producer-client");

    let a =
        parse(&with_base(&["--payload-file", "f.txt", "--payload-delimiter", ",", "--producer.config", "p"])).unwrap();
    assert_eq!(a.payload_file.as_deref(), Some(std::path::Path::new("f.txt")));
    assert_eq!(a.producer_config.as_deref(), Some(std::path::Path::new("p")));
    assert!(
        parse(&with_base(&["--payload-monotonic", "--command-property", "client.id=x"])).unwrap().payload_monotonic
    );
}

#[test]
fn exactly_one_payload_option() {
    assert!(parse(BASE).is_err(), "a payload option is required");
    assert!(parse(&with_base(&["--record-size", "1", "--payload-monotonic"])).is_err());
    assert!(parse(&with_base(&["--record-size", "1", "--payload-file", "x"])).is_err());
}

#[test]
fn java_checks_and_clear_errors() {
    let err =
        |extra: &[&str]| plan(&parse(&with_base(extra)).unwrap()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err(&["--record-size", "0"]).contains("--record-size should be greater than zero"));
    assert!(err(&["--record-size", "1", "--warmup-records", "10"]).contains("--warmup-records"));
    let e = err(&["--record-size", "1", "--producer-props", "lingr.ms=5"]);
    assert!(e.contains("lingr.ms") && e.contains("linger.ms"), "{e}");
    let e = err(&["--record-size", "1", "--producer-props", "batch.size=big"]);
    assert!(e.contains("batch.size") && e.contains("big"), "{e}");
    assert!(err(&["--record-size", "1", "--producer-props", "novalue"]).contains("Invalid property: novalue"));
    let e = err(&["--record-size", "1", "--transaction-duration-ms", "0"]);
    assert!(e.contains("--transaction-duration-ms should be greater than zero"), "{e}");
    let ok = plan(&parse(&with_base(&["--record-size", "1", "--command-property", "transactional.id=tx"])).unwrap());
    assert_eq!(ok.unwrap().txn.unwrap().duration, std::time::Duration::from_millis(3000));
    assert!(
        err(&["--record-size", "1", "--command-property", "a=b", "--producer-props", "c=d"])
            .contains("cannot be specified together")
    );
    let a = parse(&["--topic", "t", "--num-records", "0", "--throughput", "5", "--record-size", "1"]).unwrap();
    assert!(plan(&a).err().unwrap().to_string().contains("--num-records should be greater than zero"));
    let a = parse(&["--topic", "t", "--num-records", "5", "--throughput", "0", "--record-size", "1"]).unwrap();
    assert!(plan(&a).err().unwrap().to_string().contains("--throughput"));
    // No bootstrap anywhere: the embedded broker.
    let p = plan(&parse(&with_base(&["--record-size", "1", "--producer-props", "acks=1"])).unwrap()).unwrap();
    assert!(p.embedded);
    let a = parse(&["--topic", "t", "--num-records", "5", "--throughput", "250.5", "--record-size", "1"]).unwrap();
    assert_eq!(plan(&a).unwrap().throughput, Some(250.5));
}

#[test]
fn java_fixed_rounds_half_up_on_the_shortest_repr() {
    // Java's Formatter: 0.125 -> "0.13", 2.675 -> "2.68", 0.25 -> "0.3" (Rust's {:.N} gives 0.12, 2.67, 0.2).
    assert_eq!(java_fixed(0.125, 2), "0.13");
    assert_eq!(java_fixed(2.675, 2), "2.68");
    assert_eq!(java_fixed(0.25, 1), "0.3");
    assert_eq!(java_fixed(9.995, 2), "10.00");
    assert_eq!(java_fixed(99.96, 1), "100.0");
    assert_eq!(java_fixed(0.0, 2), "0.00");
    assert_eq!(java_fixed(1175.0, 2), "1175.00");
    assert_eq!(java_fixed(1e-7, 2), "0.00");
    assert_eq!(java_fixed(-1.005, 2), "-1.01");
    assert_eq!(java_fixed(39976.01439136, 6), "39976.014391");
    assert_eq!(java_fixed(f64::NAN, 2), "NaN");
    assert_eq!(java_fixed(f64::INFINITY, 1), "Infinity");
}

fn at(start: Instant, ms: u64) -> Instant {
    start + Duration::from_millis(ms)
}

#[test]
fn window_lines_match_java() {
    // Captured: Java 4.3.1 perf-test, --reporting-interval 1000.
    assert_eq!(
        window_line(1, 1250.0, 100, 1175.0, 1175.0),
        "1 records sent, 0.8 records/sec (0.00 MB/sec), 1175.0 ms avg latency, 1175.0 ms max latency."
    );
    assert_eq!(
        window_line(53822, 1001.0, 5_382_200, 3_692_189.0 / 53822.0, 189.0),
        "53822 records sent, 53768.2 records/sec (5.13 MB/sec), 68.6 ms avg latency, 189.0 ms max latency."
    );
    // Through Stats: elapsed and averages come from the recorded values.
    let start = Instant::now();
    let mut s = Stats::new(start, true);
    assert_eq!(s.take_window(at(start, 1000)), None, "nothing completed: no line, as Java");
    for lat_ms in [2, 2, 3, 3] {
        s.record(lat_ms * 1000, 100);
    }
    assert_eq!(
        s.take_window(at(start, 2000)).unwrap(),
        "In steady state.\n4 records sent, 2.0 records/sec (0.00 MB/sec), 2.5 ms avg latency, 3.0 ms max latency."
    );
    s.record(14_000, 100);
    assert_eq!(
        s.take_window(at(start, 2500)).unwrap(),
        "1 records sent, 2.0 records/sec (0.00 MB/sec), 14.0 ms avg latency, 14.0 ms max latency."
    );
}

#[test]
fn total_lines_match_java() {
    let java_total = "200000 records sent, 39976.014391 records/sec (3.81 MB/sec), 51.96 ms avg latency, 1175.00 ms max \
                      latency, 4 ms 50th, 184 ms 95th, 212 ms 99th, 231 ms 99.9th.";
    let t = Totals {
        records: 200_000,
        elapsed_ms: 5003.0,
        bytes: 20_000_000,
        latency_ms_avg: 10_392_000.0 / 200_000.0,
        latency_ms_max: 1175.0,
        percentiles_ms: [4, 184, 212, 231],
        steady_state: false,
    };
    assert_eq!(total_line(&t), java_total);
    let java_steady = "150000 steady state records sent, 43604.651163 records/sec (4.16 MB/sec), 26.13 ms avg latency, \
                       189.00 ms max latency, 3 ms 50th, 168 ms 95th, 177 ms 99th, 186 ms 99.9th.";
    let t = Totals {
        records: 150_000,
        elapsed_ms: 3440.0,
        bytes: 15_000_000,
        latency_ms_avg: 26.13,
        latency_ms_max: 189.0,
        percentiles_ms: [3, 168, 177, 186],
        steady_state: true,
    };
    assert_eq!(total_line(&t), java_steady);
}

#[test]
fn stats_percentiles_in_whole_ms() {
    let start = Instant::now();
    let mut s = Stats::new(start, false);
    for i in 0..1000u64 {
        s.record(i * 100 + 50, 10); // 0.05 ms .. 99.95 ms
    }
    let t = s.totals(at(start, 2000));
    assert_eq!(t.records, 1000);
    assert_eq!(t.bytes, 10_000);
    assert_eq!(t.percentiles_ms, [50, 95, 99, 99]);
    assert!((t.latency_ms_avg - 50.0).abs() < 1e-9, "{}", t.latency_ms_avg);
    assert!((t.latency_ms_max - 99.95).abs() < 1e-9);
    assert!(total_line(&t).starts_with("1000 records sent, 500.000000 records/sec (0.00 MB/sec), 50.00 ms avg"));
}

#[test]
fn metrics_table_as_java() {
    let mut m = std::collections::BTreeMap::new();
    m.insert("batch-size-avg", 16233.1619);
    m.insert("bufferpool-wait-time-ns-total", 0.0);
    let out = metrics_table(&m, "perf-producer-client");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "", "Java prints a blank line first");
    let width = "producer-metrics:bufferpool-wait-time-ns-total:{client-id=perf-producer-client}".len();
    assert_eq!(lines[1], format!("{:<width$}   Value", "Metric Name"));
    assert_eq!(
        lines[2],
        format!("{:<width$} : 16233.162", "producer-metrics:batch-size-avg:{client-id=perf-producer-client}")
    );
    assert!(lines[3].ends_with("} : 0.000"));
}

#[test]
fn payloads() {
    let mut s = PayloadSource::sized(100);
    let a = s.next(0);
    let b = s.next(1);
    assert_eq!(a.as_ref().len(), 100);
    assert!(a.as_ref().iter().all(|c| c.is_ascii_uppercase()));
    assert_ne!(a.as_ref(), b.as_ref(), "consecutive records differ");
    let mut m = PayloadSource::Monotonic;
    assert_eq!(m.next(0).as_ref(), b"0");
    assert_eq!(m.next(1234567).as_ref(), b"1234567");
    assert_eq!(m.next(u64::MAX).as_ref(), u64::MAX.to_string().as_bytes());
    assert_eq!(split_payloads("a\nbb\n\nc\n", "\n"), ["a", "bb", "", "c"]);
    assert_eq!(split_payloads("a,b", ","), ["a", "b"]);
}

/// `--record-size` values are consecutive windows of a pool larger than a codec's reach: over 4 MiB of 100-byte
/// records none repeats, and a 256 KiB batch's worth of them does not shrink under lz4 (as Java's fresh random
/// letters do not), where the former 64 KiB pool at scattered offsets shrank to 0.57.
#[test]
fn sized_payloads_do_not_repeat_within_a_codecs_reach() {
    let mut source = PayloadSource::sized(100);
    let values: Vec<&[u8]> = (0..40_000u64)
        .map(|i| match source.next(i) {
            Payload::Static(v) => v,
            _ => panic!("a sized payload is a static slice"),
        })
        .collect();
    assert!(values.iter().all(|v| v.len() == 100 && v.iter().all(u8::is_ascii_uppercase)));
    let distinct: std::collections::HashSet<&[u8]> = values.iter().copied().collect();
    assert_eq!(distinct.len(), values.len(), "a value repeated within 4 MB of records");
    let batch: Vec<u8> = values[..2_600].concat();
    let mut out = bytes::BytesMut::new();
    crate::record::compression::compress(crate::record::Compression::Lz4 { level: 9 }, &batch, &mut out).unwrap();
    let ratio = out.len() as f64 / batch.len() as f64;
    assert!(ratio > 0.95, "lz4 shrank 2,600 values to {ratio:.2} of their size");
}
