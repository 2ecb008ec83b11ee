"""util_score_boost.py: mean CLAP score of the human-annotated rows, before and after HITL."""

from __future__ import annotations

from .. import cli, formats, records, review
from ..hitl import WHITESPACE_NOTES_HELP, load_boost_inputs, score_boost


def get_parser():
    parser = cli.make_parser(
        "util_score_boost.py",
        "Compare the top-label scores of the rows a human annotated, before (MLLM labels) and after "
        "(labels merged with the annotations). Rows with no score in either file are left out and counted.",
        "python3 util_score_boost.py --csv1=top_label_scores.csv --csv2=top_label_scores_with_annotations.csv "
        "--csv3=human_annotations.csv",
    )
    cli.add_input(parser, "--csv1", required=True, help="top-label scores CSV of the MLLM labels (before)")
    cli.add_input(parser, "--csv2", required=True, help="top-label scores CSV of the merged labels (after)")
    cli.add_input(parser, "--csv3", required=True, help="human annotations CSV (selects the rows)")
    cli.add_output(parser, "--summary_txt", help="also write the printed summary to this file")
    parser.add_argument("--whitespace_notes", action="store_true", help=WHITESPACE_NOTES_HELP)
    return parser


@cli.script(get_parser, outputs_together=True)
def main(args, run):
    before, after, annotations = load_boost_inputs(args.csv1, args.csv2, args.csv3, args.whitespace_notes)
    run.files = [row.filename for row in before]
    boost = score_boost(before, after, annotations, args.whitespace_notes)
    # The notes' own record says whether a person wrote them; every boost figure carries it.
    simulated = review.simulated_annotator_named(records.recorded_stand_ins(args.csv3))
    lines = [f"Annotated rows: {boost.annotated_rows}" + (" (SIMULATED annotator: notes made from the file names, "
                                                         "not by a person)" if simulated else "")]
    if boost.scored_rows < boost.annotated_rows:
        lines.append(f"Annotated rows without a score (left out): {boost.annotated_rows - boost.scored_rows}")
    lines += [f"Mean CLAP score before: {boost.mean_before:.6f}", f"Mean CLAP score after: {boost.mean_after:.6f}",
              f"Boost: {boost.boost:+.6f}" + (" (simulated annotator)" if simulated else "")]
    summary = "\n".join(lines) + "\n"
    print(summary, end="")
    if args.summary_txt:
        formats.write_text_atomic(args.summary_txt, summary)
    run.results.update(annotated_rows=boost.annotated_rows, scored_annotated_rows=boost.scored_rows,
                       mean_before=boost.mean_before, mean_after=boost.mean_after, boost=boost.boost,
                       simulated_annotator=simulated)
    return 0
