"""auditoryhum.audio: what is read of a file - all of it, its window, or block by block - gives the
samples a whole-file read gives."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from auditoryhum.audio import (
    REFLECT,
    ZEROS,
    AudioReadError,
    AudioSettings,
    LongAudio,
    frame_stretches,
    load_audio,
    load_clip,
    read_start,
    resampled_length,
    stream_audio,
)


def write_noise(path, seconds: float, rate: int, channels: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = (0.2 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)
    sf.write(path, data, rate, subtype="PCM_16")
    return str(path)


@pytest.mark.parametrize("file_rate, channels, rate", [(16000, 1, 16000), (44100, 2, 16000), (16000, 1, 22050),
                                                      (48000, 2, 48000)])
def test_streamed_blocks_and_a_windows_start_are_the_samples_of_a_whole_read(tmp_path, file_rate, channels, rate):
    path = write_noise(tmp_path / "a.wav", 7.3, file_rate, channels)
    whole = load_audio(path, rate)
    assert whole.shape[0] == resampled_length(sf.info(path).frames, file_rate, rate)
    for block_frames in (1000, 1 << 18):
        blocks = list(stream_audio(path, rate, block_frames=block_frames))
        assert all(block.dtype == np.float32 for block in blocks)
        assert np.array_equal(np.concatenate(blocks), whole)
    for seconds in (0.5, 3.0, 7.3, 20.0):
        n = round(seconds * rate)
        start, longer = read_start(path, rate, n)
        assert np.array_equal(start, whole[:n]) and longer == (whole.shape[0] > n)


def test_a_long_clip_in_pieces_is_the_whole_clip_cut(tmp_path):
    path = write_noise(tmp_path / "a.wav", 9.0, 44100, 2)
    long = LongAudio.of(path, 22050)
    whole = load_audio(path, 22050)
    assert long.samples == whole.shape[0]
    sizes = [long.samples // 3 + 1, long.samples // 3, long.samples - 2 * (long.samples // 3) - 1]
    pieces = list(long.pieces(sizes))
    assert [p.shape[0] for p in pieces] == sizes and np.array_equal(np.concatenate(pieces), whole)
    with pytest.raises(ValueError):
        list(long.pieces([1, 2]))


def test_a_windowed_model_reads_only_its_window_and_a_streaming_one_gets_the_file_unread(tmp_path, monkeypatch,
                                                                                          caplog):
    path = write_noise(tmp_path / "a.wav", 12.0, 16000)
    whole = load_audio(path, 16000)
    asked = []
    real_read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, frames=-1, *args, **kw: asked.append(frames) or
                        real_read(self, frames, *args, **kw))
    windowed = AudioSettings("windowed", 16000, max_audio_seconds=2.0, min_audio_seconds=None)
    caplog.set_level("INFO")
    clip = load_clip(windowed, path)
    assert sum(asked) <= 32001, "read more than the window"
    assert clip.cut and np.array_equal(clip.audio, whole[:32000])
    assert "12.0 s long; windowed hears only the first 2 s" in caplog.text

    asked.clear()
    streaming = AudioSettings("streaming", 16000, None, None, stream_above_seconds=5.0)
    clip = load_clip(streaming, path)
    assert isinstance(clip.audio, LongAudio) and clip.audio.samples == 12 * 16000 and asked == []
    short = load_clip(streaming, write_noise(tmp_path / "b.wav", 4.0, 16000))
    assert isinstance(short.audio, np.ndarray) and short.audio.shape == (64000,)


def test_a_file_that_ends_before_its_header_says_fails_when_its_pieces_are_read(tmp_path):
    path = write_noise(tmp_path / "a.wav", 4.0, 16000)
    long = LongAudio.of(path, 16000)
    damaged = LongAudio(long.path, long.sampling_rate, long.samples + 500)
    with pytest.raises(AudioReadError, match="not the 64500 its header announces"):
        list(damaged.pieces([32250, 32250]))
    for announced in (long.samples + 500, long.samples - 500):  # ends early, or goes on past it
        with pytest.raises(AudioReadError, match=f"decoded to .* not the {announced} its header announces"):
            list(frame_stretches(LongAudio(long.path, long.sampling_rate, announced), 1024, 480, 50, REFLECT))


def test_a_window_of_a_long_clip_is_its_samples_there_and_a_short_file_is_named(tmp_path):
    path = write_noise(tmp_path / "a.wav", 4.0, 16000)
    whole = load_audio(path, 16000)
    long = LongAudio.of(path, 16000)
    for start, length in ((0, 100), (1000, 50000), (64000 - 7, 7), (12345, 40000)):
        assert np.array_equal(long.window(start, length), whole[start: start + length])
    with pytest.raises(AudioReadError, match="decoded to 64000 samples at 16000 Hz"):
        long.window(63000, 2000)


@pytest.mark.parametrize("pad", [ZEROS, REFLECT])
def test_frame_stretches_hold_the_centred_frames_of_the_whole_clip(tmp_path, pad):
    path = write_noise(tmp_path / "a.wav", 3.3, 16000)
    whole = load_audio(path, 16000)
    padded = np.pad(whole, 512, mode="reflect" if pad == REFLECT else "constant")
    frames = [padded[i * 480: i * 480 + 1024] for i in range(1 + whole.shape[0] // 480)]
    streamed = []
    for first, samples in frame_stretches(LongAudio.of(path, 16000), 1024, 480, 7, pad):
        assert first == len(streamed)
        streamed += [samples[i * 480: i * 480 + 1024] for i in range(1 + (samples.shape[0] - 1024) // 480)]
    assert len(streamed) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(streamed, frames))
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioReadError, match="cannot decode audio"):
        list(stream_audio(str(tmp_path / "empty.wav"), 16000))
