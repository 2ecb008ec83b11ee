"""features_qwen2a.py: Qwen2-Audio audio-tower embedding of every audio file."""

from __future__ import annotations

from .. import cli
from ..models import QWEN2_AUDIO
from .per_file import run_tower, tower_parser


def get_parser():
    return tower_parser(QWEN2_AUDIO)


@cli.script(get_parser)
def main(args, run):
    return run_tower(args, run, QWEN2_AUDIO)
