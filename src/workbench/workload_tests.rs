//! Tests for workload loading, resolution and overrides.

use super::*;

fn parse(yaml: &str) -> Result<Workload, WorkloadError> {
    Workload::parse(yaml, Path::new("dir/test.yaml"))
}

fn one(yaml: &str) -> ResolvedWorkload {
    let mut p = parse(yaml).unwrap().expand().unwrap();
    assert_eq!(p.len(), 1);
    p.remove(0).workload
}

#[test]
fn unknown_field_names_field_file_and_line() {
    let e = parse("name: x\nrate: 5\nrecrods: 100\n").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(&e, WorkloadError::UnknownField { field, .. } if field == "recrods"), "{e:?}");
    assert!(msg.contains("dir/test.yaml") && msg.contains("`recrods`") && msg.contains("line 3"), "{msg}");
    assert!(msg.contains("did you mean `records`"), "{msg}");
    // Unknown fields nested inside a kprod field are refused too.
    let e = parse("headers: {count: 1, key_size: 2, value_size: 3, colour: red}\n").unwrap_err();
    assert!(e.to_string().contains("colour") && e.to_string().contains("test.yaml"), "{e}");
}

#[test]
fn bad_yaml_gives_file_line_and_column() {
    let e = parse("name: x\nrate: [1, 2\nseed: 3\n").unwrap_err();
    match &e {
        WorkloadError::Syntax { file, line, column, .. } => {
            assert_eq!(file, Path::new("dir/test.yaml"));
            assert!(*line >= 2 && *column >= 1, "{e}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(e.to_string().starts_with("dir/test.yaml:"), "{e}");
}

#[test]
fn omb_fields_map_onto_kprod() {
    let w = one("name: omb\ntopics: 2\npartitionsPerTopic: 16\nmessageSize: 1024\nuseRandomizedPayloads: true\n\
         randomBytesRatio: 0.25\nrandomizedPayloadPoolSize: 1000\nkeyDistributor: KEY_ROUND_ROBIN\n\
         producersPerTopic: 3\nproducerRate: 50000\ntestDurationMinutes: 2\nsubscriptionsPerTopic: 1\n\
         consumerPerSubscription: 1\nconsumerBacklogSizeGB: 0\n");
    assert_eq!(w.topics.len(), 2);
    assert_eq!(w.topics[1], TopicSpec { name: "kprod-bench-1".into(), partitions: 16 });
    assert_eq!(w.record_size, SizeDist::Fixed(1024));
    assert_eq!(w.payload, PayloadSpec::Compressibility(0.75));
    assert_eq!(w.keys, KeySpec::RoundRobin(10_000));
    assert_eq!(w.producers, 6);
    assert_eq!(w.rate_records_per_s, Some(50_000.0));
    assert_eq!(w.stop, StopAfter::Duration(Duration::from_secs(120)));
    assert_eq!(w.warmup, Duration::from_secs(60), "OMB's default warm-up");
    let joined = w.warnings.join("\n");
    for f in ["subscriptionsPerTopic", "consumerPerSubscription", "consumerBacklogSizeGB", "randomizedPayloadPoolSize"]
    {
        assert!(joined.contains(f), "{f} missing from {joined}");
    }
    // producerRate 0 = OMB's "find the maximum sustainable rate": a search from producerStartRate (10,000).
    let w = one("producerRate: 0\n");
    assert_eq!(w.rate_records_per_s, None);
    assert_eq!(w.rate_control, Some(RateControl::Search(RateSearch::default())));
    let w = one("producerRate: 0\nproducerStartRate: 5000\n");
    assert!(matches!(w.rate_control, Some(RateControl::Search(RateSearch { start: 5000.0, .. }))), "{w:?}");
    // kprod's closed loop stays: no rate, `rate: null` or `rate: 0`.
    for yaml in ["name: x\n", "rate: null\n", "rate: 0\n"] {
        let w = one(yaml);
        assert_eq!((w.rate_records_per_s, w.rate_control), (None, None), "{yaml}");
    }
}

#[test]
fn rate_search_and_ramp_forms() {
    let w = one("rate: {search: {p99_ms_max: 10}}\n");
    let Some(RateControl::Search(s)) = &w.rate_control else { panic!("{w:?}") };
    assert_eq!((s.p99_ms_max, s.start, s.precision, s.max_steps), (Some(10.0), 10_000.0, 0.05, 20));
    let w = one("rate: {search: {}}\n");
    assert_eq!(w.rate_control, Some(RateControl::Search(RateSearch::default())));
    assert_eq!(one("rate: {search: null}\n").rate_control, w.rate_control);
    let w = one("rate: {ramp: {start: 1000, increment: 500, every_s: 5}}\n");
    assert_eq!(w.rate_records_per_s, Some(1000.0));
    assert_eq!(
        w.rate_control,
        Some(RateControl::Ramp(RateRamp { start: 1000.0, increment: 500.0, every_s: 5.0, max: None }))
    );
    // OMB's ramp fields drive a ramp up to producerRate; they are no longer "not used".
    let w = one("producerRate: 50000\nproducerStartRate: 10000\nproducerIncrementRate: 10000\n\
                 producerIncrementSeconds: 30\nsubscriptionsPerTopic: 1\n");
    assert_eq!(
        w.rate_control,
        Some(RateControl::Ramp(RateRamp { start: 10_000.0, increment: 10_000.0, every_s: 30.0, max: Some(50_000.0) }))
    );
    let joined = w.warnings.join("\n");
    assert!(joined.contains("subscriptionsPerTopic") && !joined.contains("producerIncrement"), "{joined}");
    // Mistakes name the field.
    for (yaml, want) in [
        ("rate: {search: {p99_ms_max: -1}}\n", "p99_ms_max must be > 0"),
        ("rate: {search: {p99: 10}}\n", "unknown field `p99`"),
        ("rate: {ramp: {start: 10}}\n", "rate.ramp"),
        ("rate: {walk: {}}\n", "`rate` expects a number"),
        ("rate: fast\n", "`rate` expects a number"),
        ("rate: 5\nproducerRate: 6\n", "both `rate` and OMB's"),
        ("rate: {search: {}}\npeers: [kprod, java]\n", "measures kprod only"),
    ] {
        let e = parse(yaml).unwrap_err().to_string();
        assert!(e.contains(want), "{yaml}: {e}");
    }
}

#[test]
fn shell_style_defaults_are_substituted() {
    let file = Path::new("w.yaml");
    let env = |name: &str| match name {
        "SET" => Some("7".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let text = "a: ${SET:-1}\nb: ${UNSET:-15}\nc: ${EMPTY:-3}\nd: ${SET}\n\
                name_template: \"${rate}-${batch.size}\"  # ${NOT_A_VAR_IN_A_COMMENT}\ne: '${X'\n";
    let out = substitute_env(text, file, env).unwrap();
    assert_eq!(
        out,
        "a: 7\nb: 15\nc: 3\nd: 7\nname_template: \"${rate}-${batch.size}\"  # ${NOT_A_VAR_IN_A_COMMENT}\ne: '${X'\n"
    );
    let e = substitute_env("name: x\ntestDurationMinutes: ${ombTestDuration}\n", Path::new("dir/omb.yaml"), env)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("dir/omb.yaml:2: `${ombTestDuration}` is not set"), "{e}");
    // Through the loader, from the real environment (a name no one sets).
    let w = one("testDurationMinutes: ${KPROD_TEST_UNSET_VAR_16:-0.5}\nwarmupDurationMinutes: 0\n");
    assert_eq!(w.stop, StopAfter::Duration(Duration::from_secs(30)));
}

#[test]
fn type_errors_name_file_line_and_field() {
    let e = parse("name: x\nrate: 5\ntestDurationMinutes: \"${ombTestDuration:-5}\"\n").unwrap_err();
    // (Quoted, so YAML keeps it a string; it was substituted to "5", still a string.)
    assert_eq!(e.to_string(), "dir/test.yaml:3: testDurationMinutes: expected a number, got \"5\"");
    let e = parse("name: x\npartitions: many\n").unwrap_err().to_string();
    assert_eq!(e, "dir/test.yaml:2: partitions: expected a whole number ≥ 0, got \"many\"");
    let e = parse("seed: 1\n\nduration_s: [1, [2]]\n").unwrap_err().to_string();
    assert!(e.starts_with("dir/test.yaml:3: duration_s: expected a number, got a list"), "{e}");
}

#[test]
fn set_wins_over_the_file() {
    let omb = "name: omb\ntestDurationMinutes: 15\nwarmupDurationMinutes: 1\nproducerRate: 0\nmessageSize: 1024\n";
    let mut w = parse(omb).unwrap();
    w.apply_overrides(&["duration_s=5", "warmup_s=1", "rate=2000", "record_size={fixed: 10}"]).unwrap();
    let r = w.expand().unwrap().remove(0).workload;
    assert_eq!((r.stop, r.warmup), (StopAfter::Duration(Duration::from_secs(5)), Duration::from_secs(1)));
    assert_eq!((r.rate_records_per_s, r.rate_control, r.record_size), (Some(2000.0), None, SizeDist::Fixed(10)));
    // And the other way round.
    let mut w = parse("duration_s: 3\nrate: 100\n").unwrap();
    w.apply_overrides(&["testDurationMinutes=1", "producerRate=0"]).unwrap();
    let r = w.expand().unwrap().remove(0).workload;
    assert_eq!(r.stop, StopAfter::Duration(Duration::from_secs(60)));
    assert!(matches!(r.rate_control, Some(RateControl::Search(_))));
    // A file that says both is still refused.
    let e = parse("duration_s: 3\ntestDurationMinutes: 1\n").unwrap_err().to_string();
    assert!(e.contains("both `duration_s` and `testDurationMinutes`"), "{e}");
    // A wrong type given with --set names the --set.
    let e = parse(omb).unwrap().apply_overrides(&["duration_s=abc"]).unwrap_err().to_string();
    assert_eq!(e, "--set duration_s=abc: `duration_s` expects a number, got `abc`");
    let e = parse(omb).unwrap().apply_overrides(&["rate=fast"]).unwrap_err().to_string();
    assert!(e.starts_with("--set rate=fast: `rate` expects a number"), "{e}");
}

#[test]
fn kprod_fields_resolve() {
    let w = one("record_size: {lognormal: {mu: 5.0, sigma: 0.5}}\npayload: {compressibility: 0.5}\n\
         keys: {zipf: {n: 1000, s: 1.1}}\nheaders: {count: 2, key_size: 4, value_size: 8}\nrecords: 5000\n\
         rate: 1000\narrival: poisson\nproducers: 2\ntasks_per_producer: 3\nseed: 9\n\
         producer: {batch.size: 65536, compression.type: lz4, enable.idempotence: true}\n\
         target: {embedded: {brokers: 3, mode: retain}}\n");
    assert_eq!(w.record_size, SizeDist::Lognormal { mu: 5.0, sigma: 0.5 });
    assert_eq!(w.keys, KeySpec::Zipf { n: 1000, s: 1.1 });
    assert_eq!(w.stop, StopAfter::Records(5000));
    assert_eq!(w.arrival, Arrival::Poisson);
    assert_eq!(w.tasks(), 6);
    assert_eq!(w.producer_props["batch.size"], "65536");
    assert_eq!(w.producer_props["enable.idempotence"], "true");
    match &w.target {
        TargetSpec::Embedded(e) => assert_eq!((e.brokers, e.mode), (3, SinkMode::Retain)),
        t => panic!("{t:?}"),
    }
    assert_eq!(one("target: {bootstrap: 'a:9092,b:9092'}\n").target, TargetSpec::Bootstrap("a:9092,b:9092".into()));
}

#[test]
fn conflicting_and_invalid_values_are_refused() {
    for (yaml, needle) in [
        ("messageSize: 10\nrecord_size: {fixed: 10}\n", "messageSize"),
        ("rate: 5\nproducerRate: 5\n", "producerRate"),
        ("records: 5\nduration_s: 5\n", "records"),
        ("record_size: {uniform: {min: 9, max: 1}}\n", "record_size"),
        ("keys: {uniform: 0}\n", "keys"),
        ("producers: 5000\n", "producers"),
        ("payload: {compressibility: 1.5}\n", "compressibility"),
        ("producer: {batch.size: {a: 1}}\n", "batch.size"),
    ] {
        let e = parse(yaml).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("test.yaml"), "{yaml:?} -> {e}");
    }
}

#[test]
fn overrides_set_fields_and_dotted_producer_properties() {
    let mut w = parse("rate: 100\nproducer: {linger.ms: 5}\ntarget: {bootstrap: 'x:1'}\n").unwrap();
    w.apply_overrides(&["rate=2000", "batch.size=65536", "producer.acks=all", "target.bootstrap=y:2"]).unwrap();
    let r = &w.expand().unwrap()[0].workload;
    assert_eq!(r.rate_records_per_s, Some(2000.0));
    assert_eq!(r.producer_props["batch.size"], "65536");
    assert_eq!(r.producer_props["acks"], "all");
    assert_eq!(r.producer_props["linger.ms"], "5");
    assert_eq!(r.target, TargetSpec::Bootstrap("y:2".into()));
    // A list value turns the run into a sweep.
    w.apply_overrides(&["linger.ms=[0, 20]"]).unwrap();
    let names: Vec<String> = w.expand().unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["linger.ms=0", "linger.ms=20"]);
    let e = w.apply_overrides(&["nonsense"]).unwrap_err();
    assert!(e.to_string().contains("nonsense"), "{e}");
    let e = w.apply_overrides(&["duration_s=-3"]).unwrap_err();
    assert!(e.to_string().contains("duration_s"), "{e}");
}

#[test]
fn sweep_lists_expand_and_unnamed_point_takes_workload_name() {
    let w = parse("name: grid\nproducer: {batch.size: [16384, 65536], linger.ms: [0, 5]}\n").unwrap();
    let p = w.expand().unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(p[3].dims, [("batch.size".to_string(), "65536".to_string()), ("linger.ms".into(), "5".into())]);
    assert_eq!(p[3].workload.producer_props["linger.ms"], "5");
    assert_eq!(parse("name: solo\n").unwrap().expand().unwrap()[0].name, "solo");
    let e = parse("producer: {a: [1, 2]}\nsweep: {zip: {b: [1], c: [1, 2]}}\n").unwrap_err().to_string();
    assert!(e.contains("b=1") && e.contains("c=2") && e.contains("test.yaml"), "{e}");
}

#[test]
fn every_shipped_workload_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("sweeps")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "yaml") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 14, "expected the shipped workloads, found {files:?}");
    for f in files {
        let w = Workload::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let points = w.expand().unwrap();
        assert!(!points.is_empty(), "{}", f.display());
        let is_omb = f.file_name().unwrap().to_string_lossy().starts_with("omb-");
        for p in &points {
            if !is_omb {
                assert!(p.workload.warnings.is_empty(), "{}: {:?}", f.display(), p.workload.warnings);
            }
        }
        if f.file_name().unwrap() == "quickstart.yaml" {
            let r = &points[0].workload;
            let StopAfter::Duration(d) = r.stop else { panic!("quickstart must be time-bound") };
            assert!(d + r.warmup < Duration::from_secs(60));
        }
    }
}

#[test]
fn transaction_field_needs_a_cadence_and_a_transactional_id() {
    let w = one("producer: {transactional.id: tx}\ntransaction: {records: 500}\n");
    assert_eq!(w.transaction, Some(TransactionSpec { records: Some(500), duration_ms: None }));
    let w = one("producer: {transactional.id: tx}\ntransaction: {duration_ms: 100}\n");
    assert_eq!(w.transaction.unwrap().duration_ms, Some(100));
    let err = |y: &str| parse(y).unwrap_err().to_string();
    assert!(err("transaction: {records: 5}\n").contains("transactional.id"));
    assert!(err("producer: {transactional.id: tx}\n").contains("transaction:"));
    assert!(
        err("producer: {transactional.id: tx}\ntransaction: {records: 5, duration_ms: 5}\n").contains("exactly one")
    );
    assert!(err("producer: {transactional.id: tx}\ntransaction: {records: 0}\n").contains("exactly one"));
    // Unknown fields inside are refused, and `transaction` is a known top-level field.
    assert!(err("producer: {transactional.id: tx}\ntransaction: {recs: 5}\n").contains("recs"));
    assert!(is_workload_field("transaction"));
}

#[test]
fn a_ramps_mean_rate_integrates_its_steps() {
    use std::time::Duration;
    let r = RateRamp { start: 1000.0, increment: 500.0, every_s: 5.0, max: Some(2000.0) };
    let s = Duration::from_secs;
    assert_eq!(r.mean_rate(s(0), s(5)), 1000.0);
    assert_eq!(r.mean_rate(s(0), s(10)), 1250.0, "1000 for 5 s, then 1500 for 5 s");
    assert_eq!(r.mean_rate(s(5), s(20)), (1500.0 * 5.0 + 2000.0 * 10.0) / 15.0, "capped at max");
    assert_eq!(r.mean_rate(Duration::from_millis(2500), Duration::from_millis(7500)), 1250.0, "half steps");
    assert_eq!(r.mean_rate(s(3), s(3)), 1000.0, "an empty window: the rate at its start");
}

#[test]
fn worker_threads_is_checked_and_sweeps_like_any_field() {
    assert_eq!(one("name: x\n").worker_threads, None, "default: the process's runtime");
    assert_eq!(one("name: x\nworker_threads: 1\n").worker_threads, Some(1));
    let e = parse("name: x\nworker_threads: 0\n").and_then(|w| w.expand()).unwrap_err().to_string();
    assert!(e.contains("worker_threads must be 1..=1024, got 0"), "{e}");
    let points = parse("name: x\nworker_threads: [1, 2]\n").unwrap().expand().unwrap();
    let threads: Vec<_> = points.iter().map(|p| p.workload.worker_threads).collect();
    assert_eq!(threads, [Some(1), Some(2)]);
    assert_eq!(points[1].dims, [("worker_threads".to_string(), "2".to_string())]);
}
