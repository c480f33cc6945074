//! The maximum sustainable rate search: `rate: {search: {...}}`, and OMB's `producerRate: 0`.
//!
//! OpenMessaging Benchmark, given `producerRate: 0`, starts at 10,000 messages/s and lets a controller move the
//! rate every 3 s for the whole test (up while the publish and consume backlogs stay small, by a factor that halves
//! after each overshoot; down when they grow or a p99 target set in its environment is missed). kprod measures a
//! producer only, and wants a number that does not depend on how long the controller had, so it searches in short,
//! separate open-loop steps instead:
//!
//! 1. **Bracket.** Run a step at `start`; while steps pass, double the rate; while they fail before any passed,
//!    halve it.
//! 2. **Bisect** between the highest passing rate `lo` and the lowest failing rate `hi` until
//!    `hi − lo ≤ precision × lo`.
//!
//! A step passes when the producer keeps up — records sent and acknowledged ≥ 95 % of the step's rate, the step
//! ends within 10 % of its planned time (acks did not lag), schedule lag p99 ≤ `lag_p99_ms_max` — and, when set,
//! response time p99 ≤ `p99_ms_max`. The answer is `lo`: the true limit (as the criteria define it) lies in
//! `[lo, hi)`, so it is at most `precision` above `lo`. Steps to get there: ⌈log₂(limit / start)⌉ + 1 to bracket,
//! then ⌈log₂(1 / precision)⌉ to bisect (5 for 5 %); each costs `step_warmup_s + step_s` plus a fresh producer
//! (and embedded cluster). The search stops early at `max_steps` or before a step would end past `max_s`, and
//! says so. Every step is kept ([`SearchResult::steps`]), drawn as a throughput–latency curve in the report.

use std::fmt::Write;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::report::svg::{Axis, Chart, Series, esc};
use super::result::PointResult;
use super::runner::{TARGET_RATE_MIN_FRACTION, thousands};
use super::workload::RateSearch;

/// One step of a search: the rate asked for, what was reached, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchStep {
    /// Records/s intended.
    pub rate: f64,
    /// Records acknowledged per second of the measured phase (its real duration).
    pub achieved_records_per_s: f64,
    pub response_time_us_p50: u64,
    pub response_time_us_p99: u64,
    pub schedule_lag_us_p99: u64,
    pub pass: bool,
    /// Why it passed or failed, in words.
    pub why: String,
    /// 1, or 2.. when a failed step was run again at the same rate (`retries`).
    #[serde(default = "one")]
    pub attempt: u32,
}

fn one() -> u32 {
    1
}

/// A whole search: its criteria, every step in order, and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The point searched (its name in `points`).
    pub point: String,
    pub criteria: RateSearch,
    pub steps: Vec<SearchStep>,
    /// The highest rate that passed (records/s); `None` when none did.
    pub max_sustainable_rate: Option<f64>,
    /// The lowest rate that failed; `None` when none did (the search ran out of steps or time first).
    pub lowest_failing_rate: Option<f64>,
    /// `(lowest failing − highest passing) / highest passing` when the search ended: how far above the answer the
    /// limit may lie.
    pub precision_reached: Option<f64>,
    /// Why the search ended: `precision reached`, `max_steps`, `max_s`, `nothing passes`, `interrupted`.
    pub ended: String,
    pub elapsed_s: f64,
}

impl SearchResult {
    /// One line for the console and the report.
    pub fn summary(&self) -> String {
        let steps = self.steps.len();
        match (self.max_sustainable_rate, self.lowest_failing_rate) {
            (Some(lo), Some(hi)) => format!(
                "maximum sustainable rate {} records/s (between {} and {}: within {:.1} %), {steps} steps in {:.1} s; \
                 ended: {}",
                thousands(lo),
                thousands(lo),
                thousands(hi),
                100.0 * (hi - lo) / lo,
                self.elapsed_s,
                self.ended
            ),
            (Some(lo), None) => format!(
                "sustained {} records/s, no step failed (the limit is higher), {steps} steps in {:.1} s; ended: {}",
                thousands(lo),
                self.elapsed_s,
                self.ended
            ),
            (None, _) => format!(
                "no rate was sustained (lowest tried {}), {steps} steps in {:.1} s; ended: {}",
                self.steps.iter().map(|s| s.rate).fold(f64::INFINITY, f64::min).min(f64::MAX),
                self.elapsed_s,
                self.ended
            ),
        }
    }
}

/// The verdict on a step that ran at `rate` for `planned` (measured phase): [`SearchStep`] with pass and why.
pub fn judge(criteria: &RateSearch, rate: f64, planned: Duration, r: &PointResult) -> SearchStep {
    let mut step = SearchStep {
        rate,
        achieved_records_per_s: r.rate_records_per_s,
        response_time_us_p50: r.response_time_us_p50,
        response_time_us_p99: r.response_time_us_p99,
        schedule_lag_us_p99: r.schedule_lag_us_p99,
        pass: false,
        why: String::new(),
        attempt: 1,
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let sent = r.records_sent as f64 / planned.as_secs_f64().max(1e-9);
    let acked = r.rate_records_per_s;
    let overrun = planned.mul_f64(super::runner::DURATION_OVERRUN_FRACTION).max(super::runner::DURATION_OVERRUN_MIN);
    let mut fails = Vec::new();
    if let Some(f) = &r.failure {
        fails.push(format!("failed: {f}"));
    }
    if r.records_failed > 0 {
        fails.push(format!("{} records failed", r.records_failed));
    }
    if sent < TARGET_RATE_MIN_FRACTION * rate || acked < TARGET_RATE_MIN_FRACTION * rate {
        fails.push(format!("fell behind: {:.0} % sent, {:.0} % acked", 100.0 * sent / rate, 100.0 * acked / rate));
    }
    if Duration::from_secs_f64(r.duration_s.max(0.0)) > planned + overrun {
        fails.push(format!("acks lagged: ran {:.2} s for {:.2} s", r.duration_s, planned.as_secs_f64()));
    }
    if ms(r.schedule_lag_us_p99) > criteria.lag_p99_ms_max {
        fails.push(format!("schedule lag p99 {:.1} ms > {} ms", ms(r.schedule_lag_us_p99), criteria.lag_p99_ms_max));
    }
    if let Some(max) = criteria.p99_ms_max
        && ms(r.response_time_us_p99) > max
    {
        fails.push(format!("p99 {:.2} ms > {max} ms", ms(r.response_time_us_p99)));
    }
    step.pass = fails.is_empty();
    step.why = if step.pass {
        let objective = criteria.p99_ms_max.map_or(String::new(), |m| format!(" ≤ {m} ms"));
        format!(
            "kept up: {:.1} % acked, lag p99 {:.2} ms, p99 {:.2} ms{objective}",
            100.0 * acked / rate,
            ms(r.schedule_lag_us_p99),
            ms(r.response_time_us_p99)
        )
    } else {
        fails.join("; ")
    };
    step
}

/// Runs the search: `step(rate)` runs and judges one step (`None` when interrupted), `progress` sees each verdict.
pub async fn search<F, Fut, E>(
    point: &str,
    criteria: &RateSearch,
    mut step: F,
    mut progress: impl FnMut(usize, &SearchStep),
) -> Result<SearchResult, E>
where
    F: FnMut(f64) -> Fut,
    Fut: Future<Output = Result<Option<SearchStep>, E>>,
{
    let started = Instant::now();
    let step_time = Duration::from_secs_f64(criteria.step_warmup_s + criteria.step_s);
    let max_time = Duration::from_secs_f64(criteria.max_s);
    let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
    let mut steps = Vec::new();
    let mut rate = criteria.start.round().max(1.0);
    let ended = 'search: loop {
        if steps.len() >= criteria.max_steps as usize {
            break "max_steps";
        }
        if started.elapsed() + step_time > max_time {
            break "max_s";
        }
        let Some(mut s) = step(rate).await? else { break "interrupted" };
        // A failed step may run again (`retries`): one stall of a shared machine should not end the bracket.
        while !s.pass
            && s.attempt <= criteria.retries
            && steps.len() + 1 < criteria.max_steps as usize
            && started.elapsed() + step_time <= max_time
        {
            progress(steps.len(), &s);
            let attempt = s.attempt + 1;
            steps.push(s);
            match step(rate).await? {
                Some(again) => s = SearchStep { attempt, ..again },
                None => break 'search "interrupted",
            }
        }
        progress(steps.len(), &s);
        if s.pass {
            lo = Some(lo.map_or(rate, |l: f64| l.max(rate)));
        } else {
            hi = Some(hi.map_or(rate, |h: f64| h.min(rate)));
        }
        steps.push(s);
        rate = match (lo, hi) {
            (Some(l), Some(h)) if h - l <= criteria.precision * l => break "precision reached",
            (Some(l), Some(h)) => ((l + h) / 2.0).round(),
            (Some(l), None) => (l * 2.0).round(),
            (None, Some(h)) if h <= 1.0 => break "nothing passes",
            (None, Some(h)) => (h / 2.0).round().max(1.0),
            (None, None) => unreachable!("every step passes or fails"),
        };
    };
    Ok(SearchResult {
        point: point.to_string(),
        criteria: criteria.clone(),
        steps,
        max_sustainable_rate: lo,
        lowest_failing_rate: hi,
        precision_reached: lo.zip(hi).map(|(l, h)| (h - l) / l),
        ended: ended.to_string(),
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The report's section: per search, the throughput–latency curve of its steps and their table.
pub fn html_section(searches: &[SearchResult]) -> String {
    let mut s = String::new();
    if searches.is_empty() {
        return s;
    }
    s.push_str("<h2>Rate search</h2>");
    for (i, r) in searches.iter().enumerate() {
        let _ =
            write!(s, "<p id=\"search-{i}\"><b>{}</b>: {}</p><div class=\"charts\">", esc(&r.point), esc(&r.summary()));
        let ms = |us: u64| us as f64 / 1000.0;
        let mut series = Vec::new();
        for (name, pass) in [("pass", true), ("fail", false)] {
            for (metric, f) in [
                ("p50", (|s: &SearchStep| s.response_time_us_p50) as fn(&SearchStep) -> u64),
                ("p99", |s| s.response_time_us_p99),
            ] {
                let steps: Vec<&SearchStep> = r.steps.iter().filter(|s| s.pass == pass).collect();
                if steps.is_empty() {
                    continue;
                }
                let mut pts: Vec<(f64, f64, String)> = steps
                    .iter()
                    .map(|s| (s.achieved_records_per_s, ms(f(s)).max(0.001), format!("{}/s", thousands(s.rate))))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                series.push(Series {
                    name: format!("{metric} ({name})"),
                    points: pts.iter().map(|p| (p.0, p.1)).collect(),
                    labels: if metric == "p99" { pts.iter().map(|p| p.2.clone()).collect() } else { vec![] },
                    line: pass,
                });
            }
        }
        let chart = Chart {
            id: format!("search-curve-{i}"),
            title: format!("Rate search steps: {}", r.point),
            x: Axis::linear("acknowledged rate (records/s)"),
            y: Axis::log("response time (ms)"),
            series,
            x_band: None,
        };
        s.push_str(&chart.render());
        s.push_str("</div><table><tr><th>step</th><th>rate records/s</th><th>acked records/s</th><th>p50 ms</th>");
        s.push_str("<th>p99 ms</th><th>lag p99 ms</th><th>verdict</th></tr>");
        for (n, st) in r.steps.iter().enumerate() {
            let _ = write!(
                s,
                "<tr class=\"search-step\"><td>{}{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td>\
                 <td style=\"text-align:left\">{} — {}</td></tr>",
                n + 1,
                if st.attempt > 1 { format!(" (attempt {})", st.attempt) } else { String::new() },
                thousands(st.rate),
                thousands(st.achieved_records_per_s),
                ms(st.response_time_us_p50),
                ms(st.response_time_us_p99),
                ms(st.schedule_lag_us_p99),
                if st.pass { "pass" } else { "fail" },
                esc(&st.why)
            );
        }
        s.push_str("</table>");
    }
    s
}

/// The same as markdown, for summary.md.
pub fn markdown(searches: &[SearchResult]) -> String {
    let mut s = String::new();
    for r in searches {
        let _ = writeln!(s, "\n## Rate search: {}\n\n{}\n", r.point, r.summary());
        s.push_str("| step | rate records/s | acked records/s | p50 ms | p99 ms | lag p99 ms | verdict |\n");
        s.push_str("|---:|---:|---:|---:|---:|---:|---|\n");
        for (n, st) in r.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {}: {} |",
                n + 1,
                thousands(st.rate),
                thousands(st.achieved_records_per_s),
                st.response_time_us_p50 as f64 / 1e3,
                st.response_time_us_p99 as f64 / 1e3,
                st.schedule_lag_us_p99 as f64 / 1e3,
                if st.pass { "pass" } else { "fail" },
                st.why
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step against a producer whose capacity is `cap` records/s: below it, it keeps up with latency growing as
    /// it fills; above it, it acks `cap` only.
    fn fake(criteria: &RateSearch, cap: f64, rate: f64) -> SearchStep {
        let planned = Duration::from_secs_f64(criteria.step_s);
        let acked = rate.min(cap);
        let load = (rate / cap).min(1.0);
        let r = PointResult {
            records_sent: (rate * criteria.step_s) as u64,
            rate_records_per_s: acked,
            duration_s: criteria.step_s,
            response_time_us_p50: (500.0 / (1.0 - 0.9 * load)) as u64,
            response_time_us_p99: (2000.0 / (1.0 - 0.95 * load)) as u64,
            ..PointResult::default()
        };
        judge(criteria, rate, planned, &r)
    }

    async fn run(criteria: &RateSearch, cap: f64) -> SearchResult {
        search("p", criteria, |rate| async move { Ok::<_, ()>(Some(fake(criteria, cap, rate))) }, |_, _| {})
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn finds_the_capacity_within_the_precision() {
        let criteria = RateSearch::default();
        for cap in [3_000.0, 37_000.0, 123_456.0, 1_000_000.0] {
            let r = run(&criteria, cap).await;
            let (lo, hi) = (r.max_sustainable_rate.unwrap(), r.lowest_failing_rate.unwrap());
            // Passing needs ≥ 95 % acked: the limit the criteria define is cap / 0.95.
            let limit = cap / TARGET_RATE_MIN_FRACTION;
            assert!(lo <= limit && limit < hi, "cap {cap}: [{lo}, {hi})");
            assert!((hi - lo) / lo <= criteria.precision + 1e-9, "cap {cap}: [{lo}, {hi})");
            assert_eq!(r.ended, "precision reached");
            // Bracket ⌈log₂(limit/start)⌉ + 1 steps (or halvings), then ≤ ⌈log₂(1/precision)⌉ + 1 bisections.
            let bracket = (limit / criteria.start).log2().abs().ceil() as usize + 1;
            assert!(r.steps.len() <= bracket + 6, "cap {cap}: {} steps", r.steps.len());
            assert!(r.steps.iter().all(|s| s.pass == (s.rate <= limit)), "{:?}", r.steps);
        }
    }

    #[tokio::test]
    async fn the_latency_objective_lowers_the_answer() {
        // p99 = 2 ms / (1 − 0.95 load): 10 ms at load 0.842, so the answer is ~84 % of the capacity.
        let criteria = RateSearch { p99_ms_max: Some(10.0), ..RateSearch::default() };
        let r = run(&criteria, 100_000.0).await;
        let lo = r.max_sustainable_rate.unwrap();
        assert!((80_000.0..=84_300.0).contains(&lo), "{lo}");
        let failed = r.steps.iter().find(|s| !s.pass && s.rate < 95_000.0).expect("a step fails on p99 alone");
        assert!(failed.why.contains("p99") && failed.why.contains("> 10 ms"), "{}", failed.why);
        assert!(r.steps.iter().filter(|s| s.pass).all(|s| s.why.starts_with("kept up")));
    }

    #[tokio::test]
    async fn a_failed_step_is_retried_when_asked() {
        // The first attempt at every rate fails (a stall); the second tells the truth.
        let criteria = RateSearch { retries: 1, ..RateSearch::default() };
        let tried = std::sync::Mutex::new(Vec::<f64>::new());
        let r = search(
            "p",
            &criteria,
            |rate| {
                let first = !tried.lock().unwrap().contains(&rate);
                tried.lock().unwrap().push(rate);
                let mut s = fake(&criteria, 50_000.0, rate);
                if first {
                    s.pass = false;
                    s.why = "stalled".into();
                }
                async move { Ok::<_, ()>(Some(s)) }
            },
            |_, _| {},
        )
        .await
        .unwrap();
        let lo = r.max_sustainable_rate.unwrap();
        assert!((50_000.0 / 1.05..=50_000.0 / 0.95).contains(&lo), "{lo}");
        assert!(r.steps.iter().all(|s| (s.attempt == 1) == (s.why == "stalled")), "{:?}", r.steps);
        // Without retries the first stall ends the bracket low.
        let no_retry = run(&RateSearch::default(), 50_000.0).await;
        assert!(no_retry.steps.iter().all(|s| s.attempt == 1));
    }

    #[tokio::test]
    async fn bounded_by_steps_and_time() {
        let criteria = RateSearch { max_steps: 3, ..RateSearch::default() };
        let r = run(&criteria, 1e6).await;
        assert_eq!((r.steps.len(), r.ended.as_str()), (3, "max_steps"));
        assert_eq!(r.lowest_failing_rate, None);
        assert_eq!(r.max_sustainable_rate, Some(40_000.0), "10k, 20k, 40k all pass");
        // A step is planned at 3 s (1 s warm-up + 2 s): with 2.5 s allowed, none may start.
        let criteria = RateSearch { max_s: 2.5, ..RateSearch::default() };
        let r = run(&criteria, 1e6).await;
        assert_eq!((r.steps.len(), r.ended.as_str()), (0, "max_s"));
        // Nothing passes: halving down to 1 record/s, then it gives up.
        let criteria = RateSearch { start: 16.0, ..RateSearch::default() };
        let r = run(&criteria, 0.5).await;
        assert_eq!((r.max_sustainable_rate, r.ended.as_str()), (None, "nothing passes"));
        assert_eq!(r.steps.iter().map(|s| s.rate).collect::<Vec<_>>(), vec![16.0, 8.0, 4.0, 2.0, 1.0]);
        assert!(r.summary().contains("no rate was sustained"), "{}", r.summary());
    }
}
