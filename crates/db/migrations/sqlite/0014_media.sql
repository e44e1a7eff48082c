-- Seed 000's audio_data and video_data (issue 16): what a probe of an audio or
-- video output found when it was stored (duration, codec, sample rate, channels,
-- frame rate, frames, bit rate), as JSON; NULL for other files and for files
-- stored without ffprobe.
ALTER TABLE assets ADD COLUMN media TEXT;
