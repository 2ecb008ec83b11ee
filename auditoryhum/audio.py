"""Listing and loading audio files.

Every script takes its inputs from a glob (``--filedir="*.wav"``) and processes them in **sorted**
order; row i of every output belongs to the i-th file of that list (docs/method.md §1).

A file that cannot be decoded (corrupt, zero-length) does not stop a feature or label run: the
loader raises :class:`AudioReadError`, the caller reports it, keeps the row and marks it (a blank
label, a NaN embedding row) so rows never shift.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from .errors import UserError, one_line
from .filelist import expand_glob

log = logging.getLogger(__name__)


class AudioReadError(Exception):
    """One audio file could not be decoded; the message names the file."""


def list_audio_files(pattern: str, unique_names: bool = True) -> list[str]:
    """The sorted list of files matching ``pattern``; an empty match is a :class:`UserError`, and so
    are two files of the same name in different folders (a recursive glob), unless ``unique_names``
    is False: rows are matched to files by name (the scores CSV, the run records), so those two
    would be confused."""
    files = expand_glob(pattern)
    if not files:
        raise UserError(f'--filedir="{pattern}" matches no files (quote the glob so the shell does not expand it)')
    if unique_names:
        first_of: dict[str, str] = {}
        for path in files:
            other = first_of.setdefault(os.path.basename(path), path)
            if other != path:
                raise UserError(f'--filedir="{pattern}": two files are named {os.path.basename(path)}: {other} and '
                                f"{path}; rows are matched to files by name, so rename one or narrow the glob")
    broken = [path for path in files if not os.path.exists(path)]
    if broken:
        log.warning("%d of the files matching %s are broken symbolic links; each keeps its row as an unreadable "
                    "file: %s", len(broken), pattern, ", ".join(broken))
    return files


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
