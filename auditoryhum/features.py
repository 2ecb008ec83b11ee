"""The one loop every per-file audio embedding shares (CLAP, MFCC, AST, the MLLM audio towers).

An audio embedder is a small object (:class:`AudioEmbedder`): the rate it wants its audio at, the
shortest clip its encoder accepts, and a call that embeds a batch of waveforms. Everything else lives
here, once: files read in sorted order at the embedder's rate, clips shorter than its minimum padded
with silence (one log line per file), batching, progress, and the rows of files that cannot be used.

Row i always belongs to file i: a file that cannot be decoded, or on which the model fails, keeps
its row, filled with NaN, and is named at the end. A failure inside a batch never costs the other
files of the batch: the batch is redone one file at a time.
"""

from __future__ import annotations

import logging
from typing import Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from .audio import SILENCE, AudioReadError, describe_fit, fit_to_minimum, load_audio
from .errors import UserError, one_line

log = logging.getLogger(__name__)


class AudioEmbedder(Protocol):
    """What the loop needs from an audio model."""

    #: shown in progress bars and messages
    name: str
    #: rate the model wants its audio at (None: each file's own rate)
    sampling_rate: int | None
    #: shortest clip the model's feature extractor and encoder accept; shorter clips are padded
    #: with silence to it (None: any length; an optional ``short_clip_fill = "repeat"`` repeats
    #: them instead, as for a labeller)
    min_audio_seconds: float | None

    def __call__(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """``(len(waveforms), dim)`` embeddings of mono float32 waveforms at :attr:`sampling_rate`."""


def embed_audio_files(files: Sequence[str], embedder: AudioEmbedder, batch_size: int = 8) -> np.ndarray:
    """``(len(files), dim)`` float32; rows of unreadable files, and of files the model failed on, are NaN."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rows: list[np.ndarray | None] = [None] * len(files)
    unusable: list[str] = []
    padded: list[str] = []
    pending_index: list[int] = []
    pending_audio: list[np.ndarray] = []

    def flush() -> None:
        if pending_audio:
            for index, vector in zip(pending_index, _embed_batch(embedder, files, pending_index, pending_audio)):
                if vector is None:
                    unusable.append(files[index])
                else:
                    rows[index] = vector
        pending_index.clear()
        pending_audio.clear()

    with tqdm(total=len(files), desc=embedder.name, unit="file") as progress:
        for index, path in enumerate(files):
            try:
                audio = load_audio(path, embedder.sampling_rate)
            except AudioReadError as err:
                log.warning("%s - its row is left as NaN", err)
                unusable.append(path)
            else:
                fill = getattr(embedder, "short_clip_fill", SILENCE)
                longer = fit_to_minimum(audio, embedder.sampling_rate, embedder.min_audio_seconds, fill)
                if longer is not audio:
                    log.info("%s: %.3f s long; %s", path, audio.shape[0] / embedder.sampling_rate,
                             describe_fit(fill, embedder.min_audio_seconds, embedder.name))
                    padded.append(path)
                pending_audio.append(longer)
                pending_index.append(index)
            if len(pending_audio) == batch_size:
                flush()
            progress.update(1)
        flush()

    dims = {row.shape[0] for row in rows if row is not None}
    if not dims:
        raise UserError(f"none of the {len(files)} audio files could be embedded (first: {files[0]})")
    out = np.full((len(files), dims.pop()), np.nan, dtype=np.float32)
    for index, row in enumerate(rows):
        if row is not None:
            out[index] = row
    if padded:
        log.info("%d files shorter than %s takes were brought to its shortest clip", len(padded), embedder.name)
    if unusable:
        log.warning("%d of %d files could not be embedded; their rows are NaN: %s",
                    len(unusable), len(files), ", ".join(sorted(unusable)))
    return out


def _embed_batch(embedder: AudioEmbedder, files: Sequence[str], indices: list[int],
                 waveforms: list[np.ndarray]) -> list[np.ndarray | None]:
    """One vector per waveform; None for a file the model failed on (the others are kept)."""
    try:
        vectors = np.asarray(embedder(waveforms), dtype=np.float32)
    except (UserError, MemoryError):
        raise
    except Exception as err:  # noqa: BLE001 - one bad file must not stop a run of thousands
        if len(waveforms) == 1:
            log.warning("%s: %s failed on this file (%s); its row is left as NaN",
                        files[indices[0]], embedder.name, one_line(err))
            return [None]
        return [vector for index, waveform in zip(indices, waveforms)
                for vector in _embed_batch(embedder, files, [index], [waveform])]
    if vectors.ndim != 2 or vectors.shape[0] != len(waveforms):
        raise RuntimeError(f"{embedder.name} returned shape {vectors.shape} for {len(waveforms)} files")
    return [vector.reshape(-1) for vector in vectors]
