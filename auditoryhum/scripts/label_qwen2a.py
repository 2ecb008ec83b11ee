"""label_qwen2a.py: label every audio file with Qwen2-Audio-7B-Instruct."""

from __future__ import annotations

from ..cli import entry_point, make_parser
from ..labelling import add_labelling_arguments, run_labelling
from ..mllm_qwen2_audio import Qwen2AudioLabeller
from ..runtime import add_runtime_arguments, runtime_from_args


def get_parser():
    parser = make_parser(
        "label_qwen2a.py",
        "Describe each audio file's scene in word pairs with Qwen2-Audio (greedy, 64 new tokens) and "
        "write one cleaned response per file to a labels CSV.",
        'python3 label_qwen2a.py --filedir="*.wav" --qwen2a_model="Qwen2-Audio-7B-Instruct" '
        "--text_label_csv=qwen2a_text_labels.csv",
    )
    parser.add_argument("--qwen2a_model", required=True, help="Qwen2-Audio-7B-Instruct model folder (or hub id)")
    add_labelling_arguments(parser)
    add_runtime_arguments(parser)
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    runtime = runtime_from_args(args)
    return run_labelling(args, lambda: Qwen2AudioLabeller(args.qwen2a_model, runtime, "--qwen2a_model"))
