"""label_soundnet.py: label every audio file with SoundNet-8, a fast offline scene tagger (baseline)."""

from __future__ import annotations

import functools

from .. import cli
from ..errors import UserError
from ..runtime import resolve_runtime
from ..soundnet import (
    INSTALL_HINT,
    MAX_PIECE_SECONDS,
    TOP_OBJECTS,
    TOP_SCENES,
    TRAINING_SECONDS,
    SoundNetLabeller,
)
from .per_file import add_labelling_arguments, label


def get_parser():
    parser = cli.make_parser(
        "label_soundnet.py",
        "Label each audio file with SoundNet-8 (Aytar, Vondrick, Torralba 2016): its most probable "
        "Places scenes and ImageNet objects, as word pairs in the labels-CSV format (e.g. "
        '"pasture, marsh, ox"), one line per file, written as they are produced. A weak, fast scene '
        "tagger from 2016 that runs offline on a CPU: a baseline, and a labeller for machines without "
        "a GPU - not one of the paper's MLLM labellers. Clips shorter than 20 s are repeated end to end "
        f"to 20 s (the length it was trained on). Weights and class names: {INSTALL_HINT}",
        'python3 label_soundnet.py --filedir="*.wav" --text_label_csv=soundnet_text_labels.csv',
    )
    cli.add_model(
        parser, "--soundnet_weights", what="SoundNet weights file",
        default=None,
        help="the sound8.npy weights file (default: the one in the installed soundnet package, which "
        "also provides the class names)",
    )
    parser.add_argument("--top_scenes", type=int, default=TOP_SCENES, help="scene labels per file, most probable first")
    parser.add_argument("--top_objects", type=int, default=TOP_OBJECTS,
                        help="object labels per file, after the scenes (0: none)")
    add_labelling_arguments(parser, batch_help="files per forward pass (files of equal length share one)")
    parser.add_argument("--device", default="auto", help='"cpu", "cuda", "cuda:N", or "auto" (CUDA when present)')
    return parser


@cli.script(get_parser)
def main(args, run):
    if args.top_scenes < 0 or args.top_objects < 0:
        raise UserError("--top_scenes and --top_objects must be 0 or more")
    cli.require_at_least_one(args.top_scenes + args.top_objects, "--top_scenes plus --top_objects")
    if args.annotations:
        raise UserError(f"--annotations={args.annotations}: SoundNet has no prompt to add notes to; merge them "
                        "into its labels with util_merge_csv.py instead")
    run.parameters.update(repeat_shorter_clips_to_seconds=TRAINING_SECONDS, max_piece_seconds=MAX_PIECE_SECONDS)
    # the device is resolved where the model loads: a run with nothing to do needs no torch
    runtime = functools.partial(resolve_runtime, args.device)
    weights, scenes, objects = args.soundnet_weights, args.top_scenes, args.top_objects
    return label(args, run, lambda: SoundNetLabeller(weights, runtime().device, scenes, objects), runtime)
