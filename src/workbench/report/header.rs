//! The head of `index.html`: what was measured (producer settings, record size, target, date, duration,
//! warm-up) and links to the run folder's files, so the page can be shared on its own.
//!
//! Ids for the browser test: `#run-settings`, `#producer-settings` (one `tr.setting` per property,
//! `data-key`), `#producer-config-all` (every effective property), `#files` (one `a.file` per file).

use std::fmt::Write;
use std::path::Path;

use super::svg::esc;
use crate::workbench::result::{PointResult, RunResult, utc_datetime};
use crate::workbench::secrets;
use crate::workbench::workload::{ResolvedWorkload, SizeDist, StopAfter, TargetSpec};

/// Properties always shown in the header (their effective values), besides every property the workload set.
const KEY_PROPS: [&str; 10] = [
    "acks",
    "batch.size",
    "linger.ms",
    "compression.type",
    "enable.idempotence",
    "max.in.flight.requests.per.connection",
    "buffer.memory",
    "max.request.size",
    "delivery.timeout.ms",
    "request.timeout.ms",
];

/// The files of a run folder the page links to (relative links), found when the report is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFiles {
    pub result_json: bool,
    pub workload_yaml: bool,
    pub flamegraph: bool,
    /// `intervals/<point>-r<repeat>/` and the `.hlog` files in it, sorted.
    pub intervals: Vec<(String, Vec<String>)>,
}

impl RunFiles {
    /// Looks at `dir`. `summary.md` and `results.csv` are written with `index.html`, so they are always linked.
    pub fn scan(dir: &Path) -> RunFiles {
        let mut intervals = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir.join("intervals")) {
            for e in entries.flatten() {
                if !e.path().is_dir() {
                    continue;
                }
                let mut logs: Vec<String> = std::fs::read_dir(e.path())
                    .map(|it| {
                        it.flatten()
                            .map(|f| f.file_name().to_string_lossy().into_owned())
                            .filter(|n| n.ends_with(".hlog"))
                            .collect()
                    })
                    .unwrap_or_default();
                logs.sort();
                if !logs.is_empty() {
                    intervals.push((e.file_name().to_string_lossy().into_owned(), logs));
                }
            }
        }
        intervals.sort();
        RunFiles {
            result_json: dir.join("result.json").is_file(),
            workload_yaml: dir.join("workload.yaml").is_file(),
            flamegraph: dir.join("flamegraph.svg").is_file(),
            intervals,
        }
    }
}

/// Percent-encodes a relative path for an href (keeps `/` and URL-safe characters).
fn href(path: &str) -> String {
    let mut s = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.=~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// The distinct values in order of first appearance, `a, b`; `–` when there are none.
fn distinct(values: impl Iterator<Item = String>) -> (String, usize) {
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    if seen.is_empty() { ("–".into(), 0) } else { (seen.join(", "), seen.len()) }
}

fn secs(d: std::time::Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

pub fn record_size(s: &SizeDist) -> String {
    match s {
        SizeDist::Fixed(n) => format!("{n} B"),
        SizeDist::Uniform { min, max } => format!("{min}–{max} B (uniform)"),
        SizeDist::Normal { mean, stddev } => format!("normal, mean {mean} B, stddev {stddev} B"),
        SizeDist::Lognormal { mu, sigma } => format!("lognormal, μ {mu}, σ {sigma}"),
        SizeDist::Histogram(h) => {
            let parts: Vec<String> = h.iter().map(|(size, w)| format!("{size} B × {w}")).collect();
            format!("histogram: {}", parts.join(", "))
        }
    }
}

pub fn target(t: &TargetSpec) -> String {
    match t {
        TargetSpec::Bootstrap(b) => format!("bootstrap servers {b}"),
        TargetSpec::Embedded(e) => {
            let mut s = format!(
                "embedded mock broker ({} broker{}, {})",
                e.brokers,
                if e.brokers == 1 { "" } else { "s" },
                serde_json::to_string(&e.mode).unwrap_or_default().trim_matches('"')
            );
            if !e.faults.is_empty() {
                let _ = write!(s, ", faults {}", serde_json::to_string(&e.faults).unwrap_or_default());
            }
            s
        }
    }
}

fn compact<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default().trim_matches('"').to_string()
}

/// The effective value of a producer property at a point: the producer's own configuration, else the workload's.
fn prop(p: &PointResult, key: &str) -> Option<String> {
    let v = p.producer_config.get(key).or_else(|| p.config.as_ref().and_then(|c| c.producer_props.get(key)))?;
    Some(secrets::shown(key, v).to_string())
}

fn row(s: &mut String, id: &str, label: &str, (value, n): (String, usize)) {
    let varies = if n > 1 { " <span class=\"varies\">(varies by point)</span>" } else { "" };
    let _ = write!(
        s,
        "<tr class=\"setting\" data-key=\"{}\"><th>{}</th><td>{}{varies}</td></tr>",
        esc(id),
        esc(label),
        esc(&value)
    );
}

/// The settings tables and the file links.
pub fn section(run: &RunResult, files: &RunFiles) -> String {
    let mut s = String::from("<div class=\"header\">");
    let cfgs: Vec<&ResolvedWorkload> = run.points.iter().filter_map(|p| p.config.as_ref()).collect();
    let over_cfg = |f: &dyn Fn(&ResolvedWorkload) -> String| distinct(cfgs.iter().map(|c| f(c)));

    // The run.
    s.push_str("<table id=\"run-settings\" class=\"settings\"><caption>Run</caption>");
    let date = if run.created_unix_ms > 0 {
        run.created_unix_ms
    } else {
        run.points.iter().map(|p| p.start_time_unix_ms).min().unwrap_or(0)
    };
    row(&mut s, "date", "date", (utc_datetime(date), 1));
    row(&mut s, "target", "target", over_cfg(&|c| target(&c.target)));
    if let Some(w) = &run.workload_file {
        row(&mut s, "workload", "workload file", (w.display().to_string(), 1));
    }
    let topics = over_cfg(&|c| {
        c.topics.iter().map(|t| format!("{} ({} partitions)", t.name, t.partitions)).collect::<Vec<_>>().join(", ")
    });
    row(&mut s, "topics", "topics", topics);
    row(&mut s, "record_size", "record size", over_cfg(&|c| record_size(&c.record_size)));
    row(&mut s, "payload", "payload / keys", over_cfg(&|c| format!("{} / {}", compact(&c.payload), compact(&c.keys))));
    let rate = over_cfg(&|c| match &c.rate_control {
        Some(crate::workbench::workload::RateControl::Ramp(r)) => format!(
            "ramp: {} records/s, +{} every {} s{} ({})",
            r.start,
            r.increment,
            r.every_s,
            r.max.map_or(String::new(), |m| format!(", at most {m}")),
            compact(&c.arrival)
        ),
        _ => c
            .rate_records_per_s
            .map_or("max (closed loop)".into(), |r| format!("{r} records/s ({})", compact(&c.arrival))),
    });
    row(&mut s, "rate", "target rate", rate);
    let tasks = over_cfg(&|c| {
        format!(
            "{} producer(s) × {} task(s), ≤ {} in flight per task{}",
            c.producers,
            c.tasks_per_producer,
            c.max_outstanding_per_task,
            c.worker_threads.map_or(String::new(), |n| format!(", on {n} worker thread(s)"))
        )
    });
    row(&mut s, "tasks", "producers", tasks);
    row(
        &mut s,
        "duration",
        "duration (planned)",
        over_cfg(&|c| match c.stop {
            StopAfter::Duration(d) => secs(d),
            StopAfter::Records(n) => format!("{n} records"),
        }),
    );
    let measured: Vec<f64> = run.points.iter().map(|p| p.duration_s).collect();
    if !measured.is_empty() {
        let lo = measured.iter().copied().fold(f64::MAX, f64::min);
        let hi = measured.iter().copied().fold(f64::MIN, f64::max);
        let v = if (hi - lo).abs() < 0.0005 { format!("{lo:.3} s") } else { format!("{lo:.3}–{hi:.3} s") };
        row(&mut s, "duration_measured", "duration (measured, per point)", (v, 1));
    }
    row(&mut s, "warmup", "warm-up", over_cfg(&|c| secs(c.warmup)));
    let repeats = run.points.iter().map(|p| p.repeat + 1).max().unwrap_or(0);
    let names = distinct(run.points.iter().map(|p| p.name.clone())).1;
    row(&mut s, "points", "points", (format!("{names} × {repeats} repeat(s)"), 1));
    s.push_str("</table>");

    // The producer: every property the workload set plus the usual suspects, then everything in a <details>.
    let mut keys: Vec<String> = KEY_PROPS.iter().map(|k| k.to_string()).collect();
    for c in &cfgs {
        for k in c.producer_props.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    s.push_str("<table id=\"producer-settings\" class=\"settings\"><caption>Producer settings</caption>");
    for k in &keys {
        let v = distinct(run.points.iter().filter_map(|p| prop(p, k)));
        if v.1 > 0 {
            row(&mut s, k, k, v);
        }
    }
    s.push_str("</table>");
    let mut all: Vec<&String> = run.points.iter().flat_map(|p| p.producer_config.keys()).collect();
    all.sort();
    all.dedup();
    if !all.is_empty() {
        let _ = write!(
            s,
            "<details id=\"producer-config-all\"><summary>All {} effective producer properties</summary>\
             <table class=\"settings\">",
            all.len()
        );
        for k in all {
            row(&mut s, k, k, distinct(run.points.iter().filter_map(|p| prop(p, k))));
        }
        s.push_str("</table></details>");
    }
    s.push_str("</div>");

    // The files.
    s.push_str("<p id=\"files\" class=\"files\"><b>Files:</b> ");
    let mut links: Vec<String> = Vec::new();
    let mut link = |path: &str, text: &str| {
        links.push(format!("<a class=\"file\" href=\"{}\">{}</a>", esc(&href(path)), esc(text)));
    };
    if files.result_json {
        link("result.json", "result.json");
    }
    link("results.csv", "results.csv");
    link("summary.md", "summary.md");
    if files.workload_yaml {
        link("workload.yaml", "workload.yaml");
    }
    if files.flamegraph {
        link("flamegraph.svg", "flamegraph.svg");
    }
    s.push_str(&links.join(" · "));
    s.push_str("</p>");
    if !files.intervals.is_empty() {
        s.push_str("<details id=\"interval-logs\"><summary>HDR interval logs (per point and repeat)</summary><ul>");
        for (dir, logs) in &files.intervals {
            let _ = write!(s, "<li>intervals/{}/: ", esc(dir));
            let ls: Vec<String> = logs
                .iter()
                .map(|l| {
                    let path = format!("intervals/{dir}/{l}");
                    format!("<a class=\"file\" href=\"{}\">{}</a>", esc(&href(&path)), esc(l))
                })
                .collect();
            s.push_str(&ls.join(" "));
            s.push_str("</li>");
        }
        s.push_str("</ul></details>");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbench::report::tests::grid_run;
    use crate::workbench::workload::Workload;

    /// The grid run with each point's resolved workload and effective producer configuration.
    fn configured_run() -> RunResult {
        let yaml = "name: grid\ntopic: t\npartitions: 3\nrecord_size: {fixed: 100}\nduration_s: 4\nwarmup_s: 2\n\
                    rate: 5000\nproducer: {acks: all, compression.type: lz4}\ntarget: {embedded: {brokers: 1}}\n";
        let base = Workload::parse(yaml, Path::new("grid.yaml")).unwrap().expand().unwrap().remove(0).workload;
        let mut run = grid_run();
        run.created_unix_ms = 1_795_619_717_133;
        for p in &mut run.points {
            let mut w = base.clone();
            for (k, v) in &p.dims {
                w.producer_props.insert(k.clone(), v.clone());
            }
            p.producer_config = w.producer_props.clone();
            p.producer_config.insert("enable.idempotence".into(), "true".into());
            p.producer_config.insert("sasl.jaas.config".into(), "secret-password".into());
            p.config = Some(w);
            p.duration_s = 4.0;
        }
        run
    }

    #[test]
    fn header_names_producer_settings_record_size_target_date_duration_and_warmup() {
        let h = section(&configured_run(), &RunFiles::default());
        let setting = |key: &str| {
            let start = h.find(&format!("data-key=\"{key}\"")).unwrap_or_else(|| panic!("no setting {key} in {h}"));
            let end = start + h[start..].find("</tr>").unwrap();
            h[start..end].to_string()
        };
        assert!(setting("acks").contains("<td>all</td>"), "{}", setting("acks"));
        assert!(setting("compression.type").contains("<td>lz4</td>"));
        assert!(setting("enable.idempotence").contains("true"));
        let linger = setting("linger.ms");
        assert!(linger.contains("0, 5") && linger.contains("varies"), "{linger}");
        assert!(setting("batch.size").contains("16384, 65536"));
        assert!(setting("record_size").contains("100 B"));
        assert!(setting("target").contains("embedded mock broker (1 broker"), "{}", setting("target"));
        assert!(setting("date").contains("2026-11-25 15:15:17 UTC"), "{}", setting("date"));
        assert!(setting("duration").contains("4 s"));
        assert!(setting("duration_measured").contains("4.000 s"));
        assert!(setting("warmup").contains("2 s"));
        assert!(setting("topics").contains("t (3 partitions)"));
        assert!(h.contains("id=\"producer-config-all\""));
        assert!(!h.contains("secret-password"), "secrets stay hidden");
    }

    #[test]
    fn links_only_to_files_that_exist() {
        let dir = std::env::temp_dir().join(format!("kprod-report-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = configured_run();
        run.save(&dir).unwrap();
        crate::workbench::report::write_report(&run, &dir).unwrap();
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        for f in ["result.json", "results.csv", "summary.md"] {
            assert!(html.contains(&format!("class=\"file\" href=\"{f}\"")), "no link to {f}");
        }
        assert!(!html.contains("href=\"workload.yaml\"") && !html.contains("interval-logs"), "not there, not linked");

        std::fs::write(dir.join("workload.yaml"), "name: grid\n").unwrap();
        let iv = dir.join("intervals").join("batch.size=16384-linger.ms=0-r0");
        std::fs::create_dir_all(&iv).unwrap();
        std::fs::write(iv.join("response_time_us.hlog"), "").unwrap();
        crate::workbench::report::regenerate(&dir).unwrap();
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(html.contains("class=\"file\" href=\"workload.yaml\""));
        assert!(html.contains("href=\"intervals/batch.size=16384-linger.ms=0-r0/response_time_us.hlog\""), "{html}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hrefs_are_percent_encoded() {
        assert_eq!(href("intervals/a b#c/x.hlog"), "intervals/a%20b%23c/x.hlog");
    }
}
