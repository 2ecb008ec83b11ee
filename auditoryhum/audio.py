"""Loading audio files, and the one rule by which a per-file stage reads a file for its model.

Every script takes its inputs from a glob (``--filedir="*.wav"``, :mod:`auditoryhum.filelist`) and
processes them in **sorted** order; row i of every output belongs to the i-th file of that list
(docs/method.md §1).

A file that cannot be decoded (corrupt, zero-length) does not stop a feature or label run: the
loader raises :class:`AudioReadError`, the caller reports it, keeps the row and marks it (a blank
label, a NaN embedding row) so rows never shift.

A file is read whole only where the model hears all of it and the clip is short. A model with a
window (30 s for Qwen2-Audio) gets its window read and nothing more (:func:`read_start`), and a
model that pools a long clip chunk by chunk (SoundNet, the MFCC mean) gets it as a
:class:`LongAudio`, decoded and resampled block by block while the model works
(:func:`stream_audio`) - so memory does not grow with the clip. Streaming resampling gives exactly
the samples a whole-file resampling does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from .errors import one_line

log = logging.getLogger(__name__)


class AudioReadError(Exception):
    """One audio file could not be decoded; the message names the file."""


#: How a clip shorter than a model needs is brought to length: silence after it (what changes the
#: sound least, the default), or the clip repeated end to end (for a model that judges the whole
#: window, which silence would swamp).
SILENCE, REPEAT = "silence", "repeat"


def fit_to_minimum(audio: np.ndarray, sampling_rate: int | None, min_seconds: float | None,
                   fill: str = SILENCE) -> np.ndarray:
    """``audio`` brought to ``min_seconds`` by ``fill`` (the same array when long enough, or when
    there is no minimum): the one rule for clips shorter than a model accepts."""
    if min_seconds is None or sampling_rate is None:
        return audio
    length = int(np.ceil(min_seconds * sampling_rate))
    if audio.shape[0] >= length:
        return audio
    if fill == REPEAT:
        return np.tile(audio, -(-length // audio.shape[0]))[:length]
    return np.pad(audio, (0, length - audio.shape[0]))


def describe_fit(fill: str, min_seconds: float, model: str) -> str:
    """How the loops log it, once per file."""
    how = "repeated end to end" if fill == REPEAT else "padded with silence"
    return f"{how} to {min_seconds:g} s, the shortest clip {model} takes"


@dataclass(frozen=True)
class AudioInfo:
    sampling_rate: int
    channels: int
    frames: int
    subtype: str  # soundfile subtype, e.g. PCM_16

    @property
    def duration(self) -> float:
        return self.frames / self.sampling_rate if self.sampling_rate else 0.0


def audio_info(path: str) -> AudioInfo:
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioReadError(f"{path}: cannot decode audio ({one_line(err, last=True)})") from None
    return AudioInfo(info.samplerate, info.channels, info.frames, info.subtype)


def load_audio(path: str, sampling_rate: int | None = None, mono: bool = True) -> np.ndarray:
    """Float32 samples in [-1, 1], resampled to ``sampling_rate`` (None keeps the file's rate).

    Mono is the mean of the channels. Returns shape (samples,) when mono, else (channels, samples).
    """
    try:
        data, file_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioReadError(f"{path}: cannot decode audio ({one_line(err, last=True)})") from None
    if data.shape[0] == 0:
        raise AudioReadError(f"{path}: the file holds no audio samples")
    if not np.all(np.isfinite(data)):
        raise AudioReadError(f"{path}: the file holds NaN or infinite samples")
    if sampling_rate and sampling_rate != file_rate:
        data = soxr.resample(data, file_rate, sampling_rate, quality="HQ").astype(np.float32, copy=False)
    if mono:
        return data.mean(axis=1) if data.shape[1] > 1 else data[:, 0].copy()
    return np.ascontiguousarray(data.T)


#: frames decoded per read when a file is streamed (about 5 s at 48 kHz)
STREAM_BLOCK_FRAMES = 1 << 18


def resampled_length(frames: int, file_rate: int, sampling_rate: int | None) -> int:
    """How many samples ``frames`` frames at ``file_rate`` become at ``sampling_rate`` (soxr's count:
    rounded half up)."""
    if not sampling_rate or sampling_rate == file_rate:
        return frames
    return (2 * frames * sampling_rate + file_rate) // (2 * file_rate)


def stream_audio(path: str, sampling_rate: int | None = None,
                 block_frames: int = STREAM_BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """The mono samples :func:`load_audio` returns, as float32 blocks in order, never all held at
    once (raises :class:`AudioReadError` as it meets a problem, possibly part-way)."""
    try:
        handle = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioReadError(f"{path}: cannot decode audio ({one_line(err, last=True)})") from None
    with handle:
        file_rate = handle.samplerate
        resampler = None
        if sampling_rate and sampling_rate != file_rate:
            resampler = soxr.ResampleStream(file_rate, sampling_rate, handle.channels, dtype="float32", quality="HQ")
        read_any = False
        while True:
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, OSError) as err:
                raise AudioReadError(f"{path}: cannot decode audio ({one_line(err, last=True)})") from None
            last = block.shape[0] < block_frames
            if block.shape[0]:
                read_any = True
                if not np.all(np.isfinite(block)):
                    raise AudioReadError(f"{path}: the file holds NaN or infinite samples")
            if not read_any and last:
                raise AudioReadError(f"{path}: the file holds no audio samples")
            if resampler is not None:
                block = resampler.resample_chunk(block, last=last)
            if block.shape[0]:
                yield block.mean(axis=1) if block.shape[1] > 1 else block[:, 0].copy()
            if last:
                return


def read_start(path: str, sampling_rate: int | None, n_samples: int) -> tuple[np.ndarray, bool]:
    """The first ``n_samples`` mono samples of ``path`` at ``sampling_rate`` (all of it when
    shorter), and whether the file goes on past them - reading only as far as that takes."""
    blocks, held = [], 0
    for block in stream_audio(path, sampling_rate, block_frames=min(STREAM_BLOCK_FRAMES, n_samples + 1)):
        blocks.append(block)
        held += block.shape[0]
        if held > n_samples:
            break
    audio = np.concatenate(blocks)
    return audio[:n_samples].copy(), held > n_samples


@dataclass(frozen=True)
class LongAudio:
    """A clip too long to hold whole: its file, and its length at the model's rate; the model reads
    it block by block (:meth:`blocks`) as it goes."""

    path: str
    sampling_rate: int
    samples: int

    @classmethod
    def of(cls, path: str, sampling_rate: int) -> "LongAudio":
        info = audio_info(path)
        return cls(path, sampling_rate, resampled_length(info.frames, info.sampling_rate, sampling_rate))

    @property
    def seconds(self) -> float:
        return self.samples / self.sampling_rate

    def blocks(self) -> Iterator[np.ndarray]:
        return stream_audio(self.path, self.sampling_rate)

    def pieces(self, sizes: list[int]) -> Iterator[np.ndarray]:
        """The clip cut into consecutive pieces of ``sizes`` samples (summing to :attr:`samples`),
        each made as soon as its samples are read."""
        sizes = list(sizes)
        if sum(sizes) != self.samples:
            raise ValueError(f"pieces of {sum(sizes)} samples for a clip of {self.samples}")
        pending: list[np.ndarray] = []
        held = 0
        for block in self.blocks():
            pending.append(block)
            held += block.shape[0]
            while sizes and held >= sizes[0]:
                joined = np.concatenate(pending)
                yield joined[: sizes[0]]
                pending, held = [joined[sizes[0]:]], held - sizes[0]
                sizes.pop(0)
        if sizes or held:
            raise self.length_error(self.samples - sum(sizes) + held)

    def window(self, start: int, length: int) -> np.ndarray:
        """Samples ``[start, start + length)`` of the clip, read up to their end and no further,
        keeping nothing of what comes before them."""
        kept, position = [], 0
        blocks = self.blocks()
        try:
            for block in blocks:
                end = position + block.shape[0]
                if end > start:
                    kept.append(block[max(0, start - position): start + length - position])
                position = end
                if position >= start + length:
                    break
        finally:
            blocks.close()
        samples = np.concatenate(kept) if kept else np.zeros(0, np.float32)
        if samples.shape[0] != length:
            raise self.length_error(position)
        return samples

    def length_error(self, decoded: int) -> AudioReadError:
        """The error of a file that decodes to another length than its header announced."""
        return AudioReadError(f"{self.path}: decoded to {decoded} samples at {self.sampling_rate} Hz, not the "
                              f"{self.samples} its header announces")


#: how :func:`frame_stretches` pads a clip's two ends by half a frame: zeros (librosa's centred
#: frames) or the clip mirrored about its first and last sample (numpy's "reflect", as the
#: ``transformers`` spectrogram does)
ZEROS, REFLECT = "zeros", "reflect"


def frame_stretches(long: LongAudio, frame_length: int, hop_length: int, frames_per_stretch: int,
                    pad: str) -> Iterator[tuple[int, np.ndarray]]:
    """The clip framed as a centred short-time analysis frames it (``frame_length // 2`` samples of
    ``pad`` before and after, a frame every ``hop_length`` samples: ``1 + samples // hop_length``
    frames), in consecutive stretches of samples holding ``frames_per_stretch`` whole frames each
    (the last one fewer): ``(first frame's index, samples)``, never the whole clip at once. A
    "reflect" pad needs a clip longer than half a frame."""
    half = frame_length // 2
    total = 1 + long.samples // hop_length
    span = (frames_per_stretch - 1) * hop_length + frame_length
    done, buffer, started, decoded = 0, np.zeros(0, np.float32), False, 0
    for block in long.blocks():
        decoded += block.shape[0]
        if decoded > long.samples:
            raise long.length_error(decoded)
        buffer = np.concatenate([buffer, block])
        if not started:
            if buffer.shape[0] <= half:
                continue  # the mirrored start needs half a frame and one sample
            start_pad = buffer[half:0:-1] if pad == REFLECT else np.zeros(half, np.float32)
            buffer, started = np.concatenate([start_pad, buffer]), True
        while total - done >= frames_per_stretch and buffer.shape[0] >= span:
            yield done, buffer[:span]
            buffer, done = buffer[frames_per_stretch * hop_length:], done + frames_per_stretch
    if decoded != long.samples:
        raise long.length_error(decoded)
    if not started:
        raise ValueError(f"{long.path}: {buffer.shape[0]} samples, too few to mirror half a frame of {frame_length}")
    end_pad = buffer[-2:-half - 2:-1] if pad == REFLECT else np.zeros(half, np.float32)
    buffer = np.concatenate([buffer, end_pad])
    while total > done:
        frames = min(frames_per_stretch, total - done)
        yield done, buffer[: (frames - 1) * hop_length + frame_length]
        buffer, done = buffer[frames * hop_length:], done + frames


# ----------------------------------------------------------------------------------------------
# the read rule of the per-file stages: a file as a model gets it


@dataclass(frozen=True)
class AudioSettings:
    """How a model wants its audio: what reading a file for it needs, copied out of the model's
    adapter so that read threads and Ray read tasks can use it without the model."""

    name: str  # shown in progress bars and messages
    sampling_rate: int | None  # None: each file's own rate
    max_audio_seconds: float | None  # longer clips are cut here (None: never)
    min_audio_seconds: float | None  # shorter clips are brought to this length (None: never)
    short_clip_fill: str = SILENCE  # how: silence after the clip, or the clip repeated
    #: longer clips reach the model as a LongAudio it reads block by block (None: always whole)
    stream_above_seconds: float | None = None

    @classmethod
    def of(cls, model) -> "AudioSettings":
        """The settings of a labeller or an audio embedder."""
        return cls(model.name, model.sampling_rate, getattr(model, "max_audio_seconds", None),
                   model.min_audio_seconds, getattr(model, "short_clip_fill", SILENCE),
                   getattr(model, "stream_above_seconds", None))


@dataclass(frozen=True)
class Clip:
    """One file's audio as the model gets it, and what was done to it on the way."""

    audio: np.ndarray | LongAudio  # LongAudio: read by the model as it goes (stream_above_seconds)
    cut: bool  # longer than the model's window: cut there
    fitted: bool  # shorter than the model takes: brought to its shortest clip


def load_clip(settings: AudioSettings, path: str) -> Clip:
    """``path`` decoded at the model's rate, cut to its window and brought to its shortest clip,
    each change logged once (raises :class:`AudioReadError`): the one read rule of every per-file
    stage, in process or on a Ray worker. Only the window is read; a clip longer than
    the model's ``stream_above_seconds`` is handed over unread, as a :class:`LongAudio`."""
    rate = settings.sampling_rate
    if settings.stream_above_seconds is not None and rate is not None:
        long = LongAudio.of(path, rate)
        if long.seconds > settings.stream_above_seconds:
            return Clip(long, cut=False, fitted=False)
    cut = fitted = False
    if settings.max_audio_seconds is not None and rate is not None:
        audio, cut = read_start(path, rate, round(settings.max_audio_seconds * rate))
        if cut:
            log.info("%s: %.1f s long; %s hears only the first %g s (the rest is cut)",
                     path, audio_info(path).duration, settings.name, settings.max_audio_seconds)
    else:
        audio = load_audio(path, rate)
    longer = fit_to_minimum(audio, settings.sampling_rate, settings.min_audio_seconds, settings.short_clip_fill)
    if longer is not audio:
        log.info("%s: %.3f s long; %s", path, audio.shape[0] / settings.sampling_rate,
                 describe_fit(settings.short_clip_fill, settings.min_audio_seconds, settings.name))
        audio, fitted = longer, True
    return Clip(audio, cut, fitted)


def read_clip(settings: AudioSettings, path: str, if_unreadable: str) -> Clip | None:
    """:func:`load_clip`, or None for a file that cannot be read - logged once, with what that
    costs it (``if_unreadable``: "its row is left as NaN"): one file never stops a run."""
    try:
        return load_clip(settings, path)
    except AudioReadError as err:
        log.warning("%s - %s", err, if_unreadable)
        return None
