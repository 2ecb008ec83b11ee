"""The one loop every per-file audio embedding shares (CLAP, MFCC, AST, MLLM audio towers).

Files are read in sorted order at the model's own rate, grouped into batches and passed to a
model-specific ``embed_batch`` function. A file that cannot be decoded keeps its row, filled with
NaN, so row i still belongs to file i; unreadable files are reported at the end.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from .audio import AudioReadError, load_audio
from .errors import UserError

log = logging.getLogger(__name__)

#: ``embed_batch(list of mono float32 waveforms) -> (len(batch), dim) array``
EmbedBatch = Callable[[list[np.ndarray]], np.ndarray]


def embed_audio_files(
    files: Sequence[str],
    sampling_rate: int | None,
    embed_batch: EmbedBatch,
    batch_size: int = 8,
    desc: str = "embedding",
) -> np.ndarray:
    """``(len(files), dim)`` float32; rows of unreadable files are NaN."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rows: list[np.ndarray | None] = [None] * len(files)
    unreadable: list[str] = []
    pending_index: list[int] = []
    pending_audio: list[np.ndarray] = []

    def flush() -> None:
        if not pending_audio:
            return
        vectors = np.asarray(embed_batch(pending_audio), dtype=np.float32)
        if vectors.shape[0] != len(pending_audio):
            raise RuntimeError(f"embed_batch returned {vectors.shape[0]} rows for {len(pending_audio)} files")
        for index, vector in zip(pending_index, vectors):
            rows[index] = vector.reshape(-1)
        pending_index.clear()
        pending_audio.clear()

    with tqdm(total=len(files), desc=desc, unit="file") as progress:
        for index, path in enumerate(files):
            try:
                pending_audio.append(load_audio(path, sampling_rate))
                pending_index.append(index)
            except AudioReadError as err:
                log.warning("%s - its row is left as NaN", err)
                unreadable.append(path)
            if len(pending_audio) == batch_size:
                flush()
            progress.update(1)
        flush()

    dims = {row.shape[0] for row in rows if row is not None}
    if not dims:
        raise UserError(f"none of the {len(files)} audio files could be decoded (first: {files[0]})")
    dim = dims.pop()
    out = np.full((len(files), dim), np.nan, dtype=np.float32)
    for index, row in enumerate(rows):
        if row is not None:
            out[index] = row
    if unreadable:
        log.warning("%d of %d files could not be decoded; their rows are NaN: %s",
                    len(unreadable), len(files), ", ".join(unreadable))
    return out
