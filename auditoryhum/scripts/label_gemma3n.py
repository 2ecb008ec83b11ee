"""label_gemma3n.py: label every audio file with Gemma-3n (E2B/E4B, e.g. a bnb-4bit build)."""

from __future__ import annotations

from ..cli import entry_point, make_parser
from ..labelling import add_labelling_arguments, run_labelling
from ..mllm_gemma3n import Gemma3nLabeller
from ..runtime import add_runtime_arguments, runtime_from_args


def get_parser():
    parser = make_parser(
        "label_gemma3n.py",
        "Describe each audio file's scene in word pairs with Gemma-3n (greedy, 64 new tokens; clips "
        "longer than 30 s are cut) and write one cleaned response per file to a labels CSV.",
        'python3 label_gemma3n.py --filedir="*.wav" --gemma3n_model="gemma-3n-E4B-it" '
        "--text_label_csv=gemma3n_text_labels.csv",
    )
    parser.add_argument(
        "--gemma3n_model",
        required=True,
        help="Gemma-3n E2B/E4B model folder (or hub id), e.g. gemma-3n-E4B-it or an unsloth bnb-4bit build",
    )
    add_labelling_arguments(parser)
    add_runtime_arguments(parser)
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    runtime = runtime_from_args(args)
    return run_labelling(args, lambda: Gemma3nLabeller(args.gemma3n_model, runtime, "--gemma3n_model"))
