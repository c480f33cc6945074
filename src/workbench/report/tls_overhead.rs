//! The "TLS overhead" table of a sweep over `security.protocol`: each TLS point (`SSL`, `SASL_SSL`) beside its
//! plaintext twin (`PLAINTEXT`, `SASL_PLAINTEXT`) with every other dimension equal, and the difference in %.
//!
//! Throughput is the median of the repeats' MB/s; latency (response time p50 / p99) comes from the repeats'
//! merged histograms, as everywhere in the report. Empty when the run has no such pairs.

use std::fmt::Write;

use super::Row;
use super::svg::esc;
use crate::workbench::compare::change_pct;
use crate::workbench::result::RunResult;

const DIM: &str = "security.protocol";

/// One TLS point and its plaintext twin.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsPair {
    /// The other dimensions (`rate=20000`), or the point name when there are none.
    pub label: String,
    pub plain_protocol: String,
    pub tls_protocol: String,
    pub plain_mb_per_s: f64,
    pub tls_mb_per_s: f64,
    pub plain_latency_us_p50: u64,
    pub tls_latency_us_p50: u64,
    pub plain_latency_us_p99: u64,
    pub tls_latency_us_p99: u64,
}

impl TlsPair {
    /// Throughput change with TLS, % (negative = TLS is slower).
    pub fn mb_per_s_change_pct(&self) -> f64 {
        change_pct(self.plain_mb_per_s, self.tls_mb_per_s)
    }
    pub fn p50_change_pct(&self) -> f64 {
        change_pct(self.plain_latency_us_p50 as f64, self.tls_latency_us_p50 as f64)
    }
    pub fn p99_change_pct(&self) -> f64 {
        change_pct(self.plain_latency_us_p99 as f64, self.tls_latency_us_p99 as f64)
    }
}

fn plain_twin(protocol: &str) -> Option<&'static str> {
    match protocol.to_ascii_uppercase().as_str() {
        "SSL" => Some("PLAINTEXT"),
        "SASL_SSL" => Some("SASL_PLAINTEXT"),
        _ => None,
    }
}

fn others(row: &Row) -> Vec<&(String, String)> {
    row.dims.iter().filter(|(k, _)| k != DIM).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Every TLS row paired with its plaintext twin (same peer, same other dimensions).
pub fn pairs(run: &RunResult, rows: &[Row]) -> Vec<TlsPair> {
    let protocol = |r: &Row| r.dims.iter().find(|(k, _)| k == DIM).map(|(_, v)| v.clone());
    let mb = |r: &Row| median(r.points(run).iter().map(|p| p.rate_mb_per_s).collect());
    let mut out = Vec::new();
    for tls in rows {
        let Some(tls_protocol) = protocol(tls) else { continue };
        let Some(twin) = plain_twin(&tls_protocol) else { continue };
        let Some(plain) = rows.iter().find(|r| {
            r.peer == tls.peer && protocol(r).is_some_and(|p| p.eq_ignore_ascii_case(twin)) && others(r) == others(tls)
        }) else {
            continue;
        };
        let rest = others(tls).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
        let label = if rest.is_empty() { tls.label() } else { rest };
        out.push(TlsPair {
            label,
            plain_protocol: twin.to_string(),
            tls_protocol,
            plain_mb_per_s: mb(plain),
            tls_mb_per_s: mb(tls),
            plain_latency_us_p50: plain.response_time_us_p50,
            tls_latency_us_p50: tls.response_time_us_p50,
            plain_latency_us_p99: plain.response_time_us_p99,
            tls_latency_us_p99: tls.response_time_us_p99,
        });
    }
    out
}

/// The markdown section; empty without pairs.
pub fn markdown(run: &RunResult, rows: &[Row]) -> String {
    let pairs = pairs(run, rows);
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n## TLS overhead\n\n");
    s.push_str(
        "| point | protocols | MB/s plain → TLS | Δ MB/s % | p50 ms plain → TLS | Δ p50 % | p99 ms plain → TLS | Δ p99 % |\n",
    );
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for p in &pairs {
        let _ = writeln!(s, "| {} |", cells(p, |t| t.to_string()).join(" | "));
    }
    s.push_str("\nMB/s: median of the repeats; latency: response time from the repeats' merged histograms.\n");
    s
}

/// One pair's table cells, in column order, for both the Markdown and the HTML table; `text` escapes the strings.
fn cells(p: &TlsPair, text: impl Fn(&str) -> String) -> [String; 8] {
    [
        text(&p.label),
        format!("{} → {}", text(&p.plain_protocol), text(&p.tls_protocol)),
        format!("{:.2} → {:.2}", p.plain_mb_per_s, p.tls_mb_per_s),
        format!("{:+.1}", p.mb_per_s_change_pct()),
        format!("{:.3} → {:.3}", p.plain_latency_us_p50 as f64 / 1e3, p.tls_latency_us_p50 as f64 / 1e3),
        format!("{:+.1}", p.p50_change_pct()),
        format!("{:.3} → {:.3}", p.plain_latency_us_p99 as f64 / 1e3, p.tls_latency_us_p99 as f64 / 1e3),
        format!("{:+.1}", p.p99_change_pct()),
    ]
}

/// The HTML section (`<h2>TLS overhead</h2>` and a table); empty without pairs.
pub fn html_section(run: &RunResult, rows: &[Row]) -> String {
    let pairs = pairs(run, rows);
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<h2>TLS overhead</h2><table id=\"tls-overhead\"><tr><th>point</th><th>protocols</th>\
         <th>MB/s plain → TLS</th><th>Δ MB/s %</th><th>p50 ms plain → TLS</th><th>Δ p50 %</th>\
         <th>p99 ms plain → TLS</th><th>Δ p99 %</th></tr>",
    );
    for p in &pairs {
        s.push_str("<tr>");
        for c in cells(p, esc) {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str(
        "</table><p>MB/s: median of the repeats; latency: response time from the repeats' merged histograms.</p>",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbench::report::aggregate;
    use crate::workbench::result::PointResult;

    fn point(protocol: &str, rate: &str, repeat: u32, mb: f64, p50: u64, p99: u64) -> PointResult {
        PointResult {
            name: format!("{protocol}-rate={rate}"),
            dims: vec![("rate".into(), rate.into()), (DIM.into(), protocol.into())],
            repeat,
            rate_mb_per_s: mb,
            response_time_us_p50: p50,
            response_time_us_p99: p99,
            ..PointResult::default()
        }
    }

    #[test]
    fn pairs_tls_points_with_their_plaintext_twins() {
        let run = RunResult {
            name: "tls".into(),
            points: vec![
                point("PLAINTEXT", "null", 1, 100.0, 1000, 4000),
                point("PLAINTEXT", "null", 2, 110.0, 1000, 4000),
                point("PLAINTEXT", "null", 3, 90.0, 1000, 4000),
                point("SSL", "null", 1, 80.0, 1200, 5000),
                point("SSL", "null", 2, 70.0, 1200, 5000),
                point("SSL", "null", 3, 75.0, 1200, 5000),
                point("SSL", "20000", 1, 20.0, 300, 900),
                point("PLAINTEXT", "20000", 1, 20.0, 250, 600),
            ],
            ..RunResult::default()
        };
        let rows = aggregate(&run);
        let p = pairs(&run, &rows);
        assert_eq!(p.len(), 2, "{p:?}");
        let full = p.iter().find(|p| p.label == "rate=null").unwrap();
        assert_eq!((full.plain_mb_per_s, full.tls_mb_per_s), (100.0, 75.0), "medians of the repeats");
        assert!((full.mb_per_s_change_pct() + 25.0).abs() < 1e-9);
        let fixed = p.iter().find(|p| p.label == "rate=20000").unwrap();
        assert!((fixed.p99_change_pct() - 50.0).abs() < 1e-9);
        let md = markdown(&run, &rows);
        assert!(md.contains("## TLS overhead"), "{md}");
        assert!(md.contains("| rate=null | PLAINTEXT → SSL | 100.00 → 75.00 | -25.0 |"), "{md}");
        assert!(md.contains("| 0.250 → 0.300 | +20.0 | 0.600 → 0.900 | +50.0 |"), "{md}");
        let html = html_section(&run, &rows);
        assert!(
            html.contains("<td>rate=null</td><td>PLAINTEXT → SSL</td><td>100.00 → 75.00</td><td>-25.0</td>"),
            "{html}"
        );
    }

    #[test]
    fn no_table_without_a_protocol_dimension() {
        let mut only_tls = point("SSL", "1", 1, 1.0, 1, 1);
        only_tls.dims.retain(|(k, _)| k == DIM);
        let run = RunResult { points: vec![only_tls], ..RunResult::default() };
        assert_eq!(markdown(&run, &aggregate(&run)), "", "a TLS point with no plaintext twin");
        assert_eq!(html_section(&run, &aggregate(&run)), "");
    }
}
