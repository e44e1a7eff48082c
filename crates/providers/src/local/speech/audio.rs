//! Samples to a file: sentences joined without clicks, 16-bit PCM WAV (always
//! available), and reading the WAV espeak-ng writes to a pipe.

use std::io::Cursor;

/// Each sentence fades in and out over this long, so joins never click (a
/// sentence that starts or ends mid-wave would otherwise step to or from zero).
const FADE_SECONDS: f32 = 0.008;

/// Mono speech being put together, one sentence after another.
#[derive(Debug, Clone)]
pub struct Track {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl Track {
    pub fn new(rate: u32) -> Self {
        Self { rate, samples: Vec::new() }
    }

    /// Appends a sentence, after `pause` seconds of silence when it is not the first.
    pub fn push_sentence(&mut self, mut sentence: Vec<f32>, pause: f32) {
        fade_edges(&mut sentence, (self.rate as f32 * FADE_SECONDS) as usize);
        if !self.samples.is_empty() {
            let gap = (self.rate as f32 * pause.max(0.0)) as usize;
            self.samples.resize(self.samples.len() + gap, 0.0);
        }
        self.samples.extend(sentence);
    }

    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate.max(1))
    }

    /// 16-bit PCM WAV, mono. Peaks over full scale are limited, never wrapped.
    pub fn to_wav(&self) -> Result<Vec<u8>, hound::Error> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = Cursor::new(Vec::with_capacity(self.samples.len() * 2 + 44));
        {
            let mut writer = hound::WavWriter::new(&mut cursor, spec)?;
            let mut samples = writer.get_i16_writer(self.samples.len() as u32);
            for sample in &self.samples {
                samples.write_sample((sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16);
            }
            samples.flush()?;
            writer.finalize()?;
        }
        Ok(cursor.into_inner())
    }
}

/// Raised-cosine fades over `len` samples at both ends.
fn fade_edges(samples: &mut [f32], len: usize) {
    let len = len.min(samples.len() / 2);
    for i in 0..len {
        let gain = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / len as f32).cos();
        samples[i] *= gain;
        let j = samples.len() - 1 - i;
        samples[j] *= gain;
    }
}

/// Mono samples from a 16-bit PCM WAV, read leniently: espeak-ng writing to a pipe
/// cannot go back to fill in the sizes, so its header claims an open-ended length;
/// the data runs to the end of what was written. Several channels are mixed down.
pub fn read_wav_lenient(bytes: &[u8]) -> Option<(Vec<f32>, u32)> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if id == b"fmt " {
            let fmt = bytes.get(body..body + 16)?;
            let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
            let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
            let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
            let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
            format = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format?;
            if tag != 1 || bits != 16 || channels == 0 || rate == 0 {
                return None;
            }
            let end = body.saturating_add(size).min(bytes.len());
            let data = &bytes[body..end];
            let channels = usize::from(channels);
            let samples = data
                .chunks_exact(2 * channels)
                .map(|frame| {
                    let sum: f32 = frame
                        .chunks_exact(2)
                        .map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32768.0)
                        .sum();
                    sum / channels as f32
                })
                .collect();
            return Some((samples, rate));
        }
        at = body.checked_add(size)?.checked_add(size % 2)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_join_with_pauses_and_faded_edges() {
        let mut track = Track::new(1000);
        track.push_sentence(vec![1.0; 100], 0.5);
        track.push_sentence(vec![1.0; 100], 0.5);
        assert_eq!(track.samples.len(), 100 + 500 + 100);
        assert_eq!(track.samples[0], 0.0);
        assert!(track.samples[50] > 0.99);
        assert!(track.samples[99] < 0.2);
        assert!(track.samples[100..600].iter().all(|s| *s == 0.0));
        assert!((track.seconds() - 0.7).abs() < 1e-9);
    }

    #[test]
    fn wav_round_trips_and_open_ended_headers_are_read() {
        let mut track = Track::new(22_050);
        track.push_sentence((0..2205).map(|i| (i as f32 / 10.0).sin() * 0.5).collect(), 0.0);
        let wav = track.to_wav().expect("wav");
        let reader = hound::WavReader::new(Cursor::new(&wav)).expect("hound reads it");
        assert_eq!(reader.spec().sample_rate, 22_050);
        assert_eq!(reader.duration(), 2205);
        // As espeak-ng writes to a pipe: the data chunk's size is unknown.
        let mut streamed = wav.clone();
        streamed[40..44].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let (samples, rate) = read_wav_lenient(&streamed).expect("lenient read");
        assert_eq!((samples.len(), rate), (2205, 22_050));
        assert!(read_wav_lenient(b"RIFF....WAVEjunk").is_none());
        assert!(read_wav_lenient(&wav[..30]).is_none());
    }
}
