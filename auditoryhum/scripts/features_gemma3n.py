"""features_gemma3n.py: Gemma-3n audio-tower embedding of every audio file."""

from __future__ import annotations

from ..audio_towers import Gemma3nAudioTower, run_tower, tower_parser
from ..cli import entry_point


def get_parser():
    return tower_parser(
        "features_gemma3n.py", "Gemma-3n", "gemma3n_model", "gemma3n_npy",
        'python3 features_gemma3n.py --filedir="*.wav" --gemma3n_model="gemma-3n-E2B-it-unsloth-bnb-4bit" '
        "--gemma3n_npy=gemma3n.npy",
    )


@entry_point
def main(argv=None):
    return run_tower(get_parser().parse_args(argv), Gemma3nAudioTower, "gemma3n_model", "gemma3n_npy")
