"""label_qwen3o.py: label every audio file with Qwen3-Omni-30B-A3B-Instruct, thinker only."""

from __future__ import annotations

from ..cli import entry_point, make_parser
from ..labelling import add_labelling_arguments, run_labelling
from ..mllm_qwen_omni import Qwen3OmniLabeller
from ..runtime import add_runtime_arguments, runtime_from_args


def get_parser():
    parser = make_parser(
        "label_qwen3o.py",
        "Describe each audio file's scene in word pairs with Qwen3-Omni's thinker (text out, no speech; "
        "greedy, 64 new tokens) and write one cleaned response per file to a labels CSV.",
        'python3 label_qwen3o.py --filedir="*.wav" --qwen3o_model="Qwen3-Omni-30B-A3B-Instruct" '
        "--text_label_csv=qwen3o_text_labels.csv --load_in_4bit",
    )
    parser.add_argument(
        "--qwen3o_model",
        required=True,
        help="Qwen3-Omni-30B-A3B-Instruct model folder (or hub id): the full Omni checkpoint or a "
        "thinker-only export",
    )
    add_labelling_arguments(parser)
    add_runtime_arguments(parser)
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    runtime = runtime_from_args(args)
    return run_labelling(args, lambda: Qwen3OmniLabeller(args.qwen3o_model, runtime, "--qwen3o_model"))
