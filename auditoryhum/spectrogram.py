"""A clip's spectrogram as a PNG, for the review screen (util_review_app.py --spectrogram).

A reviewer sees what the clip holds before and while it plays: speech bands, a steady hum, a
bird's chirps, silence. The image is the short-time power spectrum in decibels, time to the right
and frequency up from 0 Hz to half the sampling rate, drawn edge to edge with no axes, so a
position across the image is the same fraction of the clip's duration (the page draws the
playhead on it and seeks where it is clicked).
"""

from __future__ import annotations

import io

import numpy as np

from .audio import load_audio

#: the clip is resampled to this rate first: 0 to 8 kHz shown, where most of a scene's sources are
SAMPLING_RATE = 16_000
WINDOW = 512  # 32 ms at 16 kHz
HOP = 128
#: the image's size in pixels (wide and low, to sit on the player's width)
WIDTH, HEIGHT = 960, 180
#: the quietest level shown, below the clip's loudest
DYNAMIC_RANGE_DB = 80.0


def power_db(samples: np.ndarray) -> np.ndarray:
    """(frequency bins, frames) power in dB relative to the clip's loudest bin, clipped at
    :data:`DYNAMIC_RANGE_DB` below it; a clip shorter than one window is padded with silence."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size < WINDOW:
        samples = np.pad(samples, (0, WINDOW - samples.size))
    n_frames = 1 + (samples.size - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP][:n_frames]
    power = np.abs(np.fft.rfft(frames * np.hanning(WINDOW), axis=1)) ** 2
    db = 10 * np.log10(np.maximum(power, 1e-20))
    return np.maximum(db - db.max(), -DYNAMIC_RANGE_DB).T


def spectrogram_png(path: str) -> bytes:
    """The PNG of the clip at ``path`` (raises :class:`auditoryhum.audio.AudioReadError` for a file
    that cannot be decoded)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    db = power_db(load_audio(path, SAMPLING_RATE))
    fig = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-DYNAMIC_RANGE_DB, vmax=0,
              interpolation="nearest")
    ax.set_axis_off()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    return out.getvalue()
