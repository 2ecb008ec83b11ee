"""label_qwen2a.py: label every audio file with Qwen2-Audio-7B-Instruct."""

from __future__ import annotations

from ..cli import entry_point
from ..mllm import labeller_parser, run_labeller
from ..mllm_qwen2_audio import Qwen2AudioLabeller


def get_parser():
    return labeller_parser(
        "label_qwen2a.py",
        "qwen2a_model",
        "Qwen2-Audio-7B-Instruct model folder (or hub id)",
        "Qwen2-Audio",
        'python3 label_qwen2a.py --filedir="*.wav" --qwen2a_model="Qwen2-Audio-7B-Instruct" '
        "--text_label_csv=qwen2a_text_labels.csv",
    )


@entry_point
def main(argv=None):
    return run_labeller(get_parser().parse_args(argv), Qwen2AudioLabeller, "qwen2a_model")
