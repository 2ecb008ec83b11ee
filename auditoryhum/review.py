"""The human-in-the-loop step: pick the least aligned files for review, turn the review into annotations.

The paper sends the pairs with the lowest CLAP scores to a person, who writes a short description
of the sound; the note then replaces (util_merge_csv.py) or guides (label_*.py --annotations) the
MLLM's label. This module does the bookkeeping around that person:

    python3 util_review_sheet.py --top_label_scores_csv=top_label_scores.csv \\
        --review_csv=review_sheet.csv --annotations_csv=human_annotations.csv

1. The first run writes the review sheet, a CSV with a header
   ``row,filename,label,score,reason,annotator,annotation`` and an empty annotation column: first every file
   with no label at all (reason ``no label``: an empty or non-English answer, or unreadable audio -
   the files that need a person most), in file order; then the lowest 1 % of the scored files
   (at least one), lowest first (reason ``lowest 1%``). With no annotation filled in yet it stops
   (exit 2) and says so.
2. The reviewer fills in the annotation column (any spreadsheet will do) and re-runs the command,
   which writes the annotations CSV: one line per file, the note on the reviewed rows, blank
   elsewhere (docs/method.md §8).

``--simulate_from_filenames`` fills the sheet from each file's name instead of a person
(``lincity_TraficHigh1.wav`` -> ``trafic high``): a stand-in annotator for the example data, whose
file names say what the recording is. Its notes are marked ``simulated (file name)`` in the sheet's
annotator column, the annotations' run record names the stand-in, and so does every record, report
and page made from them. A simulated note that a person has since changed (in the review app, or
in a spreadsheet) counts as the person's.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

from . import formats
from .clap import LOWEST_FRACTION
from .errors import UserError

REASON_NO_LABEL = "no label"
#: the annotator column of a note the stand-in made, and of one a person saved in the review app
SIMULATED_ANNOTATOR = "simulated (file name)"
REVIEWER = "reviewer"


def has_label(row: formats.ScoreRow) -> bool:
    """False for a file CLAP could not score: no usable label, or no audio embedding."""
    return bool(row.label.strip()) and not math.isnan(row.score)


def lowest_rows(rows: list[formats.ScoreRow], fraction: float = LOWEST_FRACTION) -> list[formats.ScoreRow]:
    """The ``fraction`` of scored rows with the lowest score (rounded down, at least one), lowest
    first - the same files the paper's µ1% averages over."""
    scored = sorted((row for row in rows if has_label(row)), key=lambda row: (row.score, row.index))
    if not scored:
        return []
    return scored[: max(1, int(len(scored) * fraction))]


def lowest_reason(fraction: float) -> str:
    """``lowest 1%`` for 0.01, ``lowest 2.5%`` for 0.025."""
    return f"lowest {100 * fraction:g}%"


def review_rows(rows: list[formats.ScoreRow], fraction: float = LOWEST_FRACTION) -> list[tuple[formats.ScoreRow, str]]:
    """What goes on the sheet, with why: every label-less file first (file order), then the lowest
    ``fraction`` of the scored files (lowest first)."""
    unlabelled = [(row, REASON_NO_LABEL) for row in rows if not has_label(row)]
    return unlabelled + [(row, lowest_reason(fraction)) for row in lowest_rows(rows, fraction)]


def note_from_filename(filename: str) -> str:
    """A stand-in human note from a file name: the part after ``<source>_`` (the example data's
    naming), split into lower-case words at underscores, hyphens, digits and camelCase humps."""
    stem = Path(filename).stem
    clip = stem.split("_", 1)[1] if "_" in stem else stem
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", clip)
    return " ".join(word.lower() for word in words if len(word) > 1)


def sheet_entries(rows: list[tuple[formats.ScoreRow, str]], simulate_from_filenames: bool) -> list[formats.SheetEntry]:
    """The sheet's entries for :func:`review_rows`' ``(row, reason)`` pairs; with
    ``simulate_from_filenames`` each holds the stand-in's note, marked as such."""
    entries = []
    for row, reason in rows:
        note = note_from_filename(row.filename) if simulate_from_filenames else ""
        entries.append(formats.SheetEntry(row.index, row.filename, row.label, formats.format_score(row.score), reason,
                                          note, annotator=SIMULATED_ANNOTATOR if note else ""))
    return entries


def is_simulated(entry: formats.SheetEntry) -> bool:
    """A note the stand-in annotator wrote and no person has changed since."""
    return bool(entry.annotation) and entry.annotator == SIMULATED_ANNOTATOR \
        and entry.annotation == note_from_filename(entry.filename)


def simulated_stand_in(entries: list[formats.SheetEntry]) -> str | None:
    """What a run record says of notes the stand-in annotator made; None when a person wrote them all."""
    simulated = sum(map(is_simulated, entries))
    if not simulated:
        return None
    notes = sum(bool(entry.annotation) for entry in entries)
    return (f"simulated annotator: {simulated} of the {notes} human notes were made from the file names "
            "(util_review_sheet.py --simulate_from_filenames), not by a person")


def simulated_annotator_named(stand_ins: list[str]) -> bool:
    """Whether a record's stand-ins include the simulated annotator."""
    return any(item.startswith("simulated annotator") for item in stand_ins)


def extend_sheet(entries: list[formats.SheetEntry], wanted: list[tuple[formats.ScoreRow, str]],
                 simulate_from_filenames: bool) -> list[formats.SheetEntry]:
    """An existing sheet with the rows of ``wanted`` it lacks added at its end (a larger
    ``--fraction``); its rows and notes are kept as they are, but for blank notes, which
    ``simulate_from_filenames`` fills (marked as the stand-in's)."""
    present = {entry.row for entry in entries}
    missing = [(row, reason) for row, reason in wanted if row.index not in present]
    if simulate_from_filenames:
        entries = [replace(entry, annotation=note_from_filename(entry.filename), annotator=SIMULATED_ANNOTATOR)
                   if not entry.annotation and note_from_filename(entry.filename) else entry for entry in entries]
    return entries + sheet_entries(missing, simulate_from_filenames)


def read_sheet(review_csv: Path, rows: list[formats.ScoreRow]) -> list[formats.SheetEntry]:
    """Every entry of the sheet, in sheet order; each must name the same file as that row of the
    scores CSV (a sheet from another run is refused). Sheets written before the ``reason`` column
    existed read the same way."""
    entries = formats.read_review_sheet(review_csv)
    for entry in entries:
        if not 1 <= entry.row <= len(rows) or rows[entry.row - 1].filename != entry.filename:
            raise UserError(f"{review_csv}: line {entry.line}: row {entry.row} is not {entry.filename!r} in the "
                            "scores CSV; the sheet belongs to another run - delete it to start a new one")
    return entries


def read_sheet_notes(review_csv: Path, rows: list[formats.ScoreRow]) -> dict[int, str]:
    """Row index (1-based) -> the note filled in, for the rows that have one (see :func:`read_sheet`)."""
    return {entry.row: entry.annotation for entry in read_sheet(review_csv, rows) if entry.annotation}


def save_note(review_csv: Path, rows: list[formats.ScoreRow], row: int, note: str) -> list[formats.SheetEntry]:
    """Set the annotation of ``row`` on the sheet and write the sheet back atomically; returns the
    sheet as written. The sheet is read afresh, so edits made meanwhile to other rows are kept."""
    entries = read_sheet(review_csv, rows)
    if not any(entry.row == row for entry in entries):
        raise KeyError(row)
    entries = [replace(entry, annotation=formats.one_line_note(note), annotator=REVIEWER) if entry.row == row
               else entry for entry in entries]
    formats.write_text_atomic(review_csv, formats.format_review_sheet(entries))
    return entries


def annotation_lines(n_rows: int, notes: dict[int, str]) -> list[str]:
    return [notes.get(index, "") for index in range(1, n_rows + 1)]


def write_annotations(annotations_csv: formats.PathLike, n_rows: int, notes: dict[int, str]) -> None:
    """The annotations CSV: one line per file of the scores CSV, the note on reviewed rows."""
    formats.write_labels_csv(annotations_csv, annotation_lines(n_rows, notes))
