"""cluster_ag.py - Ward agglomerative clustering of an embeddings .npy (SPEC §3); the run is shared with the other k scripts."""

from auditoryhum.cli import entry_point
from auditoryhum.clustering import WARD, k_script_parser, run_k_script

PROG = "cluster_ag.py"


def get_parser():
    return k_script_parser(PROG, WARD)


@entry_point
def main(argv=None) -> int:
    return run_k_script(get_parser().parse_args(argv), WARD)
