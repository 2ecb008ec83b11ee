"""features_mfcc.py - mean MFCC vector per audio file, the model-free baseline embedding."""

from __future__ import annotations

from .. import cli
from ..mfcc import HOP_LENGTH, N_FFT, N_MFCC, SAMPLING_RATE, MFCCEmbedder
from .per_file import add_embedding_arguments, embed


def get_parser():
    parser = cli.make_parser(
        "features_mfcc.py",
        f"Write one row of {N_MFCC} MFCCs per audio file, averaged over time ({SAMPLING_RATE // 1000} kHz "
        f"mono, n_fft {N_FFT}, hop {HOP_LENGTH}, window {N_FFT}), as a float32 .npy. A file that cannot be "
        "decoded keeps its row, filled with NaN.",
        'python3 features_mfcc.py --filedir="*.wav" --mfcc_npy=mfcc.npy',
    )
    add_embedding_arguments(parser)
    cli.add_output(parser, "--mfcc_npy", default="mfcc.npy", help=f"output .npy, shape (files, {N_MFCC}), float32")
    return parser


@cli.script(get_parser)
def main(args, run):
    return embed(args, run, args.mfcc_npy, MFCCEmbedder)
