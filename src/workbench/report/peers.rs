//! The peers section of a report: kprod vs librdkafka vs Java per point, when a run measured more than one
//! producer. Two grouped bar charts (`<svg class="chart" id="peers-throughput">`, `id="peers-p99"`), one group per
//! point and one bar per peer, and a ratio table (`<table id="peers-ratios">`: kprod/librdkafka and kprod/java for
//! throughput and p99). Throughput is the mean over repeats, p99 comes from the merged histograms (see [`Row`]).

use std::fmt::Write;

use super::Row;
use super::svg::{esc, fmt_num};
use crate::workbench::peers::Peer;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 120.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 90.0;

/// Peer colors, fixed so a peer keeps its color across charts and reports.
fn color(p: Peer) -> &'static str {
    match p {
        Peer::Kprod => "#1f77b4",
        Peer::Librdkafka => "#ff7f0e",
        Peer::Java => "#2ca02c",
        Peer::JavaPerfTest => "#9467bd",
    }
}

/// Peers present in `rows`, in [`Peer::ALL`] order.
pub fn peers_of(rows: &[Row]) -> Vec<Peer> {
    Peer::ALL.into_iter().filter(|p| rows.iter().any(|r| r.peer == *p)).collect()
}

/// Point names in order of first appearance.
fn point_names(rows: &[Row]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    names
}

fn find<'a>(rows: &'a [Row], name: &str, peer: Peer) -> Option<&'a Row> {
    rows.iter().find(|r| r.name == name && r.peer == peer)
}

/// A grouped bar chart: `values[group][bar]`.
struct Bars<'a> {
    id: &'a str,
    title: &'a str,
    y_label: &'a str,
    groups: Vec<&'a str>,
    peers: &'a [Peer],
    values: Vec<Vec<Option<f64>>>,
    unit_digits: usize,
}

impl Bars<'_> {
    fn render(&self) -> String {
        let mut s = String::new();
        let max = self.values.iter().flatten().flatten().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
        let top = if max > 0.0 { max * 1.12 } else { 1.0 };
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
        let y = |v: f64| y0 - (v / top) * (y0 - y1);
        let _ = write!(
            s,
            r#"<svg class="chart" id="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"><title>{}</title>"#,
            esc(self.id),
            esc(self.title)
        );
        let _ = write!(
            s,
            r##"<text class="chart-title" x="{}" y="20" text-anchor="middle">{}</text><g class="axes" stroke="#444"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/></g>"##,
            (x0 + x1) / 2.0,
            esc(self.title)
        );
        for i in 0..=5 {
            let v = top * i as f64 / 5.0;
            let _ = write!(
                s,
                r##"<line x1="{x0}" y1="{:.1}" x2="{x1}" y2="{:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
                y(v),
                y(v),
                x0 - 4.0,
                y(v) + 3.0,
                fmt_num(v)
            );
        }
        let group_w = (x1 - x0) / self.groups.len().max(1) as f64;
        let bar_w = group_w * 0.8 / self.peers.len().max(1) as f64;
        for (g, name) in self.groups.iter().enumerate() {
            let gx = x0 + group_w * g as f64 + group_w * 0.1;
            let _ = write!(s, r#"<g class="group" data-point="{}">"#, esc(name));
            for (b, peer) in self.peers.iter().enumerate() {
                let Some(v) = self.values[g][b].filter(|v| v.is_finite()) else { continue };
                let bx = gx + bar_w * b as f64;
                let _ = write!(
                    s,
                    r#"<rect class="bar" data-peer="{peer}" data-value="{v}" x="{bx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {peer}: {v:.prec$}</title></rect><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
                    y(v),
                    (bar_w - 2.0).max(1.0),
                    (y0 - y(v)).max(0.0),
                    color(*peer),
                    esc(name),
                    bx + bar_w / 2.0,
                    y(v) - 3.0,
                    fmt_num(v),
                    prec = self.unit_digits
                );
            }
            let _ = write!(
                s,
                r#"<text class="group-label" transform="translate({:.1},{}) rotate(20)" font-size="10">{}</text></g>"#,
                gx,
                y0 + 14.0,
                esc(name)
            );
        }
        for (i, peer) in self.peers.iter().enumerate() {
            let ly = TOP + 14.0 * i as f64;
            let _ = write!(
                s,
                r#"<rect x="{}" y="{ly}" width="10" height="10" fill="{}"/><text class="legend" x="{}" y="{}" font-size="11">{peer}</text>"#,
                W - RIGHT + 12.0,
                color(*peer),
                W - RIGHT + 26.0,
                ly + 9.0
            );
        }
        let _ = write!(
            s,
            r#"<text class="axis-label y" transform="translate(16,{}) rotate(-90)" text-anchor="middle" font-size="12">{}</text></svg>"#,
            (y0 + y1) / 2.0,
            esc(self.y_label)
        );
        s
    }
}

/// `a / b`, or `None` when either is missing or `b` is not positive.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Per point: its name and kprod's throughput and p99 ratios against each other peer of [`others`].
pub struct Ratios<'a> {
    pub name: &'a str,
    pub throughput: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
}

/// The peers kprod is compared with: every other peer present, in [`Peer::ALL`] order.
pub fn others(rows: &[Row]) -> Vec<Peer> {
    peers_of(rows).into_iter().filter(|p| *p != Peer::Kprod).collect()
}

/// The ratios of every point.
pub fn ratios(rows: &[Row]) -> Vec<Ratios<'_>> {
    let rate = |n: &str, p| find(rows, n, p).map(|r| r.rate.mean);
    let p99 = |n: &str, p| find(rows, n, p).map(|r| r.response_time_us_p99 as f64);
    let others = others(rows);
    point_names(rows)
        .into_iter()
        .map(|n| Ratios {
            name: n,
            throughput: others.iter().map(|p| ratio(rate(n, Peer::Kprod), rate(n, *p))).collect(),
            p99: others.iter().map(|p| ratio(p99(n, Peer::Kprod), p99(n, *p))).collect(),
        })
        .collect()
}

fn x(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}×"))
}

/// The HTML section; empty when the run measured only one producer.
pub fn section(rows: &[Row]) -> String {
    let peers = peers_of(rows);
    if peers.len() < 2 {
        return String::new();
    }
    let groups = point_names(rows);
    let values = |f: fn(&Row) -> f64| -> Vec<Vec<Option<f64>>> {
        groups.iter().map(|g| peers.iter().map(|p| find(rows, g, *p).map(f)).collect()).collect()
    };
    let mut s = String::from("<h2>kprod vs librdkafka vs Java</h2><div class=\"charts\">");
    s.push_str(
        &Bars {
            id: "peers-throughput",
            title: "Throughput per point (records/s, higher is better)",
            y_label: "records/s",
            groups: groups.clone(),
            peers: &peers,
            values: values(|r| r.rate.mean),
            unit_digits: 0,
        }
        .render(),
    );
    s.push_str(
        &Bars {
            id: "peers-p99",
            title: "Response time p99 per point (ms, lower is better)",
            y_label: "p99 response time (ms)",
            groups: groups.clone(),
            peers: &peers,
            values: values(|r| r.response_time_us_p99 as f64 / 1e3),
            unit_digits: 3,
        }
        .render(),
    );
    let others = others(rows);
    s.push_str("</div><table id=\"peers-ratios\"><thead><tr><th>point</th>");
    for what in ["throughput", "p99"] {
        for p in &others {
            let _ = write!(s, "<th>{what} kprod/{p}</th>");
        }
    }
    s.push_str("</tr></thead><tbody>");
    for r in ratios(rows) {
        let _ = write!(s, "<tr class=\"peer-ratio\" data-name=\"{}\"><td>{}</td>", esc(r.name), esc(r.name));
        for v in r.throughput.iter().chain(&r.p99) {
            let _ = write!(s, "<td>{}</td>", x(*v));
        }
        s.push_str("</tr>");
    }
    s.push_str(
        "</tbody></table><p class=\"meta\">Throughput ratio &gt; 1: kprod sends more; p99 ratio &lt; 1: kprod answers \
         sooner. Every peer ran with the same resolved producer properties, alternating at every point.</p>",
    );
    s
}

/// The Markdown section for `summary.md`; empty when the run measured only one producer.
pub fn markdown(rows: &[Row]) -> String {
    if peers_of(rows).len() < 2 {
        return String::new();
    }
    let others = others(rows);
    let mut s = String::from("\n## kprod vs librdkafka vs Java\n\n| point |");
    for what in ["throughput", "p99"] {
        for p in &others {
            let _ = write!(s, " {what} kprod/{p} |");
        }
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(2 * others.len()));
    s.push('\n');
    for r in ratios(rows) {
        let _ = write!(s, "| {} |", r.name);
        for v in r.throughput.iter().chain(&r.p99) {
            let _ = write!(s, " {} |", x(*v));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbench::report::{aggregate, html, tests::point, text};
    use crate::workbench::result::RunResult;

    /// Two points, three peers each: kprod 3000 rec/s, librdkafka 2000, java 1000; p99 grows the other way.
    fn peers_run() -> RunResult {
        let mut run = RunResult { name: "peers".into(), ..RunResult::default() };
        for name in ["none", "lz4"] {
            for (peer, rate, base_us) in
                [(Peer::Kprod, 3000.0, 1000), (Peer::Librdkafka, 2000.0, 2000), (Peer::Java, 1000.0, 4000)]
            {
                let mut p = point(name, &[("compression.type", name)], 0, base_us, rate);
                p.peer = peer;
                run.points.push(p);
            }
        }
        run
    }

    #[test]
    fn rows_split_by_peer_and_ratios_compare_kprod_with_each() {
        let rows = aggregate(&peers_run());
        assert_eq!(rows.len(), 6, "one row per point and peer");
        assert_eq!(peers_of(&rows), vec![Peer::Kprod, Peer::Librdkafka, Peer::Java]);
        assert_eq!(others(&rows), vec![Peer::Librdkafka, Peer::Java]);
        let r = ratios(&rows);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, "none");
        assert_eq!(r[0].throughput, [Some(1.5), Some(3.0)]);
        // p99 of base..base+1000 µs: kprod ≈ 1990, librdkafka ≈ 2990, java ≈ 4990.
        let [a, b] = [r[0].p99[0].unwrap(), r[0].p99[1].unwrap()];
        assert!((a - 1990.0 / 2990.0).abs() < 0.01 && (b - 1990.0 / 4990.0).abs() < 0.01, "{a} {b}");
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
    }

    #[test]
    fn report_has_grouped_peer_charts_table_column_and_ratios() {
        let run = peers_run();
        let rows = aggregate(&run);
        let page = html::index(&run, &rows, &Default::default());
        for id in ["peers-throughput", "peers-p99"] {
            assert!(page.contains(&format!(r#"<svg class="chart" id="{id}""#)), "missing {id}");
        }
        assert_eq!(page.matches(r#"<rect class="bar""#).count(), 12, "2 charts × 2 points × 3 peers");
        assert!(page.contains(r#"data-peer="librdkafka" data-value="2000""#));
        assert_eq!(page.matches(r#"<tr class="point""#).count(), 6);
        assert!(page.contains(r#"data-name="none" data-peer="java""#));
        assert_eq!(page.matches(r#"<tr class="peer-ratio""#).count(), 2);
        assert!(page.contains("<td>1.50×</td><td>3.00×</td>"), "throughput ratios");
        let md = text::summary(&run, &rows);
        assert!(md.contains("| none | java | 1 | 1000 |"), "{md}");
        assert!(md.contains("| lz4 | 1.50× | 3.00× |"), "{md}");
        let csv = text::csv(&run);
        assert!(csv.lines().nth(3).unwrap().ends_with(",java"), "{csv}");

        let kprod_only = RunResult { points: vec![run.points[0].clone()], ..RunResult::default() };
        let rows = aggregate(&kprod_only);
        assert!(section(&rows).is_empty() && markdown(&rows).is_empty());
        assert!(!html::index(&kprod_only, &rows, &Default::default()).contains("peers-throughput"));
    }
}
