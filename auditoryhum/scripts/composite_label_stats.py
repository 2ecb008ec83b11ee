"""composite_label_stats.py - label distribution per cluster and cluster count per label (SPEC §3)."""

import json

from auditoryhum import formats
from auditoryhum.cli import entry_point, make_parser
from auditoryhum.composite import format_report, read_label_stats, stats_as_dict

PROG = "composite_label_stats.py"


def get_parser():
    parser = make_parser(
        PROG,
        "Print, for every cluster, the prompt that asks an LLM for a composite label with the cluster's "
        "label frequencies, then how many clusters each label belongs to (the published report). Rows "
        "with an empty label (files without a label) and rows in no cluster (id -1: no label, or HDBSCAN "
        "noise) are left out of every count and counted once on stderr (and in --json_out).",
        f"python3 {PROG} --label_csv=cluster_ids.csv --top_label_scores_csv=top_label_scores.csv",
    )
    parser.add_argument("--label_csv", required=True,
                        help="cluster ids CSV (one integer per line) from a cluster_*.py script")
    parser.add_argument("--top_label_scores_csv", required=True,
                        help="top-label scores CSV from features_clap_text.py, row i = row i of --label_csv")
    parser.add_argument("--json_out", help="also write the same numbers as JSON to this file")
    return parser


@entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    stats = read_label_stats(args.label_csv, args.top_label_scores_csv)
    print(format_report(stats), end="")
    if args.json_out:
        formats.write_text_atomic(args.json_out, json.dumps(stats_as_dict(stats), indent=2, ensure_ascii=False) + "\n")
    return 0
