"""Audio embeddings as a kind of job of the per-file engine (:mod:`auditoryhum.engine`): CLAP, MFCC,
AST, the MLLM audio towers and SoundNet share it.

An audio embedder is a small object (:class:`AudioEmbedder`): the rate it wants its audio at, the
shortest clip its encoder accepts, and a call that embeds a batch of waveforms. What embedding adds
to the engine lives here: the rows of a float32 ``.npy`` and the report; reading, cutting and
padding the audio, batching, failures, writing, ``--resume`` and where the model runs are the
engine's.

Row i always belongs to file i: a file that cannot be decoded, or on which the model fails, keeps
its row, filled with NaN, and is named at the end.
"""

from __future__ import annotations

import logging
from typing import Protocol, Sequence

import numpy as np

from .engine import Job, JobRun, ModelSteps, RunOptions, run_job
from .errors import counted
from .store import EMBEDDINGS, PartialOutput, Piece

log = logging.getLogger(__name__)


class AudioEmbedder(Protocol):
    """What the engine needs from an audio model.

    An embedder may also split its call in two, so that the engine prepares the next batch on a
    background thread while the model works: ``prepare(waveforms)`` - the CPU part, its feature
    extraction - and ``embed_prepared(waveforms, prepared)`` - the model.
    """

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


class EmbeddingJob(Job):
    """Embed files: each file's row of the .npy."""

    kind = EMBEDDINGS
    left_without = "its row is left as NaN"

    @staticmethod
    def steps(embedder) -> ModelSteps[np.ndarray]:
        if hasattr(embedder, "prepare") and hasattr(embedder, "embed_prepared"):
            return ModelSteps(embedder.name, embedder, embedder.prepare, embedder.embed_prepared)
        return ModelSteps(embedder.name, embedder)

    @staticmethod
    def item(path: str, audio, note: str):
        return audio

    @staticmethod
    def outputs(raw, count: int, name: str) -> np.ndarray:
        vectors = np.asarray(raw, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != count:
            raise RuntimeError(f"{name} returned shape {vectors.shape} for {count} files")
        return vectors

    @staticmethod
    def row(vector: np.ndarray) -> np.ndarray:
        return vector.reshape(-1)

    def write_piece(self, store: PartialOutput, piece: Piece, rows: list) -> None:
        store.add_rows(piece, stack_rows(rows))

    def report(self, output: str, run: JobRun) -> dict:
        """Log the files padded and those left without a row, once for the run, and what was
        written; its figures, for the record."""
        outcome, embeddings = self.outcome, run.rows
        if outcome.padded:
            log.info("%d files shorter than %s takes were brought to its shortest clip", len(outcome.padded),
                     run.model_name or "the model")
        if outcome.without_a_row:
            log.warning("%d of %d files could not be embedded; their rows are NaN: %s", len(outcome.without_a_row),
                        len(self.files), ", ".join(sorted(outcome.without_a_row)))
        nan_rows = int((~np.isfinite(embeddings).all(axis=1)).sum())
        log.info("wrote %s: %s x %d dimensions%s", output, counted(embeddings.shape[0], "file"), embeddings.shape[1],
                 f" ({nan_rows} NaN rows: files that could not be embedded)" if nan_rows else "")
        return {"rows_written": embeddings.shape[0], "dimensions": embeddings.shape[1], "nan_rows": nan_rows}


def embed_files(embedder: AudioEmbedder, files: Sequence[str], npy: str, batch_size: int = 8,
                prefetch_batches: int | None = None) -> np.ndarray:
    """Embed every file with ``embedder`` (already loaded) into ``npy``, in this process; the rows."""
    options = RunOptions(batch_size=batch_size) if prefetch_batches is None else \
        RunOptions(batch_size=batch_size, prefetch_batches=prefetch_batches)
    return run_job(EmbeddingJob(files), npy, {}, lambda: embedder, options).rows


def stack_rows(rows: Sequence[np.ndarray | None]) -> np.ndarray:
    """``(len(rows), dim)`` float32, NaN for a file without a row; ``(len(rows), 0)`` when none has one."""
    dims = {row.shape[0] for row in rows if row is not None}
    if len(dims) > 1:
        raise RuntimeError(f"rows of different lengths {sorted(dims)}")
    out = np.full((len(rows), dims.pop() if dims else 0), np.nan, dtype=np.float32)
    for index, row in enumerate(rows):
        if row is not None:
            out[index] = row
    return out
