"""features_soundnet.py - SoundNet-8's conv7 features per audio file (offline, CPU-friendly)."""

from __future__ import annotations

import functools

from .. import cli
from ..runtime import resolve_runtime
from ..soundnet import BODY, INSTALL_HINT, MAX_PIECE_SECONDS, TRAINING_SECONDS, SoundNetEmbedder
from .per_file import add_batch_size_argument, add_embedding_arguments, embed


def get_parser():
    parser = cli.make_parser(
        "features_soundnet.py",
        f"Write one row of SoundNet-8's {BODY[-1].out_channels} conv7 activations per audio file, averaged over "
        "the clip (the layer its scene and object heads read), as a float32 .npy: the features of a fast "
        "offline scene tagger, e.g. for train_scene_classifier.py. Clips shorter than "
        f"{TRAINING_SECONDS:g} s are repeated end to end to {TRAINING_SECONDS:g} s, longer ones go through in "
        f"pieces of at most {MAX_PIECE_SECONDS:g} s; a file that cannot be decoded keeps its row, filled with "
        f"NaN. Weights: {INSTALL_HINT}",
        'python3 features_soundnet.py --filedir="*.wav" --soundnet_npy=soundnet.npy',
    )
    add_embedding_arguments(parser)
    add_batch_size_argument(parser, what="files (pieces of equal length share a forward pass)")
    cli.add_model(parser, "--soundnet_weights", what="SoundNet weights file", default=None,
                  help="the sound8.npy weights file (default: the one in the installed soundnet package)")
    cli.add_output(parser, "--soundnet_npy", default="soundnet.npy",
                   help=f"output .npy, shape (files, {BODY[-1].out_channels}), float32")
    parser.add_argument("--device", default="auto", help='"cpu", "cuda", "cuda:N", or "auto" (CUDA when present)')
    return parser


@cli.script(get_parser)
def main(args, run):
    run.parameters.update(repeat_shorter_clips_to_seconds=TRAINING_SECONDS, max_piece_seconds=MAX_PIECE_SECONDS)
    # the device is resolved where the model loads: a run with nothing to do needs no torch
    runtime = functools.partial(resolve_runtime, args.device)
    weights = args.soundnet_weights
    return embed(args, run, args.soundnet_npy, lambda: SoundNetEmbedder(weights, runtime().device), runtime)
