"""label_qwen3o.py: label every audio file with Qwen3-Omni-30B-A3B-Instruct, thinker only."""

from __future__ import annotations

from ..cli import entry_point
from ..mllm import labeller_parser, run_labeller
from ..mllm_qwen_omni import Qwen3OmniLabeller


def get_parser():
    return labeller_parser(
        "label_qwen3o.py",
        "qwen3o_model",
        "Qwen3-Omni-30B-A3B-Instruct model folder (or hub id): the full Omni checkpoint or a thinker-only export",
        "Qwen3-Omni's thinker (text out, no speech)",
        'python3 label_qwen3o.py --filedir="*.wav" --qwen3o_model="Qwen3-Omni-30B-A3B-Instruct" '
        "--text_label_csv=qwen3o_text_labels.csv --load_in_4bit",
    )


@entry_point
def main(argv=None):
    return run_labeller(get_parser().parse_args(argv), Qwen3OmniLabeller, "qwen3o_model")
