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
#: the published bottom fraction by CLAP score; the smallest gap between the best and the second
#: label (uncertain between two); the lowest-scoring files spread across clusters
LOWEST, MARGIN, DIVERSE = "lowest", "margin", "diverse"
ORDERS = (LOWEST, MARGIN, DIVERSE)
#: the annotator column of a note the stand-in made, and of one a person saved in the review app
SIMULATED_ANNOTATOR = "simulated (file name)"
REVIEWER = "reviewer"
#: how records, the report and the taxonomy page name the stand-in annotator
SIMULATED_ANNOTATOR_STAND_IN = "simulated annotator"


def has_label(row: formats.ScoreRow) -> bool:
    """False for a file CLAP could not score: no usable label, or no audio embedding."""
    return bool(row.label.strip()) and not math.isnan(row.score)


def lowest_rows(rows: list[formats.ScoreRow], fraction: float = LOWEST_FRACTION) -> list[formats.ScoreRow]:
    """The ``fraction`` of scored rows with the lowest score (rounded down, at least one), lowest
    first - the same files the paper's µ1% averages over."""
    scored = sorted((row for row in rows if has_label(row)), key=lambda row: (row.score, row.index))
    return scored[:_count(len(scored), fraction)]


def lowest_reason(fraction: float) -> str:
    """``lowest 1%`` for 0.01, ``lowest 2.5%`` for 0.025."""
    return f"lowest {100 * fraction:g}%"


def review_rows(rows: list[formats.ScoreRow], fraction: float = LOWEST_FRACTION, order: str = LOWEST,
                second: dict[int, formats.LabelRow] | None = None,
                cluster_ids=None) -> list[tuple[formats.ScoreRow, str]]:
    """What goes on the sheet, with why: every label-less file first (file order), then the
    ``fraction`` of the scored files the ``order`` picks - the lowest scores (lowest first), the
    smallest margins (``second``: each file's runner-up, :func:`runner_ups`), or the lowest spread
    across the clusters ``cluster_ids`` (one per row)."""
    unlabelled = [(row, REASON_NO_LABEL) for row in rows if not has_label(row)]
    if order == MARGIN:
        return unlabelled + margin_rows(rows, second, fraction)
    if order == DIVERSE:
        return unlabelled + diverse_rows(rows, cluster_ids, fraction)
    return unlabelled + [(row, lowest_reason(fraction)) for row in lowest_rows(rows, fraction)]


# ----------------------------------------------------------------------------------------------
# the order of the queue: which scored files a fraction of the reviewer's time goes to

def queue_size(rows: list[formats.ScoreRow], fraction: float) -> int:
    """How many scored files a ``fraction`` is: rounded down, at least one (none without any)."""
    return _count(sum(map(has_label, rows)), fraction)


def _count(n_scored: int, fraction: float) -> int:
    """A ``fraction`` of ``n_scored`` files: rounded down, at least one (none of none)."""
    return max(1, int(n_scored * fraction)) if n_scored else 0


def runner_ups(rows: list[formats.ScoreRow], label_rows: list[formats.LabelRow], source: str
               ) -> dict[int, formats.LabelRow]:
    """Each file's second label (rank 2) of a multi-label CSV, by the file's 1-based row; the CSV must
    hold the same files with the same best labels as the scores CSV (it is written beside it)."""
    best = {row.index: row for row in label_rows if row.rank in (1, formats.NO_LABEL_RANK)}
    if len(best) != len(rows):
        raise UserError(f"{source}: lists {len(best)} files, the scores CSV {len(rows)}; pass the multi-label CSV "
                        "features_clap_text.py wrote with these scores")
    for row in rows:
        mine = best.get(row.index)
        if mine is None or mine.filename != row.filename or (has_label(row) and mine.label != row.label):
            raise UserError(f"{source}: file {row.index} is {mine and mine.filename!r} with best label "
                            f"{mine and mine.label!r}, the scores CSV has {row.filename!r} with {row.label!r}; pass "
                            "the multi-label CSV features_clap_text.py wrote with these scores")
    return {row.index: row for row in label_rows if row.rank == 2}


def margin_rows(rows: list[formats.ScoreRow], second: dict[int, formats.LabelRow],
                fraction: float = LOWEST_FRACTION) -> list[tuple[formats.ScoreRow, str]]:
    """The ``fraction`` of scored files with the smallest gap between their best and second-best
    label score, smallest first (reason ``margin 0.012 (a vs b)``); files without a second label
    in the multi-label CSV (one candidate, or the runner-up outside its rule) come after those
    with one, lowest score first."""
    scored = [row for row in rows if has_label(row)]
    with_second = sorted((row for row in scored if row.index in second),
                         key=lambda row: (row.score - second[row.index].score, row.index))
    without = sorted((row for row in scored if row.index not in second), key=lambda row: (row.score, row.index))
    chosen = []
    for row in (with_second + without)[:queue_size(rows, fraction)]:
        other = second.get(row.index)
        chosen.append((row, f"margin {row.score - other.score:.3f} ({row.label} vs {other.label})" if other
                       else "margin unknown (no second label)"))
    return chosen


def _ordinal(n: int) -> str:
    """What comes before "lowest": nothing for the lowest, "2nd " for the second lowest, ..."""
    if n == 1:
        return ""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} "


def diverse_rows(rows: list[formats.ScoreRow], cluster_ids, fraction: float = LOWEST_FRACTION
                 ) -> list[tuple[formats.ScoreRow, str]]:
    """The lowest-scoring files spread across clusters: first the lowest of every cluster, then the
    second lowest of every cluster, ..., each round lowest score first, until the ``fraction`` is
    reached (reason ``lowest in cluster 3``, ``2nd lowest in cluster 3``; scored files in no cluster
    - HDBSCAN noise - count as one more group, ``lowest in no cluster``). Ten near-identical clips,
    which share a cluster, then take one place each round instead of ten places at once."""
    groups: dict[int, list[formats.ScoreRow]] = {}
    for row, cluster in zip(rows, cluster_ids):
        if has_label(row):
            groups.setdefault(int(cluster), []).append(row)
    for members in groups.values():
        members.sort(key=lambda row: (row.score, row.index))
    chosen, depth, wanted = [], 0, queue_size(rows, fraction)
    while len(chosen) < wanted:
        this_round = sorted(((members[depth], cluster) for cluster, members in groups.items() if depth < len(members)),
                            key=lambda item: (item[0].score, item[0].index))
        for row, cluster in this_round[:wanted - len(chosen)]:
            where = "no cluster" if cluster == formats.NO_CLUSTER else f"cluster {cluster}"
            chosen.append((row, f"{_ordinal(depth + 1)}lowest in {where}"))
        depth += 1
    return chosen


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
    return (f"{SIMULATED_ANNOTATOR_STAND_IN}: {simulated} of the {notes} human notes were made from the file names "
            "(util_review_sheet.py --simulate_from_filenames), not by a person")


def simulated_annotator_named(stand_ins: list[str]) -> bool:
    """Whether a record's stand-ins include the simulated annotator."""
    return any(item.startswith(SIMULATED_ANNOTATOR_STAND_IN) for item in stand_ins)


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
