"""features_clap.py - CLAP audio embedding per audio file (the input of features_clap_text)."""

from __future__ import annotations

from .. import cli, runtime
from ..clap import ClapAudioEmbedder, load_clap
from ..models import HUMAN_CLAP, LAION_CLAP
from .per_file import add_batch_size_argument, add_embedding_arguments, embed, model_runtime


def get_parser():
    parser = cli.make_parser(
        "features_clap.py",
        "Write one CLAP audio embedding per audio file (unit length, float32 .npy, one row per\n"
        "file in sorted order). Audio is resampled to the model's own rate (48 kHz for Human-CLAP\n"
        "and LAION CLAP). Embeddings are deterministic and do not depend on --batch_size. A file\n"
        "that cannot be decoded keeps its row, filled with NaN.",
        f'python3 features_clap.py --filedir="*.wav" --clap_model="{HUMAN_CLAP.default_model}" --clap_npy=clap.npy',
    )
    add_embedding_arguments(parser)
    cli.add_model(
        parser, "--clap_model",
        required=True,
        help="CLAP model folder (a transformers ClapModel checkpoint, e.g. a git clone of "
        f"{HUMAN_CLAP.default_model} or {LAION_CLAP.default_model}), or a hub id where a hub is reachable",
    )
    cli.add_output(parser, "--clap_npy", default="clap.npy", help="output .npy, shape (files, projection dim), float32")
    add_batch_size_argument(parser, what="audio files")
    cli.add_runtime_arguments(parser, runtime.CUDA_FLOAT32)
    return parser


@cli.script(get_parser)
def main(args, run):
    run_on = model_runtime(args)
    run.parameters["seed"] = runtime.SEED
    return embed(args, run, args.clap_npy, lambda: ClapAudioEmbedder(load_clap(args.clap_model, run_on())),
                              run_on)
