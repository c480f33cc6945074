//! `summary.md` (one row per point, repeats folded) and `results.csv` (one line per point and repeat).

use std::fmt::Write;

use super::{Row, fmt_pct, fmt_rsd, plural};
use crate::workbench::result::RunResult;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or(String::new(), |v| format!("{v:.digits$}"))
}

/// Markdown summary.
pub fn summary(run: &RunResult, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# kprod run: {}\n", run.name);
    let _ = writeln!(
        s,
        "kprod {} · commit {} · {} ({} CPUs, {}/{}) · {}\n",
        run.kprod_version,
        run.git_commit.as_deref().unwrap_or("unknown"),
        run.machine.hostname,
        run.machine.cpus,
        run.machine.os,
        run.machine.arch,
        plural(run.points.len(), "point")
    );
    if let Some(why) = &run.stopped {
        let _ = writeln!(s, "**Stopped:** {why}\n");
    }
    if !run.points_not_run.is_empty() {
        let _ = writeln!(
            s,
            "**{} not run:** {}\n",
            plural(run.points_not_run.len(), "point"),
            run.points_not_run.join(", ")
        );
    }
    s.push_str(
        "| point | peer | repeats | records/s | MB/s (10⁶ B) | noise RSD % | p50 ms | p99 ms | p99.9 ms | max ms | errors | status |\n",
    );
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.peer,
            r.repeats,
            r.rate.mean,
            r.mb_per_s,
            fmt_rsd(r),
            fmt_pct(r.response_time_us_p50, r.samples, 0.5),
            fmt_pct(r.response_time_us_p99, r.samples, 0.99),
            fmt_pct(r.response_time_us_p99_9, r.samples, 0.999),
            fmt_pct(r.response_time_us_max, r.samples, 1.0),
            r.errors,
            match &r.failure {
                Some(f) => format!("{}: {f}", r.status),
                None => r.status.to_string(),
            }
        );
    }
    s.push_str(&super::peers::markdown(rows));
    s.push_str(&super::tls_overhead::markdown(run, rows));
    s.push_str(&crate::workbench::search::markdown(&run.searches));
    s.push_str(&transactions_markdown(run));
    s.push_str(&crate::workbench::merge::shard_table(&run.shards));
    s.push_str("\nResponse time = intended send → ack (free of coordinated omission); percentiles from merged HDR histograms; n/a = too few samples for the percentile.\n");
    let _ = writeln!(s, "{}.", crate::workbench::result::MB_UNIT);
    let warnings: Vec<&String> =
        run.points.iter().flat_map(|p| &p.warnings).filter(|w| w.contains("missed its target")).collect();
    for w in warnings {
        let _ = writeln!(s, "\n**Warning:** {w}");
    }
    s
}

/// The commit latency of transactional points (empty when no point ran transactions).
pub fn transactions_markdown(run: &RunResult) -> String {
    let mut s = String::new();
    for p in &run.points {
        let Some(t) = &p.transactions else { continue };
        if s.is_empty() {
            s.push_str("\n## Transactions\n\n| point | repeat | committed | failed | commit p50 ms | commit p99 ms | ");
            s.push_str("commit max ms | commit mean ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            p.name,
            p.repeat,
            t.transactions_committed,
            t.transactions_failed,
            t.commit_latency_us_p50 as f64 / 1e3,
            t.commit_latency_us_p99 as f64 / 1e3,
            t.commit_latency_us_max as f64 / 1e3,
            t.commit_latency_us_mean / 1e3
        );
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// CSV, one line per point result.
pub fn csv(run: &RunResult) -> String {
    let mut s = String::from(
        "name,repeat,dims,duration_s,records_sent,records_acked,records_failed,rate_records_per_s,rate_mb_per_s,\
         response_time_us_p50,response_time_us_p90,response_time_us_p99,response_time_us_p99_9,response_time_us_max,\
         response_time_us_mean,service_time_us_p50,service_time_us_p99,schedule_lag_us_p99,queue_time_us_avg,\
         request_latency_us_p99,batch_bytes_avg,records_per_request_avg,compression_ratio_avg,cpu_time_ns_per_record,peer\n",
    );
    for p in &run.points {
        let dims: Vec<String> = p.dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            s,
            "{},{},{},{:.3},{},{},{},{:.1},{:.3},{},{},{},{},{},{:.1},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&p.name),
            p.repeat,
            csv_field(&dims.join(";")),
            p.duration_s,
            p.records_sent,
            p.records_acked,
            p.records_failed,
            p.rate_records_per_s,
            p.rate_mb_per_s,
            p.response_time_us_p50,
            p.response_time_us_p90,
            p.response_time_us_p99,
            p.response_time_us_p99_9,
            p.response_time_us_max,
            p.response_time_us_mean,
            p.service_time_us_p50,
            p.service_time_us_p99,
            p.schedule_lag_us_p99,
            opt(p.queue_time_us_avg, 1),
            p.request_latency_us_p99.map_or(String::new(), |v| v.to_string()),
            opt(p.batch_bytes_avg, 1),
            opt(p.records_per_request_avg, 2),
            opt(p.compression_ratio_avg, 3),
            opt(p.cpu_time_ns_per_record, 1),
            p.peer,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_counts_columns() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        let run = crate::workbench::report::tests::grid_run();
        let out = csv(&run);
        let header_cols = out.lines().next().unwrap().split(',').count();
        for line in out.lines().skip(1) {
            assert_eq!(line.split(',').count(), header_cols, "{line}");
        }
        assert!(out.contains("batch.size=16384-linger.ms=0,1,batch.size=16384;linger.ms=0,"));
    }
}
