"""The one loop every per-file audio embedding shares (CLAP, MFCC, AST, the MLLM audio towers).

An audio embedder is a small object (:class:`AudioEmbedder`): the rate it wants its audio at, the
shortest clip its encoder accepts, and a call that embeds a batch of waveforms. Everything else lives
here, once: files read in sorted order at the embedder's rate, clips shorter than its minimum padded
with silence (one log line per file), batching, progress, and the rows of files that cannot be used.

Row i always belongs to file i: a file that cannot be decoded, or on which the model fails, keeps
its row, filled with NaN, and is named at the end. A failure inside a batch never costs the other
files of the batch: the batch is redone one file at a time.

Batch k is always files ``[k*B, (k+1)*B)`` (those of them that can be read), whichever backend
runs it: :func:`read_embedding_batch` is the CPU part (decoding, resampling, padding) and
:func:`embed_read_batch` the model part. In process, the next batches are read and prepared in
background threads while the model works (:mod:`auditoryhum.pipeline`); on a Ray cluster
(:mod:`auditoryhum.ray_backend`) the read step runs in CPU tasks and the model in its workers, and
:func:`assemble_rows` puts the rows together in both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from .errors import UserError, one_line
from .pipeline import (DEFAULT_PREFETCH_BATCHES, NOT_PREPARED, AudioSettings, ModelSteps, batch_ranges, read_clip,
                       prefetched)

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


def embed_audio_files(files: Sequence[str], embedder: AudioEmbedder, batch_size: int = 8,
                      prefetch_batches: int = DEFAULT_PREFETCH_BATCHES) -> np.ndarray:
    """``(len(files), dim)`` float32; rows of unreadable files, and of files the model failed on, are
    NaN. The next ``prefetch_batches`` batches are read and prepared in the background while the
    model works (0: all on this thread)."""
    settings = AudioSettings.of(embedder)
    steps = model_steps(embedder)
    batches: list[EmbeddedBatch] = []
    with tqdm(total=len(files), desc=embedder.name, unit="file") as progress:
        for batch, read, prepared in prefetched(
                batch_ranges(len(files), batch_size), lambda batch: read_embedding_batch(settings, files, batch),
                (lambda read: steps.prepare(read.waveforms)) if steps.has_prepare_step else None, prefetch_batches):
            batches.append(embed_read_batch(steps, files, read, prepared))
            progress.update(len(batch))
    return assemble_rows(files, batches, settings.name)


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


def assemble_rows(files: Sequence[str], batches: Iterable[EmbeddedBatch], name: str) -> np.ndarray:
    """The ``(len(files), dim)`` float32 array of the batches' rows, NaN where a file has none; the
    files left without a row are named once."""
    batches = list(batches)
    out = stack_rows(len(files), batches)
    if out.shape[1] == 0:
        raise UserError(f"none of the {len(files)} audio files could be embedded (first: {files[0]})")
    report_rows(files, batches, name)
    return out


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
