"""What the two per-file loops (:mod:`auditoryhum.labelling`, :mod:`auditoryhum.features`) share
about feeding a model, in process or on Ray workers.

* :class:`AudioSettings`: the part of a model adapter that reading its audio needs (rate, window,
  shortest clip and how to reach it), copied out of the adapter so that read workers can use it without the model.
* :func:`batch_ranges`: the batches, always by file index - batch k is files ``[k*B, (k+1)*B)``,
  whichever of them can be read - so every backend hands the model the same batches and writes
  the same bytes.
* :class:`ModelSteps`: an adapter's call as two steps where the adapter offers them: *prepare*
  (the processor's feature extraction, on the CPU) and *run* (the model).
* :func:`prefetched`: reading (decoding, resampling) and preparing the next batches in background
  threads while the calling thread runs the model on the current one, so a GPU is not left idle
  while the CPU gets audio ready.

Preparation runs on one background thread, one batch after the other, and every prepare call -
from that thread, or from the loop when it retries a failed batch one file at a time - holds one
lock: feature extractors may draw from numpy's global random state (CLAP's fusion crops, seeded per
clip), so two must never interleave. An adapter's prepare step may overlap its own model step, and
adapters are written for that (their processor and tokenizer are guarded where shared).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

import numpy as np

from .audio import (
    SILENCE,
    AudioReadError,
    LongAudio,
    audio_info,
    describe_fit,
    fit_to_minimum,
    load_audio,
    read_start,
)

log = logging.getLogger(__name__)

#: batches read and prepared ahead of the model by default (0: none, all on one thread)
DEFAULT_PREFETCH_BATCHES = 2

Item = TypeVar("Item")
Read = TypeVar("Read")


@dataclass(frozen=True)
class AudioSettings:
    """How a model wants its audio: what the read step needs, without the model."""

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
    each change logged once (raises :class:`~auditoryhum.audio.AudioReadError`): the one read
    rule of both loops, in process or on a Ray worker. Only the window is read; a clip longer than
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


def batch_ranges(total: int, batch_size: int, start: int = 0) -> list[range]:
    """The batches of files ``start..total-1``: files ``[k*B, (k+1)*B)``, the first one starting at
    ``start`` (a resumed run finishes the batch it was killed in, then goes on as a whole run)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    edges = [start, *range((start // batch_size + 1) * batch_size, total, batch_size), total]
    return [range(first, stop) for first, stop in zip(edges, edges[1:]) if first < stop]


class _NotPrepared:
    def __repr__(self) -> str:
        return "NOT_PREPARED"


#: no prepared input: the model step prepares its batch itself
NOT_PREPARED: Any = _NotPrepared()


@dataclass(frozen=True)
class PrepareFailed:
    """A batch whose prepare step raised in the background; the loop redoes it file by file."""

    error: BaseException


class ModelSteps(Generic[Item]):
    """A model adapter called on a batch of items (label requests, waveforms), in one or two steps.

    ``name``: the adapter's, for messages; ``whole(items)``: its call; ``prepare(items)``: its CPU
    step and ``run(items, prepared)`` its model step, where it splits its call in two.
    """

    def __init__(self, name: str, whole: Callable[[list[Item]], Any],
                 prepare: Callable[[list[Item]], Any] | None = None, run: Callable[[list[Item], Any], Any] | None = None):
        if (prepare is None) != (run is None):
            raise ValueError("an adapter splits its call into both a prepare and a run step, or neither")
        self.name = name
        self._whole, self._prepare, self._run = whole, prepare, run
        self._lock = threading.Lock()

    @property
    def has_prepare_step(self) -> bool:
        return self._prepare is not None

    def prepare(self, items: list[Item]) -> Any:
        """The prepared input of ``items`` (one prepare at a time, whichever thread asks)."""
        if self._prepare is None or not items:
            return NOT_PREPARED
        with self._lock:
            return self._prepare(items)

    def __call__(self, items: list[Item], prepared: Any = NOT_PREPARED) -> Any:
        """The adapter's output for ``items``; ``prepared`` is :meth:`prepare`'s result for them, if
        it was made ahead (a :class:`PrepareFailed` is raised here, as the call would have)."""
        if isinstance(prepared, PrepareFailed):
            raise prepared.error
        if self._prepare is None:
            return self._whole(items)
        if prepared is NOT_PREPARED:
            prepared = self.prepare(items)
        return self._run(items, prepared)


def prefetched(batches: Iterable[range], read: Callable[[range], Read],
               prepare: Callable[[Read], Any] | None, depth: int = DEFAULT_PREFETCH_BATCHES,
               ) -> Iterator[tuple[range, Read, Any]]:
    """``(batch, read(batch), prepare(read) or NOT_PREPARED)`` for every batch, in order.

    With ``depth`` > 0 up to ``depth`` batches ahead are read in background threads (decoding and
    resampling release the GIL) and prepared on one more, while the caller works on the current
    one; a prepare step that raises gives a :class:`PrepareFailed`. With ``depth`` 0 everything runs
    on the calling thread, one batch at a time, and nothing is prepared ahead. An exception from
    ``read`` is raised in the caller. Leaving the loop early cancels the work not yet started.
    """
    if depth < 0:
        raise ValueError("depth must be 0 or more")
    if depth == 0:
        for batch in batches:
            yield batch, read(batch), NOT_PREPARED
        return

    readers = ThreadPoolExecutor(max_workers=min(depth, os.cpu_count() or 1), thread_name_prefix="read-audio")
    preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare-batch") if prepare else None
    pending: deque[tuple[range, Future, Future | None]] = deque()
    upcoming = iter(batches)

    def prepare_when_read(reading: Future) -> Any:
        try:
            return prepare(reading.result())
        except BaseException as err:  # noqa: BLE001 - handed to the loop, which isolates the batch's files
            return PrepareFailed(err)

    def start_next() -> None:
        batch = next(upcoming, None)
        if batch is None:
            return
        reading = readers.submit(read, batch)
        preparing = preparer.submit(prepare_when_read, reading) if preparer else None
        pending.append((batch, reading, preparing))

    try:
        for _ in range(depth):
            start_next()
        while pending:
            batch, reading, preparing = pending.popleft()
            start_next()
            audio = reading.result()
            yield batch, audio, preparing.result() if preparing else NOT_PREPARED
    finally:
        for _, reading, preparing in pending:
            reading.cancel()
            if preparing:
                preparing.cancel()
        readers.shutdown(wait=True, cancel_futures=True)
        if preparer:
            preparer.shutdown(wait=True, cancel_futures=True)
