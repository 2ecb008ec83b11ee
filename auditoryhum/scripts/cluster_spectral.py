"""cluster_spectral.py - spectral embedding + k-means clustering of an embeddings .npy (SPEC §3); the run is shared with the other k scripts."""

from auditoryhum.cli import entry_point
from auditoryhum.clustering import SPECTRAL, k_script_parser, run_k_script

PROG = "cluster_spectral.py"


def get_parser():
    return k_script_parser(PROG, SPECTRAL)


@entry_point
def main(argv=None) -> int:
    return run_k_script(get_parser().parse_args(argv), SPECTRAL)
