"""The command line the clustering scripts share: cluster_ag.py, cluster_kmeans.py and
cluster_spectral.py (a fixed k), and the input and output flags of cluster_hdbscan.py and
cluster_sweep.py. The work is in :mod:`auditoryhum.clustering`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import cli, clustering, records


def add_clustering_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_input(parser, "--cluster_npy", required=True,
                  help=".npy of embeddings to cluster, one row per file (e.g. st.npy from features_st.py)")
    cli.add_output(parser, "--label_csv", required=True,
                   help="output: cluster ids CSV, one integer per line, row i = row i of --cluster_npy; "
                   f"rows holding NaN (files without a label) get {clustering.NO_LABEL}")
    cli.add_output(parser, "--png_plot", required=True, extra=True,
                   help="output: 12x12 in t-SNE scatter coloured by cluster (t-SNE coordinates are cached, "
                   "see auditoryhum.tsne)")


def k_script_parser(prog: str, algorithm: clustering.Algorithm) -> argparse.ArgumentParser:
    parser = cli.make_parser(
        prog,
        f"Cluster embeddings with {algorithm.title} (seed {clustering.SEED}), print the silhouette score, "
        "write the cluster ids and a t-SNE scatter. Rows holding NaN (files without a label) are left out "
        f"and get id {clustering.NO_LABEL}.",
        f'python3 {prog} --cluster_npy=st.npy --n_clusters=67 --label_csv=cluster_ids.csv --png_plot=tsne.png',
    )
    add_clustering_arguments(parser)
    parser.add_argument("--n_clusters", type=int, required=True,
                        help="number of clusters k, from 2 to the number of rows (see cluster_sweep.py to choose it)")
    return parser


def load_clustering_input(args, run: records.ScriptRun) -> clustering.Embeddings:
    """The embeddings to cluster; the file names of their rows, from their record, go on."""
    embeddings = clustering.load_embeddings(args.cluster_npy)
    run.files = records.recorded_files(args.cluster_npy)
    run.parameters["seed"] = clustering.SEED
    run.results.update(rows=len(embeddings.usable), rows_without_a_label=embeddings.n_unusable)
    return embeddings


def run_k_script(args: argparse.Namespace, run: records.ScriptRun, algorithm: clustering.Algorithm) -> int:
    embeddings = load_clustering_input(args, run)
    clustering.check_n_clusters(args.n_clusters, embeddings, args.cluster_npy)
    fitted = algorithm.fit(embeddings.rows, args.n_clusters)
    report = clustering.k_report(fitted)
    print("\n".join(report.lines))
    run.results.update(report.figures, n_clusters=args.n_clusters)
    title = f"{algorithm.title}, k = {args.n_clusters} (t-SNE of {Path(args.cluster_npy).name})"
    clustering.write_outputs(embeddings.array, embeddings.expand(fitted.ids), args.label_csv, args.png_plot, title)
    return 0
