"""features_qwen2a.py: Qwen2-Audio audio-tower embedding of every audio file."""

from __future__ import annotations

from ..audio_towers import Qwen2AudioTower, run_tower, tower_parser
from ..cli import entry_point


def get_parser():
    return tower_parser(
        "features_qwen2a.py", "Qwen2-Audio", "qwen2a_model", "qwen2a_npy",
        'python3 features_qwen2a.py --filedir="*.wav" --qwen2a_model="Qwen2-Audio-7B-Instruct" --qwen2a_npy=qwen2a.npy',
    )


@entry_point
def main(argv=None):
    return run_tower(get_parser().parse_args(argv), Qwen2AudioTower, "qwen2a_model", "qwen2a_npy")
