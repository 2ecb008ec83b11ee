"""util_review_sheet.py: the HITL review sheet of the lowest-scoring files, and the annotations CSV
made from it once a person has filled it in (see auditoryhum.review)."""

from __future__ import annotations

from pathlib import Path

from .. import cli, formats
from ..errors import UserError
from ..review import LOWEST_FRACTION, REASON_NO_LABEL, format_sheet, read_sheet_notes, review_rows, write_annotations


def get_parser():
    parser = cli.make_parser(
        "util_review_sheet.py",
        "Human-in-the-loop review: write a sheet of the files that need a person - first every file "
        "with no label at all (an empty or non-English answer, or unreadable audio), then those whose "
        "best label aligns worst with the audio (lowest CLAP scores) - with a reason column saying "
        "why each is there; once a person has filled in its annotation column, turn it into an "
        "annotations CSV (one line per file, blank where not reviewed) for util_merge_csv.py or "
        "label_*.py --annotations.",
        "python3 util_review_sheet.py --top_label_scores_csv=top_label_scores.csv "
        "--review_csv=review_sheet.csv --annotations_csv=human_annotations.csv",
    )
    cli.add_input(parser, "--top_label_scores_csv", required=True,
                  help="top-label scores CSV from features_clap_text.py")
    cli.add_output(parser, "--review_csv", required=True, extra=True,
                   help="the review sheet: written when missing (row,filename,label,score,reason,annotation), "
                   "read back once the annotation column is filled in")
    cli.add_output(parser, "--annotations_csv", required=True,
                   help="output: annotations CSV, one line per file, the note where one was written")
    parser.add_argument("--fraction", type=float, default=LOWEST_FRACTION,
                        help="share of the scored files to review, lowest scores first (at least one file); "
                        "files without a label come on top of these")
    parser.add_argument("--simulate_from_filenames", action="store_true",
                        help="fill the annotation column from each file's name instead of asking a person "
                        "(a stand-in annotator for the example data)")
    return parser


@cli.script(get_parser)
def main(args, run) -> int:
    if not 0 < args.fraction <= 1:
        raise UserError(f"--fraction={args.fraction}: must be in (0, 1]")
    rows = formats.read_scores_csv(args.top_label_scores_csv)
    run.files = [row.filename for row in rows]
    review_csv = Path(args.review_csv)
    if not review_csv.exists():
        if not rows:
            raise UserError(f"{args.top_label_scores_csv}: the scores CSV has no rows")
        chosen = review_rows(rows, args.fraction)
        n_unlabelled = sum(reason == REASON_NO_LABEL for _, reason in chosen)
        formats.write_text_atomic(review_csv, format_sheet(chosen, args.simulate_from_filenames))
        print(f"review sheet: {len(chosen)} of {len(rows)} files ({n_unlabelled} without a label, "
              f"{len(chosen) - n_unlabelled} lowest {100 * args.fraction:g}% by CLAP score) written to {review_csv}")
    notes = read_sheet_notes(review_csv, rows)
    if not notes:
        raise UserError(f"{review_csv}: no annotation filled in yet - describe each listed recording in the "
                        "annotation column (e.g. word pairs), save, and re-run")
    write_annotations(args.annotations_csv, len(rows), notes)
    run.results.update(rows_written=len(rows), annotations=len(notes))
    print(f"{len(notes)} annotations written to {args.annotations_csv}")
    return 0
