"""The per-file stages on a Ray cluster (``--backend ray``), through Ray Data.

The work is the in-process backend's, split where a cluster splits it:

* **read tasks** (CPU, as many as the cluster runs at once): one batch of files each - decoding,
  resampling, cutting to the model's window, padding to its shortest clip, the prompts - with
  :func:`auditoryhum.labelling.read_label_batch` / :func:`auditoryhum.features.read_embedding_batch`;
* **model workers** (``--workers`` Ray actors, each with ``--gpus_per_worker`` and
  ``--cpus_per_worker``): each builds the script's own adapter once - the same object the
  in-process backend uses - and runs one batch at a time through
  :func:`auditoryhum.labelling.label_read_batch` / :func:`auditoryhum.features.embed_read_batch`;
* **the driver** (this process): lists the files, collects each batch's result whatever order
  they come back in, writes every finished shard at once (:mod:`auditoryhum.shards`), shows one
  progress bar of files done, and merges the shards into the output.

The batches are the in-process backend's (files ``[k*B, (k+1)*B)``), so the output is the same,
byte for byte, whatever the number of workers and the order Ray finishes them in. Before any file
is read, one *probe* task with a worker's resources builds the adapter: a worker that cannot load
the model stops the run with the loader's one line, and the probe gives the audio settings the
read tasks need (the model's rate, window, shortest clip) and the runtime a worker resolves.

A worker that dies is restarted by Ray and its batch redone (Ray Data's actor pool retries);
a driver that dies loses no finished shard, and ``--resume`` goes on from them. Ray Data's own
checkpointing is not used: the shards are this suite's. Messages the workers log (an unreadable
file, a file the model failed on) come back with their batch and are logged by the driver, so the
run reads as an in-process one does; Ray's own worker output stays in Ray's log folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from . import features, labelling
from .errors import UserError, counted, one_line
from .pipeline import AudioSettings, batch_ranges
from .shards import EMBEDDINGS, LABELS, Shard, ShardStore

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install ".[ray]"'
#: files per shard by default (rounded up to whole batches)
DEFAULT_SHARD_SIZE = 256
#: read tasks are made of at most this many blocks (past it, one task reads several batches)
MAX_READ_BLOCKS = 4096
#: environment variables the workers get from the driver, so they find models as it would
PASSED_ENVIRONMENT = ("HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "TOKENIZERS_PARALLELISM")
LOGS_HINT = "the workers' logs are under /tmp/ray/session_latest/logs on the cluster's nodes"


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: RAY_ADDRESS when set, else a local Ray started for the run
    workers: int = 1  # model replicas
    gpus_per_worker: float | None = None  # None: 1 where the cluster has GPUs and the model may use one
    cpus_per_worker: float = 1.0
    shard_size: int = DEFAULT_SHARD_SIZE
    may_use_gpu: bool = True  # False for models that never run on a GPU (MFCC, a remote API)


@dataclass
class RayRun:
    """What a Ray run did, for its report and record."""

    settings: AudioSettings
    runtime: Any  # the Runtime a worker resolved (None for scripts without runtime flags)
    workers: int
    gpus_per_worker: float
    cpus_per_worker: float
    shard_size: int
    files_done_before: int
    files_now: int = 0
    start_seconds: float = 0.0  # connecting (or starting Ray) and the probe's model load
    seconds: float = 0.0  # the files, from the first read to the last result (the workers' model loads included)
    seconds_to_first_result: float = 0.0  # of those: until the first batch was done (workers starting up)

    @property
    def files_per_second(self) -> float:
        return self.files_now / self.seconds if self.seconds > 0 else float("nan")

    def parameters(self) -> dict:
        return {"backend": "ray", "workers": self.workers, "gpus_per_worker": self.gpus_per_worker,
                "cpus_per_worker": self.cpus_per_worker, "shard_size": self.shard_size}

    def results(self) -> dict:
        return {"files_per_second": round(self.files_per_second, 3), "seconds": round(self.seconds, 3),
                "ray_start_seconds": round(self.start_seconds, 3),
                "seconds_to_first_result": round(self.seconds_to_first_result, 3)}

    def line(self) -> str:
        return (f"Ray: {counted(self.workers, 'worker')}, {counted(self.files_now, 'file')} in "
                f"{self.seconds:.1f} s ({self.files_per_second:.2f} files/s) after {self.start_seconds:.1f} s "
                "of start-up (Ray and one model load)")


# ----------------------------------------------------------------------------------------------
# the two kinds of job: what the read tasks and the model workers run, and what the driver keeps


class _LabelJob:
    def __init__(self, total: int):
        self.summaries: dict[int, labelling.LabelRunSummary] = {}
        self.total = total

    @staticmethod
    def read(settings: AudioSettings, paths: list[str], notes: list[str]) -> labelling.ReadBatch:
        return labelling.read_label_batch(settings, paths, notes, range(len(paths)))

    @staticmethod
    def steps(model):
        return labelling.model_steps(model)

    @staticmethod
    def run(steps, paths: list[str], read: labelling.ReadBatch):
        summary = labelling.LabelRunSummary(total=0)
        summary.add(read.summary)
        return labelling.label_read_batch(steps, read, summary), summary

    def keep(self, batch_id: int, batch: range, result) -> list[str]:
        lines, summary = result
        self.summaries[batch_id] = summary
        return lines

    @staticmethod
    def write_shard(store: ShardStore, shard: Shard, results: list[list[str]]) -> None:
        store.write_labels(shard, [line for lines in results for line in lines])

    def summary(self, files_done_before: int, files_now: int) -> labelling.LabelRunSummary:
        summary = labelling.LabelRunSummary(total=self.total, labelled_now=files_now, skipped_done=files_done_before)
        for batch_id in sorted(self.summaries):
            summary.add(self.summaries[batch_id])
        return summary


class _EmbeddingJob:
    def __init__(self):
        self.batches: list[features.EmbeddedBatch] = []

    @staticmethod
    def read(settings: AudioSettings, paths: list[str], notes: list[str]) -> features.ReadAudio:
        return features.read_embedding_batch(settings, paths, range(len(paths)))

    @staticmethod
    def steps(model):
        return features.model_steps(model)

    @staticmethod
    def run(steps, paths: list[str], read: features.ReadAudio) -> features.EmbeddedBatch:
        return features.embed_read_batch(steps, paths, read)

    def keep(self, batch_id: int, batch: range, result: features.EmbeddedBatch) -> features.EmbeddedBatch:
        # the worker numbered the batch's files from 0
        result = features.EmbeddedBatch(indices=[batch.start + i for i in result.indices], rows=result.rows,
                                        unusable=[batch.start + i for i in result.unusable],
                                        padded=[batch.start + i for i in result.padded])
        self.batches.append(result)
        return result

    @staticmethod
    def write_shard(store: ShardStore, shard: Shard, results: list[features.EmbeddedBatch]) -> None:
        store.write_rows(shard, features.stack_rows(shard.size, results, first=shard.start))


# ----------------------------------------------------------------------------------------------
# connecting


def import_ray():
    """The ``ray`` module with Ray Data, or one line saying how to install it."""
    # Ray Data always keeps its actors' constructor arguments in the object store, and Ray's C++
    # core then logs an error line per worker on the terminal that says nothing is wrong yet (Ray
    # issue 53727); real failures reach the driver as exceptions. Its level is read when Ray is
    # imported; set the variable to see those lines.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UserError(f"--backend ray needs Ray (with Ray Data), which is not installed here: {INSTALL_HINT}") from None
    return ray


def check_address(address: str | None) -> None:
    """Stop with one line when ``--ray_address`` names no listening host:port (Ray itself would
    retry for a minute before saying so)."""
    if address is None or address in ("auto", "local"):
        return
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, colon, port = target.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise UserError(f"--ray_address={address}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379), "
                        "ray://HOST:PORT, or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except OSError as err:
        raise UserError(f"--ray_address={address}: no Ray cluster answers there ({err.strerror or one_line(err)}); "
                        "start one with `ray start --head`, or leave the flag out to start a local Ray") from None


def _runtime_env() -> dict:
    """The workers run this driver's copy of the package (shipped with the job), with the
    driver's model-finding environment; the libraries must be installed on the nodes."""
    package = Path(__file__).resolve().parent
    env_vars = {name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ}
    return {"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"], "env_vars": env_vars}


@contextlib.contextmanager
def connected(address: str | None):
    """Ray, connected to ``address`` (or started locally) for the length of the block."""
    ray = import_ray()
    check_address(address)
    local = address is None and not os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"include_dashboard": False} if local else {}
    if local:
        # a new Ray of its own: ray.init() alone would join the last cluster `ray start` made on this
        # machine, or hang on its address when that cluster is gone
        address = "local"
    try:
        with _without_native_stderr():
            ray.init(address=address, runtime_env=_runtime_env(), logging_level=logging.ERROR, log_to_driver=False,
                     **kwargs)
    except Exception as err:  # noqa: BLE001 - whatever Ray raises, the user gets one line
        where = f"--ray_address={address}" if address else "--backend ray"
        hint = "" if local else ("; a cluster with token authentication also needs RAY_AUTH_MODE=token here (and "
                                 "its token in RAY_AUTH_TOKEN or ~/.ray/auth_token)")
        raise UserError(f"{where}: cannot {'start' if local else 'connect to'} Ray ({one_line(err)}){hint}") from None
    _quiet_ray_data(ray)
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _without_native_stderr():
    """Ray's C++ core writes its start-up chatter and its connection retries straight to file
    descriptor 2; while Ray starts or connects, that goes nowhere (a failure becomes one line, and
    the processes Ray starts keep their own logs)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quiet_ray_data(ray) -> None:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.verbose_stats_logs = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _worker_resources(ray, options: RayOptions) -> tuple[float, float]:
    """``(gpus, cpus)`` per worker; one line when the cluster cannot hold the workers and still
    leave a CPU for reading the audio."""
    available = ray.cluster_resources()
    cluster_gpus, cluster_cpus = available.get("GPU", 0.0), available.get("CPU", 0.0)
    gpus = options.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if cluster_gpus and options.may_use_gpu else 0.0
    cpus = options.cpus_per_worker
    if gpus * options.workers > cluster_gpus:
        raise UserError(f"--workers={options.workers} with --gpus_per_worker={gpus:g} need "
                        f"{gpus * options.workers:g} GPUs; the Ray cluster has {cluster_gpus:g}")
    if cpus * options.workers + 1 > cluster_cpus:
        raise UserError(f"--workers={options.workers} with --cpus_per_worker={cpus:g} leave no CPU of the Ray "
                        f"cluster's {cluster_cpus:g} for reading the audio; lower --cpus_per_worker or --workers")
    return gpus, cpus


# ----------------------------------------------------------------------------------------------
# the probe, the read tasks and the model workers (run on the cluster)


def _probe(make_model: Callable[[], Any], worker_runtime: Callable[[], Any] | None) -> dict:
    """Build the adapter as a worker would: its audio settings and runtime, or the one line why not."""
    try:
        runtime = worker_runtime() if worker_runtime else None
        model = make_model()
        return {"settings": AudioSettings.of(model), "runtime": runtime}
    except UserError as err:
        return {"error": str(err)}
    except Exception as err:  # noqa: BLE001 - reported as one line by the driver
        return {"error": f"a Ray worker could not load the model: {one_line(err)}"}


class _Captured(logging.Handler):
    """The package's log records of one call, to be logged again by the driver."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


@contextlib.contextmanager
def _capturing_logs():
    logger = logging.getLogger(__package__)
    handler, level = _Captured(), logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _read_row(row: dict, job: type, settings: AudioSettings) -> dict:
    paths = [str(path) for path in row["paths"]]
    notes = [str(note) for note in row["notes"]] if "notes" in row else [""] * len(paths)
    with _capturing_logs() as records:
        read = job.read(settings, paths, notes)
    return {"batch": row["batch"], "payload": pickle.dumps((paths, read, records), protocol=pickle.HIGHEST_PROTOCOL)}


class _ModelWorker:
    """One model replica: the script's adapter, built once, labelling or embedding one batch per call."""

    def __init__(self, make_model: Callable[[], Any], job: type):
        self.job = job
        self.steps = job.steps(make_model())

    def __call__(self, rows: dict) -> dict:
        results = []
        for payload in rows["payload"]:
            paths, read, records = pickle.loads(payload)
            with _capturing_logs() as more:
                result = self.job.run(self.steps, paths, read)
            results.append(pickle.dumps((result, records + more), protocol=pickle.HIGHEST_PROTOCOL))
        return {"batch": rows["batch"], "result": results}


# ----------------------------------------------------------------------------------------------
# the driver


def label_on_ray(make_labeller: Callable[[], Any], files: Sequence[str], annotations: Sequence[str] | None,
                 out_csv: str, batch_size: int, resume: bool, options: RayOptions,
                 worker_runtime: Callable[[], Any] | None = None,
                 made_with: dict | None = None) -> tuple[labelling.LabelRunSummary, RayRun]:
    """Label every file on Ray and write the labels CSV (the in-process backend's bytes);
    ``made_with``: what decides the lines, kept with the shards so a resume continues only the same."""
    from .records import file_names

    notes = list(annotations) if annotations is not None else [""] * len(files)
    store = ShardStore(out_csv, file_names(files), LABELS, options.shard_size, batch_size, resume, made_with)
    job = _LabelJob(len(files))
    run = _run(job, make_labeller, worker_runtime, files, notes, store, batch_size, options,
               desc="labelling ({name}) on Ray")
    store.merge_labels()
    store.remove()
    summary = job.summary(run.files_done_before, run.files_now)
    labelling.report(summary, out_csv)
    log.info("%s", run.line())
    return summary, run


def embed_on_ray(make_embedder: Callable[[], Any], files: Sequence[str], npy: str, batch_size: int, resume: bool,
                 options: RayOptions, worker_runtime: Callable[[], Any] | None = None,
                 made_with: dict | None = None) -> tuple[np.ndarray, RayRun]:
    """Embed every file on Ray and save the ``.npy`` (the in-process backend's bytes); ``made_with``
    as for :func:`label_on_ray`."""
    from . import formats
    from .records import file_names

    store = ShardStore(npy, file_names(files), EMBEDDINGS, options.shard_size, batch_size, resume, made_with)
    job = _EmbeddingJob()
    run = _run(job, make_embedder, worker_runtime, files, None, store, batch_size, options, desc="{name} on Ray")
    rows = store.merged_rows()
    features.report_rows(files, job.batches, run.settings.name)
    formats.save_npy(npy, rows)
    store.remove()
    log.info("%s", run.line())
    return rows, run


def _run(job, make_model, worker_runtime, files: Sequence[str], notes: list[str] | None, store: ShardStore,
         batch_size: int, options: RayOptions, desc: str) -> RayRun:
    """Connect, probe, read and run every batch of the unfinished shards, writing shards as they
    complete."""
    if options.workers < 1:
        raise UserError(f"--workers={options.workers}: must be at least 1")
    batches = [batch for shard in store.pending
               for batch in batch_ranges(shard.stop, batch_size, start=shard.start)]
    if store.finished:
        log.info("resuming %s: %d of %d shards (%d files) already finished", store.folder, len(store.finished),
                 len(store.shards), store.files_done)
    started = time.perf_counter()
    with connected(options.address) as ray:
        gpus, cpus = _worker_resources(ray, options)
        probe = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_probe)
        found = ray.get(probe.remote(make_model, worker_runtime))
        if "error" in found:
            raise UserError(found["error"])
        run = RayRun(settings=found["settings"], runtime=found["runtime"], workers=options.workers,
                     gpus_per_worker=gpus, cpus_per_worker=cpus, shard_size=store.shard_size,
                     files_done_before=store.files_done, start_seconds=time.perf_counter() - started)
        store.begin()
        started = time.perf_counter()
        if batches:
            dataset = _dataset(ray, job, run.settings, files, notes, batches, make_model, options.workers, gpus, cpus)
            _collect(dataset, job, store, batches, run, len(files), desc.format(name=run.settings.name), started)
        run.seconds = time.perf_counter() - started
    return run


def _dataset(ray, job, settings: AudioSettings, files: Sequence[str], notes: list[str] | None, batches: list[range],
             make_model, workers: int, gpus: float, cpus: float):
    items = []
    for batch_id, batch in enumerate(batches):
        item = {"batch": batch_id, "paths": [files[index] for index in batch]}
        if notes is not None:
            item["notes"] = [notes[index] for index in batch]
        items.append(item)
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_READ_BLOCKS))
    dataset = dataset.map(_read_row, fn_kwargs={"job": type(job), "settings": settings}, num_cpus=1)
    return dataset.map_batches(
        _ModelWorker, fn_constructor_kwargs={"make_model": make_model, "job": type(job)},
        batch_size=1, concurrency=workers, num_gpus=gpus, num_cpus=cpus,
    )


def _collect(dataset, job, store: ShardStore, batches: list[range], run: RayRun, total: int, desc: str,
             started: float) -> None:
    """Take each batch's result as it comes, write each shard once its batches are all in."""
    waiting: dict[Shard, dict[int, Any]] = {}
    try:
        with tqdm(total=total, initial=store.files_done, desc=desc, unit="file") as bar:
            for row in dataset.iter_rows():
                if not run.files_now:
                    run.seconds_to_first_result = time.perf_counter() - started
                batch_id = int(row["batch"])
                result, records = pickle.loads(row["result"])
                for name, level, message in records:
                    logging.getLogger(name).log(level, "%s", message)
                batch = batches[batch_id]
                shard = store.shard_of(batch.start)
                got = waiting.setdefault(shard, {})
                if batch_id in got:  # a batch Ray redid after losing a worker; its first result stands
                    continue
                got[batch_id] = job.keep(batch_id, batch, result)
                if sum(len(batches[i]) for i in got) == shard.size:
                    job.write_shard(store, shard, [got[i] for i in sorted(got)])
                    del waiting[shard]
                run.files_now += len(batch)
                bar.update(len(batch))
    except (UserError, OSError):
        raise
    except Exception as err:  # noqa: BLE001 - a failure on the cluster: one line, the shards are kept
        cause = _user_cause(err)
        kept = (f"{len(store.finished)} finished shards ({store.files_done} files) kept in {store.folder}; "
                "re-run with --resume to continue")
        if cause is not None:
            raise UserError(f"{cause}; {kept}") from None
        raise UserError(f"the Ray run failed ({type(err).__name__}: {one_line(err)}); {kept}; {LOGS_HINT}") from None


def _user_cause(err: BaseException) -> BaseException | None:
    """The exception a worker raised that a user can act on (a :class:`UserError`, a labeller
    that stopped for good), through Ray's wrapping."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (UserError, labelling.LabellingStopped)):
            return current
        current = getattr(current, "cause", None) or current.__cause__
    return None
