"""The one labelling loop every MLLM labeller shares (local models and Gemini alike).

A labeller is a small adapter that turns a batch of (audio, prompt) requests into raw response
texts. Everything else lives here, once: reading the sorted file list and the human annotations,
building the prompts, loading audio at the model's rate, batching, response cleaning, writing every
finished line at once (so a crash loses nothing), ``--resume``, progress and the final report.

Row i of the labels CSV always belongs to file i: an undecodable file gets a blank line (and is
reported), never a missing one.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from . import formats
from .audio import AudioReadError, list_audio_files, load_audio
from .cli import add_filedir_argument, require_at_least_one, require_output_folder
from .errors import UserError
from .prompting import build_prompt, clean_response

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
    #: shortest audio the model's processor and encoder accept; shorter clips are padded with
    #: silence at the end to this length, and the loop says so per file
    min_audio_seconds: float | None

    def label_batch(self, requests: Sequence[LabelRequest]) -> list[str]:
        """Raw response text for every request, in order."""


@dataclass
class LabelRunSummary:
    total: int
    labelled_now: int = 0
    skipped_done: int = 0
    unreadable: list[str] = field(default_factory=list)
    empty_responses: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    padded: list[str] = field(default_factory=list)


def label_files(
    labeller: Labeller,
    files: Sequence[str],
    out_csv: str,
    annotations: Sequence[str] | None = None,
    batch_size: int = 1,
    resume: bool = False,
) -> LabelRunSummary:
    """Label every file and write the cleaned responses to ``out_csv``, one line per file."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    annotations = list(annotations) if annotations is not None else [""] * len(files)
    summary = LabelRunSummary(total=len(files))
    writer = formats.IncrementalLinesWriter(out_csv, total=len(files), resume=resume)
    summary.skipped_done = writer.done
    if writer.done:
        log.info("resuming %s: %d of %d files already labelled", out_csv, writer.done, len(files))
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
        raise UserError(
            f"{err}; {writer.done} finished label{'' if writer.done == 1 else 's'} kept in "
            f"{writer.partial_path}; re-run with --resume to continue"
        ) from None
    finally:
        writer.close()
    _report(summary, out_csv)
    return summary


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
        audio = _pad_to_minimum(labeller, path, audio, summary)
        requests.append(LabelRequest(path=path, audio=audio, prompt=build_prompt(note)))
        slots.append(slot)
    lines = [""] * len(paths)
    if requests:
        for slot, request, response in zip(slots, requests, labeller.label_batch(requests)):
            lines[slot] = clean_response(response)
            if not lines[slot].strip():
                summary.empty_responses.append(request.path)
    return lines


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


def _pad_to_minimum(labeller: Labeller, path: str, audio: np.ndarray, summary: LabelRunSummary) -> np.ndarray:
    minimum = labeller.min_audio_seconds
    if minimum is None or labeller.sampling_rate is None:
        return audio
    length = int(np.ceil(minimum * labeller.sampling_rate))
    if audio.shape[0] >= length:
        return audio
    log.info("%s: %.3f s long; padded with silence to %g s, the shortest clip %s accepts",
             path, audio.shape[0] / labeller.sampling_rate, minimum, labeller.name)
    summary.padded.append(path)
    return np.pad(audio, (0, length - audio.shape[0]))


def _report(summary: LabelRunSummary, out_csv: str) -> None:
    print(f"Labelled {summary.labelled_now} files ({summary.skipped_done} already done) -> {out_csv}")
    if summary.unreadable:
        print(f"{len(summary.unreadable)} unreadable files got a blank line: {', '.join(summary.unreadable)}")
    if summary.empty_responses:
        print(f"{len(summary.empty_responses)} empty model responses (blank lines): "
              f"{', '.join(summary.empty_responses)}")
    if summary.truncated:
        print(f"{len(summary.truncated)} files longer than the model's window were cut")
    if summary.padded:
        print(f"{len(summary.padded)} files shorter than the model accepts were padded with silence")


# ----------------------------------------------------------------------------------------------
# command line shared by every label_*.py script


def add_labelling_arguments(parser: argparse.ArgumentParser, batch_help: str = "files per generate() call") -> None:
    """Flags every labeller has (the model flag is the script's own)."""
    add_filedir_argument(parser)
    parser.add_argument(
        "--annotations",
        default=None,
        help="optional human annotations CSV (one line per file, blank = none); a note is appended "
        "to the prompt after one space (the HITL step)",
    )
    parser.add_argument("--text_label_csv", required=True, help="output labels CSV, one cleaned response per file")
    parser.add_argument("--batch_size", type=int, default=1, help=batch_help)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: files already in <text_label_csv>.partial are skipped",
    )


def run_labelling(args: argparse.Namespace, make_labeller: Callable[[], Labeller]) -> int:
    """Validate the inputs first (cheap), then load the model and label."""
    require_at_least_one(args.batch_size, "--batch_size")
    require_output_folder(args.text_label_csv, "--text_label_csv")
    files = list_audio_files(args.filedir)
    annotations = formats.read_annotations_csv(args.annotations, len(files)) if args.annotations else None
    labeller = make_labeller()
    label_files(labeller, files, args.text_label_csv, annotations, args.batch_size, args.resume)
    return 0
