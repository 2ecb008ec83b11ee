"""features_clap.py - CLAP audio embedding per audio file (the input of features_clap_text)."""

from __future__ import annotations


from .. import cli, formats, runtime
from ..audio import list_audio_files
from ..clap import embed_audio_batch, load_clap
from ..features import embed_audio_files


def get_parser():
    parser = cli.make_parser(
        "features_clap.py",
        "Write one CLAP audio embedding per audio file (unit length, float32 .npy, one row per\n"
        "file in sorted order). Audio is resampled to the model's own rate (48 kHz for Human-CLAP\n"
        "and LAION CLAP). Embeddings are deterministic and do not depend on --batch_size. A file\n"
        "that cannot be decoded keeps its row, filled with NaN.",
        'python3 features_clap.py --filedir="*.wav" --clap_model="human-clap-wsce-mse-mae" --clap_npy=clap.npy',
    )
    cli.add_filedir_argument(parser)
    parser.add_argument(
        "--clap_model",
        required=True,
        help="CLAP model folder (a transformers ClapModel checkpoint, e.g. a git clone of "
        "human-clap-wsce-mse-mae or laion/clap-htsat-fused), or a hub id where a hub is reachable",
    )
    parser.add_argument("--clap_npy", default="clap.npy", help="output .npy, shape (files, projection dim), float32")
    parser.add_argument("--batch_size", type=int, default=8, help="audio files per model forward pass")
    runtime.add_runtime_arguments(parser, runtime.CUDA_FLOAT32)
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    cli.require_at_least_one(args.batch_size, "--batch_size")
    cli.require_output_folder(args.clap_npy, "--clap_npy")
    files = list_audio_files(args.filedir)
    clap = load_clap(args.clap_model, runtime.runtime_from_args(args))
    embeddings = embed_audio_files(
        files,
        clap.sampling_rate,
        lambda waveforms: embed_audio_batch(clap, waveforms),
        batch_size=args.batch_size,
        desc="CLAP audio",
    )
    formats.save_npy(args.clap_npy, embeddings)
    print(f"wrote {args.clap_npy}: {embeddings.shape[0]} files x {embeddings.shape[1]} dimensions")
    return 0
