"""features_gemma3n.py: Gemma-3n audio-tower embedding of every audio file."""

from __future__ import annotations

from .. import cli
from ..models import GEMMA_3N
from .per_file import run_tower, tower_parser


def get_parser():
    return tower_parser(GEMMA_3N)


@cli.script(get_parser)
def main(args, run):
    return run_tower(args, run, GEMMA_3N)
