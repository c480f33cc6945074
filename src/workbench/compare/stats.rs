//! The statistics behind `kprod compare`: a two-stage (repeat, then block) bootstrap confidence interval of the
//! relative change of a location statistic, and the shape checks (drift, bimodality) that warn about samples the
//! interval should not be trusted on.
//!
//! Samples come in groups, one group per repeat of a point (a separate run of the point, with its own broker and
//! producer). Seconds inside a repeat share its state (machine load, where the run happened to land), so they are
//! neither independent nor exchangeable with another repeat's seconds. The bootstrap therefore resamples the way
//! the data were made: first whole repeats with replacement (the between-run noise), then, inside each drawn
//! repeat, circular blocks of consecutive seconds (the within-run noise, keeping short-range autocorrelation).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Bootstrap resamples per interval: enough for stable 0.5 % and 99.5 % quantiles (≈10 draws beyond each).
pub const RESAMPLES: usize = 2000;

/// The location statistic of a pooled sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Median,
    Mean,
}

impl Stat {
    pub fn of(self, v: &mut [f64]) -> f64 {
        match self {
            Stat::Median => median(v),
            Stat::Mean => v.iter().sum::<f64>() / v.len().max(1) as f64,
        }
    }
}

/// The median (mean of the two middle values for an even count); NaN for an empty slice. Sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// The `q` quantile (0..=1) of sorted values, linear between order statistics.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Block length for a repeat of `n` seconds: ⌈n^(1/3)⌉, the usual order for a moving-block bootstrap.
pub fn block_len(n: usize) -> usize {
    ((n as f64).cbrt().ceil() as usize).clamp(1, n.max(1))
}

/// One two-stage resample of `groups` pooled into `out`: as many repeats as there are, drawn with replacement;
/// from each, as many seconds as it has, in circular blocks of consecutive seconds.
fn resample_into(groups: &[Vec<f64>], rng: &mut SmallRng, out: &mut Vec<f64>) {
    out.clear();
    for _ in 0..groups.len() {
        let g = &groups[rng.gen_range(0..groups.len())];
        let n = g.len();
        let l = block_len(n);
        let mut taken = 0;
        while taken < n {
            let start = rng.gen_range(0..n);
            for k in 0..l.min(n - taken) {
                out.push(g[(start + k) % n]);
            }
            taken += l;
        }
    }
}

/// The confidence interval of the relative change `stat(new) / stat(base) − 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The point estimate from the data as measured.
    pub change: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Percentile bootstrap interval at `confidence` (0.99 = the 0.5 % and 99.5 % quantiles of the resampled
/// changes). `None` when a side has no samples or a zero statistic. Deterministic for a given `seed`.
pub fn bootstrap_change(
    base: &[Vec<f64>],
    new: &[Vec<f64>],
    stat: Stat,
    confidence: f64,
    seed: u64,
) -> Option<Interval> {
    let base: Vec<Vec<f64>> = base.iter().filter(|g| !g.is_empty()).cloned().collect();
    let new: Vec<Vec<f64>> = new.iter().filter(|g| !g.is_empty()).cloned().collect();
    if base.is_empty() || new.is_empty() {
        return None;
    }
    let pooled = |gs: &[Vec<f64>]| -> Vec<f64> { gs.iter().flatten().copied().collect() };
    let (b0, n0) = (stat.of(&mut pooled(&base)), stat.of(&mut pooled(&new)));
    if !(b0.is_finite() && n0.is_finite()) || b0 == 0.0 {
        return None;
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut rb, mut rn) = (Vec::new(), Vec::new());
    let mut changes = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        resample_into(&base, &mut rng, &mut rb);
        resample_into(&new, &mut rng, &mut rn);
        let b = stat.of(&mut rb);
        if b != 0.0 {
            changes.push(stat.of(&mut rn) / b - 1.0);
        }
    }
    changes.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    Some(Interval {
        change: n0 / b0 - 1.0,
        lo: quantile_sorted(&changes, tail),
        hi: quantile_sorted(&changes, 1.0 - tail),
    })
}

/// Student's t quantile at 0.995 (two-sided 99 %) for `df` degrees of freedom, interpolated in 1/df between
/// tabulated values; the normal 2.576 for infinite df.
pub fn t995(df: f64) -> f64 {
    const TABLE: [(f64, f64); 14] = [
        (1.0, 63.657),
        (2.0, 9.925),
        (3.0, 5.841),
        (4.0, 4.604),
        (5.0, 4.032),
        (6.0, 3.707),
        (7.0, 3.499),
        (8.0, 3.355),
        (10.0, 3.169),
        (12.0, 3.055),
        (15.0, 2.947),
        (20.0, 2.845),
        (30.0, 2.750),
        (60.0, 2.660),
    ];
    if !df.is_finite() || df > 60.0 {
        let (d, t) = TABLE[TABLE.len() - 1];
        // Between 60 and infinity, linear in 1/df towards 2.576.
        return if df.is_finite() { 2.576 + (t - 2.576) * d / df } else { 2.576 };
    }
    let df = df.max(1.0);
    for w in TABLE.windows(2) {
        let ((d0, t0), (d1, t1)) = (w[0], w[1]);
        if df <= d1 {
            let f = (1.0 / d0 - 1.0 / df) / (1.0 / d0 - 1.0 / d1);
            return t0 + (t1 - t0) * f;
        }
    }
    TABLE[TABLE.len() - 1].1
}

/// The 99 % Welch t-interval of the ratio of geometric means `new / base − 1`, from the logarithms of a few
/// values a side (one per repeat): the small-sample interval, wide with 2 or 3 repeats as it should be, where a
/// bootstrap over 3 values would be far too narrow. `None` with fewer than 2 values a side or a value ≤ 0.
pub fn welch_log_change(base: &[f64], new: &[f64]) -> Option<Interval> {
    if base.len() < 2 || new.len() < 2 || base.iter().chain(new).any(|v| *v <= 0.0 || !v.is_finite()) {
        return None;
    }
    let moments = |v: &[f64]| {
        let l: Vec<f64> = v.iter().map(|x| x.ln()).collect();
        let n = l.len() as f64;
        let m = l.iter().sum::<f64>() / n;
        (m, l.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0), n)
    };
    let ((mb, vb, nb), (mn, vn, nn)) = (moments(base), moments(new));
    let (eb, en) = (vb / nb, vn / nn);
    let se = (eb + en).sqrt();
    let df = if se == 0.0 { f64::INFINITY } else { (eb + en).powi(2) / (eb * eb / (nb - 1.0) + en * en / (nn - 1.0)) };
    let d = mn - mb;
    let t = t995(df);
    Some(Interval { change: d.exp() - 1.0, lo: (d - t * se).exp() - 1.0, hi: (d + t * se).exp() - 1.0 })
}

/// A stable 64-bit seed from text (FNV-1a), so each point and metric gets its own bootstrap stream.
pub fn seed_of(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A change of level inside the repeats: the median of each repeat's second half against its first half.
/// Returns the mean relative shift when every repeat of at least 4 seconds moves the same way, by more than
/// `min_shift` (0.1 = 10 %) on average; `None` otherwise.
pub fn drift(groups: &[Vec<f64>], min_shift: f64) -> Option<f64> {
    let shifts: Vec<f64> = groups
        .iter()
        .filter(|g| g.len() >= 4)
        .filter_map(|g| {
            let h = g.len() / 2;
            let (a, b) = (median(&mut g[..h].to_vec()), median(&mut g[g.len() - h..].to_vec()));
            (a != 0.0).then(|| b / a - 1.0)
        })
        .collect();
    if shifts.is_empty() {
        return None;
    }
    let same_sign = shifts.iter().all(|s| *s > 0.0) || shifts.iter().all(|s| *s < 0.0);
    let mean = shifts.iter().sum::<f64>() / shifts.len() as f64;
    (same_sign && mean.abs() > min_shift).then_some(mean)
}

/// Two separated clusters in the pooled samples: the widest gap between sorted values that leaves at least a
/// fifth of them on each side, when it is wider than `min_gap` (relative to the median) and wider than either
/// cluster's own range. Returns the two clusters' medians. Needs at least 8 samples.
pub fn bimodal(values: &[f64], min_gap: f64) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 8 {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let med = quantile_sorted(&v, 0.5).abs();
    let min_side = n.div_ceil(5);
    let split = (min_side..=n - min_side)
        .max_by(|&a, &b| (v[a] - v[a - 1]).total_cmp(&(v[b] - v[b - 1])))
        .filter(|&i| i > 0 && i < n)?;
    let gap = v[split] - v[split - 1];
    let (low, high) = (&v[..split], &v[split..]);
    let range = |s: &[f64]| s[s.len() - 1] - s[0];
    (med > 0.0 && gap / med > min_gap && gap > range(low) && gap > range(high))
        .then(|| (quantile_sorted(low, 0.5), quantile_sorted(high, 0.5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_quantiles_blocks() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
        assert_eq!(quantile_sorted(&[0.0, 10.0], 0.25), 2.5);
        assert_eq!((block_len(1), block_len(4), block_len(8), block_len(9)), (1, 2, 2, 3));
        assert_ne!(seed_of(&["a", "bc"]), seed_of(&["ab", "c"]));
    }

    fn groups(level: f64, wobble: f64, repeats: usize, secs: usize) -> Vec<Vec<f64>> {
        // Deterministic "noise": a repeat offset and a per-second zig-zag.
        (0..repeats)
            .map(|r| {
                let off = level * wobble * (r as f64 - (repeats as f64 - 1.0) / 2.0);
                (0..secs).map(|s| level + off + level * wobble * if s % 2 == 0 { 0.5 } else { -0.5 }).collect()
            })
            .collect()
    }

    #[test]
    fn the_interval_covers_the_true_change_and_narrows_with_less_noise() {
        let base = groups(1000.0, 0.02, 3, 8);
        let new = groups(850.0, 0.02, 3, 8);
        let i = bootstrap_change(&base, &new, Stat::Median, 0.99, 1).unwrap();
        assert!((i.change + 0.15).abs() < 1e-9, "{i:?}");
        assert!(i.lo < -0.15 && i.hi > -0.15 && i.hi < -0.05, "{i:?}");
        let noisy = bootstrap_change(&groups(1000.0, 0.2, 3, 8), &groups(850.0, 0.2, 3, 8), Stat::Median, 0.99, 1);
        let noisy = noisy.unwrap();
        assert!(noisy.hi - noisy.lo > 2.0 * (i.hi - i.lo), "{noisy:?} vs {i:?}");
        // Same seed, same interval; another seed, (almost surely) another.
        assert_eq!(bootstrap_change(&base, &new, Stat::Median, 0.99, 1).unwrap(), i);
        assert!(bootstrap_change(&[], &new, Stat::Mean, 0.99, 1).is_none());
        assert!(bootstrap_change(&[vec![0.0]], &new, Stat::Mean, 0.99, 1).is_none());
    }

    #[test]
    fn t_quantiles_and_the_welch_interval() {
        assert!((t995(3.0) - 5.841).abs() < 1e-9 && (t995(f64::INFINITY) - 2.576).abs() < 1e-9);
        assert!(t995(3.5) < t995(3.0) && t995(3.5) > t995(4.0));
        assert!(t995(100.0) > 2.576 && t995(100.0) < 2.660);
        // ln-values with sd 0.1 a side, 3 each: se = 0.1 × √(2/3), df = 4, t = 4.604 → ±37.6 % in log terms.
        let b = [100.0 * (-0.1f64).exp(), 100.0, 100.0 * 0.1f64.exp()];
        let n: Vec<f64> = b.iter().map(|v| v * 0.8).collect();
        let i = welch_log_change(&b, &n).unwrap();
        assert!((i.change + 0.2).abs() < 1e-9);
        let half = 4.604 * 0.1 * (2.0f64 / 3.0).sqrt();
        assert!((i.lo - (0.8f64.ln() - half).exp() + 1.0).abs() < 1e-6, "{i:?}");
        assert!(i.hi > 0.0, "3 repeats with 10 % noise cannot show a 20 % change at 99 %: {i:?}");
        assert!(welch_log_change(&[1.0], &[1.0, 2.0]).is_none());
        assert!(welch_log_change(&[0.0, 1.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn drift_and_bimodality() {
        let rising = vec![vec![100.0, 101.0, 130.0, 131.0], vec![99.0, 100.0, 128.0, 127.0]];
        assert!((drift(&rising, 0.1).unwrap() - 0.285).abs() < 0.01);
        let flat = vec![vec![100.0, 101.0, 99.0, 100.0], vec![100.0, 99.0, 101.0, 100.0]];
        assert_eq!(drift(&flat, 0.1), None);
        let mixed = vec![vec![100.0, 100.0, 130.0, 130.0], vec![130.0, 130.0, 100.0, 100.0]];
        assert_eq!(drift(&mixed, 0.1), None, "opposite directions are noise, not drift");

        let two = [100.0, 101.0, 99.0, 100.5, 160.0, 161.0, 159.0, 160.5, 100.2];
        let (a, b) = bimodal(&two, 0.1).unwrap();
        assert!((a - 100.0).abs() < 1.0 && (b - 160.0).abs() < 1.0);
        let one: Vec<f64> = (0..20).map(|i| 100.0 + i as f64).collect();
        assert_eq!(bimodal(&one, 0.1), None, "evenly spread is not two modes");
        let outlier = [100.0, 101.0, 99.0, 100.5, 100.2, 99.8, 100.1, 300.0];
        assert_eq!(bimodal(&outlier, 0.1), None, "one outlier is not a mode");
    }
}
