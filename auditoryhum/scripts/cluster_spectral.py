"""cluster_spectral.py - spectral embedding + k-means clustering of an embeddings .npy; the run is shared with the other fixed-k scripts."""

from .. import cli
from ..clustering import SPECTRAL
from .clustering_cli import k_script_parser, run_k_script


def get_parser():
    return k_script_parser("cluster_spectral.py", SPECTRAL)


@cli.script(get_parser, outputs_together=True)
def main(args, run):
    return run_k_script(args, run, SPECTRAL)
