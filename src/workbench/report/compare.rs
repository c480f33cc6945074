//! `kprod compare --html`: one self-contained page putting two runs side by side — throughput vs latency, the
//! percentile spectrum and the over-time charts with both runs overlaid (base dashed), and the verdict table
//! with each verdict's interval, confidence and detectable change.
//!
//! Stable ids for a headless browser test: charts `compare-tput-vs-latency`, `compare-spectrum`,
//! `compare-rate-over-time`, `compare-p99-over-time` (`<svg class="chart">`); one `<tr class="verdict">` per
//! metric change with `data-point`, `data-metric` and `data-verdict`; warnings `li.shape-warning`.

use std::fmt::Write;

use super::html::warmup_s;
use super::svg::{Axis, Chart, Series, esc};
use super::{Row, aggregate, merged_quantile};
use crate::workbench::compare::{self, Comparison, Verdict};
use crate::workbench::histograms::Metric;
use crate::workbench::result::{PointResult, RunResult, SPECTRUM_PERCENTILES, TimePoint, utc_datetime};

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}\
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}\
td.name{text-align:left}h2{margin-top:32px}.charts{display:flex;flex-wrap:wrap;gap:12px}\
svg.chart{background:#fff;border:1px solid #ddd}.meta{color:#555;font-size:13px}\
g.series[data-name^=\"base\"] polyline{stroke-dasharray:5 3}g.series[data-name^=\"base\"] circle{fill-opacity:.45}\
tr.verdict-worse td.verdict{background:#f8d7da;font-weight:bold}tr.verdict-better td.verdict{background:#d4edda}\
tr.verdict-noise td.verdict{background:#fff3cd}tr.verdict-insufficient td.verdict{color:#888}\
.runs td{text-align:left}";

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Rows of both runs for the points they share, in the new run's order.
fn shared_rows(base: &RunResult, new: &RunResult) -> Vec<(Row, Row)> {
    let b = aggregate(base);
    aggregate(new)
        .into_iter()
        .filter_map(|n| b.iter().find(|r| r.name == n.name && r.peer == n.peer).map(|r| (r.clone(), n)))
        .collect()
}

fn tput_vs_latency(rows: &[(Row, Row)]) -> String {
    let mut series = Vec::new();
    for (side, pick) in [("base", 0usize), ("new", 1)] {
        for (pct, f) in
            [("p50", (|r: &Row| r.response_time_us_p50) as fn(&Row) -> u64), ("p99", |r| r.response_time_us_p99)]
        {
            let rs: Vec<&Row> = rows.iter().map(|(b, n)| if pick == 0 { b } else { n }).collect();
            series.push(Series {
                name: format!("{side} {pct}"),
                points: rs.iter().map(|r| (r.rate.mean, ms(f(r)))).collect(),
                labels: if pct == "p99" { rs.iter().map(|r| r.label()).collect() } else { Vec::new() },
                line: false,
            });
        }
    }
    Chart {
        id: "compare-tput-vs-latency".into(),
        title: "Throughput vs response time (mean of repeats; merged histograms)".into(),
        x: Axis::linear("throughput (records/s)"),
        y: Axis::log("response time (ms)"),
        series,
        x_band: None,
    }
    .render()
}

fn spectrum(base: &RunResult, new: &RunResult, rows: &[(Row, Row)]) -> String {
    let x = |p: f64| 1.0 / (1.0 - p / 100.0);
    let ticks = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
        .iter()
        .map(|p| (x(*p), if *p == 0.0 { "0%".to_string() } else { format!("{p}%") }))
        .collect();
    let mut series = Vec::new();
    for (b, n) in rows {
        for (side, run, row) in [("base", base, b), ("new", new, n)] {
            let ps: Vec<&PointResult> = row.points(run);
            let with_histograms = ps.iter().all(|p| !p.histograms.is_empty());
            let points = if with_histograms {
                SPECTRUM_PERCENTILES
                    .iter()
                    .map(|p| {
                        (x(*p), ms(merged_quantile(&ps, Metric::ResponseTime, p / 100.0, |q| q.response_time_us_max)))
                    })
                    .collect()
            } else {
                // A trimmed result (no histograms): the stored headline percentiles, the worst repeat's.
                let worst = |f: fn(&PointResult) -> u64| ms(ps.iter().map(|p| f(p)).max().unwrap_or(0));
                vec![
                    (x(50.0), worst(|p| p.response_time_us_p50)),
                    (x(99.0), worst(|p| p.response_time_us_p99)),
                    (x(99.9), worst(|p| p.response_time_us_p99_9)),
                ]
            };
            series.push(Series { name: format!("{side}: {}", row.label()), points, labels: vec![], line: true });
        }
    }
    Chart {
        id: "compare-spectrum".into(),
        title: "Response time percentile spectrum".into(),
        x: Axis::percentile("percentile (1/(1−p) scale)", ticks),
        y: Axis::log("response time (ms)"),
        series,
        x_band: None,
    }
    .render()
}

fn over_time(
    base: &RunResult,
    new: &RunResult,
    rows: &[(Row, Row)],
    id: &str,
    title: &str,
    y: Axis,
    f: fn(&TimePoint) -> f64,
) -> String {
    let mut series = Vec::new();
    for (b, n) in rows {
        for (side, run, row) in [("base", base, b), ("new", new, n)] {
            // Every repeat, one after the other on the time axis would mislead: the first repeat, as the report.
            if let Some(p) = row.points(run).first() {
                series.push(Series {
                    name: format!("{side}: {}", row.label()),
                    points: p.time_series.iter().map(|t| (t.t_s, f(t))).collect(),
                    labels: vec![],
                    line: true,
                });
            }
        }
    }
    let w = [warmup_s(base), warmup_s(new)].into_iter().flatten().fold(0.0, f64::max);
    let x_band = (w > 0.0).then(|| (0.0, w, "warm-up".to_string()));
    Chart {
        id: id.into(),
        title: format!("{title} (first repeat)"),
        x: Axis::linear("time since point start (s)"),
        y,
        series,
        x_band,
    }
    .render()
}

fn runs_table(base: &RunResult, new: &RunResult, labels: &(String, String)) -> String {
    let mut s = String::from(
        "<table class=\"runs\" id=\"runs\"><tr><th></th><th>run</th><th>path</th><th>commit</th><th>created</th>\
         <th>host</th><th>points (with repeats)</th></tr>",
    );
    for (side, run, path) in [("base", base, &labels.0), ("new", new, &labels.1)] {
        let _ = write!(
            s,
            "<tr class=\"run\" data-side=\"{side}\"><th>{side}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({} CPUs)</td><td>{}</td></tr>",
            esc(&run.name),
            esc(path),
            esc(run.git_commit.as_deref().unwrap_or("unknown")),
            utc_datetime(run.created_unix_ms),
            esc(&run.machine.hostname),
            run.machine.cpus,
            run.points.len()
        );
    }
    s.push_str("</table>");
    s
}

fn verdict_table(c: &Comparison) -> String {
    let mut s = format!(
        "<table id=\"verdicts\"><thead><tr><th>point</th><th>metric</th><th>base</th><th>new</th><th>change %</th>\
         <th>{:.0} % interval %</th><th>threshold %</th><th>detectable %</th><th>samples base / new</th>\
         <th>verdict</th></tr></thead><tbody>",
        c.confidence_pct
    );
    for m in &c.changes {
        let _ = write!(
            s,
            "<tr class=\"verdict verdict-{v}\" data-point=\"{p}\" data-metric=\"{me}\" data-verdict=\"{v}\">\
             <td class=\"name\">{p}</td><td class=\"name\">{me}</td><td>{}</td><td>{}</td><td>{:+.1}</td><td>{}</td>\
             <td>±{:.1}</td><td>{}</td><td>{} / {}</td><td class=\"verdict\" title=\"at {:.0} % confidence\">{}</td></tr>",
            esc(&compare::fmt_value(&m.metric, m.base.value)),
            esc(&compare::fmt_value(&m.metric, m.new.value)),
            m.change_pct,
            esc(&compare::fmt_ci(m)),
            m.threshold_pct,
            esc(&compare::fmt_detectable(m)),
            esc(&compare::fmt_samples(m.sampling, &m.base)),
            esc(&compare::fmt_samples(m.sampling, &m.new)),
            m.confidence_pct,
            m.verdict.label(),
            v = verdict_slug(m.verdict),
            p = esc(&m.point),
            me = esc(&m.metric),
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn verdict_slug(v: Verdict) -> &'static str {
    match v {
        Verdict::Insufficient => "insufficient",
        v => v.label(),
    }
}

/// The whole page. `labels` are the paths the runs were given as (base, new).
pub fn page(base: &RunResult, new: &RunResult, c: &Comparison, labels: &(String, String)) -> String {
    let rows = shared_rows(base, new);
    let worse = c.changes.iter().filter(|m| m.verdict == Verdict::Worse).count();
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>kprod compare: {} vs {}</title>\
         <style>{CSS}{}</style></head><body><h1>kprod compare: {} → {}</h1>",
        super::svg::CSS,
        esc(&base.name),
        esc(&new.name),
        esc(&labels.0),
        esc(&labels.1)
    );
    let _ = write!(
        s,
        "<p id=\"outcome\" class=\"{}\"><b>{}</b></p>",
        if worse > 0 { "regression" } else { "ok" },
        if worse > 0 {
            format!("Regression: {worse} metric(s) worse beyond the threshold at {:.0} % confidence.", c.confidence_pct)
        } else {
            format!("No regression at {:.0} % confidence.", c.confidence_pct)
        }
    );
    s.push_str(&runs_table(base, new, labels));
    let _ = write!(s, "<h2>Verdicts</h2><p class=\"meta\" id=\"method\">{}</p>", esc(&c.method()));
    s.push_str(&verdict_table(c));
    if !c.warnings.is_empty() {
        s.push_str("<h2>Warnings</h2><ul id=\"shape-warnings\">");
        for w in &c.warnings {
            let _ = write!(
                s,
                "<li class=\"shape-warning\">{} {} in {}: {}</li>",
                esc(&w.point),
                esc(&w.metric),
                esc(&w.run),
                esc(&w.message)
            );
        }
        s.push_str("</ul>");
    }
    for n in &c.notes {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(n));
    }
    for (label, names) in [("only in base", &c.only_in_base), ("only in new", &c.only_in_new)] {
        if !names.is_empty() {
            let _ = write!(s, "<p class=\"unmatched\">Points {label}: {}</p>", esc(&names.join(", ")));
        }
    }
    s.push_str(
        "<h2>Throughput vs latency</h2><p class=\"meta\">Base dashed and faded, new solid.</p><div class=\"charts\">",
    );
    s.push_str(&tput_vs_latency(&rows));
    s.push_str("</div><h2>Percentile spectrum</h2><div class=\"charts\">");
    s.push_str(&spectrum(base, new, &rows));
    s.push_str("</div><h2>Over time</h2><div class=\"charts\">");
    s.push_str(&over_time(
        base,
        new,
        &rows,
        "compare-rate-over-time",
        "Acknowledged rate",
        Axis::linear("rate (records/s)"),
        |t| t.records_per_s,
    ));
    s.push_str(&over_time(
        base,
        new,
        &rows,
        "compare-p99-over-time",
        "Response time p99 per second",
        Axis::log("p99 response time (ms)"),
        |t| t.response_time_us_p99 as f64 / 1000.0,
    ));
    let _ = writeln!(s, "</div><script>{}</script></body></html>", super::svg::SCRIPT);
    s
}
