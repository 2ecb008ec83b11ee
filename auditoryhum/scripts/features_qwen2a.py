"""features_qwen2a.py: Qwen2-Audio audio-tower embedding of every audio file."""

from __future__ import annotations

from .. import formats
from ..audio import list_audio_files
from ..audio_towers import Qwen2AudioTower
from ..cli import add_filedir_argument, entry_point, make_parser, require_at_least_one, require_output_folder
from ..features import embed_audio_files
from ..runtime import add_runtime_arguments, runtime_from_args


def get_parser():
    parser = make_parser(
        "features_qwen2a.py",
        "Embed each audio file with Qwen2-Audio's audio tower (last hidden state summed over time) "
        "and save an (n_files, d) float32 .npy in sorted-file order; unreadable files get NaN rows.",
        'python3 features_qwen2a.py --filedir="*.wav" --qwen2a_model="Qwen2-Audio-7B-Instruct" --qwen2a_npy=qwen2a.npy',
    )
    add_filedir_argument(parser)
    parser.add_argument("--qwen2a_model", required=True, help="Qwen2-Audio-7B-Instruct model folder (or hub id)")
    parser.add_argument("--qwen2a_npy", required=True, help="output .npy")
    parser.add_argument("--batch_size", type=int, default=8, help="files per encoder call")
    add_runtime_arguments(parser)
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    require_at_least_one(args.batch_size, "--batch_size")
    require_output_folder(args.qwen2a_npy, "--qwen2a_npy")
    files = list_audio_files(args.filedir)
    tower = Qwen2AudioTower(args.qwen2a_model, runtime_from_args(args))
    embeddings = embed_audio_files(files, tower.sampling_rate, tower, args.batch_size, desc="Qwen2-Audio tower")
    formats.save_npy(args.qwen2a_npy, embeddings)
    print(f"Saved {embeddings.shape} Qwen2-Audio embeddings -> {args.qwen2a_npy}")
    return 0
