"""features_mfcc.py - mean MFCC vector per audio file, the model-free baseline embedding."""

from __future__ import annotations


from .. import cli, formats
from ..audio import list_audio_files
from ..mfcc import N_MFCC, SAMPLING_RATE, mfcc_embeddings


def get_parser():
    parser = cli.make_parser(
        "features_mfcc.py",
        f"Write one row of {N_MFCC} MFCCs per audio file, averaged over time ({SAMPLING_RATE // 1000} kHz "
        "mono, n_fft 2048, hop 512, window 2048), as a float32 .npy. A file that cannot be decoded "
        "keeps its row, filled with NaN.",
        'python3 features_mfcc.py --filedir="*.wav" --mfcc_npy=mfcc.npy',
    )
    cli.add_filedir_argument(parser)
    parser.add_argument("--mfcc_npy", default="mfcc.npy", help="output .npy, shape (files, 20), float32")
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    cli.require_output_folder(args.mfcc_npy, "--mfcc_npy")
    files = list_audio_files(args.filedir)
    embeddings = mfcc_embeddings(files)
    formats.save_npy(args.mfcc_npy, embeddings)
    print(f"wrote {args.mfcc_npy}: {embeddings.shape[0]} files x {embeddings.shape[1]} MFCCs")
    return 0
