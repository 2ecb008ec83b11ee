"""label_qwen2a.py: label every audio file with Qwen2-Audio-7B-Instruct."""

from __future__ import annotations

from .. import cli
from ..models import QWEN2_AUDIO
from .per_file import labeller_parser, run_local_labeller


def get_parser():
    return labeller_parser(QWEN2_AUDIO)


@cli.script(get_parser)
def main(args, run):
    return run_local_labeller(args, run, QWEN2_AUDIO)
