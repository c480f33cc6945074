//! `index.html`: one self-contained page (inline CSS, SVG and the charts' small script, no network).
//!
//! Charts carry `class="chart"` and a stable id (`tput-vs-latency-<dim>`, `spectrum`, `rate-over-time`,
//! `p99-over-time`, `heatmap-throughput-<d1>-<d2>`, `heatmap-p99-<d1>-<d2>`); table rows `class="point"`, so a
//! headless browser test can find them.

use std::fmt::Write;

use super::header::RunFiles;
use super::svg::{Axis, Chart, Heatmap, Series, esc, fmt_num, slug};
use super::{Row, fmt_pct, fmt_rsd, merged_quantile, plural};
use crate::workbench::histograms::Metric;
use crate::workbench::peers::Peer;
use crate::workbench::result::{MB_UNIT, PointStatus};
use crate::workbench::result::{PointResult, RunResult, SPECTRUM_PERCENTILES};

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}\
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}\
h2{margin-top:32px}.charts{display:flex;flex-wrap:wrap;gap:12px}svg.chart{background:#fff;border:1px solid #ddd}\
.meta{color:#555;font-size:13px}.header{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\
table.settings caption{text-align:left;font-weight:bold;padding:2px 0}table.settings th{text-align:left;background:#f6f6f6}\
table.settings td{text-align:left}.varies{color:#a60}details{margin:8px 0;font-size:13px}.files a{margin:0 2px}\
.figures{display:flex;gap:12px}.figure{border:1px solid #ddd;padding:8px 14px;text-align:center}\
.figure b{display:block;font-size:22px}.figure span{color:#555;font-size:12px}";

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Dimension names in order of first appearance.
pub fn dim_names(rows: &[Row]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        for (k, _) in &r.dims {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    names
}

fn dim_value<'a>(r: &'a Row, dim: &str) -> Option<&'a str> {
    r.dims.iter().find(|(k, _)| k == dim).map(|(_, v)| v.as_str())
}

fn tput_vs_latency(rows: &[Row], dim: Option<&str>) -> String {
    let labels: Vec<String> = rows
        .iter()
        .map(|r| {
            let l = dim.and_then(|d| dim_value(r, d)).map_or(r.name.clone(), |v| v.to_string());
            if r.peer == Peer::Kprod { l } else { format!("{l} [{}]", r.peer) }
        })
        .collect();
    // Only p99 carries point labels: three labelled clusters overlap when points share a throughput.
    let series = |name: &str, f: fn(&Row) -> u64| Series {
        name: name.into(),
        points: rows.iter().map(|r| (r.rate.mean, ms(f(r)))).collect(),
        labels: if name == "p99" { labels.clone() } else { Vec::new() },
        line: false,
    };
    Chart {
        id: dim.map_or("tput-vs-latency".into(), |d| format!("tput-vs-latency-{}", slug(d))),
        title: format!("Throughput vs response time{}", dim.map_or(String::new(), |d| format!(" by {d}"))),
        x: Axis::linear("throughput (records/s)"),
        y: Axis::log("response time (ms)"),
        series: vec![
            series("p50", |r| r.response_time_us_p50),
            series("p99", |r| r.response_time_us_p99),
            series("p99.9", |r| r.response_time_us_p99_9),
        ],
        x_band: None,
    }
    .render()
}

/// The headline figures of a one-point run (`#single-point`, one `div.figure` each).
fn single_point(r: &Row) -> String {
    let figures = [
        ("records/s", format!("{:.0}", r.rate.mean)),
        ("MB/s (10⁶ B)", format!("{:.2}", r.mb_per_s)),
        ("p50 ms", fmt_pct(r.response_time_us_p50, r.samples, 0.5)),
        ("p99 ms", fmt_pct(r.response_time_us_p99, r.samples, 0.99)),
        ("p99.9 ms", fmt_pct(r.response_time_us_p99_9, r.samples, 0.999)),
        ("max ms", fmt_pct(r.response_time_us_max, r.samples, 1.0)),
    ];
    let mut s = format!("<h2>Result: {}</h2><div id=\"single-point\" class=\"figures\">", esc(&r.label()));
    for (label, value) in figures {
        let _ = write!(s, "<div class=\"figure\"><b>{}</b><span>{}</span></div>", esc(&value), esc(label));
    }
    s.push_str("</div>");
    s
}

fn spectrum(run: &RunResult, rows: &[Row]) -> String {
    let x = |p: f64| 1.0 / (1.0 - p / 100.0);
    let ticks = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
        .iter()
        .map(|p| (x(*p), if *p == 0.0 { "0%".to_string() } else { format!("{p}%") }))
        .collect();
    let series = rows
        .iter()
        .map(|r| {
            let ps: Vec<&PointResult> = r.points(run);
            Series {
                name: r.label(),
                points: SPECTRUM_PERCENTILES
                    .iter()
                    .map(|p| {
                        (x(*p), ms(merged_quantile(&ps, Metric::ResponseTime, p / 100.0, |q| q.response_time_us_max)))
                    })
                    .collect(),
                labels: vec![],
                line: true,
            }
        })
        .collect();
    Chart {
        id: "spectrum".into(),
        title: "Response time percentile spectrum".into(),
        x: Axis::percentile("percentile (1/(1−p) scale)", ticks),
        y: Axis::log("response time (ms)"),
        series,
        x_band: None,
    }
    .render()
}

fn over_time(
    run: &RunResult,
    rows: &[Row],
    id: &str,
    title: &str,
    y: Axis,
    f: fn(&crate::workbench::result::TimePoint) -> f64,
) -> String {
    let series = rows
        .iter()
        .filter_map(|r| r.points(run).first().map(|p| (r.label(), *p)))
        .map(|(name, p)| Series {
            name,
            points: p.time_series.iter().map(|t| (t.t_s, f(t))).collect(),
            labels: vec![],
            line: true,
        })
        .collect();
    let x_band = warmup_s(run).map(|w| (0.0, w, "warm-up".to_string()));
    Chart { id: id.into(), title: title.into(), x: Axis::linear("time since point start (s)"), y, series, x_band }
        .render()
}

/// The longest warm-up of the run's points in seconds (from their workloads, else from the seconds their time
/// series mark as warm-up); `None` without one.
pub fn warmup_s(run: &RunResult) -> Option<f64> {
    let configured = run.points.iter().filter_map(|p| p.config.as_ref()).map(|c| c.warmup.as_secs_f64());
    let marked = run.points.iter().flat_map(|p| p.time_series.iter().filter(|t| t.warmup).map(|t| t.t_s));
    let w = if run.points.iter().any(|p| p.config.is_some()) {
        configured.fold(0.0, f64::max)
    } else {
        marked.fold(0.0, f64::max)
    };
    (w > 0.0).then_some(w)
}

fn heatmaps(rows: &[Row], d0: &str, d1: &str) -> String {
    let mut xs: Vec<String> = Vec::new();
    let mut ys: Vec<String> = Vec::new();
    for r in rows {
        if let (Some(a), Some(b)) = (dim_value(r, d0), dim_value(r, d1)) {
            if !xs.iter().any(|x| x == a) {
                xs.push(a.into());
            }
            if !ys.iter().any(|y| y == b) {
                ys.push(b.into());
            }
        }
    }
    let cells = |f: fn(&Row) -> f64| -> Vec<Vec<Option<f64>>> {
        ys.iter()
            .map(|y| {
                xs.iter()
                    .map(|x| rows.iter().find(|r| dim_value(r, d0) == Some(x) && dim_value(r, d1) == Some(y)).map(f))
                    .collect()
            })
            .collect()
    };
    let mk = |kind: &str, title: &str, f: fn(&Row) -> f64, higher_is_better: bool| {
        Heatmap {
            id: format!("heatmap-{kind}-{}-{}", slug(d0), slug(d1)),
            title: title.into(),
            x_label: d0.into(),
            y_label: d1.into(),
            x_values: xs.clone(),
            y_values: ys.clone(),
            cells: cells(f),
            higher_is_better,
        }
        .render()
    };
    mk("throughput", "Throughput (records/s)", |r| r.rate.mean, true)
        + &mk("p99", "Response time p99 (ms)", |r| ms(r.response_time_us_p99), false)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "<table id=\"points\"><thead><tr><th>point</th><th>peer</th><th>repeats</th><th>records/s</th>\
         <th title=\"MB = 10^6 bytes of key + value before compression\">MB/s (10⁶ B)</th>\
         <th>noise RSD %</th><th>min–max records/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th>\
         <th>service p99 ms</th><th>batch bytes avg</th><th>records/request</th><th>compression ratio</th>\
         <th>CPU ns/record</th><th>errors</th><th>status</th></tr></thead><tbody>",
    );
    for r in rows {
        let _ = write!(
            s,
            "<tr class=\"point\" data-name=\"{}\" data-peer=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{}</td>\
             <td>{}–{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td class=\"status\">{}</td></tr>",
            esc(&r.name),
            r.peer,
            esc(&r.name),
            r.peer,
            r.repeats,
            r.rate.mean,
            r.mb_per_s,
            fmt_rsd(r),
            fmt_num(r.rate_min),
            fmt_num(r.rate_max),
            fmt_pct(r.response_time_us_p50, r.samples, 0.5),
            fmt_pct(r.response_time_us_p99, r.samples, 0.99),
            fmt_pct(r.response_time_us_p99_9, r.samples, 0.999),
            fmt_pct(r.response_time_us_max, r.samples, 1.0),
            fmt_pct(r.service_time_us_p99, r.samples, 0.99),
            opt(r.batch_bytes_avg, 0),
            opt(r.records_per_request_avg, 1),
            opt(r.compression_ratio_avg, 2),
            opt(r.cpu_time_ns_per_record, 0),
            r.errors,
            match (r.status, &r.failure) {
                (st @ (PointStatus::Failed | PointStatus::Partial), Some(f)) => format!("{st}: {}", esc(f)),
                (st, _) => st.to_string(),
            }
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// The per-shard table of a merged run (nothing for a single run): one slow machine stands out here.
fn shards(run: &RunResult) -> String {
    if run.shards.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<h2 id=\"shards\">Shards</h2><table><tr><th>shard</th><th>host</th><th>records acked</th><th>records/s</th>\
         <th>p99 ms</th><th>schedule lag p99 ms</th><th>start lateness ms</th><th>clock offset ms</th></tr>",
    );
    for r in &run.shards {
        let _ = write!(
            s,
            "<tr class=\"shard\"><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.3}</td><td>{:.3}</td>\
             <td>{:.3}</td><td>{:+.3}</td></tr>",
            r.index,
            esc(&r.host),
            r.records_acked,
            r.rate_records_per_s,
            r.response_time_us_p99 as f64 / 1e3,
            r.schedule_lag_us_p99 as f64 / 1e3,
            r.start_lateness_us as f64 / 1e3,
            r.clock_offset_ms
        );
    }
    s.push_str("</table>");
    s
}

/// The whole page.
/// Commit latency of transactional points (nothing when no point ran transactions).
fn transactions(run: &RunResult) -> String {
    let mut s = String::new();
    for p in &run.points {
        let Some(t) = &p.transactions else { continue };
        if s.is_empty() {
            s.push_str(
                "<h2 id=\"transactions\">Transactions</h2><table><tr><th>point</th><th>repeat</th><th>committed</th>\
                 <th>failed</th><th>commit p50 ms</th><th>commit p99 ms</th><th>commit max ms</th></tr>",
            );
        }
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            esc(&p.name),
            p.repeat,
            t.transactions_committed,
            t.transactions_failed,
            t.commit_latency_us_p50 as f64 / 1e3,
            t.commit_latency_us_p99 as f64 / 1e3,
            t.commit_latency_us_max as f64 / 1e3
        );
    }
    if !s.is_empty() {
        s.push_str("</table>");
    }
    s
}

pub fn index(run: &RunResult, rows: &[Row], files: &RunFiles) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>kprod: {}</title><style>{CSS}{}</style></head><body>",
        esc(&run.name),
        super::svg::CSS
    );
    let _ = write!(
        s,
        "<h1>kprod run: {}</h1><p class=\"meta\">kprod {} · commit {} · {} ({} CPUs, {}/{}) · {}</p>",
        esc(&run.name),
        esc(&run.kprod_version),
        esc(run.git_commit.as_deref().unwrap_or("unknown")),
        esc(&run.machine.hostname),
        run.machine.cpus,
        esc(&run.machine.os),
        esc(&run.machine.arch),
        plural(run.points.len(), "point")
    );
    if let Some(why) = &run.stopped {
        let _ = write!(s, "<p class=\"stopped\" id=\"stopped\"><b>Stopped:</b> {}</p>", esc(why));
    }
    if !run.points_not_run.is_empty() {
        let _ = write!(s, "<p id=\"not-run\"><b>{} not run:</b> ", plural(run.points_not_run.len(), "point"));
        let names: Vec<String> =
            run.points_not_run.iter().map(|n| format!("<span class=\"not-run\">{}</span>", esc(n))).collect();
        s.push_str(&names.join(", "));
        s.push_str("</p>");
    }
    s.push_str(&super::header::section(run, files));
    if files.flamegraph {
        let what = run.profile.as_ref().map_or(String::new(), |p| format!(" ({})", esc(&p.describe())));
        let _ = write!(s, "<p><a id=\"flamegraph-link\" href=\"flamegraph.svg\">CPU flame graph</a>{what}</p>");
    }
    s.push_str(&crate::workbench::search::html_section(&run.searches));
    s.push_str(&super::peers::section(rows));
    s.push_str(&super::tls_overhead::html_section(run, rows));
    let dims = dim_names(rows);
    if let [row] = rows {
        // One point: its figures, not a lone dot on a throughput-vs-latency chart.
        s.push_str(&single_point(row));
    } else {
        s.push_str("<h2>Throughput vs latency</h2><div class=\"charts\">");
        if dims.is_empty() {
            s.push_str(&tput_vs_latency(rows, None));
        }
        for d in &dims {
            s.push_str(&tput_vs_latency(rows, Some(d)));
        }
        s.push_str("</div>");
    }
    s.push_str("<h2>Percentile spectrum</h2><div class=\"charts\">");
    s.push_str(&spectrum(run, rows));
    s.push_str("</div><h2>Over time</h2><div class=\"charts\">");
    s.push_str(&over_time(run, rows, "rate-over-time", "Acknowledged rate", Axis::linear("rate (records/s)"), |t| {
        t.records_per_s
    }));
    s.push_str(&over_time(
        run,
        rows,
        "p99-over-time",
        "Response time p99 per second",
        Axis::log("p99 response time (ms)"),
        |t| t.response_time_us_p99 as f64 / 1000.0,
    ));
    s.push_str("</div>");
    if dims.len() >= 2 {
        let _ = write!(s, "<h2>{} × {}</h2><div class=\"charts\">", esc(&dims[0]), esc(&dims[1]));
        s.push_str(&heatmaps(rows, &dims[0], &dims[1]));
        s.push_str("</div>");
    }
    s.push_str("<h2>Points</h2>");
    s.push_str(&table(rows));
    s.push_str(&transactions(run));
    s.push_str(&shards(run));
    let warnings: Vec<&String> = run.points.iter().flat_map(|p| &p.warnings).collect();
    if !warnings.is_empty() {
        s.push_str("<h2>Warnings</h2><ul>");
        let mut seen: Vec<&String> = Vec::new();
        for w in warnings {
            if !seen.contains(&w) {
                seen.push(w);
                let _ = write!(s, "<li class=\"warning\">{}</li>", esc(w));
            }
        }
        s.push_str("</ul>");
    }
    s.push_str(
        "<p class=\"meta\">Response time = intended send → ack (includes schedule lag: free of coordinated \
                omission). Percentiles come from merged HDR histograms; warm-up excluded; n/a = too few samples for the \
                percentile (p99 needs 100, p99.9 1000).</p>",
    );
    let _ = writeln!(
        s,
        "<p class=\"meta\" id=\"units\">{}.</p><script>{}</script></body></html>",
        esc(MB_UNIT),
        super::svg::SCRIPT
    );
    s
}
