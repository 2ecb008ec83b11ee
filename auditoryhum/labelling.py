"""The one labelling loop every MLLM labeller shares (local models, Gemini and SoundNet alike).

A labeller is a small adapter that turns a batch of (audio, prompt) requests into raw response
texts. Everything else lives here, once: the human annotations in the prompts, loading audio at the
model's rate, cutting clips to the model's window and padding clips shorter than it accepts,
batching, response cleaning, writing every finished line at once (so a crash loses nothing),
``--resume``, progress and the final report.

The work on one batch is two functions any backend calls: :func:`read_label_batch` (the CPU part:
decoding, resampling, cutting, padding, prompts) and :func:`label_read_batch` (the model, response
cleaning, per-file failure isolation). In process, :func:`label_files` reads and prepares the next
batches in background threads while the model works (:mod:`auditoryhum.pipeline`); on a Ray cluster
(:mod:`auditoryhum.ray_backend`) the read step runs in CPU tasks and the label step in the model
workers. Batches are always files ``[k*B, (k+1)*B)``, so both give the same lines.

Row i of the labels CSV always belongs to file i: an undecodable file, or one the model fails on,
gets a blank line (and is reported), never a missing one; a failure inside a batch is retried one
file at a time, so it costs only that file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from . import formats
from .errors import UserError, counted, one_line
from .pipeline import (DEFAULT_PREFETCH_BATCHES, NOT_PREPARED, AudioSettings, ModelSteps, batch_ranges, read_clip,
                       prefetched)
from .prompting import build_prompt, clean_response
from .records import file_names

log = logging.getLogger(__name__)


class LabellingStopped(Exception):
    """A labeller cannot go on (e.g. a remote service failed for good). The loop keeps every
    finished line and stops with one line saying how many and how to continue."""


@dataclass
class LabelRequest:
    path: str
    audio: np.ndarray  # mono float32 at the labeller's sampling_rate (native rate when None)
    prompt: str  # the prompt text, annotation already appended


class Labeller(Protocol):
    """What the loop needs from a model adapter.

    An adapter may also split :meth:`label_batch` in two, so that the loop prepares the next batch
    on a background thread while the model works (:mod:`auditoryhum.pipeline`):
    ``prepare_batch(requests)`` - the CPU part, e.g. the processor's feature extraction - and
    ``label_prepared(requests, prepared)`` - the model. Its prepare step must then be safe to run
    while its model step runs on another thread.
    """

    #: shown in progress bars and messages
    name: str
    #: rate the model wants its audio at; None keeps each file's own rate
    sampling_rate: int | None
    #: longest audio the model hears; longer clips are cut there, and the loop says so per file
    max_audio_seconds: float | None
    #: shortest audio the model's processor and encoder accept (or should hear); shorter clips
    #: are brought to this length, and the loop says so per file
    min_audio_seconds: float | None
    #: how (optional): ``"silence"`` after the clip (the default) or ``"repeat"`` it end to end
    short_clip_fill: str

    def label_batch(self, requests: Sequence[LabelRequest]) -> list[str]:
        """Raw response text for every request, in order."""


def model_steps(labeller: Labeller) -> ModelSteps[LabelRequest]:
    """The labeller's call, in two steps where it offers them."""
    if hasattr(labeller, "prepare_batch") and hasattr(labeller, "label_prepared"):
        return ModelSteps(labeller.name, labeller.label_batch, labeller.prepare_batch, labeller.label_prepared)
    return ModelSteps(labeller.name, labeller.label_batch)


@dataclass
class LabelRunSummary:
    total: int
    labelled_now: int = 0
    skipped_done: int = 0
    unreadable: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    empty_responses: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    padded: list[str] = field(default_factory=list)

    def add(self, other: "LabelRunSummary") -> None:
        """Take in the files ``other`` (a batch's summary) names; the counts are the caller's."""
        for name in ("unreadable", "failed", "empty_responses", "truncated", "padded"):
            getattr(self, name).extend(getattr(other, name))

    def as_results(self) -> dict:
        """The figures the run printed, for its record."""
        return {
            "rows_written": self.total,
            "labelled_now": self.labelled_now,
            "already_done": self.skipped_done,
            "unreadable_files": len(self.unreadable),
            "model_failures": len(self.failed),
            "empty_responses": len(self.empty_responses),
            "cut_to_window": len(self.truncated),
            "padded_to_minimum": len(self.padded),
        }


@dataclass
class ReadBatch:
    """One batch of files read for the model: the requests of the files that could be read, and
    where each goes among the batch's lines."""

    size: int  # files in the batch, readable or not
    requests: list[LabelRequest]
    slots: list[int]  # slots[i]: the line of requests[i] within the batch
    summary: LabelRunSummary  # the files that could not be read, were cut or padded


def open_labels_output(files: Sequence[str], out_csv: str, resume: bool,
                       made_with: dict | None = None) -> formats.IncrementalLinesWriter:
    """The labels CSV being written for ``files``; with ``resume`` an interrupted run's lines are
    kept, after checking they were begun for the same files and ``made_with`` the same model,
    inputs and settings (:meth:`auditoryhum.records.ScriptRun.made_with`). Cheap: call it before
    loading a model, so a run with nothing left to do is known without one."""
    return formats.IncrementalLinesWriter(out_csv, file_names(files), resume=resume, made_with=made_with)


def label_files(
    labeller: Labeller,
    files: Sequence[str],
    out_csv: str | formats.IncrementalLinesWriter,
    annotations: Sequence[str] | None = None,
    batch_size: int = 1,
    resume: bool = False,
    prefetch_batches: int = DEFAULT_PREFETCH_BATCHES,
) -> LabelRunSummary:
    """Label every file and write the cleaned responses, one line per file, to ``out_csv`` (a path,
    or a writer from :func:`open_labels_output`). The next ``prefetch_batches`` batches are read
    and prepared in the background while the model works (0: all on this thread)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    annotations = list(annotations) if annotations is not None else [""] * len(files)
    summary = LabelRunSummary(total=len(files))
    writer = out_csv if isinstance(out_csv, formats.IncrementalLinesWriter) else \
        open_labels_output(files, out_csv, resume)
    summary.skipped_done = writer.done
    if writer.done:
        log.info("resuming %s: %d of %d files already labelled", writer.path, writer.done, len(files))
    settings = AudioSettings.of(labeller)
    steps = model_steps(labeller)
    batches = batch_ranges(len(files), batch_size, start=writer.done)
    try:
        with tqdm(total=len(files), initial=writer.done, desc=f"labelling ({labeller.name})", unit="file") as bar:
            for _, read, prepared in prefetched(
                    batches, lambda batch: read_label_batch(settings, files, annotations, batch),
                    (lambda read: steps.prepare(read.requests)) if steps.has_prepare_step else None,
                    prefetch_batches):
                summary.add(read.summary)
                lines = label_read_batch(steps, read, summary, prepared)
                writer.extend(lines)
                summary.labelled_now += len(lines)
                bar.update(len(lines))
        writer.finish()
    except LabellingStopped as err:
        raise UserError(f"{err}; {_kept(writer)}") from None
    except OSError as err:
        raise UserError(f"{writer.partial_path}: cannot write ({err.strerror or err}); {_kept(writer)}") from None
    finally:
        writer.close()
    report(summary, str(writer.path))
    return summary


def _kept(writer: formats.IncrementalLinesWriter) -> str:
    return (f"{writer.done} finished label{'' if writer.done == 1 else 's'} kept in {writer.partial_path}; "
            "re-run with --resume to continue")


def read_label_batch(settings: AudioSettings, files: Sequence[str], annotations: Sequence[str],
                     batch: range) -> ReadBatch:
    """Load the batch's files at the model's rate, cut them to its window, pad them to its shortest
    clip and build their prompts (the CPU work before the model; any thread or Ray worker)."""
    summary = LabelRunSummary(total=0)
    requests: list[LabelRequest] = []
    slots: list[int] = []
    for slot, index in enumerate(batch):
        path = files[index]
        clip = read_clip(settings, path, "its labels line is left blank")
        if clip is None:
            summary.unreadable.append(path)
            continue
        if clip.cut:
            summary.truncated.append(path)
        if clip.fitted:
            summary.padded.append(path)
        requests.append(LabelRequest(path=path, audio=clip.audio, prompt=build_prompt(annotations[index])))
        slots.append(slot)
    return ReadBatch(size=len(batch), requests=requests, slots=slots, summary=summary)


def label_read_batch(steps: ModelSteps[LabelRequest], read: ReadBatch, summary: LabelRunSummary,
                     prepared=NOT_PREPARED) -> list[str]:
    """The batch's cleaned lines, one per file, blank for a file without a label; the files the
    model failed on, or answered with nothing, go into ``summary``."""
    lines = [""] * read.size
    for slot, request, response in zip(read.slots, read.requests, _responses(steps, read.requests, summary, prepared)):
        if response is None:
            continue
        lines[slot] = clean_response(response)
        if not lines[slot].strip():
            summary.empty_responses.append(request.path)
    return lines


def _responses(steps: ModelSteps[LabelRequest], requests: list[LabelRequest], summary: LabelRunSummary,
               prepared=NOT_PREPARED) -> list[str | None]:
    """One response per request; None for a file the model failed on (the others are kept)."""
    if not requests:
        return []
    try:
        return list(steps(requests, prepared))
    except (LabellingStopped, UserError, MemoryError):
        raise
    except Exception as err:  # noqa: BLE001 - one bad file must not stop a run of thousands
        if len(requests) == 1:
            log.warning("%s: %s failed on this file (%s); its labels line is left blank",
                        requests[0].path, steps.name, one_line(err))
            summary.failed.append(requests[0].path)
            return [None]
        return [response for request in requests for response in _responses(steps, [request], summary)]


def report(summary: LabelRunSummary, out_csv: str) -> None:
    print(f"Labelled {counted(summary.labelled_now, 'file')} ({summary.skipped_done} already done) -> {out_csv}")
    if summary.unreadable:
        print(f"{counted(len(summary.unreadable), 'unreadable file')} got a blank line: {', '.join(summary.unreadable)}")
    if summary.failed:
        print(f"{counted(len(summary.failed), 'file')} the model failed on got a blank line: {', '.join(summary.failed)}")
    if summary.empty_responses:
        print(f"{counted(len(summary.empty_responses), 'empty model response')} (blank lines): "
              f"{', '.join(summary.empty_responses)}")
    if summary.truncated:
        print(f"{counted(len(summary.truncated), 'file')} longer than the model's window cut")
    if summary.padded:
        print(f"{counted(len(summary.padded), 'file')} shorter than the model takes brought to its shortest clip")
