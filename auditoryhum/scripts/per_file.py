"""The command line of the per-file scripts - every ``label_*.py`` and audio ``features_*.py``:
their shared flags, the engine's typed options built from them, and the run around a job
(:mod:`auditoryhum.engine`): list the files, fix what decides the rows (``made_with``), leave a
finished output made the same way as it is without loading any model, else run the job and record
what it did."""

from __future__ import annotations

import argparse
import functools
import logging
from typing import Callable

from .. import cli, formats, records
from ..engine import DEFAULT_PIECE_FILES, DEFAULT_PREFETCH_BATCHES, RayOptions, RunOptions
from ..errors import UserError, counted
from ..filelist import list_audio_files
from ..models import Model
from ..runtime import CUDA_4BIT, resolve_runtime

log = logging.getLogger(__name__)

IN_PROCESS, RAY = "in-process", "ray"
#: the flags of --backend ray, with what they mean when not given
_RAY_DEFAULTS = {"ray_address": None, "workers": 1, "gpus_per_worker": None, "cpus_per_worker": 1.0,
                 "shard_size": DEFAULT_PIECE_FILES}


# ----------------------------------------------------------------------------------------------
# flags


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and its flags (every per-file script: the labellers and the audio embeddings)."""
    group = parser.add_argument_group(
        "backend", "where the model runs: in this process (default), or on a Ray cluster - a local one started for "
        "the run, or an existing one (docs/scale-out.md); the output is the same either way (byte for byte at "
        "the same torch thread count)")
    cli.add_procedural(group, "--backend", choices=(IN_PROCESS, RAY), default=IN_PROCESS,
                       help="in-process: one model in this process; ray: --workers model replicas on Ray, the audio "
                       "read in parallel CPU tasks; either way finished rows are kept beside the output "
                       "(<output>.partial/) so --resume continues after any crash; needs Ray: pip install \".[ray]\"")
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
                       help="ray: most files written at once, rounded up to whole batches; a killed driver loses at "
                       f"most the shards in flight (default {DEFAULT_PIECE_FILES})")


def add_resume_argument(parser: argparse.ArgumentParser, what: str) -> None:
    cli.add_procedural(
        parser, "--resume", action="store_true",
        help=f"continue an interrupted run: the files already done in <output>.partial/ are kept, after checking "
        f"they were begun for the same files with the same model, inputs and settings (another model or setting "
        f"stops with one line), and only the rest are {what}; a finished output whose run record says it was "
        f"made from these files the same way is left as it is, without loading the model")


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
                   help="output labels CSV, one cleaned response per file")
    cli.add_procedural(parser, "--batch_size", type=int, default=1, help=batch_help)
    add_resume_argument(parser, "labelled")
    add_backend_arguments(parser)


def add_embedding_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every audio-embedding script has besides its model and output flags."""
    cli.add_filedir_argument(parser)
    add_resume_argument(parser, "embedded")
    add_backend_arguments(parser)


def add_batch_size_argument(parser: argparse.ArgumentParser, default: int = 8, what: str = "files") -> None:
    cli.add_procedural(parser, "--batch_size", type=int, default=default, help=f"{what} per model call")


def labeller_parser(model: Model) -> argparse.ArgumentParser:
    """The parser of a local-MLLM label script: the model flag, the shared flags, the adapter's own
    flags, the runtime's."""
    notes = f"; {model.notes}" if model.notes else ""
    parser = cli.make_parser(
        f"{model.label_script}.py",
        f"Describe each audio file's scene in word pairs with {model.display_name} (greedy, 64 new tokens"
        f"{notes}) and write one cleaned response per file to a labels CSV.",
        f'python3 {model.label_script}.py --filedir="*.wav" --{model.model_flag}="{model.default_model}" '
        f"--text_label_csv={model.key}_text_labels.csv",
    )
    cli.add_model(parser, f"--{model.model_flag}", required=True, help=model.model_help)
    add_labelling_arguments(parser)
    for flag, kwargs in model.labeller_class().extra_flags:
        parser.add_argument(flag, **kwargs)
    cli.add_runtime_arguments(parser, CUDA_4BIT)
    return parser


def tower_npy_flag(model: Model) -> str:
    return f"{model.key}_npy"


def tower_parser(model: Model) -> argparse.ArgumentParser:
    npy_flag = tower_npy_flag(model)
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


# ----------------------------------------------------------------------------------------------
# the engine's options from the flags


def run_options(args: argparse.Namespace, may_use_gpu: bool = True) -> tuple[RunOptions, object | None]:
    """The engine's options (nothing in them changes the rows) and its executor (None: in process),
    checked: flags of the other backend are a mistake worth one line, not silently ignored."""
    batch_size = getattr(args, "batch_size", 1)
    cli.require_at_least_one(batch_size, "--batch_size")
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
    value = {name: default if getattr(args, name) is None else getattr(args, name)
             for name, default in _RAY_DEFAULTS.items()}
    executor = None
    if args.backend == RAY:
        from ..ray_backend import OnRay

        executor = OnRay(RayOptions(address=value["ray_address"], workers=value["workers"],
                                    gpus_per_worker=value["gpus_per_worker"], cpus_per_worker=value["cpus_per_worker"],
                                    may_use_gpu=may_use_gpu and getattr(args, "device", "cpu") != "cpu"))
    prefetch = DEFAULT_PREFETCH_BATCHES if args.prefetch_batches is None else args.prefetch_batches
    return RunOptions(batch_size=batch_size, resume=args.resume, piece_files=value["shard_size"],
                      prefetch_batches=prefetch), executor


def model_runtime(args: argparse.Namespace) -> Callable:
    """The runtime flags resolved where the model loads - in this process, or on each Ray worker -
    so a run with nothing to do imports no torch (a function of plain values a Ray worker can be
    sent, not the flags)."""
    return functools.partial(resolve_runtime, args.device, args.dtype, args.load_in_4bit, args.cuda_default)


# ----------------------------------------------------------------------------------------------
# the run around a job


def _finished_already(args, run: records.ScriptRun, output: str) -> bool:
    """True with ``--resume`` when ``output``'s record (moved aside by the run) says it was made from
    these files with the same models, inputs and settings and still describes it: it is left as it
    is, record and all."""
    if not args.resume or not records.finished_as_recorded(output, run.previous_record(output), run.files,
                                                           run.made_with()):
        return False
    log.info("Nothing left to do: %s was made from these %s with the same model, inputs and settings (drop "
             "--resume to make it again)", output, counted(len(run.files), "file"))
    run.keep_previous_record(output)
    return True


def _begin(args, run: records.ScriptRun, may_use_gpu: bool = True) -> tuple[list[str], RunOptions, object | None]:
    """Check the flags, then list the files (both cheap, before any model)."""
    options, executor = run_options(args, may_use_gpu)
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    return files, options, executor


def _run(args, run: records.ScriptRun, job, output: str, make_model: Callable, worker_runtime: Callable | None,
         options: RunOptions, executor) -> int:
    """Run ``job`` into ``output`` - here or on Ray (``worker_runtime``: the runtime a Ray worker
    resolves, for the record) - unless ``--resume`` finds it finished; record how it ran and what
    it did."""
    from ..engine import run_job

    if _finished_already(args, run, output):
        return 0
    job_run = run_job(job, output, run.made_with(), make_model, options, worker_runtime, executor)
    run.parameters.update(job_run.parameters)
    runtime = job_run.runtime if job_run.runtime is not None else worker_runtime() if worker_runtime else None
    if runtime is not None:
        run.record_runtime(runtime)
    run.results.update(job_run.results)
    return 0


def label(args, run: records.ScriptRun, make_labeller: Callable, worker_runtime: Callable | None = None) -> int:
    """Check the flags, the files and the annotations first (cheap), then label every file."""
    from ..labelling import LabelJob

    files, options, executor = _begin(args, run)
    annotations = None
    if args.annotations:
        annotations = formats.read_annotations_csv(args.annotations, len(files))
        records.check_same_files(args.annotations, records.recorded_files(args.annotations),
                                 f'--filedir="{args.filedir}"', run.files)
    return _run(args, run, LabelJob(files, annotations), args.text_label_csv, make_labeller, worker_runtime,
                options, executor)


def embed(args, run: records.ScriptRun, npy: str, make_embedder: Callable, worker_runtime: Callable | None = None,
          may_use_gpu: bool = True) -> int:
    """Check the flags and list the files, then embed every one into ``npy`` (row i = file i)."""
    from ..features import EmbeddingJob

    files, options, executor = _begin(args, run, may_use_gpu)
    return _run(args, run, EmbeddingJob(files), npy, make_embedder, worker_runtime, options, executor)


def run_local_labeller(args, run: records.ScriptRun, model: Model) -> int:
    from ..prompting import PROMPT_TEXT
    from ..runtime import SEED

    labeller_class = model.labeller_class()
    runtime = model_runtime(args)
    run.parameters.update(seed=SEED, prompt=PROMPT_TEXT, system_text=labeller_class.system_text,
                          **labeller_class.generation_parameters())
    flag = model.model_flag
    options = {name.lstrip("-"): getattr(args, name.lstrip("-")) for name, _ in labeller_class.extra_flags}
    return label(args, run, lambda: labeller_class(getattr(args, flag), runtime(), f"--{flag}", **options), runtime)


def run_tower(args, run: records.ScriptRun, model: Model) -> int:
    runtime = model_runtime(args)
    tower_class, flag = model.tower_class(), model.model_flag
    return embed(args, run, getattr(args, tower_npy_flag(model)),
                 lambda: tower_class(getattr(args, flag), runtime(), f"--{flag}"), runtime)
