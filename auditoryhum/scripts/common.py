"""Command-line pieces several scripts share: the labelling scripts, the audio-embedding scripts
and the fixed-k clustering scripts. Each is its flags plus one run function; the work itself is in
the library modules (:mod:`auditoryhum.labelling`, :mod:`auditoryhum.features`,
:mod:`auditoryhum.clustering`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np

from .. import cli, clustering, formats, records
from ..audio import list_audio_files
from ..features import AudioEmbedder, embed_audio_files
from ..labelling import Labeller, label_files, open_labels_output
from ..models import Model
from ..runtime import CUDA_4BIT

# ----------------------------------------------------------------------------------------------
# labelling: label_qwen2a.py, label_qwen2_5o.py, label_qwen3o.py, label_gemma3n.py, Gemini, ...


def add_labelling_arguments(parser: argparse.ArgumentParser, batch_help: str = "files per generate() call") -> None:
    """Flags every labeller has (the model flag is the script's own)."""
    cli.add_filedir_argument(parser)
    cli.add_input(
        parser, "--annotations",
        default=None,
        help="optional human annotations CSV (one line per file, blank = none); a note is appended "
        "to the prompt after one space (the HITL step)",
    )
    cli.add_output(parser, "--text_label_csv", required=True,
                   help="output labels CSV, one cleaned response per file, written line by line as they are produced")
    parser.add_argument("--batch_size", type=int, default=1, help=batch_help)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: files already in <text_label_csv>.partial are skipped (after "
        "checking they were made for the same files); a finished output is left as it is, without loading "
        "the model",
    )


def run_labelling(args: argparse.Namespace, run: records.ScriptRun, make_labeller: Callable[[], Labeller]) -> int:
    """Check the inputs and what is left to do first (cheap), then load the model and label."""
    cli.require_at_least_one(args.batch_size, "--batch_size")
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    annotations = None
    if args.annotations:
        annotations = formats.read_annotations_csv(args.annotations, len(files))
        records.check_same_files(args.annotations, records.recorded_files(args.annotations),
                                 f'--filedir="{args.filedir}"', run.files)
    writer = open_labels_output(files, args.text_label_csv, args.resume)
    if writer.complete:
        writer.finish()
        print(f"Nothing left to do: {args.text_label_csv} already holds a label line for each of the "
              f"{len(files)} files (drop --resume to label them again)")
        run.results.update(rows_written=len(files), labelled_now=0, already_done=len(files))
    else:
        summary = label_files(make_labeller(), files, writer, annotations, args.batch_size)
        run.results.update(summary.as_results())
    # Counted on the whole file: a resumed run labelled only part of it.
    lines = formats.read_labels_csv(args.text_label_csv)
    run.results["rows_without_a_label"] = sum(not line.strip() for line in lines)
    return 0


def labeller_parser(model: Model) -> argparse.ArgumentParser:
    """The parser of a local-MLLM label script: the model flag, the loop's flags, the runtime's."""
    notes = f"; {model.notes}" if model.notes else ""
    parser = cli.make_parser(
        f"{model.label_script}.py",
        f"Describe each audio file's scene in word pairs with {model.display_name} (greedy, 64 new tokens"
        f"{notes}) and write one cleaned response per file to a labels CSV, line by line as they are produced.",
        f'python3 {model.label_script}.py --filedir="*.wav" --{model.model_flag}="{model.default_model}" '
        f"--text_label_csv={model.key}_text_labels.csv",
    )
    cli.add_model(parser, f"--{model.model_flag}", required=True, help=model.model_help)
    add_labelling_arguments(parser)
    cli.add_runtime_arguments(parser, CUDA_4BIT)
    return parser


def run_local_labeller(args, run: records.ScriptRun, model: Model) -> int:
    from ..prompting import PROMPT_TEXT
    from ..runtime import SEED

    labeller_class = model.labeller_class()
    runtime = cli.runtime_from_args(args, run)
    run.parameters.update(seed=SEED, prompt=PROMPT_TEXT, system_text=labeller_class.system_text,
                          **labeller_class.generation_parameters())
    flag = model.model_flag
    return run_labelling(args, run, lambda: labeller_class(getattr(args, flag), runtime, f"--{flag}"))


# ----------------------------------------------------------------------------------------------
# audio embeddings: features_clap.py, features_ast.py, features_mfcc.py, features_qwen2a.py, ...


def add_batch_size_argument(parser: argparse.ArgumentParser, default: int = 8, what: str = "files") -> None:
    parser.add_argument("--batch_size", type=int, default=default, help=f"{what} per model call")


def embed_files_to_npy(args, run: records.ScriptRun, npy: str, make_embedder: Callable[[], AudioEmbedder]) -> int:
    """List the files, load the embedder, embed every file, save ``npy`` (row i = file i)."""
    batch_size = getattr(args, "batch_size", 1)
    cli.require_at_least_one(batch_size, "--batch_size")
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    embedder = make_embedder()
    embeddings = embed_audio_files(files, embedder, batch_size)
    formats.save_npy(npy, embeddings)
    without = int((~np.isfinite(embeddings).all(axis=1)).sum())
    run.results.update(rows_written=embeddings.shape[0], dimensions=embeddings.shape[1], nan_rows=without)
    print(f"wrote {npy}: {embeddings.shape[0]} files x {embeddings.shape[1]} dimensions"
          + (f" ({without} NaN rows: files that could not be embedded)" if without else ""))
    return 0


def _tower_npy_flag(model: Model) -> str:
    return f"{model.key}_npy"


def tower_parser(model: Model) -> argparse.ArgumentParser:
    npy_flag = _tower_npy_flag(model)
    parser = cli.make_parser(
        f"{model.feature_script}.py",
        f"Embed each audio file with {model.display_name}'s audio tower (output summed over time) and save an "
        "(n_files, d) float32 .npy in sorted-file order; unreadable files get NaN rows.",
        f'python3 {model.feature_script}.py --filedir="*.wav" --{model.model_flag}="{model.default_model}" '
        f"--{npy_flag}={model.key}.npy",
    )
    cli.add_filedir_argument(parser)
    cli.add_model(parser, f"--{model.model_flag}", required=True, help=model.model_help)
    cli.add_output(parser, f"--{npy_flag}", required=True, help="output .npy, shape (files, d), float32")
    add_batch_size_argument(parser)
    cli.add_runtime_arguments(parser, CUDA_4BIT)
    return parser


def run_tower(args, run: records.ScriptRun, model: Model) -> int:
    runtime = cli.runtime_from_args(args, run)
    tower_class, flag = model.tower_class(), model.model_flag
    return embed_files_to_npy(args, run, getattr(args, _tower_npy_flag(model)),
                              lambda: tower_class(getattr(args, flag), runtime, f"--{flag}"))


# ----------------------------------------------------------------------------------------------
# clustering at a fixed k: cluster_ag.py, cluster_kmeans.py, cluster_spectral.py (and HDBSCAN's flags)


def add_clustering_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_input(parser, "--cluster_npy", required=True,
                  help=".npy of embeddings to cluster, one row per file (e.g. st.npy from features_st.py)")
    cli.add_output(parser, "--label_csv", required=True,
                   help="output: cluster ids CSV, one integer per line, row i = row i of --cluster_npy; "
                   f"rows holding NaN (files without a label) get {clustering.NO_LABEL}")
    cli.add_output(parser, "--png_plot", required=True, extra=True,
                   help="output: 12x12 in t-SNE scatter coloured by cluster (t-SNE coordinates are cached, "
                   "see auditoryhum.tsne)")


def k_script_parser(prog: str, algorithm: clustering.KAlgorithm) -> argparse.ArgumentParser:
    parser = cli.make_parser(
        prog,
        f"Cluster embeddings with {algorithm.title} (seed {clustering.SEED}), print the silhouette score, "
        "write the cluster ids and a t-SNE scatter. Rows holding NaN (files without a label) are left out "
        f"and get id {clustering.NO_LABEL}.",
        f'python3 {prog} --cluster_npy=st.npy --n_clusters=67 --label_csv=cluster_ids.csv --png_plot=tsne.png',
    )
    add_clustering_arguments(parser)
    parser.add_argument("--n_clusters", type=int, required=True,
                        help="number of clusters k, from 2 to the number of rows (see cluster_sweep.py to choose it)")
    return parser


def load_clustering_input(args, run: records.ScriptRun) -> clustering.Embeddings:
    """The embeddings to cluster; the file names of their rows, from their record, go on."""
    embeddings = clustering.load_embeddings(args.cluster_npy)
    run.files = records.recorded_files(args.cluster_npy)
    run.parameters["seed"] = clustering.SEED
    run.results.update(rows=len(embeddings.usable), rows_without_a_label=embeddings.n_unusable)
    return embeddings


def run_k_script(args: argparse.Namespace, run: records.ScriptRun, algorithm: clustering.KAlgorithm) -> int:
    embeddings = load_clustering_input(args, run)
    clustering.check_n_clusters(args.n_clusters, embeddings, args.cluster_npy)
    fitted = algorithm.fit(embeddings.rows, args.n_clusters)
    report = clustering.k_report(fitted)
    print("\n".join(report.lines))
    run.results.update(report.figures, n_clusters=args.n_clusters)
    title = f"{algorithm.title}, k = {args.n_clusters} (t-SNE of {Path(args.cluster_npy).name})"
    clustering.write_outputs(embeddings.array, embeddings.expand(fitted.ids), args.label_csv, args.png_plot, title)
    return 0
