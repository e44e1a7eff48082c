//! Deterministic noise for the bench's made-up pictures (3D, thumbnails).

/// A small, fast generator of noise (xorshift64*), the same on every run.
pub struct Noise(pub u64);

impl Noise {
    /// Uniform in -amplitude..=amplitude.
    pub fn next(&mut self, amplitude: i32) -> i32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
        (value % (2 * amplitude as u64 + 1)) as i32 - amplitude
    }
}
