use super::*;

fn row(index: u32, offset: f64, sync: Option<bool>) -> ShardRow {
    ShardRow {
        index,
        host: format!("h{index}"),
        dir: format!("d{index}"),
        records_acked: 10,
        rate_records_per_s: 5.0,
        response_time_us_p99: 1500,
        schedule_lag_us_p99: 20,
        start_lateness_us: 2500,
        clock_offset_ms: offset,
        clock_synchronized: sync,
        clock_max_error_us: Some(100),
    }
}

#[test]
fn shard_table_shows_lateness_offset_and_sync() {
    let t = shard_table(&[row(0, 0.0, Some(true)), row(1, 250.0, Some(false))]);
    assert!(t.contains("| 0 | h0 | 10 | 5 | 1.500 | 0.020 | 2.500 | +0.000 | yes (max error 0.100 ms) |"), "{t}");
    assert!(t.contains("| 1 | h1 | 10 | 5 | 1.500 | 0.020 | 2.500 | +250.000 | NO |"), "{t}");
    assert!(shard_table(&[]).is_empty());
}

#[test]
fn interval_logs_align_by_absolute_time_and_corrupt_lines_are_named() {
    let dir = std::env::temp_dir().join(format!("kprod-merge-hlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Two logs whose StartTimes differ by 2 s: interval 0 of the second is second 2 of the merged log.
    let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut rec = Recorder::new();
    rec.record(Metric::ResponseTime, 100);
    let mut paths = Vec::new();
    for (i, shift) in [0u64, 2].iter().enumerate() {
        let mut logs = IntervalLogs::new(t0 + Duration::from_secs(*shift));
        logs.append(&rec, Duration::from_millis(3), Duration::from_secs(1), None);
        logs.append(&rec, Duration::from_millis(1002), Duration::from_secs(1), None);
        let d = dir.join(format!("s{i}"));
        logs.write_to(&d).unwrap();
        paths.push(d.join("response_time_us.hlog"));
    }
    let a = read_hlog(&paths[0]).unwrap();
    let b = read_hlog(&paths[1]).unwrap();
    assert_eq!(a[0].start_unix, Duration::from_secs(1_800_000_000) + Duration::from_millis(3));
    assert_eq!(b[1].start_unix, Duration::from_secs(1_800_000_003) + Duration::from_millis(2));
    // Corrupt base64 on an interval line: the error names the file and that line.
    let text = std::fs::read_to_string(&paths[1]).unwrap();
    let n = text.lines().position(|l| l.starts_with("1.002")).unwrap() + 1;
    let corrupted: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == n { format!("{},*", l.rsplit_once(',').unwrap().0) } else { l.into() })
        .collect();
    std::fs::write(&paths[1], corrupted.join("\n") + "\n").unwrap();
    let Err(e) = read_hlog(&paths[1]) else { panic!("a corrupt line must be refused") };
    let e = e.to_string();
    assert!(e.contains(&format!("response_time_us.hlog:{n}: corrupt interval log")), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
