//! CPU profiling of a run's measured phases into one `flamegraph.svg` (`kprod run --profile`).
//!
//! The sampling profiler (pprof, `SIGPROF` at [`FREQUENCY_HZ`] by default, `--profile-hz` to change it) runs only while a point is measured: it starts when
//! the point's warm-up ends and stops when the point finishes (drain included), so set-up, warm-up and report
//! writing stay out of the picture. The reports of all points are merged into one flame graph; every thread of the
//! process is sampled, the embedded mock broker's included (its frames sit under `kprod::broker`).
//!
//! Samples that land inside libc, libgcc, pthread or the vDSO are dropped (pprof's blocklist: unwinding from a
//! signal handler through them can deadlock), so time in system calls is under-represented: read the graph for
//! where kprod's own code spends CPU, and the sample count in its title for how much was kept.

use std::path::{Path, PathBuf};

/// Samples per second of CPU time (default of `--profile-hz`). Prime, so it does not beat with periodic work (the
/// 1 s collector, linger timers).
pub const FREQUENCY_HZ: i32 = 997;

/// Highest `--profile-hz`: pprof's timer takes whole microseconds and the signal handler's cost grows with it.
pub const FREQUENCY_HZ_MAX: i32 = 10_000;

/// What a run's profile holds, kept in result.json (`profile`) so the report can say what the graph is made of.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileInfo {
    /// The sampling frequency asked for (samples per second of CPU time, per process).
    pub hz: i32,
    /// Samples kept in `flamegraph.svg` (those inside libc, libgcc, pthread and the vDSO are dropped).
    pub samples: u64,
    /// Wall seconds sampled (the measured phases of the points).
    pub sampled_s: f64,
    /// The profiled points' acknowledged rate (records acked / seconds measured, over all of them): compare it
    /// with a run without `--profile` for what profiling costs.
    pub records_per_s: f64,
    /// CPU seconds the process spent in the measured phases (all threads): `hz × cpu_s` samples were asked for.
    #[serde(default)]
    pub cpu_s: f64,
}

impl ProfileInfo {
    /// `4210 samples at 997 Hz over 2.7 s (1559/s), 38 % of 997 Hz × 5.4 CPU-s; profiled points acked 98000
    /// records/s`, plus why fewer samples than asked came, when that is so.
    pub fn describe(&self) -> String {
        let per_s = if self.sampled_s > 0.0 { self.samples as f64 / self.sampled_s } else { 0.0 };
        let asked = f64::from(self.hz) * self.cpu_s;
        let share = if asked > 0.0 {
            format!(", {:.0} % of {} Hz × {:.1} CPU-s", 100.0 * self.samples as f64 / asked, self.hz, self.cpu_s)
        } else {
            String::new()
        };
        let mut s = format!(
            "{} samples at {} Hz over {:.1} s ({per_s:.0}/s){share}; profiled points acked {:.0} records/s",
            self.samples, self.hz, self.sampled_s, self.records_per_s
        );
        if asked > 0.0 && (self.samples as f64) < 0.5 * asked {
            s.push_str(
                "; fewer samples than asked: the kernel sends SIGPROF at most once per tick (CONFIG_HZ) per busy \
                 core, and samples in libc/vDSO are dropped: lengthen duration_s for more",
            );
        }
        s
    }
}

/// Why profiling failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error("cannot start the CPU profiler: {0}")]
    Start(String),
    #[error("cannot build the profile report: {0}")]
    Report(String),
    #[error("{path}: cannot write the flame graph: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// Profile samples merged over the measured phases of a run.
pub struct RunProfile {
    hz: i32,
    /// The first phase's report, with every later phase's samples and duration added.
    merged: Option<pprof::Report>,
}

impl std::fmt::Debug for RunProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunProfile").field("samples", &self.samples()).finish()
    }
}

/// A running profiler (one at a time per process).
pub struct Sampling(pprof::ProfilerGuard<'static>);

impl std::fmt::Debug for Sampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampling")
    }
}

impl RunProfile {
    /// A profile sampled at `hz` (clamped to 1..=[`FREQUENCY_HZ_MAX`]).
    pub fn new(hz: i32) -> RunProfile {
        RunProfile { hz: hz.clamp(1, FREQUENCY_HZ_MAX), merged: None }
    }

    /// The sampling frequency.
    pub fn hz(&self) -> i32 {
        self.hz
    }

    /// Wall seconds sampled so far.
    pub fn sampled_s(&self) -> f64 {
        self.merged.as_ref().map_or(0.0, |m| m.timing.duration.as_secs_f64())
    }

    /// Starts sampling every thread of the process.
    pub fn start(&self) -> Result<Sampling, ProfileError> {
        pprof::ProfilerGuardBuilder::default()
            .frequency(self.hz)
            // Unwinding through these from a signal handler can deadlock or crash.
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map(Sampling)
            .map_err(|e| ProfileError::Start(e.to_string()))
    }

    /// Stops sampling and adds the samples to the run's profile.
    pub fn stop(&mut self, sampling: Sampling) -> Result<(), ProfileError> {
        let report = sampling.0.report().build().map_err(|e| ProfileError::Report(e.to_string()))?;
        drop(sampling);
        match &mut self.merged {
            None => self.merged = Some(report),
            Some(m) => {
                m.timing.duration += report.timing.duration;
                for (frames, count) in report.data {
                    *m.data.entry(frames).or_insert(0) += count;
                }
            }
        }
        Ok(())
    }

    /// Number of samples collected.
    pub fn samples(&self) -> u64 {
        self.merged.as_ref().map_or(0, |m| m.data.values().map(|c| (*c).max(0) as u64).sum())
    }

    /// Writes the merged flame graph to `path`.
    pub fn write_flamegraph(&self, path: &Path, title: &str) -> Result<(), ProfileError> {
        let write_err = |reason: String| ProfileError::Write { path: path.to_path_buf(), reason };
        let Some(report) = &self.merged else { return Err(write_err("no samples were taken".into())) };
        let file = std::fs::File::create(path).map_err(|e| write_err(e.to_string()))?;
        let mut options = pprof::flamegraph::Options::default();
        options.title = format!(
            "{title}: CPU of the measured phases ({:.1} s, {} samples at {} Hz)",
            report.timing.duration.as_secs_f64(),
            self.samples(),
            self.hz
        );
        report
            .flamegraph_with_options(std::io::BufWriter::new(file), &mut options)
            .map_err(|e| write_err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_states_frequency_samples_share_and_why_fewer_came() {
        let full = ProfileInfo { hz: 997, samples: 1900, sampled_s: 2.0, records_per_s: 98_000.4, cpu_s: 2.0 };
        assert_eq!(
            full.describe(),
            "1900 samples at 997 Hz over 2.0 s (950/s), 95 % of 997 Hz × 2.0 CPU-s; profiled points acked 98000 records/s"
        );
        let capped = ProfileInfo { samples: 472, sampled_s: 2.7, cpu_s: 5.4, ..full };
        let said = capped.describe();
        assert!(said.starts_with("472 samples at 997 Hz over 2.7 s (175/s), 9 % of 997 Hz × 5.4 CPU-s;"), "{said}");
        assert!(
            said.contains("at most once per tick (CONFIG_HZ) per busy core") && said.contains("duration_s"),
            "{said}"
        );
        // Results written before `cpu_s` existed load, and say nothing of a share.
        let old: ProfileInfo =
            serde_json::from_str(r#"{"hz": 997, "samples": 10, "sampled_s": 1.0, "records_per_s": 5.0}"#).unwrap();
        assert_eq!(old.describe(), "10 samples at 997 Hz over 1.0 s (10/s); profiled points acked 5 records/s");
    }
}
