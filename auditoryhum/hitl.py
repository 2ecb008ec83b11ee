"""Human-in-the-loop utilities: merge human annotations into MLLM labels, and measure the boost.

The paper's HITL step: a human annotates the worst-aligned (lowest CLAP score) files; their note
replaces the MLLM's line (util_merge_csv.py) and the files are re-scored; the "boost" is the mean
score of the annotated rows after minus before (util_score_boost.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from . import formats, records


#: the help of --whitespace_notes, shared by util_merge_csv.py and util_score_boost.py
WHITESPACE_NOTES_HELP = ("a line of the annotations CSV holding only spaces counts as a note, as in the published "
                         "scripts: it replaces the MLLM line (with its spaces: no label) and counts in the boost; by "
                         "default such a line is no note")


def is_note(note: str, whitespace_notes: bool = False) -> bool:
    """Whether an annotations line is a note: not blank (or, with ``whitespace_notes``, not empty)."""
    return bool(note) if whitespace_notes else bool(note.strip())


def merge_labels(mllm_lines: Sequence[str], annotations: Sequence[str], whitespace_notes: bool = False) -> list[str]:
    """The annotation line where there is one, else the MLLM line (annotations already padded)."""
    return [note if is_note(note, whitespace_notes) else line for line, note in zip(mllm_lines, annotations)]


@dataclass(frozen=True)
class ScoreBoost:
    annotated_rows: int
    scored_rows: int  # annotated rows with a score both before and after (NaN rows left out)
    mean_before: float
    mean_after: float

    @property
    def boost(self) -> float:
        return self.mean_after - self.mean_before


def score_boost(
    before: Sequence[formats.ScoreRow], after: Sequence[formats.ScoreRow], annotations: Sequence[str],
    whitespace_notes: bool = False,
) -> ScoreBoost:
    rows = [i for i, note in enumerate(annotations) if is_note(note, whitespace_notes)]
    scored = [i for i in rows if not (math.isnan(before[i].score) or math.isnan(after[i].score))]
    if not scored:
        return ScoreBoost(len(rows), 0, math.nan, math.nan)
    return ScoreBoost(
        annotated_rows=len(rows),
        scored_rows=len(scored),
        mean_before=sum(before[i].score for i in scored) / len(scored),
        mean_after=sum(after[i].score for i in scored) / len(scored),
    )


def load_boost_inputs(before_csv: str, after_csv: str, annotations_csv: str, whitespace_notes: bool = False):
    before = formats.read_scores_csv(before_csv)
    after = formats.read_scores_csv(after_csv)
    records.check_same_files(str(before_csv), before.filenames, str(after_csv), after.filenames)
    annotations = formats.read_annotations_csv(annotations_csv, len(before), keep_whitespace=whitespace_notes)
    records.check_same_files(str(annotations_csv), records.recorded_files(annotations_csv), str(before_csv),
                             [row.filename for row in before])
    return before, after, annotations
