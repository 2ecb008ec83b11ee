"""label_qwen2_5o.py: label every audio file with Qwen2.5-Omni (3B/7B), thinker only."""

from __future__ import annotations

from ..cli import entry_point
from ..mllm import labeller_parser, run_labeller
from ..mllm_qwen_omni import Qwen2_5OmniLabeller


def get_parser():
    return labeller_parser(
        "label_qwen2_5o.py",
        "qwen2_5o_model",
        "Qwen2.5-Omni-3B/7B model folder (or hub id): the full Omni checkpoint or a thinker-only export",
        "Qwen2.5-Omni's thinker (text out, no speech)",
        'python3 label_qwen2_5o.py --filedir="*.wav" --qwen2_5o_model="Qwen2.5-Omni-3B" '
        "--text_label_csv=qwen2_5o_text_labels.csv",
    )


@entry_point
def main(argv=None):
    return run_labeller(get_parser().parse_args(argv), Qwen2_5OmniLabeller, "qwen2_5o_model")
