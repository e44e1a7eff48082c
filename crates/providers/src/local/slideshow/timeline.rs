//! When each image shows: equal shares of the video, one after the other, with
//! cross-fades centred on the cuts (so a cross-fade takes half its time from each
//! image, and the video's length does not depend on it). An image's motion runs
//! over the whole time it is seen, fades included, so it never stops while it
//! fades out.

/// The video's frames laid over its images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    images: usize,
    frames: u64,
    fps: f64,
    /// Each image's share, in seconds.
    share: f64,
    /// The cross-fade, in seconds (at most half a share).
    transition: f64,
}

/// What a frame shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shown {
    /// One image, at this point of its motion (0 to 1).
    One { image: usize, progress: f64 },
    /// Image `to` fading in over image `to - 1`, `alpha` of the way (0 to 1).
    Fade { to: usize, alpha: f64, from_progress: f64, to_progress: f64 },
}

impl Shown {
    /// The first image the frame needs (those before it are done with).
    pub fn first_image(&self) -> usize {
        match *self {
            Self::One { image, .. } => image,
            Self::Fade { to, .. } => to.saturating_sub(1),
        }
    }
}

impl Timeline {
    /// `images` ≥ 1 sharing `frames` ≥ 1 at `fps`; the transition is held to at
    /// most half a share.
    pub fn new(images: usize, frames: u64, fps: f64, transition: f64) -> Self {
        let images = images.max(1);
        let frames = frames.max(1);
        let share = frames as f64 / fps / images as f64;
        let transition = if transition.is_finite() { transition.clamp(0.0, share / 2.0) } else { 0.0 };
        Self { images, frames, fps, share, transition }
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn duration(&self) -> f64 {
        self.frames as f64 / self.fps
    }

    /// The cross-fade actually used (held to half a share).
    pub fn transition(&self) -> f64 {
        self.transition
    }

    /// What frame `frame` shows, taken at the middle of its time.
    pub fn at(&self, frame: u64) -> Shown {
        let t = (frame as f64 + 0.5) / self.fps;
        let last = self.images - 1;
        let cut = (t / self.share).round() as usize;
        let half = self.transition / 2.0;
        if half > 0.0 && (1..=last).contains(&cut) {
            let at = cut as f64 * self.share;
            if (t - at).abs() < half {
                let linear = (t - (at - half)) / self.transition;
                return Shown::Fade {
                    to: cut,
                    alpha: smoothstep(linear),
                    from_progress: self.progress(cut - 1, t),
                    to_progress: self.progress(cut, t),
                };
            }
        }
        let image = ((t / self.share).floor() as usize).min(last);
        Shown::One { image, progress: self.progress(image, t) }
    }

    /// How far image `image` is through the time it is seen (fades included).
    fn progress(&self, image: usize, t: f64) -> f64 {
        let half = self.transition / 2.0;
        let start = if image == 0 { 0.0 } else { image as f64 * self.share - half };
        let end = if image + 1 >= self.images { self.duration() } else { (image + 1) as f64 * self.share + half };
        if end <= start { 0.0 } else { ((t - start) / (end - start)).clamp(0.0, 1.0) }
    }
}

/// An eased cross-fade: it leaves and reaches each image gently.
fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_share_the_frames_and_fade_across_the_cuts() {
        // 3 images, 1 s each at 10 fps, 0.4 s fades.
        let timeline = Timeline::new(3, 30, 10.0, 0.4);
        let shown: Vec<Shown> = (0..30).map(|frame| timeline.at(frame)).collect();
        assert!(matches!(shown[0], Shown::One { image: 0, .. }));
        assert!(matches!(shown[7], Shown::One { image: 0, .. }));
        // Frames 8 to 11 (0.85 s to 1.15 s) cross the first cut.
        for (frame, shown) in shown.iter().enumerate().take(12).skip(8) {
            assert!(matches!(shown, Shown::Fade { to: 1, .. }), "{frame}: {shown:?}");
        }
        assert!(matches!(shown[12], Shown::One { image: 1, .. }));
        assert!(matches!(shown[29], Shown::One { image: 2, .. }));
        let alphas: Vec<f64> =
            shown[8..=11].iter().map(|s| if let Shown::Fade { alpha, .. } = s { *alpha } else { -1.0 }).collect();
        assert!(alphas.windows(2).all(|pair| pair[0] < pair[1]), "{alphas:?}");
        assert!((alphas[0] + alphas[3] - 1.0).abs() < 1e-9, "symmetric about the cut: {alphas:?}");
        assert_eq!(shown[9].first_image(), 0);
        assert_eq!(timeline.duration(), 3.0);
    }

    #[test]
    fn motion_runs_through_the_fades() {
        let timeline = Timeline::new(2, 20, 10.0, 0.4);
        let progress = |frame| match timeline.at(frame) {
            Shown::One { progress, .. } => progress,
            Shown::Fade { to_progress, .. } => to_progress,
        };
        let values: Vec<f64> = (0..20).map(progress).collect();
        assert!(values[0] > 0.0 && values[0] < 0.1, "{values:?}");
        assert!(values[19] > 0.9 && values[19] <= 1.0, "{values:?}");
        // The second image is already moving while it fades in.
        let Shown::Fade { from_progress, to_progress, .. } = timeline.at(9) else { panic!("a fade") };
        assert!(from_progress > 0.75 && to_progress > 0.0 && to_progress < 0.2, "{from_progress} {to_progress}");
    }

    #[test]
    fn cuts_and_one_image_never_fade() {
        let cuts = Timeline::new(3, 30, 10.0, 0.0);
        assert!((0..30).all(|frame| matches!(cuts.at(frame), Shown::One { .. })));
        let one = Timeline::new(1, 7, 30.0, 0.5);
        assert!((0..7).all(|frame| matches!(one.at(frame), Shown::One { image: 0, .. })));
        // A transition longer than half a share is held to it.
        assert_eq!(Timeline::new(2, 20, 10.0, 5.0).transition(), 0.5);
    }
}
