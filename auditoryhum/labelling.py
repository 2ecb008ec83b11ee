"""Labelling as a job of the per-file engine (:mod:`auditoryhum.engine`): every MLLM labeller shares
it - local models, Gemini and SoundNet alike.

A labeller is a small adapter that turns a batch of (audio, prompt) requests into raw response
texts. Everything else lives here, once: the human annotations in the prompts, loading audio at the
model's rate, cutting clips to the model's window and padding clips shorter than it accepts,
response cleaning, per-file failure isolation and the final report; batching, writing, ``--resume``
and where the model runs are the engine's.

Row i of the labels CSV always belongs to file i: an undecodable file, or one the model fails on,
gets a blank line (and is reported), never a missing one; a failure inside a batch is retried one
file at a time, so it costs only that file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from .engine import JobRun, JobStopped, RunOptions, run_job
from .errors import UserError, counted, one_line
from .pipeline import NOT_PREPARED, AudioSettings, ModelSteps, read_clip
from .prompting import build_prompt, clean_response
from .store import LABELS, PartialOutput, Piece

log = logging.getLogger(__name__)


class LabellingStopped(JobStopped):
    """A labeller cannot go on (e.g. a remote service failed for good). The run keeps every
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


class LabelJob:
    """Label files: each file's line of the labels CSV (see :class:`auditoryhum.engine.Job`)."""

    kind = LABELS

    def __init__(self, files: Sequence[str], annotations: Sequence[str] | None = None):
        self.files = list(files)
        self.notes = list(annotations) if annotations is not None else None
        self.summary = LabelRunSummary(total=len(self.files))

    @staticmethod
    def steps(labeller) -> ModelSteps[LabelRequest]:
        return model_steps(labeller)

    @staticmethod
    def items(read: "ReadBatch") -> list[LabelRequest]:
        return read.requests

    @staticmethod
    def read(settings: AudioSettings, paths: list[str], notes: list[str]) -> "ReadBatch":
        return read_label_batch(settings, paths, notes, range(len(paths)))

    @staticmethod
    def run(steps: ModelSteps[LabelRequest], paths: list[str], read: "ReadBatch",
            prepared=NOT_PREPARED) -> tuple[list[str], "LabelRunSummary"]:
        summary = LabelRunSummary(total=0)
        summary.add(read.summary)
        return label_read_batch(steps, read, summary, prepared), summary

    def keep(self, batch: range, result) -> list[str]:
        lines, summary = result
        self.summary.add(summary)
        return lines

    def write_piece(self, store: PartialOutput, piece: Piece, kept: list[list[str]]) -> None:
        store.add_lines(piece, [line for lines in kept for line in lines])


def run_labels(job: LabelJob, out_csv: str, made_with: dict, make_labeller, options: RunOptions,
               worker_runtime=None, executor=None) -> tuple[LabelRunSummary, JobRun]:
    """Label the job's files into ``out_csv`` (see :func:`auditoryhum.engine.run_job`) and print
    what was done."""
    run = run_job(job, out_csv, made_with, make_labeller, options, worker_runtime, "labelling ({name})", executor)
    job.summary.labelled_now, job.summary.skipped_done = run.done_now, run.done_before
    report(job.summary, out_csv)
    return job.summary, run


def label_files(labeller: Labeller, files: Sequence[str], out_csv: str, annotations: Sequence[str] | None = None,
                batch_size: int = 1, resume: bool = False, prefetch_batches: int | None = None) -> LabelRunSummary:
    """Label every file with ``labeller`` (already loaded) into ``out_csv``, in this process."""
    options = RunOptions(batch_size=batch_size, resume=resume)
    if prefetch_batches is not None:
        options = RunOptions(batch_size=batch_size, resume=resume, prefetch_batches=prefetch_batches)
    summary, _ = run_labels(LabelJob(files, annotations), out_csv, {}, lambda: labeller, options)
    return summary


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
