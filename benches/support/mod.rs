//! Shared bench set-up: criterion with the pprof flamegraph profiler attached.
//!
//! pprof 0.15's `criterion` feature builds only against criterion 0.5. We keep criterion 0.8 (current, maintained)
//! and implement criterion's `Profiler` trait here around `pprof::ProfilerGuard` — about thirty lines. With
//! `--profile-time N`, criterion calls `start_profiling`/`stop_profiling` and we write `flamegraph.svg` into the
//! benchmark's output directory.
#![allow(dead_code)]

use std::fs::File;
use std::path::Path;

use criterion::Criterion;
use criterion::profiler::Profiler;

/// Writes a flamegraph of each profiled benchmark.
pub struct FlamegraphProfiler<'a> {
    frequency_hz: i32,
    guard: Option<pprof::ProfilerGuard<'a>>,
}

impl FlamegraphProfiler<'_> {
    pub fn new(frequency_hz: i32) -> Self {
        FlamegraphProfiler { frequency_hz, guard: None }
    }
}

impl Profiler for FlamegraphProfiler<'_> {
    fn start_profiling(&mut self, _benchmark_id: &str, _benchmark_dir: &Path) {
        match pprof::ProfilerGuardBuilder::default()
            .frequency(self.frequency_hz)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
        {
            Ok(g) => self.guard = Some(g),
            Err(e) => eprintln!("flamegraph: cannot start the profiler: {e}"),
        }
    }

    fn stop_profiling(&mut self, benchmark_id: &str, benchmark_dir: &Path) {
        let Some(guard) = self.guard.take() else { return };
        let result = guard.report().build().map_err(|e| e.to_string()).and_then(|report| {
            std::fs::create_dir_all(benchmark_dir).map_err(|e| e.to_string())?;
            let path = benchmark_dir.join("flamegraph.svg");
            let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            report.flamegraph(file).map_err(|e| e.to_string())?;
            Ok(path)
        });
        match result {
            Ok(path) => eprintln!("flamegraph of {benchmark_id}: {}", path.display()),
            Err(e) => eprintln!("flamegraph of {benchmark_id} failed: {e}"),
        }
    }
}

/// Criterion tuned for short runs on a noisy 2-core machine, with the flamegraph profiler attached.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(20)
        .with_profiler(FlamegraphProfiler::new(997))
}
