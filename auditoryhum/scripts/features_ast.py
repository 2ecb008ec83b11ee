"""features_ast.py - Audio Spectrogram Transformer embedding per audio file."""

from __future__ import annotations

from .. import cli, runtime
from ..ast_embedding import load_ast_embedder
from ..models import AST
from .per_file import add_batch_size_argument, add_embedding_arguments, embed, model_runtime


def get_parser():
    parser = cli.make_parser(
        "features_ast.py",
        "Write one AST embedding per audio file as a float32 .npy: the pooled output after the "
        "classifier head's layer norm (768-d for the AudioSet model). Audio is read mono at the "
        "feature extractor's rate (16 kHz) and cut or padded to the model's input length "
        "(10.24 s). A file that cannot be decoded keeps its row, filled with NaN.",
        f'python3 features_ast.py --filedir="*.wav" --ast_model="{AST.default_model}" --ast_npy=ast.npy',
    )
    add_embedding_arguments(parser)
    cli.add_model(
        parser, "--ast_model",
        default=AST.default_model,
        help=f"folder of an ASTForAudioClassification checkpoint (git clone {AST.clone_url}), or a hub id where "
        "a hub is reachable",
    )
    cli.add_output(parser, "--ast_npy", default="ast.npy", help="output .npy, shape (files, hidden size), float32")
    add_batch_size_argument(parser, what="clips")
    cli.add_runtime_arguments(parser, runtime.CUDA_FLOAT32)
    return parser


@cli.script(get_parser)
def main(args, run):
    run_on = model_runtime(args)

    def load():
        runtime.seed_everything()
        return load_ast_embedder(runtime.resolve_model_path(args.ast_model, "--ast_model"), run_on())

    return embed(args, run, args.ast_npy, load, run_on)
