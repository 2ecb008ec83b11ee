"""The one labelling loop every MLLM labeller shares (local models, Gemini and SoundNet alike).

A labeller is a small adapter that turns a batch of (audio, prompt) requests into raw response
texts. Everything else lives here, once: the human annotations in the prompts, loading audio at the
model's rate, cutting clips to the model's window and padding clips shorter than it accepts,
batching, response cleaning, writing every finished line at once (so a crash loses nothing),
``--resume``, progress and the final report.

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
from .audio import SILENCE, AudioReadError, describe_fit, fit_to_minimum, load_audio
from .errors import UserError, one_line
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
    """What the loop needs from a model adapter."""

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


def open_labels_output(files: Sequence[str], out_csv: str, resume: bool) -> formats.IncrementalLinesWriter:
    """The labels CSV being written for ``files``; with ``resume`` an interrupted run's lines are
    kept (after checking they were made for the same files). Cheap: call it before loading a model,
    so a finished run is known to be finished without one."""
    return formats.IncrementalLinesWriter(out_csv, file_names(files), resume=resume)


def label_files(
    labeller: Labeller,
    files: Sequence[str],
    out_csv: str | formats.IncrementalLinesWriter,
    annotations: Sequence[str] | None = None,
    batch_size: int = 1,
    resume: bool = False,
) -> LabelRunSummary:
    """Label every file and write the cleaned responses, one line per file, to ``out_csv`` (a path,
    or a writer from :func:`open_labels_output`)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    annotations = list(annotations) if annotations is not None else [""] * len(files)
    summary = LabelRunSummary(total=len(files))
    writer = out_csv if isinstance(out_csv, formats.IncrementalLinesWriter) else \
        open_labels_output(files, out_csv, resume)
    summary.skipped_done = writer.done
    if writer.done:
        log.info("resuming %s: %d of %d files already labelled", writer.path, writer.done, len(files))
    try:
        with tqdm(total=len(files), initial=writer.done, desc=f"labelling ({labeller.name})", unit="file") as bar:
            for start in range(writer.done, len(files), batch_size):
                batch = range(start, min(start + batch_size, len(files)))
                lines = _label_one_batch(labeller, [files[i] for i in batch], [annotations[i] for i in batch], summary)
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


def _label_one_batch(labeller: Labeller, paths: list[str], notes: list[str], summary: LabelRunSummary) -> list[str]:
    requests: list[LabelRequest] = []
    slots: list[int] = []
    for slot, (path, note) in enumerate(zip(paths, notes)):
        try:
            audio = load_audio(path, labeller.sampling_rate)
        except AudioReadError as err:
            log.warning("%s - its labels line is left blank", err)
            summary.unreadable.append(path)
            continue
        audio = _cut_to_window(labeller, path, audio, summary)
        audio = _fit_to_minimum(labeller, path, audio, summary)
        requests.append(LabelRequest(path=path, audio=audio, prompt=build_prompt(note)))
        slots.append(slot)
    lines = [""] * len(paths)
    for slot, request, response in zip(slots, requests, _responses(labeller, requests, summary)):
        if response is None:
            continue
        lines[slot] = clean_response(response)
        if not lines[slot].strip():
            summary.empty_responses.append(request.path)
    return lines


def _responses(labeller: Labeller, requests: list[LabelRequest], summary: LabelRunSummary) -> list[str | None]:
    """One response per request; None for a file the model failed on (the others are kept)."""
    if not requests:
        return []
    try:
        return list(labeller.label_batch(requests))
    except (LabellingStopped, UserError, MemoryError):
        raise
    except Exception as err:  # noqa: BLE001 - one bad file must not stop a run of thousands
        if len(requests) == 1:
            log.warning("%s: %s failed on this file (%s); its labels line is left blank",
                        requests[0].path, labeller.name, one_line(err))
            summary.failed.append(requests[0].path)
            return [None]
        return [response for request in requests for response in _responses(labeller, [request], summary)]


def _cut_to_window(labeller: Labeller, path: str, audio: np.ndarray, summary: LabelRunSummary) -> np.ndarray:
    if labeller.max_audio_seconds is None or labeller.sampling_rate is None:
        return audio
    limit = int(labeller.max_audio_seconds * labeller.sampling_rate)
    if audio.shape[0] <= limit:
        return audio
    log.info("%s: %.1f s long; %s hears only the first %g s (the rest is cut)",
             path, audio.shape[0] / labeller.sampling_rate, labeller.name, labeller.max_audio_seconds)
    summary.truncated.append(path)
    return audio[:limit]


def _fit_to_minimum(labeller: Labeller, path: str, audio: np.ndarray, summary: LabelRunSummary) -> np.ndarray:
    fill = getattr(labeller, "short_clip_fill", SILENCE)
    longer = fit_to_minimum(audio, labeller.sampling_rate, labeller.min_audio_seconds, fill)
    if longer is not audio:
        log.info("%s: %.3f s long; %s", path, audio.shape[0] / labeller.sampling_rate,
                 describe_fit(fill, labeller.min_audio_seconds, labeller.name))
        summary.padded.append(path)
    return longer


def report(summary: LabelRunSummary, out_csv: str) -> None:
    print(f"Labelled {summary.labelled_now} files ({summary.skipped_done} already done) -> {out_csv}")
    if summary.unreadable:
        print(f"{len(summary.unreadable)} unreadable files got a blank line: {', '.join(summary.unreadable)}")
    if summary.failed:
        print(f"{len(summary.failed)} files the model failed on got a blank line: {', '.join(summary.failed)}")
    if summary.empty_responses:
        print(f"{len(summary.empty_responses)} empty model responses (blank lines): "
              f"{', '.join(summary.empty_responses)}")
    if summary.truncated:
        print(f"{len(summary.truncated)} files longer than the model's window were cut")
    if summary.padded:
        print(f"{len(summary.padded)} files shorter than the model takes were brought to its shortest clip")
