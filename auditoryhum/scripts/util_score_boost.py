"""util_score_boost.py: mean CLAP score of the human-annotated rows, before and after HITL."""

from __future__ import annotations

from ..cli import entry_point, make_parser
from ..hitl import load_boost_inputs, score_boost


def get_parser():
    parser = make_parser(
        "util_score_boost.py",
        "Compare the top-label scores of the rows a human annotated, before (MLLM labels) and after "
        "(labels merged with the annotations). Rows with no score in either file are left out and counted.",
        "python3 util_score_boost.py --csv1=top_label_scores.csv --csv2=top_label_scores_with_annotations.csv "
        "--csv3=human_annotations.csv",
    )
    parser.add_argument("--csv1", required=True, help="top-label scores CSV of the MLLM labels (before)")
    parser.add_argument("--csv2", required=True, help="top-label scores CSV of the merged labels (after)")
    parser.add_argument("--csv3", required=True, help="human annotations CSV (selects the rows)")
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    boost = score_boost(*load_boost_inputs(args.csv1, args.csv2, args.csv3))
    print(f"Annotated rows: {boost.annotated_rows}")
    if boost.scored_rows < boost.annotated_rows:
        print(f"Annotated rows without a score (left out): {boost.annotated_rows - boost.scored_rows}")
    print(f"Mean CLAP score before: {boost.mean_before:.6f}")
    print(f"Mean CLAP score after: {boost.mean_after:.6f}")
    print(f"Boost: {boost.boost:+.6f}")
    return 0
