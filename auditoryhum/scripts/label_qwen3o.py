"""label_qwen3o.py: label every audio file with Qwen3-Omni-30B-A3B-Instruct, thinker only."""

from __future__ import annotations

from .. import cli
from ..models import QWEN3_OMNI
from .per_file import labeller_parser, run_local_labeller


def get_parser():
    return labeller_parser(QWEN3_OMNI)


@cli.script(get_parser)
def main(args, run):
    return run_local_labeller(args, run, QWEN3_OMNI)
