"""Synthetic clips for the benchmarks, on a machine without the example recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SEED = 100


def synthetic_clips(count: int, seconds: float, folder: Path, rate: int = 16000) -> list[str]:
    """``count`` different clips (a tone in noise) of ``seconds`` at ``rate``, written as 16-bit WAV."""
    rng = np.random.default_rng(SEED)
    t = np.arange(int(seconds * rate)) / rate
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        signal = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(t.size)
        path = folder / f"synthetic_{i:03d}.wav"
        sf.write(path, signal.astype(np.float32), rate, subtype="PCM_16")
        paths.append(str(path))
    return paths
