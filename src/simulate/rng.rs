//! The simulator's own pseudo-random generator: xoshiro256** seeded through splitmix64.
//!
//! Written here rather than taken from `rand` on purpose: the stream of a seed must stay
//! byte-identical across crate upgrades (benchmarks and bug reports quote seeds), and `rand`
//! does not promise stable output of its generators or of its range sampling across versions.

/// One step of splitmix64: a good 64-bit mixer, used to derive seeds.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stateless hash of a few words, for choices that must not depend on draw order.
///
/// Each word goes into the fully mixed output of the words before it. (XORing the words into
/// splitmix's counter, as this did before, left the state of `(seed, index)` a small offset of
/// that of `(seed + 1, index - 1)` and the like, so nearby seeds gave the same workers under
/// other ids.)
pub(crate) fn mix(words: &[u64]) -> u64 {
    let mut out = 0x5157_4F52_4B48_5253; // "WORKHRS" in ASCII, any constant works
    for &word in words {
        let mut state = out ^ word;
        out = splitmix64(&mut state);
    }
    out
}

/// xoshiro256** (Blackman and Vigna): fast, 256 bits of state, passes BigCrush.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for one independent stream, e.g. `(seed, worker, STREAM_SCHEDULE)`.
    pub(crate) fn from_words(words: &[u64]) -> Rng {
        let mut state = mix(words);
        let s = [
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
        ];
        Rng { s }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `lo..=hi` (multiply-shift; the bias of at most 2^-64 * span is irrelevant here).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = (hi - lo) as u64 as u128 + 1;
        lo + ((self.next_u64() as u128 * span) >> 64) as i64
    }

    /// Skewed toward `lo` (the minimum of two uniforms): most trips are short, a few long.
    pub(crate) fn range_low(&mut self, lo: i64, hi: i64) -> i64 {
        self.range(lo, hi).min(self.range(lo, hi))
    }

    /// Skewed toward `hi` (the maximum of two uniforms).
    pub(crate) fn range_high(&mut self, lo: i64, hi: i64) -> i64 {
        self.range(lo, hi).max(self.range(lo, hi))
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index drawn with the given weights (not all zero).
    pub(crate) fn pick(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut roll = self.range(0, i64::from(total) - 1) as u32;
        for (index, &weight) in weights.iter().enumerate() {
            if roll < weight {
                return index;
            }
            roll -= weight;
        }
        weights.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_never_change() {
        // Pinned outputs: if these change, every published seed gives a different stream.
        let mut rng = Rng::from_words(&[1]);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            [
                0x396E_7FD0_E0DB_825B,
                0x1E2B_C2FE_35F4_7C9B,
                0xA4C4_7B8E_8885_041A
            ]
        );
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn nearby_words_never_collide() {
        // Seeds and worker indices are small neighbours: (seed, i) and (seed + 1, i + 1), or
        // (seed, i) and (i, seed), must still name unrelated streams.
        let mut seen = std::collections::HashMap::new();
        for seed in 0..64u64 {
            for index in 0..64u64 {
                for stream in 0..4u64 {
                    let words = [seed, index, stream];
                    if let Some(earlier) = seen.insert(mix(&words), words) {
                        panic!("mix({earlier:?}) == mix({words:?})");
                    }
                }
            }
        }
        for (a, b) in [([1, 2], [2, 1]), ([0, 1], [1, 2]), ([5, 0], [4, 1])] {
            assert_ne!(mix(&a), mix(&b), "{a:?} {b:?}");
        }
    }

    #[test]
    fn ranges_stay_inside_and_cover() {
        let mut rng = Rng::from_words(&[7, 8]);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = rng.range(3, 7);
            assert!((3..=7).contains(&v));
            seen[(v - 3) as usize] = true;
            assert!((0.0..1.0).contains(&rng.unit()));
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(rng.range(5, 5), 5);
    }
}
