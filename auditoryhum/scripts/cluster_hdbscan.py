"""cluster_hdbscan.py - HDBSCAN clustering of an embeddings .npy; noise points get id -1."""

import logging
from pathlib import Path

from .. import cli
from ..clustering import (
    HDBSCAN_EPSILON,
    HDBSCAN_MIN_SAMPLES,
    check_min_cluster_size,
    fit_hdbscan,
    hdbscan_report,
    write_outputs,
)
from .clustering_cli import add_clustering_arguments, load_clustering_input

PROG = "cluster_hdbscan.py"
log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        PROG,
        f"Cluster embeddings with HDBSCAN (min_samples {HDBSCAN_MIN_SAMPLES}, cluster_selection_epsilon "
        f"{HDBSCAN_EPSILON}), print the silhouette score as the published runs did (noise points, id -1, "
        "counted as one more group), then the silhouette of the clustered points alone and how many clusters "
        "and noise points were found; write the cluster ids and a t-SNE scatter (noise in grey). Rows "
        "holding NaN (files without a label) are left out and also get id -1.",
        f"python3 {PROG} --cluster_npy=st.npy --min_cluster_size=5 --label_csv=cluster_ids.csv --png_plot=tsne.png",
    )
    add_clustering_arguments(parser)
    parser.add_argument("--min_cluster_size", type=int, required=True,
                        help="smallest group HDBSCAN calls a cluster (at least 2); smaller groups become noise")
    return parser


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    check_min_cluster_size(args.min_cluster_size)
    embeddings = load_clustering_input(args, run)
    clustering = fit_hdbscan(embeddings.rows, args.min_cluster_size)
    report = hdbscan_report(clustering)
    print("\n".join(report.lines))
    for note in report.notes:
        log.info("%s", note)
    run.results.update(report.figures)
    title = f"HDBSCAN, min_cluster_size = {args.min_cluster_size} (t-SNE of {Path(args.cluster_npy).name})"
    write_outputs(embeddings.array, embeddings.expand(clustering.ids), args.label_csv, args.png_plot, title)
    return 0
