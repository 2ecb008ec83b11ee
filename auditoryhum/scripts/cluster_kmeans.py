"""cluster_kmeans.py - k-means clustering of an embeddings .npy; the run is shared with the other fixed-k scripts."""

from .. import cli
from ..clustering import KMEANS
from .clustering_cli import k_script_parser, run_k_script


def get_parser():
    return k_script_parser("cluster_kmeans.py", KMEANS)


@cli.script(get_parser, outputs_together=True)
def main(args, run):
    return run_k_script(args, run, KMEANS)
