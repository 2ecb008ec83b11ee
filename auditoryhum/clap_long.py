"""CLAP's audio-tower inputs for a clip too long to hold: the ones ``ClapFeatureExtractor`` would
make from the whole clip, made while reading it block by block.

For a clip longer than its 10 s window the fused CLAP extractor ("fusion" truncation, the
published checkpoints' setting) computes the log-mel spectrogram of the whole clip (1024-sample
Hann frames every 480 samples, centred with mirrored ends, 64 torchaudio-style mel bands, dB) and
keeps four 1001-frame images of it: the whole spectrogram shrunk to 1001 frames by bilinear
interpolation, and three crops starting at random frames drawn from the front, middle and back
thirds. Holding the clip and its spectrogram costs about 130 MB a minute of audio.

Every one of those frames depends on its own 1024 samples only, the crops' starts depend only on
the clip's length (and numpy's random state, seeded as for every clip), and each row of the shrunk
image blends two frames. So the frames needed - about 5,000 whatever the length - are known before
reading, and only they are computed, by the same ``transformers`` spectrogram function, as the
clip streams past: memory stays flat and a long clip takes a fraction of the time. The result
equals the extractor's to float rounding (the tests compare them). With "rand_trunc" truncation the
extractor keeps one random 10 s window, and only that window is read.
"""

from __future__ import annotations

import numpy as np

from .audio import REFLECT, LongAudio, frame_stretches

#: clips longer than this reach CLAP as a LongAudio; shorter ones go through the extractor whole
STREAM_ABOVE_SECONDS = 60.0
#: frames whose samples are held at once while the clip streams past (about 40 s at 48 kHz)
FRAMES_PER_STRETCH = 4096
#: the crops of the fused input: front, middle and back thirds of the possible starts
CROPS = 3


def long_clip_inputs(extractor, long: LongAudio) -> tuple[np.ndarray, bool]:
    """``(input_features of one clip, is_longer)`` as ``extractor(whole clip)`` gives them - shape
    (4, 1001, 64) for fusion, (1, frames, 64) for rand_trunc - for a clip longer than the
    extractor's window, with numpy's random state where the caller seeded it."""
    if long.samples <= extractor.nb_max_samples:
        raise ValueError(f"{long.path}: {long.samples} samples is not longer than CLAP's window")
    if extractor.truncation == "rand_trunc":
        return _random_window_inputs(extractor, long), True
    if extractor.truncation != "fusion":
        raise ValueError(f"CLAP truncation {extractor.truncation!r} is neither fusion nor rand_trunc")
    return _fusion_inputs(extractor, long)


def _random_window_inputs(extractor, long: LongAudio) -> np.ndarray:
    window = extractor.nb_max_samples
    start = np.random.randint(0, long.samples - window + 1)
    samples = long.window(start, window).astype(np.float64)
    return extractor._np_extract_fbank_features(samples, extractor.mel_filters_slaney)[None, :]


def _fusion_inputs(extractor, long: LongAudio) -> tuple[np.ndarray, bool]:
    hop, frame = extractor.hop_length, extractor.fft_window_size
    total = 1 + long.samples // hop
    chunk = extractor.nb_max_samples // hop + 1
    if total == chunk:  # a clip less than a hop longer than the window is used whole, as "not longer"
        raise ValueError(f"{long.path}: within a hop of CLAP's window; the extractor takes it whole")
    starts = _crop_starts(total, chunk)
    shrink_rows, shrink_weights = _shrink_rows(total, chunk)
    needed = np.unique(np.concatenate([np.arange(start, start + chunk) for start in starts]
                                      + [shrink_rows.ravel()]))
    mel = np.empty((needed.shape[0], extractor.feature_size), np.float32)
    for first, samples in frame_stretches(long, frame, hop, FRAMES_PER_STRETCH, REFLECT):
        lo, hi = np.searchsorted(needed, [first, first + FRAMES_PER_STRETCH])
        for run in _runs(needed[lo:hi]):
            offset = (run[0] - first) * hop
            positions = np.arange(lo, lo + run.shape[0])
            mel[positions] = _log_mel(extractor, samples[offset: offset + (run.shape[0] - 1) * hop + frame])
            lo += run.shape[0]

    def rows(frames: np.ndarray) -> np.ndarray:
        return mel[np.searchsorted(needed, frames)]

    upper, lower = rows(shrink_rows[:, 0]), rows(shrink_rows[:, 1])
    shrunk = upper * shrink_weights[:, :1] + lower * shrink_weights[:, 1:]
    crops = [rows(np.arange(start, start + chunk)) for start in starts]
    return np.stack([shrunk] + crops), True


def _crop_starts(total: int, chunk: int) -> list[int]:
    """The extractor's three random crop starts, drawn in its order from the same random state."""
    thirds = np.array_split(list(range(0, total - chunk + 1)), CROPS)
    return [int(np.random.choice(third if len(third) else [0])) for third in thirds]


def _shrink_rows(total: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``chunk`` rows of the shrunk image, the two source frames and their weights, as
    torch's bilinear interpolation (align_corners=False) computes them for float32: the source
    position is ``scale * (row + 0.5) - 0.5`` rounded once (a fused multiply-add; the product is
    exact in float64)."""
    scale = np.float32(total) / np.float32(chunk)
    source = (np.float64(scale) * (np.arange(chunk) + 0.5) - 0.5).astype(np.float32)
    source = np.maximum(source, np.float32(0))
    upper = source.astype(np.int64)
    lower = np.minimum(upper + 1, total - 1)
    weight_lower = source - upper.astype(np.float32)
    weights = np.stack([np.float32(1) - weight_lower, weight_lower], axis=1)
    return np.stack([upper, lower], axis=1), weights


def _runs(frames: np.ndarray) -> list[np.ndarray]:
    """Sorted frame indices cut into runs of consecutive ones."""
    if frames.shape[0] == 0:
        return []
    return np.split(frames, np.flatnonzero(np.diff(frames) != 1) + 1)


def _log_mel(extractor, samples: np.ndarray) -> np.ndarray:
    """The extractor's fusion log-mel frames of ``samples`` already framed (no centring): (frames, bands)."""
    from transformers.audio_utils import spectrogram, window_function

    return spectrogram(samples.astype(np.float64), window_function(extractor.fft_window_size, "hann"),
                       frame_length=extractor.fft_window_size, hop_length=extractor.hop_length, power=2.0,
                       mel_filters=extractor.mel_filters, log_mel="dB", center=False).T
