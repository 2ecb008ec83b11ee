"""Audio embeddings as a job of the per-file engine (:mod:`auditoryhum.engine`): CLAP, MFCC, AST,
the MLLM audio towers and SoundNet share it.

An audio embedder is a small object (:class:`AudioEmbedder`): the rate it wants its audio at, the
shortest clip its encoder accepts, and a call that embeds a batch of waveforms. Everything else lives
here, once: files read at the embedder's rate, clips shorter than its minimum padded with silence
(one log line per file), and the rows of files that cannot be used; batching, writing, ``--resume``
and where the model runs are the engine's.

Row i always belongs to file i: a file that cannot be decoded, or on which the model fails, keeps
its row, filled with NaN, and is named at the end. A failure inside a batch never costs the other
files of the batch: the batch is redone one file at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

import numpy as np

from .engine import JobRun, RunOptions, run_job
from .errors import UserError, one_line
from .pipeline import NOT_PREPARED, AudioSettings, ModelSteps, read_clip
from .store import EMBEDDINGS, PartialOutput, Piece

log = logging.getLogger(__name__)


class AudioEmbedder(Protocol):
    """What the loop needs from an audio model.

    An embedder may also split its call in two, so that the loop prepares the next batch on a
    background thread while the model works (:mod:`auditoryhum.pipeline`): ``prepare(waveforms)`` -
    the CPU part, its feature extraction - and ``embed_prepared(waveforms, prepared)`` - the model.
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


def model_steps(embedder: AudioEmbedder) -> ModelSteps[np.ndarray]:
    """The embedder's call, in two steps where it offers them."""
    if hasattr(embedder, "prepare") and hasattr(embedder, "embed_prepared"):
        return ModelSteps(embedder.name, embedder, embedder.prepare, embedder.embed_prepared)
    return ModelSteps(embedder.name, embedder)


@dataclass
class ReadAudio:
    """One batch of files read for the model."""

    indices: list[int]  # the files of the batch that could be read
    waveforms: list[np.ndarray]  # theirs, brought to the model's shortest clip
    unreadable: list[int] = field(default_factory=list)
    padded: list[int] = field(default_factory=list)


@dataclass
class EmbeddedBatch:
    """One batch's rows: ``rows[i]`` of file ``indices[i]``; the files without a row (unreadable,
    or the model failed on them) in ``unusable``."""

    indices: list[int]
    rows: list[np.ndarray]
    unusable: list[int]
    padded: list[int]


class EmbeddingJob:
    """Embed files: each file's row of the .npy (see :class:`auditoryhum.engine.Job`)."""

    kind = EMBEDDINGS
    notes = None

    def __init__(self, files: Sequence[str]):
        self.files = list(files)
        self.batches: list[EmbeddedBatch] = []  # what each batch left without a row, or padded

    @staticmethod
    def steps(embedder) -> ModelSteps[np.ndarray]:
        return model_steps(embedder)

    @staticmethod
    def items(read: "ReadAudio") -> list[np.ndarray]:
        return read.waveforms

    @staticmethod
    def read(settings: AudioSettings, paths: list[str], notes: list[str]) -> "ReadAudio":
        return read_embedding_batch(settings, paths, range(len(paths)))

    @staticmethod
    def run(steps: ModelSteps[np.ndarray], paths: list[str], read: "ReadAudio", prepared=NOT_PREPARED):
        return embed_read_batch(steps, paths, read, prepared)

    def keep(self, batch: range, result: "EmbeddedBatch") -> "EmbeddedBatch":
        # the batch's files were numbered from 0 where it was read and run
        kept = EmbeddedBatch(indices=[batch.start + i for i in result.indices], rows=result.rows,
                             unusable=[batch.start + i for i in result.unusable],
                             padded=[batch.start + i for i in result.padded])
        self.batches.append(EmbeddedBatch([], [], kept.unusable, kept.padded))
        return kept

    def write_piece(self, store: PartialOutput, piece: Piece, kept: list["EmbeddedBatch"]) -> None:
        store.add_rows(piece, stack_rows(piece.size, kept, first=piece.start))


def run_embeddings(job: EmbeddingJob, npy: str, made_with: dict, make_embedder, options: RunOptions,
                   worker_runtime=None, executor=None) -> JobRun:
    """Embed the job's files into ``npy`` (see :func:`auditoryhum.engine.run_job`); the files left
    without a row are named once. ``run.rows`` holds the embeddings."""
    run = run_job(job, npy, made_with, make_embedder, options, worker_runtime, "{name}", executor)
    report_rows(job.files, job.batches, run.model_name or "the model")
    return run


def embed_files(embedder: AudioEmbedder, files: Sequence[str], npy: str, batch_size: int = 8,
                prefetch_batches: int | None = None) -> np.ndarray:
    """Embed every file with ``embedder`` (already loaded) into ``npy``, in this process; the rows."""
    options = RunOptions(batch_size=batch_size) if prefetch_batches is None else \
        RunOptions(batch_size=batch_size, prefetch_batches=prefetch_batches)
    return run_embeddings(EmbeddingJob(files), npy, {}, lambda: embedder, options).rows


def read_embedding_batch(settings: AudioSettings, files: Sequence[str], batch: range) -> ReadAudio:
    """Load the batch's files at the model's rate and bring them to its shortest clip (the CPU work
    before the model; any thread or Ray worker)."""
    read = ReadAudio(indices=[], waveforms=[])
    for index in batch:
        clip = read_clip(settings, files[index], "its row is left as NaN")
        if clip is None:
            read.unreadable.append(index)
            continue
        if clip.fitted:
            read.padded.append(index)
        read.waveforms.append(clip.audio)
        read.indices.append(index)
    return read


def embed_read_batch(steps: ModelSteps[np.ndarray], files: Sequence[str], read: ReadAudio,
                     prepared=NOT_PREPARED) -> EmbeddedBatch:
    """The rows of one read batch (a file the model fails on is retried alone, then left out)."""
    done = EmbeddedBatch(indices=[], rows=[], unusable=list(read.unreadable), padded=list(read.padded))
    if read.waveforms:
        for index, vector in zip(read.indices, _embed_batch(steps, files, read.indices, read.waveforms, prepared)):
            if vector is None:
                done.unusable.append(index)
            else:
                done.indices.append(index)
                done.rows.append(vector)
    return done


def stack_rows(count: int, batches: Iterable[EmbeddedBatch], first: int = 0) -> np.ndarray:
    """``(count, dim)`` float32 of the rows of files ``first..first+count-1`` the batches hold, NaN
    where a file has none; ``(count, 0)`` when none has one."""
    rows: list[np.ndarray | None] = [None] * count
    for batch in batches:
        for index, row in zip(batch.indices, batch.rows):
            rows[index - first] = row
    dims = {row.shape[0] for row in rows if row is not None}
    if len(dims) > 1:
        raise RuntimeError(f"rows of different lengths {sorted(dims)}")
    out = np.full((count, dims.pop() if dims else 0), np.nan, dtype=np.float32)
    for index, row in enumerate(rows):
        if row is not None:
            out[index] = row
    return out


def report_rows(files: Sequence[str], batches: Iterable[EmbeddedBatch], name: str) -> None:
    """Log the files padded and the files left without a row, once for the run."""
    unusable: list[int] = []
    padded = 0
    for batch in batches:
        unusable.extend(batch.unusable)
        padded += len(batch.padded)
    if padded:
        log.info("%d files shorter than %s takes were brought to its shortest clip", padded, name)
    if unusable:
        log.warning("%d of %d files could not be embedded; their rows are NaN: %s",
                    len(unusable), len(files), ", ".join(sorted(files[index] for index in unusable)))


def _embed_batch(steps: ModelSteps[np.ndarray], files: Sequence[str], indices: list[int],
                 waveforms: list[np.ndarray], prepared=NOT_PREPARED) -> list[np.ndarray | None]:
    """One vector per waveform; None for a file the model failed on (the others are kept)."""
    try:
        vectors = np.asarray(steps(waveforms, prepared), dtype=np.float32)
    except (UserError, MemoryError):
        raise
    except Exception as err:  # noqa: BLE001 - one bad file must not stop a run of thousands
        if len(waveforms) == 1:
            log.warning("%s: %s failed on this file (%s); its row is left as NaN",
                        files[indices[0]], steps.name, one_line(err))
            return [None]
        return [vector for index, waveform in zip(indices, waveforms)
                for vector in _embed_batch(steps, files, [index], [waveform])]
    if vectors.ndim != 2 or vectors.shape[0] != len(waveforms):
        raise RuntimeError(f"{steps.name} returned shape {vectors.shape} for {len(waveforms)} files")
    return [vector.reshape(-1) for vector in vectors]
