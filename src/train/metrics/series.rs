//! A metric over steps (loss, its moving average, the learning rate) kept so that summarising
//! any step range into `n` columns (min, mean, max of each) costs about `n` times a constant
//! and a logarithm, not the number of points: a chart over two million points draws as fast
//! as one over two thousand.
//!
//! Points are grouped in blocks of [`BLOCK`]; a segment tree over the blocks holds each node's
//! min, max and sum, and a column's range is its partial blocks scanned plus whole blocks
//! looked up in the tree.

/// Points per block: a column's two partial blocks cost at most this each.
const BLOCK: usize = 32;

/// One column's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub count: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Agg {
    min: f64,
    max: f64,
    sum: f64,
    count: usize,
}

impl Agg {
    const EMPTY: Agg = Agg {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: 0.0,
        count: 0,
    };

    fn add(&mut self, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.count += 1;
    }

    fn merge(self, o: Agg) -> Agg {
        Agg {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            sum: self.sum + o.sum,
            count: self.count + o.count,
        }
    }

    fn bucket(self) -> Option<Bucket> {
        (self.count > 0).then(|| Bucket {
            min: self.min,
            mean: self.sum / self.count as f64,
            max: self.max,
            count: self.count,
        })
    }
}

/// Values by step, steps never decreasing.
#[derive(Debug, Clone, Default)]
pub struct Series {
    steps: Vec<u64>,
    values: Vec<f64>,
    /// The first step of each block: a column's edge is found in this small array, then in
    /// one block, instead of by a binary search over every step (cache misses at millions).
    firsts: Vec<u64>,
    /// Leaves from `cap`: one per block; node `i` merges `2i` and `2i + 1`.
    tree: Vec<Agg>,
    cap: usize,
}

impl Series {
    pub fn new() -> Series {
        Series::default()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The first and last step.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((*self.steps.first()?, *self.steps.last()?))
    }

    pub fn last(&self) -> Option<(u64, f64)> {
        Some((*self.steps.last()?, *self.values.last()?))
    }

    /// Adds a point. A step before the last one (a log read twice, a resumed run restarting its
    /// count) or a value that is not finite is not added; `false` says so.
    pub fn push(&mut self, step: u64, value: f64) -> bool {
        if !value.is_finite() || self.steps.last().is_some_and(|&s| step < s) {
            return false;
        }
        if self.steps.len().is_multiple_of(BLOCK) {
            self.firsts.push(step);
        }
        self.steps.push(step);
        self.values.push(value);
        let block = (self.values.len() - 1) / BLOCK;
        if block >= self.cap {
            self.rebuild((block + 1).next_power_of_two());
        } else {
            let mut i = self.cap + block;
            self.tree[i].add(value);
            while i > 1 {
                i /= 2;
                self.tree[i] = self.tree[2 * i].merge(self.tree[2 * i + 1]);
            }
        }
        true
    }

    fn rebuild(&mut self, cap: usize) {
        self.cap = cap;
        self.tree = vec![Agg::EMPTY; 2 * cap];
        for (b, chunk) in self.values.chunks(BLOCK).enumerate() {
            let leaf = &mut self.tree[cap + b];
            for &v in chunk {
                leaf.add(v);
            }
        }
        for i in (1..cap).rev() {
            self.tree[i] = self.tree[2 * i].merge(self.tree[2 * i + 1]);
        }
    }

    /// The number of points whose step passes `below` (true for a prefix of the steps).
    fn count_below(&self, below: impl Fn(u64) -> bool) -> usize {
        let block = self.firsts.partition_point(|&s| below(s));
        let start = block.saturating_sub(1) * BLOCK;
        let end = (block * BLOCK).min(self.steps.len());
        start + self.steps[start..end].partition_point(|&s| below(s))
    }

    /// Points `i..j` (indices) summarised.
    fn range(&self, i: usize, j: usize) -> Agg {
        let mut agg = Agg::EMPTY;
        if i >= j {
            return agg;
        }
        let (first, last) = (i.div_ceil(BLOCK), j / BLOCK);
        if first >= last {
            // Within one or two partial blocks.
            self.values[i..j].iter().for_each(|&v| agg.add(v));
            return agg;
        }
        self.values[i..first * BLOCK]
            .iter()
            .for_each(|&v| agg.add(v));
        self.values[last * BLOCK..j]
            .iter()
            .for_each(|&v| agg.add(v));
        // Whole blocks first..last, bottom-up over the tree.
        let (mut l, mut r) = (first + self.cap, last + self.cap);
        while l < r {
            if l % 2 == 1 {
                agg = agg.merge(self.tree[l]);
                l += 1;
            }
            if r % 2 == 1 {
                r -= 1;
                agg = agg.merge(self.tree[r]);
            }
            l /= 2;
            r /= 2;
        }
        agg
    }

    /// The step of the `i`th point.
    pub fn step_at(&self, i: usize) -> Option<u64> {
        self.steps.get(i).copied()
    }

    /// Steps `lo..=hi` in columns of `w` steps each (column `c` holds `lo + c*w` up to
    /// `lo + (c+1)*w`, the last one cut at `hi`), from column `from` on, each summarised
    /// (`None`: no point in it). Whole-step edges: points added after `hi` change only the
    /// columns from the one `hi` is in, so a chart that follows a growing run computes one or
    /// two columns per new point.
    pub fn columns_every(&self, lo: u64, hi: u64, w: u64, from: usize) -> Vec<Option<Bucket>> {
        if hi < lo || w == 0 {
            return Vec::new();
        }
        let count = usize::try_from((hi - lo) / w + 1).unwrap_or(usize::MAX);
        let end_step = hi.saturating_add(1);
        let edge = |c: usize| {
            let bound = lo.saturating_add(w.saturating_mul(c as u64)).min(end_step);
            self.count_below(|s| s < bound)
        };
        let mut start = edge(from);
        (from..count)
            .map(|c| {
                let end = edge(c + 1);
                let b = self.range(start, end).bucket();
                start = end;
                b
            })
            .collect()
    }

    /// Steps `lo..=hi` in `n` equal columns, each summarised (`None`: no point in it).
    pub fn columns(&self, lo: u64, hi: u64, n: usize) -> Vec<Option<Bucket>> {
        if n == 0 || hi < lo {
            return Vec::new();
        }
        let width = (hi - lo + 1) as f64 / n as f64;
        let edge = |c: usize| -> usize {
            let step = lo as f64 + width * c as f64;
            self.count_below(|s| (s as f64) < step)
        };
        let mut start = edge(0);
        (0..n)
            .map(|c| {
                let end = if c + 1 == n {
                    self.count_below(|s| s <= hi)
                } else {
                    edge(c + 1)
                };
                let b = self.range(start, end).bucket();
                start = end;
                b
            })
            .collect()
    }
}

/// One step of an exponential moving average with weight `alpha` (0..1; higher follows the raw
/// values more closely), as the chart draws it beside the raw loss.
pub fn ema(prev: Option<f64>, value: f64, alpha: f64) -> f64 {
    match prev {
        Some(p) => alpha * value + (1.0 - alpha) * p,
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same columns by looking at every point.
    fn direct(points: &[(u64, f64)], lo: u64, hi: u64, n: usize) -> Vec<Option<Bucket>> {
        let width = (hi - lo + 1) as f64 / n as f64;
        (0..n)
            .map(|c| {
                let a = lo as f64 + width * c as f64;
                let b = lo as f64 + width * (c + 1) as f64;
                let mut agg = Agg::EMPTY;
                for &(s, v) in points {
                    let s = s as f64;
                    let inside = s >= a && (s < b || (c + 1 == n && s <= hi as f64));
                    if inside && s <= hi as f64 {
                        agg.add(v);
                    }
                }
                agg.bucket()
            })
            .collect()
    }

    fn close(a: &[Option<Bucket>], b: &[Option<Bucket>]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => {
                    x.count == y.count
                        && x.min == y.min
                        && x.max == y.max
                        && (x.mean - y.mean).abs() <= 1e-9 * x.mean.abs().max(1.0)
                }
                (None, None) => true,
                _ => false,
            })
    }

    #[test]
    fn columns_match_a_direct_computation() {
        // A noisy falling loss, with repeated and skipped steps, from a fixed generator.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut points = Vec::new();
        let mut step = 0;
        for i in 0..5_000 {
            step += (next() * 3.0) as u64; // 0, 1 or 2: repeats and gaps
            points.push((step, 1.0 / (1.0 + i as f64 / 500.0) + 0.1 * next()));
        }
        let mut s = Series::new();
        for &(st, v) in &points {
            assert!(s.push(st, v));
        }
        let (first, last) = s.span().unwrap();
        for (lo, hi) in [
            (first, last),
            (0, 10),
            (100, 4_000),
            (last - 7, last),
            (3, 3),
        ] {
            for n in [1, 2, 7, 80, 333, 2_000] {
                let got = s.columns(lo, hi, n);
                let want = direct(&points, lo, hi, n);
                assert!(close(&got, &want), "lo {lo} hi {hi} n {n}");
            }
        }
        // Whole-step columns, and computing them from a column on.
        let direct_every = |lo: u64, hi: u64, w: u64| -> Vec<Option<Bucket>> {
            let count = ((hi - lo) / w + 1) as usize;
            (0..count)
                .map(|c| {
                    let a = lo + c as u64 * w;
                    let b = (a + w).min(hi + 1);
                    let mut agg = Agg::EMPTY;
                    for &(s, v) in &points {
                        if s >= a && s < b {
                            agg.add(v);
                        }
                    }
                    agg.bucket()
                })
                .collect()
        };
        for (lo, hi, w) in [(first, last, 64), (0, 10, 1), (100, 4_000, 7), (3, 3, 2)] {
            let want = direct_every(lo, hi, w);
            assert!(
                close(&s.columns_every(lo, hi, w, 0), &want),
                "{lo} {hi} {w}"
            );
            let from = want.len() / 2;
            assert!(close(&s.columns_every(lo, hi, w, from), &want[from..]));
        }
        // Growing point by point keeps the tree right (blocks filling, capacity doubling).
        let mut g = Series::new();
        for (k, &(st, v)) in points.iter().enumerate().take(700) {
            g.push(st, v);
            if k % 97 == 0 {
                let (a, b) = g.span().unwrap();
                assert!(close(
                    &g.columns(a, b, 13),
                    &direct(&points[..=k], a, b, 13)
                ));
            }
        }
    }

    #[test]
    fn out_of_order_and_non_finite_points_are_refused() {
        let mut s = Series::new();
        assert!(s.push(5, 1.0));
        assert!(!s.push(4, 1.0));
        assert!(!s.push(6, f64::NAN));
        assert!(s.push(5, 2.0));
        assert_eq!(s.len(), 2);
        assert_eq!(s.columns(5, 5, 1)[0].unwrap().mean, 1.5);
        assert_eq!(ema(None, 2.0, 0.1), 2.0);
        assert!((ema(Some(1.0), 2.0, 0.25) - 1.25).abs() < 1e-12);
    }
}
