"""label_gemma3n.py: label every audio file with Gemma-3n (E2B/E4B)."""

from __future__ import annotations

from ..cli import entry_point
from ..mllm import labeller_parser, run_labeller
from ..mllm_gemma3n import Gemma3nLabeller


def get_parser():
    return labeller_parser(
        "label_gemma3n.py",
        "gemma3n_model",
        "Gemma-3n E2B/E4B model folder (or hub id), e.g. gemma-3n-E4B-it or an unsloth bnb-4bit build",
        "Gemma-3n (clips longer than 30 s are cut)",
        'python3 label_gemma3n.py --filedir="*.wav" --gemma3n_model="gemma-3n-E2B-it-unsloth-bnb-4bit" '
        "--text_label_csv=gemma3n_text_labels.csv --load_in_4bit",
    )


@entry_point
def main(argv=None):
    return run_labeller(get_parser().parse_args(argv), Gemma3nLabeller, "gemma3n_model")
