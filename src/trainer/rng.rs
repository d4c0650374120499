//! A seeded random generator (SplitMix64) with Box-Muller normals. Its whole state is one
//! `u64`, saved with checkpoints so a resumed run draws the same noise and timesteps.

use candle_core::{Device, Tensor};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in 0..n (n > 0), by rejection so every value is equally likely.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// `n` standard normal values.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let u1 = 1.0 - self.uniform();
            let u2 = self.uniform();
            let r = (-2.0 * u1.ln()).sqrt();
            let t = std::f64::consts::TAU * u2;
            out.push((r * t.cos()) as f32);
            out.push((r * t.sin()) as f32);
        }
        out.truncate(n);
        out
    }

    pub fn randn(
        &mut self,
        shape: &[usize],
        std: f64,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let n = shape.iter().product();
        let v: Vec<f32> = self
            .normals(n)
            .into_iter()
            .map(|x| x * std as f32)
            .collect();
        Tensor::from_vec(v, shape, device)
    }

    /// Uniform in [-bound, bound).
    pub fn rand_uniform(
        &mut self,
        shape: &[usize],
        bound: f64,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| ((self.uniform() * 2.0 - 1.0) * bound) as f32)
            .collect();
        Tensor::from_vec(v, shape, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_have_unit_moments_and_replay_from_state() {
        let mut r = Rng::new(7);
        let v = r.normals(20_000);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
        let mut a = Rng::new(r.state());
        let mut b = Rng::new(r.state());
        assert_eq!(a.normals(5), b.normals(5));
        let counts = (0..3000).fold([0usize; 3], |mut c, _| {
            c[a.below(3) as usize] += 1;
            c
        });
        assert!(counts.iter().all(|&c| c > 900), "{counts:?}");
    }
}
