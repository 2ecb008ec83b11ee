"""label_qwen2_5o.py: label every audio file with Qwen2.5-Omni (3B/7B), thinker only."""

from __future__ import annotations

from .. import cli
from ..models import QWEN2_5_OMNI
from .per_file import labeller_parser, run_local_labeller


def get_parser():
    return labeller_parser(QWEN2_5_OMNI)


@cli.script(get_parser)
def main(args, run):
    return run_local_labeller(args, run, QWEN2_5_OMNI)
