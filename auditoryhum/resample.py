"""Converting audio files in place to one rate / sample format / channel count, never losing one.

The published util_resample deleted each original even when ffmpeg had failed. Here every file is
converted to a temporary file beside it, the result is decoded and checked (rate, channels, sample
format, length close to the original's), and only then does it replace the original in one
``os.replace``. A file that fails is left byte-for-byte as it was.

Temporary files are named ``.<name>.resample-<pid>-XXXX.tmp``: hidden and not ending in ``.wav``, so a
run killed half-way never leaves anything a later ``--filedir="*.wav"`` would pick up, and the next
run removes those whose process is gone (:func:`remove_stale_temporaries`).

A float WAV holding NaN or infinite samples is refused (left as it is): ffmpeg would turn them into
full-scale clicks, and the label and feature scripts refuse such a file anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import soundfile as sf

from . import formats
from .audio import AudioReadError, audio_info
from .errors import UserError, one_line

log = logging.getLogger(__name__)
TEMP_MARK = "resample-"

# ffmpeg sample_fmt -> (the PCM codec the WAV muxer needs for it, the subtype soundfile reports).
SAMPLE_FORMATS = {
    "u8": ("pcm_u8", "PCM_U8"),
    "s16": ("pcm_s16le", "PCM_16"),
    "s32": ("pcm_s32le", "PCM_32"),
    "flt": ("pcm_f32le", "FLOAT"),
    "dbl": ("pcm_f64le", "DOUBLE"),
}
# soundfile calls a WAVE_FORMAT_EXTENSIBLE file (ffmpeg writes one for >2 channels) "WAVEX".
WAV_CONTAINERS = ("WAV", "WAVEX")
# A resampled file may differ from the original by a few samples of filter delay, not more.
DURATION_TOLERANCE_S = 0.05
DURATION_TOLERANCE_FRACTION = 0.01


@dataclass(frozen=True)
class Target:
    sampling_rate: int
    channels: int
    sample_fmt: str  # a key of SAMPLE_FORMATS

    @property
    def codec(self) -> str:
        return SAMPLE_FORMATS[self.sample_fmt][0]

    @property
    def subtype(self) -> str:
        return SAMPLE_FORMATS[self.sample_fmt][1]

    def describe(self) -> str:
        return f"{self.sampling_rate} Hz, {self.channels} channel(s), {self.sample_fmt}"


class Status(Enum):
    CONVERTED = "converted"
    ALREADY_IN_FORMAT = "already in format"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    path: str
    status: Status
    reason: str = ""


def find_ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise UserError("ffmpeg not found on PATH; util_resample needs it (e.g. apt install ffmpeg)")
    return ffmpeg


def remove_stale_temporaries(files: list[str]) -> list[str]:
    """Remove the temporary files that killed runs left beside ``files`` (their process is gone);
    a running conversion's own are kept. Returns what was removed."""
    return formats.remove_stale_temporaries(sorted({os.path.dirname(path) or "." for path in files}), TEMP_MARK)


def non_finite_samples(path: str) -> bool:
    """True for a float WAV holding NaN or infinite samples (integer PCM cannot)."""
    try:
        info = sf.info(path)
        if info.subtype not in ("FLOAT", "DOUBLE"):
            return False
        for block in sf.blocks(path, blocksize=1 << 16, dtype="float64", always_2d=True):
            if not np.isfinite(block).all():
                return True
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False  # not decodable by soundfile: ffmpeg decides
    return False


def is_in_format(path: str, target: Target) -> bool:
    """True when ``path`` is already a WAV file with the target rate, channels and sample format."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False
    return (
        info.format in WAV_CONTAINERS
        and info.samplerate == target.sampling_rate
        and info.channels == target.channels
        and info.subtype == target.subtype
        and info.frames > 0
    )


class Converter:
    """Converts files one at a time (thread-safe: call :meth:`convert` from a pool).

    :meth:`cancel` stops new conversions and kills the ffmpeg processes under way, whose temporary
    files are then removed; the originals are untouched.
    """

    def __init__(self, target: Target, ffmpeg: str):
        self.target = target
        self.ffmpeg = ffmpeg
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            for process in self._running:
                process.kill()

    def convert(self, path: str) -> Outcome:
        if self._cancelled.is_set():
            return Outcome(path, Status.FAILED, "cancelled")
        if not path.lower().endswith(".wav"):
            return Outcome(path, Status.FAILED, "not a .wav file (the converted file is WAV, written in place)")
        try:
            open(path, "rb").close()
        except OSError as err:  # say so, not "cannot decode": the file may be fine
            return Outcome(path, Status.FAILED, f"cannot read the file ({err.strerror})")
        if non_finite_samples(path):
            return Outcome(path, Status.FAILED, "holds NaN or infinite samples (ffmpeg would write them as "
                           "full-scale clicks); fix or drop the file")
        if is_in_format(path, self.target):
            return Outcome(path, Status.ALREADY_IN_FORMAT)
        original_duration = source_duration(path, self.ffmpeg)
        if original_duration is None:
            return Outcome(path, Status.FAILED, "cannot decode the file")
        folder = os.path.dirname(path) or "."
        try:
            fd, tmp = tempfile.mkstemp(prefix=formats.temporary_prefix(path, TEMP_MARK), suffix=".tmp", dir=folder)
        except OSError as err:
            return Outcome(path, Status.FAILED, f"cannot write beside it ({err.strerror})")
        os.close(fd)
        try:
            error = self._run_ffmpeg(path, tmp) or self._check_result(tmp, original_duration)
            if error:
                free = _free_bytes(folder)
                if free is not None and free < FULL_DISK_BYTES:  # the cause, before what it did to the output
                    error = f"no space left on the disk of {folder} ({free:,} bytes free); {error}"
                return Outcome(path, Status.FAILED, error)
            # Keep the original's permissions (mkstemp creates 0600).
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            os.replace(tmp, path)
            return Outcome(path, Status.CONVERTED)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _run_ffmpeg(self, source: str, tmp: str) -> str:
        """Run ffmpeg; return an error message, or "" on success."""
        command = [self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", source, "-vn"]
        command += ["-ar", str(self.target.sampling_rate), "-ac", str(self.target.channels)]
        command += ["-sample_fmt", self.target.sample_fmt, "-c:a", self.target.codec, "-f", "wav", tmp]
        with self._lock:
            if self._cancelled.is_set():
                return "cancelled"
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True, errors="replace")
            self._running.add(process)
        try:
            _, stderr = process.communicate()
        finally:
            with self._lock:
                self._running.discard(process)
        if self._cancelled.is_set():
            return "cancelled"
        if process.returncode != 0:
            cause = one_line(stderr, last=True) if stderr.strip() else f"exit status {process.returncode}"
            return f"ffmpeg failed: {cause}"
        return ""

    def _check_result(self, tmp: str, original_duration: float) -> str:
        """Decode the converted file; return what is wrong with it, or "" when it is right."""
        try:
            info = audio_info(tmp)
        except AudioReadError as err:
            return f"ffmpeg output does not decode: {err}"
        expected = (self.target.sampling_rate, self.target.channels, self.target.subtype)
        got = (info.sampling_rate, info.channels, info.subtype)
        if got != expected:
            return f"ffmpeg output is {got}, expected {expected}"
        if info.frames == 0:
            return "ffmpeg output holds no audio"
        tolerance = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_FRACTION * original_duration)
        if abs(info.duration - original_duration) > tolerance:
            return f"ffmpeg output lasts {info.duration:.3f} s but the original lasts {original_duration:.3f} s"
        return ""


#: free space below which a conversion that went wrong is put down to a full disk
FULL_DISK_BYTES = 1 << 20


def _free_bytes(folder: str) -> int | None:
    try:
        stat_ = os.statvfs(folder)
    except OSError:
        return None
    return stat_.f_bavail * stat_.f_frsize


def source_duration(path: str, ffmpeg: str) -> float | None:
    """The file's duration in seconds, or None when it cannot be decoded.

    soundfile reads most WAV encodings; ffprobe (shipped beside ffmpeg) covers the rest, such as
    MP3 data inside a WAV container.
    """
    try:
        info = audio_info(path)
        if info.frames > 0:
            return info.duration
    except AudioReadError:
        pass
    ffprobe = Path(ffmpeg).with_name("ffprobe")
    if not ffprobe.exists():
        return None
    command = [str(ffprobe), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    try:
        duration = float(result.stdout.strip())
    except ValueError:
        return None
    return duration if result.returncode == 0 and duration > 0 else None
