"""Command-line pieces several scripts share: the labelling scripts, the audio-embedding scripts
and the fixed-k clustering scripts. Each is its flags plus one run function; the work itself is in
the library modules (:mod:`auditoryhum.labelling`, :mod:`auditoryhum.features`,
:mod:`auditoryhum.clustering`)."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import cli, clustering, formats, records
from ..audio import list_audio_files
from ..errors import UserError, counted
from ..features import AudioEmbedder, embed_audio_files
from ..labelling import Labeller, label_files, open_labels_output
from ..models import Model
from ..pipeline import DEFAULT_PREFETCH_BATCHES
from ..runtime import CUDA_4BIT, Runtime

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# backends: in process (the default) or on a Ray cluster, for every per-file script

IN_PROCESS, RAY = "in-process", "ray"
#: the flags of --backend ray, with what they mean when not given
_RAY_DEFAULTS = {"ray_address": None, "workers": 1, "gpus_per_worker": None, "cpus_per_worker": 1.0, "shard_size": 256}


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and its flags (every per-file script: the labellers and the audio embeddings)."""
    group = parser.add_argument_group(
        "backend", "where the model runs: in this process (default), or on a Ray cluster - a local one started for "
        "the run, or an existing one (docs/scale-out.md); the output is the same, byte for byte")
    cli.add_procedural(group, "--backend", choices=(IN_PROCESS, RAY), default=IN_PROCESS,
                       help="in-process: one model in this process; ray: --workers model replicas on Ray, the audio "
                       "read in parallel CPU tasks, results kept in shards beside the output (<output>.shards/) so "
                       "--resume continues after any crash; needs Ray: pip install \".[ray]\"")
    cli.add_procedural(group, "--prefetch_batches", type=int, default=None,
                       help=f"in-process: batches read, resampled and put through the model's processor in "
                       f"background threads while the model works on the current one; 0 = none, all on one thread "
                       f"(default {DEFAULT_PREFETCH_BATCHES})")
    cli.add_procedural(group, "--ray_address", default=None,
                       help="ray: the cluster's head, HOST:PORT (as `ray start --head` prints it), ray://HOST:PORT "
                       "or auto (default: RAY_ADDRESS when set, else a local Ray started for the run)")
    cli.add_procedural(group, "--workers", type=int, default=None,
                       help="ray: model replicas, each loading the model once (default 1)")
    cli.add_procedural(group, "--gpus_per_worker", type=float, default=None,
                       help="ray: GPUs per model replica, fractions allowed (default: 1 where the cluster has GPUs "
                       "and the model can use one, else 0)")
    cli.add_procedural(group, "--cpus_per_worker", type=float, default=None,
                       help="ray: CPUs per model replica (default 1); the audio is read on the cluster's other CPUs")
    cli.add_procedural(group, "--shard_size", type=int, default=None,
                       help="ray: files per shard, the unit written at once and kept by --resume, rounded up to "
                       f"whole batches (default {_RAY_DEFAULTS['shard_size']})")


def _check_backend_arguments(args: argparse.Namespace) -> None:
    """Flags of the other backend are a mistake worth one line, not silently ignored."""
    ray_flags = [f"--{name}" for name in _RAY_DEFAULTS if getattr(args, name) is not None]
    if args.backend == IN_PROCESS and ray_flags:
        raise UserError(f"{ray_flags[0]} applies to --backend ray only")
    if args.backend == RAY and args.prefetch_batches is not None:
        raise UserError("--prefetch_batches applies to --backend in-process only (on Ray the audio is read in "
                        "separate tasks)")
    if args.prefetch_batches is not None and args.prefetch_batches < 0:
        raise UserError(f"--prefetch_batches={args.prefetch_batches}: must be 0 or more")
    for name in ("workers", "shard_size"):
        if getattr(args, name) is not None:
            cli.require_at_least_one(getattr(args, name), f"--{name}")
    if args.gpus_per_worker is not None and args.gpus_per_worker < 0:
        raise UserError(f"--gpus_per_worker={args.gpus_per_worker:g}: must be 0 or more")
    if args.cpus_per_worker is not None and not args.cpus_per_worker > 0:
        raise UserError(f"--cpus_per_worker={args.cpus_per_worker:g}: must be more than 0")


def _prefetch_batches(args: argparse.Namespace) -> int:
    return DEFAULT_PREFETCH_BATCHES if args.prefetch_batches is None else args.prefetch_batches


def _ray_options(args: argparse.Namespace):
    from ..ray_backend import RayOptions

    values = {name: default if getattr(args, name) is None else getattr(args, name)
              for name, default in _RAY_DEFAULTS.items()}
    return RayOptions(address=values["ray_address"], workers=values["workers"],
                      gpus_per_worker=values["gpus_per_worker"], cpus_per_worker=values["cpus_per_worker"],
                      shard_size=values["shard_size"], may_use_gpu=getattr(args, "device", "cpu") != "cpu")


def model_runtime(args: argparse.Namespace, run: records.ScriptRun) -> Callable[[], Runtime]:
    """The runtime flags resolved where the model loads: checked (and recorded) here at once for the
    in-process backend; on each Ray worker for ``--backend ray`` (the record gets a worker's)."""
    if args.backend == IN_PROCESS:
        cli.runtime_from_args(args, run)
    return functools.partial(cli.runtime_from_args, args)


def _record_ray_run(run: records.ScriptRun, ray_run) -> None:
    run.parameters.update(ray_run.parameters())
    if ray_run.runtime is not None:
        run.record_runtime(ray_run.runtime)
    run.results.update(ray_run.results())


def _record_in_process(run: records.ScriptRun, files: int, seconds: float, prefetch_batches: int) -> None:
    run.parameters.update(backend=IN_PROCESS, prefetch_batches=prefetch_batches)
    run.results.update(seconds=round(seconds, 3),
                       files_per_second=round(files / seconds, 3) if seconds > 0 else None)


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
    cli.add_procedural(parser, "--batch_size", type=int, default=1, help=batch_help)
    cli.add_procedural(
        parser, "--resume",
        action="store_true",
        help="continue an interrupted run: files already in <text_label_csv>.partial (with --backend ray: the "
        "finished shards in <text_label_csv>.shards/) are skipped, after checking they were begun for the same "
        "files with the same model, inputs and settings (another model or setting stops with one line); a "
        "finished output of the same files, model, inputs and settings is left as it is, without loading the "
        "model, and one made otherwise is labelled again",
    )
    add_backend_arguments(parser)


def run_labelling(args: argparse.Namespace, run: records.ScriptRun, make_labeller: Callable[[], Labeller],
                  worker_runtime: Callable[[], Runtime] | None = None) -> int:
    """Check the inputs and what is left to do first (cheap), then load the model and label, here
    or on Ray (``worker_runtime``: the runtime a Ray worker resolves, for the record)."""
    cli.require_at_least_one(args.batch_size, "--batch_size")
    _check_backend_arguments(args)
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    annotations = None
    if args.annotations:
        annotations = formats.read_annotations_csv(args.annotations, len(files))
        records.check_same_files(args.annotations, records.recorded_files(args.annotations),
                                 f'--filedir="{args.filedir}"', run.files)
    made_with = run.made_with()
    if args.resume and _finished_the_same_way(run, args.text_label_csv):
        _nothing_left_to_label(run, args.text_label_csv, len(files))
    elif args.backend == RAY:
        from ..ray_backend import label_on_ray

        summary, ray_run = label_on_ray(make_labeller, files, annotations, args.text_label_csv, args.batch_size,
                                        args.resume, _ray_options(args), worker_runtime, made_with)
        run.results.update(summary.as_results())
        _record_ray_run(run, ray_run)
    else:
        writer = open_labels_output(files, args.text_label_csv, args.resume, made_with)
        if writer.complete:  # an interrupted run that had written every line: this run finishes it
            writer.finish()
            _nothing_left_to_label(run, args.text_label_csv, len(files), keep_record=False)
        else:
            labeller = make_labeller()
            started = time.perf_counter()
            summary = label_files(labeller, files, writer, annotations, args.batch_size,
                                  prefetch_batches=_prefetch_batches(args))
            run.results.update(summary.as_results())
            _record_in_process(run, summary.labelled_now, time.perf_counter() - started, _prefetch_batches(args))
    _count_rows_without_a_label(run, args.text_label_csv)
    return 0


def _finished_the_same_way(run: records.ScriptRun, labels_csv: str) -> bool:
    """True when ``labels_csv`` is finished for these files (where its record lists them: another
    list stops with one line) and - where its record says how it was made - made the same way; one
    made otherwise is labelled again (it is replaced only when the new one is complete)."""
    recorded_files = (run.previous_record(labels_csv) or {}).get("files")
    return (formats.is_finished_labels_csv(labels_csv, run.files, recorded_files)
            and run.made_as_before(labels_csv, then="labelling again") is not False)


def _nothing_left_to_label(run: records.ScriptRun, labels_csv: str, total: int, keep_record: bool = True) -> None:
    log.info("Nothing left to do: %s already holds a label line for each of the %s (drop --resume to label them "
             "again)", labels_csv, counted(total, "file"))
    if keep_record:  # the record of the run that did the work stays as it was, with every figure of that run
        run.keep_previous_record(labels_csv)
    run.results.update(rows_written=total, labelled_now=0, already_done=total)


def _count_rows_without_a_label(run: records.ScriptRun, labels_csv: str) -> None:
    # Counted on the whole file: a resumed run labelled only part of it.
    lines = formats.read_labels_csv(labels_csv)
    run.results["rows_without_a_label"] = sum(not line.strip() for line in lines)


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
    for flag, kwargs in model.labeller_class().extra_flags:
        parser.add_argument(flag, **kwargs)
    cli.add_runtime_arguments(parser, CUDA_4BIT)
    return parser


def run_local_labeller(args, run: records.ScriptRun, model: Model) -> int:
    from ..prompting import PROMPT_TEXT
    from ..runtime import SEED

    labeller_class = model.labeller_class()
    runtime = model_runtime(args, run)
    run.parameters.update(seed=SEED, prompt=PROMPT_TEXT, system_text=labeller_class.system_text,
                          **labeller_class.generation_parameters())
    flag = model.model_flag
    options = {name.lstrip("-"): getattr(args, name.lstrip("-")) for name, _ in labeller_class.extra_flags}
    return run_labelling(args, run, lambda: labeller_class(getattr(args, flag), runtime(), f"--{flag}", **options),
                         runtime)


# ----------------------------------------------------------------------------------------------
# audio embeddings: features_clap.py, features_ast.py, features_mfcc.py, features_qwen2a.py, ...


def add_batch_size_argument(parser: argparse.ArgumentParser, default: int = 8, what: str = "files") -> None:
    cli.add_procedural(parser, "--batch_size", type=int, default=default, help=f"{what} per model call")


def add_embedding_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every audio-embedding script has besides its model and output flags."""
    cli.add_filedir_argument(parser)
    cli.add_procedural(
        parser, "--resume", action="store_true",
        help="leave the output as it is, without loading the model, when its run record says it was made from "
        "the audio files that are there now with the same model, inputs and settings; with --backend ray, also "
        "continue an interrupted run: its finished shards (<output>.shards/) are kept, after checking they were "
        "begun the same way, and only the rest is embedded (in process, an interrupted run starts over)")
    add_backend_arguments(parser)


def embed_files_to_npy(args, run: records.ScriptRun, npy: str, make_embedder: Callable[[], AudioEmbedder],
                       worker_runtime: Callable[[], Runtime] | None = None) -> int:
    """List the files, load the embedder, embed every file, save ``npy`` (row i = file i), here or
    on Ray (``worker_runtime``: the runtime a Ray worker resolves, for the record); with
    ``--resume``, a finished output of the same command and files is left as it is."""
    batch_size = getattr(args, "batch_size", 1)
    cli.require_at_least_one(batch_size, "--batch_size")
    _check_backend_arguments(args)
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    made_with = run.made_with()
    if args.resume and _embedded_the_same_way(run, npy):
        log.info("Nothing left to do: %s was made from these %s with the same model, inputs and settings (drop "
                 "--resume to embed them again)", npy, counted(len(files), "file"))
        run.keep_previous_record(npy)
        return 0
    if args.backend == RAY:
        from ..ray_backend import embed_on_ray

        embeddings, ray_run = embed_on_ray(make_embedder, files, npy, batch_size, args.resume, _ray_options(args),
                                           worker_runtime, made_with)
        _record_ray_run(run, ray_run)
    else:
        embedder = make_embedder()
        started = time.perf_counter()
        embeddings = embed_audio_files(files, embedder, batch_size, _prefetch_batches(args))
        _record_in_process(run, len(files), time.perf_counter() - started, _prefetch_batches(args))
        formats.save_npy(npy, embeddings)
    without = int((~np.isfinite(embeddings).all(axis=1)).sum())
    run.results.update(rows_written=embeddings.shape[0], dimensions=embeddings.shape[1], nan_rows=without)
    log.info("wrote %s: %s x %d dimensions%s", npy, counted(embeddings.shape[0], "file"), embeddings.shape[1],
             f" ({without} NaN rows: files that could not be embedded)" if without else "")
    return 0


def _embedded_the_same_way(run: records.ScriptRun, npy: str) -> bool:
    """True when ``npy``'s record says it was made from these files the same way; without a record
    (or one older than ``made_with``) it is made again."""
    return (os.path.isfile(npy) and (run.previous_record(npy) or {}).get("files") == run.files
            and run.made_as_before(npy, then="embedding again") is True)


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
    add_embedding_arguments(parser)
    cli.add_model(parser, f"--{model.model_flag}", required=True, help=model.model_help)
    cli.add_output(parser, f"--{npy_flag}", required=True, help="output .npy, shape (files, d), float32")
    add_batch_size_argument(parser)
    cli.add_runtime_arguments(parser, CUDA_4BIT)
    return parser


def run_tower(args, run: records.ScriptRun, model: Model) -> int:
    runtime = model_runtime(args, run)
    tower_class, flag = model.tower_class(), model.model_flag
    return embed_files_to_npy(args, run, getattr(args, _tower_npy_flag(model)),
                              lambda: tower_class(getattr(args, flag), runtime(), f"--{flag}"), runtime)


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


def k_script_parser(prog: str, algorithm: clustering.Algorithm) -> argparse.ArgumentParser:
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


def run_k_script(args: argparse.Namespace, run: records.ScriptRun, algorithm: clustering.Algorithm) -> int:
    embeddings = load_clustering_input(args, run)
    clustering.check_n_clusters(args.n_clusters, embeddings, args.cluster_npy)
    fitted = algorithm.fit(embeddings.rows, args.n_clusters)
    report = clustering.k_report(fitted)
    print("\n".join(report.lines))
    run.results.update(report.figures, n_clusters=args.n_clusters)
    title = f"{algorithm.title}, k = {args.n_clusters} (t-SNE of {Path(args.cluster_npy).name})"
    clustering.write_outputs(embeddings.array, embeddings.expand(fitted.ids), args.label_csv, args.png_plot, title)
    return 0
