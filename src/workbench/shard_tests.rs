use super::*;
use crate::workbench::workload::Workload;
use std::path::Path;

fn workload(yaml: &str) -> ResolvedWorkload {
    let w = Workload::parse(yaml, Path::new("w.yaml")).unwrap();
    w.expand().unwrap().remove(0).workload
}

#[test]
fn shard_id_parses_and_refuses_nonsense() {
    assert_eq!("2/4".parse::<ShardId>().unwrap(), ShardId { index: 2, count: 4 });
    for bad in ["4/4", "0/0", "1", "a/4", "-1/4", "1/10001", ""] {
        let e = bad.parse::<ShardId>().unwrap_err().to_string();
        assert!(e.contains("I/N"), "{bad}: {e}");
    }
}

#[test]
fn rate_remainder_is_spread_not_rounded_away() {
    let shares: Vec<f64> = (0..3).map(|i| rate_share(10.0, i, 3)).collect();
    assert_eq!(shares, [4.0, 3.0, 3.0]);
    let total: f64 = (0..4).map(|i| rate_share(1000.5, i, 4)).sum();
    assert!((total - 1000.5).abs() < 1e-9, "{total}");
    // A rate below the shard count still adds up; shards past the remainder get only the fraction.
    assert_eq!((0..4).map(|i| rate_share(2.0, i, 4)).collect::<Vec<_>>(), [1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn split_divides_rate_records_producers_exactly() {
    let whole = workload("rate: 10001\nrecords: 1003\nproducers: 6\ntasks_per_producer: 2\nkeys: sequential\n");
    let mut shares = Vec::new();
    for i in 0..4 {
        let mut w = whole.clone();
        let warnings = split(&mut w, ShardId { index: i, count: 4 }).unwrap();
        assert!(warnings.is_empty());
        shares.push(w);
    }
    let rate: f64 = shares.iter().map(|w| w.rate_records_per_s.unwrap()).sum();
    assert_eq!(rate, 10001.0);
    let records: u64 = shares.iter().map(|w| if let StopAfter::Records(n) = w.stop { n } else { 0 }).sum();
    assert_eq!(records, 1003);
    assert_eq!(shares.iter().map(|w| w.producers).collect::<Vec<_>>(), [2, 2, 1, 1]);
    // Global task indices: contiguous, disjoint, covering the whole workload's 12 tasks.
    let mut tasks: Vec<u32> = shares.iter().flat_map(|w| (0..w.tasks()).map(|t| w.global_task(t))).collect();
    tasks.sort();
    assert_eq!(tasks, (0..12).collect::<Vec<_>>());
    for w in &shares {
        assert_eq!(unsplit(w), whole, "the whole workload is restored from any shard");
    }
}

#[test]
fn shards_send_disjoint_key_sequences() {
    use crate::workbench::generator::{Generator, SharedData};
    let whole = workload("keys: sequential\nproducers: 1\n");
    let mut seen = std::collections::HashSet::new();
    for i in 0..4 {
        let mut w = whole.clone();
        let warnings = split(&mut w, ShardId { index: i, count: 4 }).unwrap();
        assert!(warnings[0].contains("every shard runs one"), "{warnings:?}");
        let mut g = Generator::new(&w, 0, SharedData::new(&w).unwrap()).unwrap();
        for _ in 0..1000 {
            let k = g.next_record().key.unwrap();
            assert!(seen.insert(k.clone()), "shard {i} repeats key {k:?}");
        }
    }
}

#[test]
fn too_few_records_and_transactional_ids() {
    let mut w = workload("records: 3\n");
    let e = split(&mut w, ShardId { index: 3, count: 4 }).unwrap_err().to_string();
    assert!(e.contains("records: 3 cannot be split over 4 shards"), "{e}");
    let whole = workload("records: 100\nproducer: {transactional.id: tx}\ntransaction: {records: 10}\n");
    let mut w = whole.clone();
    split(&mut w, ShardId { index: 1, count: 2 }).unwrap();
    assert_eq!(w.producer_props["transactional.id"], "tx-shard-1");
    assert_eq!(unsplit(&w), whole);
}

#[test]
fn workload_hash_depends_on_the_whole_not_the_shard() {
    let a = workload("rate: 1000\n");
    let b = workload("rate: 1001\n");
    assert_eq!(workload_hash(std::slice::from_ref(&a)), workload_hash(std::slice::from_ref(&a.clone())));
    assert_ne!(workload_hash(&[a]), workload_hash(&[b]));
}

#[test]
fn start_instants_parse_as_rfc3339_or_unix_ms() {
    let ms = |s: &str| StartAt::parse(s).unwrap().unix_ms();
    assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
    // 2024-02-29T12:34:56Z = 1709210096 s.
    assert_eq!(ms("2024-02-29T12:34:56Z"), 1_709_210_096_000);
    assert_eq!(ms("2024-02-29T12:34:56.25Z"), 1_709_210_096_250);
    assert_eq!(ms("2024-02-29T13:34:56+01:00"), 1_709_210_096_000);
    assert_eq!(ms("2024-02-29T10:04:56-02:30"), 1_709_210_096_000);
    assert_eq!(ms("1709210096000"), 1_709_210_096_000);
    for bad in ["2024-02-29 12:34", "2024-13-01T00:00:00Z", "2024-02-29T12:34:56", "tomorrow", "2024-02-29T12:34:56+1"]
    {
        let e = StartAt::parse(bad).unwrap_err().to_string();
        assert!(e.contains("--start-at"), "{bad}: {e}");
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    assert_eq!(StartAt::after("30s", now).unwrap().0, now + Duration::from_secs(30));
    assert_eq!(StartAt::after("500ms", now).unwrap().0, now + Duration::from_millis(500));
    assert_eq!(StartAt::after("2m", now).unwrap().0, now + Duration::from_secs(120));
    assert!(StartAt::after("3 days", now).unwrap_err().to_string().contains("unit"));
    assert!(StartAt(now + Duration::from_secs(2 * 24 * 3600)).check(now).is_err());
}

#[test]
fn injected_clock_offset_shifts_readings() {
    let ahead = ShardClock { offset_ms: 5_000 }.now();
    let real = SystemTime::now();
    let d = ahead.duration_since(real).unwrap();
    assert!(d > Duration::from_millis(4_900) && d <= Duration::from_millis(5_000), "{d:?}");
    let info = ClockInfo::current(-250);
    assert!(info.offset_ms() <= -249.0 || info.kernel_offset_us.is_some());
    assert_eq!(info.offset_injected_ms, -250);
}
