"""label_qwen2_5o.py: label every audio file with Qwen2.5-Omni (3B/7B), thinker only."""

from __future__ import annotations

from ..cli import entry_point, make_parser
from ..labelling import add_labelling_arguments, run_labelling
from ..mllm_qwen_omni import Qwen2_5OmniLabeller
from ..runtime import add_runtime_arguments, runtime_from_args


def get_parser():
    parser = make_parser(
        "label_qwen2_5o.py",
        "Describe each audio file's scene in word pairs with Qwen2.5-Omni's thinker (text out, no speech; "
        "greedy, 64 new tokens) and write one cleaned response per file to a labels CSV.",
        'python3 label_qwen2_5o.py --filedir="*.wav" --qwen2_5o_model="Qwen2.5-Omni-7B" '
        "--text_label_csv=qwen2_5o_text_labels.csv",
    )
    parser.add_argument(
        "--qwen2_5o_model",
        required=True,
        help="Qwen2.5-Omni-3B/7B model folder (or hub id): the full Omni checkpoint or a thinker-only export",
    )
    add_labelling_arguments(parser)
    add_runtime_arguments(parser)
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    runtime = runtime_from_args(args)
    return run_labelling(args, lambda: Qwen2_5OmniLabeller(args.qwen2_5o_model, runtime, "--qwen2_5o_model"))
