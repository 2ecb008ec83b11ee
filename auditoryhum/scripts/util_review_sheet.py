"""util_review_sheet.py: the HITL review sheet of the lowest-scoring files, and the annotations CSV
made from it once a person has filled it in (see auditoryhum.review)."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import cli, formats, records, review
from ..errors import UserError, counted
from ..review import LOWEST_FRACTION, REASON_NO_LABEL

log = logging.getLogger(__name__)

#: exit status when the sheet holds no note yet: nothing to merge (the recipe waits for the review)
EXIT_AWAITING_REVIEW = 3
REVIEW_APP_COMMAND = ('python3 util_review_app.py --review_csv={sheet} --top_label_scores_csv={scores} '
                      '--filedir="<the audio glob>" --text_label_csv=<the MLLM labels CSV> --annotations_csv={out}')


class AwaitingReview(UserError):
    exit_status = EXIT_AWAITING_REVIEW


def get_parser():
    parser = cli.make_parser(
        "util_review_sheet.py",
        "Human-in-the-loop review: write a sheet of the files that need a person - first every file "
        "with no label at all (an empty or non-English answer, or unreadable audio), then those whose "
        "best label aligns worst with the audio (lowest CLAP scores) - with a reason column saying "
        "why each is there; once a person has filled in its annotation column (in a spreadsheet, or "
        "in the review app, util_review_app.py), turn it into an annotations CSV (one line per file, "
        "blank where not reviewed) for util_merge_csv.py or label_*.py --annotations. An existing "
        "sheet is kept with its notes; rows a larger --fraction selects are added to it. --order chooses "
        "which scored files the fraction takes: the lowest scores (published), the smallest margin between "
        "the two best labels, or the lowest spread across clusters. Exit status "
        f"{EXIT_AWAITING_REVIEW}: the sheet holds no note yet (nothing written but the sheet).",
        "python3 util_review_sheet.py --top_label_scores_csv=top_label_scores.csv "
        "--review_csv=review_sheet.csv --annotations_csv=human_annotations.csv",
    )
    cli.add_input(parser, "--top_label_scores_csv", required=True,
                  help="top-label scores CSV from features_clap_text.py")
    cli.add_output(parser, "--review_csv", required=True, extra=True,
                   help="the review sheet: written when missing (" + ",".join(formats.REVIEW_SHEET_COLUMNS)
                   + "), read back once the annotation column is filled in")
    cli.add_output(parser, "--annotations_csv", required=True,
                   help="output: annotations CSV, one line per file, the note where one was written")
    parser.add_argument("--fraction", type=float, default=LOWEST_FRACTION,
                        help="share of the scored files to review, lowest scores first (at least one file); "
                        "files without a label come on top of these")
    parser.add_argument("--order", choices=review.ORDERS, default=review.LOWEST,
                        help=f"which scored files the fraction takes: {review.LOWEST} - the lowest CLAP scores (as "
                        f"published); {review.MARGIN} - the smallest gap between the best and the second-best label "
                        f"(uncertain between two; needs --multi_label_csv); {review.DIVERSE} - the lowest scores "
                        "spread across clusters, the lowest of each cluster first (needs --cluster_ids_csv)")
    cli.add_input(parser, "--multi_label_csv",
                  help=f"--order {review.MARGIN}: the multi-label scores CSV written with these scores "
                  "(features_clap_text.py --multi_label --label_top 2 gives every file's runner-up)")
    cli.add_input(parser, "--cluster_ids_csv",
                  help=f"--order {review.DIVERSE}: cluster ids of these files' labels, one per row of the scores CSV "
                  "(e.g. cluster_sweep.py's --label_csv of the labels before the review)")
    parser.add_argument("--simulate_from_filenames", action="store_true",
                        help="fill blank notes from each file's name instead of asking a person: a stand-in "
                        "annotator for the example data; its notes are marked 'simulated' on the sheet, in the "
                        "run record and in everything made from them")
    return parser


@cli.script(get_parser)
def main(args, run) -> int:
    if not 0 < args.fraction <= 1:
        raise UserError(f"--fraction={args.fraction}: must be in (0, 1]")
    rows = formats.read_scores_csv(args.top_label_scores_csv)
    run.files = [row.filename for row in rows]
    if not rows:
        raise UserError(f"{args.top_label_scores_csv}: the scores CSV has no rows")
    review_csv = Path(args.review_csv)
    wanted = review.review_rows(rows, args.fraction, args.order, *_order_inputs(args, rows))
    if review_csv.exists():
        entries = _update_sheet(review_csv, rows, wanted, args)
    else:
        entries = review.sheet_entries(wanted, args.simulate_from_filenames)
        formats.write_text_atomic(review_csv, formats.format_review_sheet(entries))
        n_unlabelled = sum(reason == REASON_NO_LABEL for _, reason in wanted)
        log.info("review sheet: %s of %d (%d without a label, %d %s) written to %s",
                 counted(len(entries), "file"), len(rows), n_unlabelled, len(entries) - n_unlabelled,
                 ORDER_WORDS[args.order].format(f"{100 * args.fraction:g}%"), review_csv)
    run.add_input_file("--review_csv", args.review_csv)
    notes = {entry.row: entry.annotation for entry in entries if entry.annotation}
    if not notes:
        raise AwaitingReview(
            f"{review_csv}: no note on the sheet yet, nothing to merge - review its {counted(len(entries), 'file')} "
            "in the review app, " + REVIEW_APP_COMMAND.format(sheet=review_csv, scores=args.top_label_scores_csv,
                                                             out=args.annotations_csv)
            + " (or fill in the annotation column in a spreadsheet), then run this again")
    stand_in = review.simulated_stand_in(entries)
    if stand_in:
        run.add_stand_in(stand_in)
    review.write_annotations(args.annotations_csv, len(rows), notes)
    simulated = sum(map(review.is_simulated, entries))
    run.results.update(rows_written=len(rows), annotations=len(notes), simulated_annotations=simulated)
    print(f"{counted(len(notes), 'annotation')} written to {args.annotations_csv}"
          + (f" ({simulated} simulated from the file names, not by a person)" if simulated else ""))
    return 0


#: how the log line says which files an order took
ORDER_WORDS = {review.LOWEST: "lowest {} by CLAP score",
               review.MARGIN: "({}) with the smallest margin between their two best labels",
               review.DIVERSE: "({}) lowest by CLAP score, spread across the clusters"}


def _order_inputs(args, rows) -> tuple[dict | None, list[int] | None]:
    """What the order needs: each file's runner-up (margin), or each row's cluster (diverse)."""
    needs = {review.MARGIN: "--multi_label_csv", review.DIVERSE: "--cluster_ids_csv"}
    for order, flag in needs.items():
        given = getattr(args, flag[2:])
        if args.order == order and not given:
            raise UserError(f"--order {order} needs {flag}")
        if args.order != order and given:
            raise UserError(f"{flag} is for --order {order}")
    if args.order == review.MARGIN:
        return review.runner_ups(rows, formats.read_multi_label_csv(args.multi_label_csv), args.multi_label_csv), None
    if args.order == review.DIVERSE:
        ids = formats.read_cluster_ids(args.cluster_ids_csv)
        records.check_rows_belong(args.cluster_ids_csv, len(ids), args.top_label_scores_csv, rows.filenames)
        return None, ids.tolist()
    return None, None


def _update_sheet(review_csv: Path, rows, wanted, args) -> list[formats.SheetEntry]:
    """The existing sheet, with what this run adds to it (said on stderr)."""
    entries = review.read_sheet(review_csv, rows)
    updated = review.extend_sheet(entries, wanted, args.simulate_from_filenames)
    if updated != entries:
        formats.write_text_atomic(review_csv, formats.format_review_sheet(updated))
        added = len(updated) - len(entries)
        filled = sum(map(review.is_simulated, updated[:len(entries)])) - sum(map(review.is_simulated, entries))
        log.info("%s: %s added for --fraction=%g%s; the %s already on it kept", review_csv, counted(added, "row"),
                 args.fraction, f", {counted(filled, 'blank note')} filled by the simulated annotator" if filled else "",
                 counted(sum(bool(e.annotation) for e in entries), "note"))
    wanted_rows = {row.index for row, _ in wanted}
    beyond = [entry for entry in updated if entry.row not in wanted_rows]
    if beyond:
        log.info("%s: kept as it is, with %s that --fraction=%g would not select (it was made with a larger "
                 "fraction); move the sheet away to start one for %g", review_csv, counted(len(beyond), "row"),
                 args.fraction, args.fraction)
    return updated
