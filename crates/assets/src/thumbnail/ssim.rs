//! SSIM (structural similarity) of two pictures of the same size, over their luma:
//! how the thumbnails' tests and the bench (`--only thumbnails`) judge a lossy
//! thumbnail against the resize it was encoded from, and the peers' thumbnails
//! against the same reference.
//!
//! Luma is BT.601 (`0.299 R + 0.587 G + 0.114 B`, alpha ignored); windows are 8×8,
//! every 4 pixels across and down; the constants are the paper's (`K1` 0.01, `K2`
//! 0.03, range 255), and the result is the mean over the windows: 1 for identical
//! pictures, lower as they differ. Plain windows rather than Wang et al.'s Gaussian
//! ones, so figures are close to, not equal to, other tools'.

/// Window side and step.
const WINDOW: usize = 8;
const STEP: usize = 4;

/// The SSIM of two 8-bit pictures of `width`×`height`, each with `channels` bytes a
/// pixel (3 for RGB, 4 for RGBA; the first three are read). `None` when a buffer is
/// not that size, or the picture is smaller than one window.
pub fn ssim(a: &[u8], b: &[u8], width: usize, height: usize, channels: usize) -> Option<f64> {
    let len = width.checked_mul(height)?.checked_mul(channels)?;
    if channels < 3 || a.len() != len || b.len() != len || width < WINDOW || height < WINDOW {
        return None;
    }
    let (la, lb) = (luma(a, channels), luma(b, channels));
    let (c1, c2) = ((0.01_f64 * 255.0).powi(2), (0.03_f64 * 255.0).powi(2));
    let n = (WINDOW * WINDOW) as f64;
    let (mut sum, mut windows) = (0.0, 0usize);
    for y in (0..=height - WINDOW).step_by(STEP) {
        for x in (0..=width - WINDOW).step_by(STEP) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for row in y..y + WINDOW {
                let start = row * width + x;
                for (&pa, &pb) in la[start..start + WINDOW].iter().zip(&lb[start..start + WINDOW]) {
                    sa += pa;
                    sb += pb;
                    saa += pa * pa;
                    sbb += pb * pb;
                    sab += pa * pb;
                }
            }
            let (ma, mb) = (sa / n, sb / n);
            // Sample variances and covariance (n - 1), as the reference implementation.
            let va = (saa - sa * ma) / (n - 1.0);
            let vb = (sbb - sb * mb) / (n - 1.0);
            let cov = (sab - sa * mb) / (n - 1.0);
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    Some(sum / windows as f64)
}

fn luma(pixels: &[u8], channels: usize) -> Vec<f64> {
    pixels
        .chunks_exact(channels)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(width: usize, height: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                out.extend([f(x, y); 3]);
            }
        }
        out
    }

    #[test]
    fn identical_pictures_score_one_and_noise_scores_lower() {
        let a = picture(32, 32, |x, y| ((x * 7 + y * 3) % 256) as u8);
        assert!((ssim(&a, &a, 32, 32, 3).expect("same size") - 1.0).abs() < 1e-9);
        let noisy = picture(32, 32, |x, y| ((x * 7 + y * 3) % 256) as u8 ^ (((x * 31 + y * 17) % 5) as u8 * 8));
        let score = ssim(&a, &noisy, 32, 32, 3).expect("same size");
        assert!(score < 0.99 && score > 0.0, "{score}");
        let inverted = picture(32, 32, |x, y| 255 - ((x * 7 + y * 3) % 256) as u8);
        assert!(ssim(&a, &inverted, 32, 32, 3).expect("same size") < 0.5);
    }

    #[test]
    fn mismatched_or_tiny_pictures_have_no_score() {
        let a = picture(8, 8, |_, _| 9);
        assert_eq!(ssim(&a, &a[..a.len() - 3], 8, 8, 3), None);
        assert_eq!(ssim(&a[..12], &a[..12], 2, 2, 3), None);
    }
}
