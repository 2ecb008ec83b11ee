"""Labelling as a kind of job of the per-file engine (:mod:`auditoryhum.engine`): every MLLM
labeller shares it - local models, Gemini and SoundNet alike.

A labeller is a small adapter that turns a batch of (audio, prompt) requests into raw response
texts. What labelling adds to the engine lives here, once: the human annotation appended to each
file's prompt, response cleaning, and the report; reading, cutting and padding the audio,
batching, failures, writing, ``--resume`` and where the model runs are the engine's.

Row i of the labels CSV always belongs to file i: an undecodable file, or one the model fails on,
gets a blank line (and is reported), never a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from .engine import Job, JobRun, JobStopped, ModelSteps, Outcome, RunOptions, run_job
from .errors import counted
from .prompting import build_prompt, clean_response
from .store import LABELS, PartialOutput, Piece


class LabellingStopped(JobStopped):
    """A labeller cannot go on (e.g. a remote service failed for good). The run keeps every
    finished line and stops with one line saying how many and how to continue."""


@dataclass
class LabelRequest:
    path: str
    audio: np.ndarray  # mono float32 at the labeller's sampling_rate (native rate when None)
    prompt: str  # the prompt text, annotation already appended


class Labeller(Protocol):
    """What the engine needs from a model adapter.

    An adapter may also split :meth:`label_batch` in two, so that the engine prepares the next batch
    on a background thread while the model works: ``prepare_batch(requests)`` - the CPU part, e.g.
    the processor's feature extraction - and ``label_prepared(requests, prepared)`` - the model. Its
    prepare step must then be safe to run while its model step runs on another thread.
    """

    #: shown in progress bars and messages
    name: str
    #: rate the model wants its audio at; None keeps each file's own rate
    sampling_rate: int | None
    #: longest audio the model hears; longer clips are cut there, and the run says so per file
    max_audio_seconds: float | None
    #: shortest audio the model's processor and encoder accept (or should hear); shorter clips
    #: are brought to this length, and the run says so per file
    min_audio_seconds: float | None
    #: how (optional): ``"silence"`` after the clip (the default) or ``"repeat"`` it end to end
    short_clip_fill: str

    def label_batch(self, requests: Sequence[LabelRequest]) -> list[str]:
        """Raw response text for every request, in order."""


class LabelJob(Job):
    """Label files: each file's line of the labels CSV; ``annotations``, one per file (blank =
    none), are appended to the prompts."""

    kind = LABELS
    left_without = "its labels line is left blank"
    progress = "labelling ({name})"

    def __init__(self, files: Sequence[str], annotations: Sequence[str] | None = None):
        super().__init__(files, annotations)

    @staticmethod
    def steps(labeller) -> ModelSteps[LabelRequest]:
        if hasattr(labeller, "prepare_batch") and hasattr(labeller, "label_prepared"):
            return ModelSteps(labeller.name, labeller.label_batch, labeller.prepare_batch, labeller.label_prepared)
        return ModelSteps(labeller.name, labeller.label_batch)

    @staticmethod
    def item(path: str, audio, note: str) -> LabelRequest:
        return LabelRequest(path=path, audio=audio, prompt=build_prompt(note))

    @staticmethod
    def outputs(raw, count: int, name: str) -> list[str]:
        responses = list(raw)
        if len(responses) != count:
            raise RuntimeError(f"{name} returned {len(responses)} responses for {count} requests")
        return responses

    @staticmethod
    def row(response: str) -> str:
        return clean_response(response)

    @staticmethod
    def empty(line: str) -> bool:
        return not line.strip()

    def write_piece(self, store: PartialOutput, piece: Piece, rows: list) -> None:
        store.add_lines(piece, ["" if line is None else line for line in rows])

    def report(self, output: str, run: JobRun) -> dict:
        """Print what was done (the run's result, on stdout); its figures, for the record."""
        outcome = self.outcome
        print(f"Labelled {counted(run.done_now, 'file')} ({run.done_before} already done) -> {output}")
        if outcome.unreadable:
            print(f"{counted(len(outcome.unreadable), 'unreadable file')} got a blank line: "
                  f"{', '.join(outcome.unreadable)}")
        if outcome.failed:
            print(f"{counted(len(outcome.failed), 'file')} the model failed on got a blank line: "
                  f"{', '.join(outcome.failed)}")
        if outcome.empty:
            print(f"{counted(len(outcome.empty), 'empty model response')} (blank lines): {', '.join(outcome.empty)}")
        if outcome.cut:
            print(f"{counted(len(outcome.cut), 'file')} longer than the model's window cut")
        if outcome.padded:
            print(f"{counted(len(outcome.padded), 'file')} shorter than the model takes brought to its shortest clip")
        return {
            "rows_written": run.total,
            "labelled_now": run.done_now,
            "already_done": run.done_before,
            "unreadable_files": len(outcome.unreadable),
            "model_failures": len(outcome.failed),
            "empty_responses": len(outcome.empty),
            "cut_to_window": len(outcome.cut),
            "padded_to_minimum": len(outcome.padded),
            # counted on the whole output: a resumed run labelled only part of it
            "rows_without_a_label": sum(not line.strip() for line in run.rows),
        }


def label_files(labeller: Labeller, files: Sequence[str], out_csv: str, annotations: Sequence[str] | None = None,
                batch_size: int = 1, resume: bool = False, prefetch_batches: int | None = None) -> Outcome:
    """Label every file with ``labeller`` (already loaded) into ``out_csv``, in this process; what
    happened to the files besides their lines."""
    options = RunOptions(batch_size=batch_size, resume=resume)
    if prefetch_batches is not None:
        options = RunOptions(batch_size=batch_size, resume=resume, prefetch_batches=prefetch_batches)
    job = LabelJob(files, annotations)
    run_job(job, out_csv, {}, lambda: labeller, options)
    return job.outcome
