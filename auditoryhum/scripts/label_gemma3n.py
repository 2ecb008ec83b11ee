"""label_gemma3n.py: label every audio file with Gemma-3n (E2B/E4B)."""

from __future__ import annotations

from .. import cli
from ..models import GEMMA_3N
from .per_file import labeller_parser, run_local_labeller


def get_parser():
    return labeller_parser(GEMMA_3N)


@cli.script(get_parser)
def main(args, run):
    return run_local_labeller(args, run, GEMMA_3N)
