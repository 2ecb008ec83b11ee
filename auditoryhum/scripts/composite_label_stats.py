"""composite_label_stats.py - label distribution per cluster and cluster count per label."""

from .. import cli, formats
from ..composite import format_report, read_label_stats, read_multi_label_stats, stats_as_dict

PROG = "composite_label_stats.py"


def get_parser():
    parser = cli.make_parser(
        PROG,
        "Print, for every cluster, the prompt that asks an LLM for a composite label with the cluster's "
        "label frequencies, then how many clusters each label belongs to (the published report). Rows "
        "with an empty label (files without a label) and rows in no cluster (id -1: no label, or HDBSCAN "
        "noise) are left out of every count and counted once on stderr (and in --json_out). With "
        "--multi_label_csv (several labels per file) the rows are (file, cluster) memberships: a file counts "
        "once in every cluster of its labels, by its best label there, and the JSON says so.",
        f"python3 {PROG} --label_csv=cluster_ids.csv --top_label_scores_csv=top_label_scores.csv",
    )
    cli.add_input(parser, "--label_csv", required=True,
                  help="cluster ids CSV (one integer per line) from a cluster_*.py script")
    labels = parser.add_mutually_exclusive_group(required=True)
    cli.add_input(labels, "--top_label_scores_csv",
                  help="top-label scores CSV from features_clap_text.py, row i = row i of --label_csv")
    cli.add_input(labels, "--multi_label_csv",
                  help="instead: the multi-label scores CSV (features_clap_text.py --multi_label), with --label_csv "
                  "the cluster ids of its distinct labels (features_st.py --multi_label_csv, then a cluster script); "
                  "each file counts once in every cluster of its labels")
    cli.add_output(parser, "--json_out", help="also write the same numbers as JSON to this file")
    cli.add_output(parser, "--report_txt", help="also write the printed report to this file")
    return parser


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    stats = read_label_stats(args.label_csv, args.top_label_scores_csv) if args.top_label_scores_csv else \
        read_multi_label_stats(args.label_csv, args.multi_label_csv)
    run.files = stats.files
    report = format_report(stats)
    print(report, end="")
    if args.json_out:
        formats.write_json(args.json_out, stats_as_dict(stats), indent=2)
    if args.report_txt:
        formats.write_text_atomic(args.report_txt, report)
    run.results.update(clusters=len(stats.clusters), total_labels=stats.total_labels,
                       labels_in_more_than_one_cluster=stats.shared_labels, rows_without_a_label=stats.n_unlabelled,
                       rows_in_no_cluster=stats.n_unclustered)
    if stats.memberships is not None:
        run.results.update({f"multi_label_{key}": value for key, value in stats.memberships.summary().items()})
    return 0
