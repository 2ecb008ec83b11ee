"""features_ast.py - Audio Spectrogram Transformer embedding per audio file."""

from __future__ import annotations


from .. import cli, formats, runtime
from ..ast_embedding import DEFAULT_AST_MODEL, ast_embeddings, load_ast_embedder
from ..audio import list_audio_files


def get_parser():
    parser = cli.make_parser(
        "features_ast.py",
        "Write one AST embedding per audio file as a float32 .npy: the pooled output after the "
        "classifier head's layer norm (768-d for the AudioSet model). Audio is read mono at the "
        "feature extractor's rate (16 kHz) and cut or padded to the model's input length "
        "(10.24 s). A file that cannot be decoded keeps its row, filled with NaN.",
        'python3 features_ast.py --filedir="*.wav" --ast_model="ast-finetuned-audioset-10-10-0.4593" '
        "--ast_npy=ast.npy",
    )
    cli.add_filedir_argument(parser)
    parser.add_argument(
        "--ast_model",
        default=DEFAULT_AST_MODEL,
        help="folder of an ASTForAudioClassification checkpoint (git clone "
        "https://huggingface.co/MIT/ast-finetuned-audioset-10-10-0.4593), or a hub id where a hub is reachable",
    )
    parser.add_argument("--ast_npy", default="ast.npy", help="output .npy, shape (files, hidden size), float32")
    parser.add_argument("--batch_size", type=int, default=8, help="clips per forward pass")
    runtime.add_runtime_arguments(parser, runtime.CUDA_FLOAT32)
    return parser


@cli.entry_point
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    cli.require_at_least_one(args.batch_size, "--batch_size")
    cli.require_output_folder(args.ast_npy, "--ast_npy")
    files = list_audio_files(args.filedir)
    model_path = runtime.resolve_model_path(args.ast_model, "--ast_model")
    run_on = runtime.runtime_from_args(args)
    runtime.seed_everything()
    embedder = load_ast_embedder(model_path, run_on)
    embeddings = ast_embeddings(files, embedder, batch_size=args.batch_size)
    formats.save_npy(args.ast_npy, embeddings)
    print(f"wrote {args.ast_npy}: {embeddings.shape[0]} files x {embeddings.shape[1]} dimensions")
    return 0
