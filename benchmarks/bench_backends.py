#!/usr/bin/env python3
"""Files per second of the per-file backends, side by side in one run, on the tiny checkpoints.

For each model (the tiny Qwen2-Audio labeller and the tiny CLAP audio embedder, built offline by
``auditoryhum.tiny_checkpoints``), on the same synthetic clips (default 300 clips of 2 s at 16 kHz,
so CLAP resamples every clip to 48 kHz), through the suite's own code paths:

* **in process, no prefetch** - ``label_files`` / ``embed_files`` with ``prefetch_batches=0``:
  reading, the processor and the model one after the other on one thread (the model loaded
  beforehand and warmed up on a few clips; its load is not timed);
* **in process, prefetch** - the same with the next 2 batches read and prepared in background
  threads while the model works (the default); the two in-process runs alternate ``--repeats``
  times and the median is printed;
* **Ray, 1 worker** and **Ray, 2 workers** - the engine with the ``OnRay`` executor, on a local Ray
  started for each run (as ``--backend ray`` without ``--ray_address`` does), half a CPU per model
  worker, so that on a 2-core machine both configurations leave one CPU to the read tasks.

torch runs with ``--threads`` intra-op threads in process (default 1: what each Ray worker gets
from half a CPU, so the model's arithmetic - and CLAP's float rounding, which depends on the
number of threads - is the same everywhere).

For Ray it prints the fixed start-up cost apart from the rate: starting Ray plus the probe's model
load, then the time to the first finished batch (the workers' processes starting and loading the
model), and the files per second over the whole run and after the first batch. Every run's output
is compared with the first one's, byte for byte.

    python benchmarks/bench_backends.py                    # 300 clips, both models (~8 minutes on 2 cores)
    python benchmarks/bench_backends.py --clips 60 --models clap

Measured figures and what they can show: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from synthetic_audio import synthetic_clips  # noqa: E402

WARM_UP_CLIPS = 4


def load_labeller(folder: Path):
    from auditoryhum.mllm_qwen2_audio import Qwen2AudioLabeller
    from auditoryhum.runtime import resolve_runtime

    return Qwen2AudioLabeller(str(folder), resolve_runtime("cpu"), "--qwen2a_model")


def load_clap_embedder(folder: Path):
    from auditoryhum.clap import ClapAudioEmbedder, load_clap
    from auditoryhum.runtime import resolve_runtime

    return ClapAudioEmbedder(load_clap(str(folder), resolve_runtime("cpu")))


def in_process(model_name: str, model, files: list[str], out: Path, batch_size: int, prefetch: int) -> float:
    """Seconds for every file through the in-process loop; the output written to ``out``."""
    from auditoryhum.features import embed_files
    from auditoryhum.labelling import label_files

    started = time.perf_counter()
    if model_name == "qwen2a":
        label_files(model, files, str(out), batch_size=batch_size, prefetch_batches=prefetch)
    else:
        embed_files(model, files, str(out), batch_size, prefetch)
    return time.perf_counter() - started


def on_ray(model_name: str, make_model, files: list[str], out: Path, batch_size: int, workers: int):
    """The engine's figures of a run on a local Ray (files_per_second, seconds, ray_start_seconds,
    seconds_to_first_result)."""
    from auditoryhum.engine import RayOptions, RunOptions, run_job
    from auditoryhum.features import EmbeddingJob
    from auditoryhum.labelling import LabelJob
    from auditoryhum.ray_backend import OnRay

    executor = OnRay(RayOptions(workers=workers, cpus_per_worker=0.5, may_use_gpu=False))
    options = RunOptions(batch_size=batch_size, piece_files=64)
    job = LabelJob(files) if model_name == "qwen2a" else EmbeddingJob(files)
    return run_job(job, str(out), {}, make_model, options, executor=executor)


def bench(model_name: str, folder: Path, files: list[str], work: Path, batch_size: int, repeats: int) -> list[str]:
    suffix = ".csv" if model_name == "qwen2a" else ".npy"
    load = functools.partial(load_labeller if model_name == "qwen2a" else load_clap_embedder, folder)
    model = load()
    in_process(model_name, model, files[:WARM_UP_CLIPS], work / f"warm_up{suffix}", batch_size, 0)
    rows, outputs = [], []
    timings: dict[int, list[float]] = {0: [], 2: []}
    for _ in range(repeats):  # alternated, so a change in the machine's load hits both alike
        for prefetch in timings:
            out = work / f"{model_name}_in_process_prefetch{prefetch}{suffix}"
            timings[prefetch].append(in_process(model_name, model, files, out, batch_size, prefetch))
    for prefetch, seconds in timings.items():
        outputs.append(work / f"{model_name}_in_process_prefetch{prefetch}{suffix}")
        label = "in process, no prefetch" if prefetch == 0 else f"in process, prefetch {prefetch}"
        median = statistics.median(seconds)
        rows.append(f"| {model_name} | {label} | {len(files) / median:.1f} | - | - | - | {median:.1f} s |")
    for workers in (1, 2):
        out = work / f"{model_name}_ray_{workers}{suffix}"
        run = on_ray(model_name, load, files, out, batch_size, workers)
        outputs.append(out)
        start, to_first = run.results["ray_start_seconds"], run.results["seconds_to_first_result"]
        after_first = (run.done_now - batch_size) / max(run.seconds - to_first, 1e-9)
        rows.append(f"| {model_name} | Ray, {workers} worker{'s' if workers > 1 else ''} | "
                    f"{run.results['files_per_second']:.1f} | {after_first:.1f} | {start:.1f} s | "
                    f"{to_first:.1f} s | {start + run.seconds:.1f} s |")
    rows.append(f"| {model_name} | outputs of the 4 runs | {compare(outputs)} | | | | |")
    return rows


def compare(outputs: list[Path]) -> str:
    first = outputs[0].read_bytes()
    if all(out.read_bytes() == first for out in outputs[1:]):
        return "identical, byte for byte"
    if outputs[0].suffix != ".npy":
        return "DIFFER"
    import numpy as np

    reference = np.load(outputs[0])
    largest = max(float(np.nanmax(np.abs(np.load(out) - reference))) for out in outputs[1:])
    return f"DIFFER (largest difference {largest:.1e})"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--clips", type=int, default=300, help="synthetic clips")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip (16 kHz)")
    parser.add_argument("--models", nargs="+", default=["qwen2a", "clap"], choices=["qwen2a", "clap"])
    parser.add_argument("--batch_size", type=int, default=4, help="files per model call, every backend")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads in process")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of the two in-process runs (median printed)")
    return parser


def main(argv=None) -> int:
    import torch

    from auditoryhum.tiny_checkpoints import build

    args = get_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_backends_") as tmp:
        work = Path(tmp)
        files = synthetic_clips(args.clips, args.seconds, work / "clips")
        print(f"{len(files)} clips of {args.seconds:g} s, batch {args.batch_size}; {platform.machine()}, "
              f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads in process, "
              "1 thread per Ray worker", flush=True)
        rows = ["| model | backend | files/s (whole run) | files/s after the first batch | Ray start + probe | "
                "to the first batch | wall time |", "|---|---|---|---|---|---|---|"]
        checkpoints = {"qwen2a": "qwen2_audio", "clap": "clap"}
        for name in args.models:
            folder = build(checkpoints[name], work / checkpoints[name])
            rows += bench(name, folder, files, work, args.batch_size, args.repeats)
        print("\n" + "\n".join(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
