"""The backends of the per-file scripts: in process with and without prefetching, and on a real
local Ray cluster (2 CPUs, started once for this module), on the tiny checkpoints.

The Ray tests share one cluster (``ray start --head --block``, stopped by its pid at the end), so
under pytest-xdist they run in one worker (``--dist loadgroup`` in run_tests.sh).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from auditoryhum.engine import NOT_PREPARED, ModelSteps, PrepareFailed, batch_ranges, prefetched
from auditoryhum.scripts import features_clap, label_qwen2a
from conftest import write_tone

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def qwen2a(tiny_checkpoint):
    return str(tiny_checkpoint("qwen2_audio"))


@pytest.fixture(scope="module")
def clap_model(tiny_checkpoint):
    return str(tiny_checkpoint("clap"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Eleven short clips of different lengths and one file that is not audio (row 5)."""
    folder = tmp_path_factory.mktemp("clips")
    for i in range(11):
        write_tone(folder / f"{i:02d}.wav", seconds=0.3 + 0.15 * i, freq=180.0 + 45 * i, seed=i)
    (folder / "04_not_audio.wav").write_bytes(b"RIFF\x00\x00garbage")
    return folder


def label(model, pattern, out, *extra) -> int:
    return label_qwen2a.main([f"--filedir={pattern}", f"--qwen2a_model={model}", f"--text_label_csv={out}", *extra])


def embed_clap(model, pattern, out, *extra) -> int:
    return features_clap.main([f"--filedir={pattern}", f"--clap_model={model}", f"--clap_npy={out}", *extra])


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch at one thread in this process, as in each Ray worker of these tests: CLAP's float
    rounding depends on the thread count (docs/scale-out.md), and an earlier test in the same
    process may have left torch at another."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def in_process(qwen2a, clap_model, clips, one_torch_thread, tmp_path_factory) -> dict[str, bytes]:
    """The in-process outputs every other backend must equal (default prefetching)."""
    folder = tmp_path_factory.mktemp("in_process")
    assert label(qwen2a, f"{clips}/*.wav", folder / "labels.csv", "--batch_size=2") == 0
    assert embed_clap(clap_model, f"{clips}/*.wav", folder / "clap.npy", "--batch_size=3") == 0
    return {"labels": (folder / "labels.csv").read_bytes(), "clap": (folder / "clap.npy").read_bytes()}


# ----------------------------------------------------------------------------------------------
# in process: prefetching


def test_prefetching_changes_no_byte(qwen2a, clap_model, clips, in_process, tmp_path):
    assert label(qwen2a, f"{clips}/*.wav", tmp_path / "labels.csv", "--batch_size=2", "--prefetch_batches=0") == 0
    assert embed_clap(clap_model, f"{clips}/*.wav", tmp_path / "clap.npy", "--batch_size=3",
                      "--prefetch_batches=0") == 0
    assert (tmp_path / "labels.csv").read_bytes() == in_process["labels"]
    assert (tmp_path / "clap.npy").read_bytes() == in_process["clap"]
    lines = in_process["labels"].decode().split("\n")[:-1]
    assert len(lines) == 12 and lines[5] == "" and all(line for i, line in enumerate(lines) if i != 5)
    assert np.isnan(np.load(tmp_path / "clap.npy")[5]).all()
    record = json.loads((tmp_path / "clap.npy.run.json").read_text())
    assert record["parameters"]["backend"] == "in-process" and record["parameters"]["prefetch_batches"] == 0
    assert record["results"]["files_per_second"] > 0


def test_prefetched_reads_ahead_in_order_and_prepares_one_batch_at_a_time():
    events: list[str] = []
    preparing = threading.Semaphore(1)
    model_started = threading.Event()

    def read(batch):
        if batch.start == 4:  # the third batch is read while the model works on the first
            assert model_started.wait(10)
        events.append(f"read {batch.start}")
        return list(batch)

    def prepare(items):
        assert preparing.acquire(blocking=False), "two prepare steps at once"
        time.sleep(0.01)
        preparing.release()
        if items == [6, 7]:
            raise ValueError("processor failed")
        return sum(items)

    seen = []
    for batch, items, prepared in prefetched(batch_ranges(9, 2), read, prepare, depth=2):
        model_started.set()
        seen.append((batch.start, items, prepared if not isinstance(prepared, PrepareFailed) else "failed"))
        time.sleep(0.05)
    assert seen == [(0, [0, 1], 1), (2, [2, 3], 5), (4, [4, 5], 9), (6, [6, 7], "failed"), (8, [8], 8)]
    # depth 0: nothing ahead, nothing prepared
    assert [p for _, _, p in prefetched(batch_ranges(3, 2), read, prepare, depth=0)] == [NOT_PREPARED] * 2


def test_model_steps_raise_a_failed_prepare_and_prepare_themselves_when_not_prepared():
    steps = ModelSteps("m", whole=lambda items: ["whole"], prepare=lambda items: len(items),
                       run=lambda items, prepared: [prepared] * len(items))
    assert steps(["a", "b"]) == [2, 2]
    assert steps(["a"], 7) == [7]
    with pytest.raises(ValueError, match="bad"):
        steps(["a"], PrepareFailed(ValueError("bad")))
    assert ModelSteps("m", whole=lambda items: ["whole"])(["a"]) == ["whole"]


def test_batches_are_by_file_index_and_a_resumed_run_realigns():
    assert batch_ranges(7, 3) == [range(0, 3), range(3, 6), range(6, 7)]
    assert batch_ranges(7, 3, start=4) == [range(4, 6), range(6, 7)]


def test_flags_of_the_other_backend_are_one_line(qwen2a, clips, tmp_path, capsys):
    assert label(qwen2a, f"{clips}/*.wav", tmp_path / "l.csv", "--workers=2") == 2
    assert capsys.readouterr().err == "error: --workers applies to --backend ray only\n"
    assert label(qwen2a, f"{clips}/*.wav", tmp_path / "l.csv", "--backend=ray", "--prefetch_batches=1") == 2
    assert capsys.readouterr().err.startswith("error: --prefetch_batches applies to --backend in-process only")
    assert not (tmp_path / "l.csv").exists()


# ----------------------------------------------------------------------------------------------
# a finished output


def test_finished_output_with_resume_needs_no_ray(qwen2a, clips, in_process, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    assert label(qwen2a, f"{clips}/*.wav", out, "--batch_size=2") == 0  # finished, with its run record
    # an address nobody listens on: the run must not try to reach it
    assert label(qwen2a, f"{clips}/*.wav", out, "--backend=ray", "--ray_address=127.0.0.1:9", "--resume") == 0
    assert "Nothing left to do" in capsys.readouterr().err
    assert out.read_bytes() == in_process["labels"]


# ----------------------------------------------------------------------------------------------
# Ray: bad input


def test_missing_ray_is_one_line(qwen2a, clips, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without Ray: the import fails
    assert label(qwen2a, f"{clips}/*.wav", tmp_path / "l.csv", "--backend=ray") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--backend ray needs Ray" in err and 'pip install ".[ray]"' in err
    assert sorted(os.listdir(tmp_path)) == []


def test_unreachable_or_malformed_ray_address_is_one_line_and_writes_nothing(qwen2a, clap_model, clips, tmp_path,
                                                                             capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert label(qwen2a, f"{clips}/*.wav", tmp_path / "l.csv", "--backend=ray", f"--ray_address=127.0.0.1:{port}") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--ray_address=127.0.0.1:{port}: no Ray cluster answers there" in err
    assert embed_clap(clap_model, f"{clips}/*.wav", tmp_path / "c.npy", "--backend=ray", "--ray_address=headnode") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ray_address=headnode: expected HOST:PORT" in err
    assert sorted(os.listdir(tmp_path)) == []


# ----------------------------------------------------------------------------------------------
# Ray: a local cluster of 2 CPUs for the rest of the module

ray_tests = pytest.mark.xdist_group("ray")
#: on 2 CPUs: two model workers of half a CPU each leave one CPU for the read tasks
TWO_WORKERS = ["--backend=ray", "--workers=2", "--cpus_per_worker=0.5"]


@dataclass(frozen=True)
class Cluster:
    address: str
    head: int  # pid of `ray start --head --block`; every Ray process of the cluster descends from it

    def model_workers(self) -> list:
        import psutil

        return [process for process in psutil.Process(self.head).children(recursive=True)
                if "MapWorker" in " ".join(process.cmdline())]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory) -> Cluster:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("ray_head") / "head.log"
    # A folder of its own (short: Ray's socket paths live in it), so that the cluster's address file
    # does not stay in /tmp/ray, where a plain ray.init() would try to join the stopped cluster.
    ray_temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = dict(os.environ, RAY_AUTH_MODE="disabled", OMP_NUM_THREADS="1")
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
               "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--object-store-memory=200000000",
               "--disable-usage-stats", f"--temp-dir={ray_temp}"]
    with open(log, "wb") as out:
        head = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert head.poll() is None and time.time() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield Cluster(f"127.0.0.1:{port}", head.pid)
    finally:
        _stop(head)
        shutil.rmtree(ray_temp, ignore_errors=True)


def _stop(head: subprocess.Popen) -> None:
    """Stop the head: `ray start --block` stops what it started on SIGTERM, but waits on busy workers
    for half a minute; after a few seconds the processes it started (and only those) are killed."""
    import psutil

    started = psutil.Process(head.pid).children(recursive=True)
    head.terminate()
    try:
        head.wait(timeout=5)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()
    for process in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(started, timeout=10)


@ray_tests
def test_two_ray_workers_write_the_in_process_bytes(qwen2a, clap_model, clips, in_process, ray_cluster, tmp_path,
                                                    capsys):
    where = f"--ray_address={ray_cluster.address}"
    assert label(qwen2a, f"{clips}/*.wav", tmp_path / "labels.csv", "--batch_size=2", "--shard_size=3",
                 *TWO_WORKERS, where) == 0
    out, err = capsys.readouterr()
    assert "1 unreadable file got a blank line" in out and "Ray: 2 workers, 12 files" in err
    assert embed_clap(clap_model, f"{clips}/*.wav", tmp_path / "clap.npy", "--batch_size=3", *TWO_WORKERS,
                      where) == 0
    assert (tmp_path / "labels.csv").read_bytes() == in_process["labels"]
    assert (tmp_path / "clap.npy").read_bytes() == in_process["clap"]
    assert not (tmp_path / "labels.csv.partial").exists() and not (tmp_path / "clap.npy.partial").exists()
    record = json.loads((tmp_path / "labels.csv.run.json").read_text())
    assert record["parameters"]["backend"] == "ray" and record["parameters"]["workers"] == 2
    assert record["parameters"]["shard_size"] == 4  # rounded up to whole batches
    assert record["parameters"]["device"] == "cpu"  # as a worker resolved it
    assert record["results"]["files_per_second"] > 0 and record["results"]["ray_start_seconds"] > 0


@ray_tests
def test_a_model_that_cannot_load_stops_the_run_in_one_line(clips, ray_cluster, tmp_path, capsys):
    missing = tmp_path / "Qwen2-Audio-7B-Instruct"
    assert label(missing, f"{clips}/*.wav", tmp_path / "l.csv", *TWO_WORKERS,
                 f"--ray_address={ray_cluster.address}") == 2
    assert capsys.readouterr().err == f"error: --qwen2a_model={missing}: model folder not found (git clone the " \
                                      "model there, or pass its path)\n"
    assert sorted(os.listdir(tmp_path)) == []


@ray_tests
def test_killed_worker_is_replaced_and_killed_driver_resumes_from_its_shards(qwen2a, ray_cluster, tmp_path, capsys):
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for i in range(40):
        write_tone(wavs / f"{i:02d}.wav", seconds=0.5, freq=150.0 + 40 * i, seed=i)
    reference = tmp_path / "reference.csv"
    assert label(qwen2a, f"{wavs}/*.wav", reference, "--batch_size=2") == 0

    out = tmp_path / "labels.csv"
    shards = tmp_path / "labels.csv.partial"
    flags = [f"--filedir={wavs}/*.wav", f"--qwen2a_model={qwen2a}", f"--text_label_csv={out}", "--batch_size=2",
             "--shard_size=4", "--backend=ray", "--cpus_per_worker=0.5", f"--ray_address={ray_cluster.address}"]
    # pieces of whole shards only (none written early by the clock)
    driver = subprocess.Popen([sys.executable, str(REPO / "label_qwen2a.py"), *flags],
                              env=dict(os.environ, OMP_NUM_THREADS="1", AUDITORYHUM_FLUSH_SECONDS="3600"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finished_shards(at_least: int) -> list[str]:
        deadline = time.time() + 240
        while time.time() < deadline and driver.poll() is None and len(list(shards.glob("*.csv"))) < at_least:
            time.sleep(0.02)
        return sorted(path.name for path in shards.glob("*.csv"))

    before = finished_shards(1)
    workers = ray_cluster.model_workers()
    assert len(workers) == 1 and driver.poll() is None
    workers[0].send_signal(signal.SIGKILL)  # Ray starts another and redoes the batch it held
    after = finished_shards(len(before) + 1)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert len(after) > len(before), "the run went on after losing its worker"
    finished = sorted(path.name for path in shards.glob("*.csv"))
    assert not out.exists() and len(finished) < 10, "the kill must land mid-run"
    done = 4 * len(finished)
    assert finished == [f"{4 * i:09d}-{4 * i + 4:09d}.csv" for i in range(len(finished))]

    # without its manifest, or with one that does not say which files and settings its pieces are
    # for, nothing is resumed: one line, and the pieces stay for a fixed manifest
    manifest = shards / "manifest.json"
    kept = manifest.read_text()
    capsys.readouterr()
    for damage, message in ((None, "its manifest.json is gone"), ("files", "does not say which files or settings"),
                            ("made_with", "does not say which files or settings")):
        if damage is None:
            manifest.unlink()
        else:
            manifest.write_text(json.dumps({key: value for key, value in json.loads(kept).items() if key != damage}))
        assert label(qwen2a, f"{wavs}/*.wav", out, *flags[3:], "--resume") == 2
        err = capsys.readouterr().err
        assert message in err and err.count("error: ") == 1 and "Traceback" not in err, err
        assert sorted(path.name for path in shards.glob("*.csv")) == finished
    manifest.write_text(kept)

    assert label(qwen2a, f"{wavs}/*.wav", out, *flags[3:], "--resume") == 0
    printed = capsys.readouterr().out
    assert f"Labelled {40 - done} files ({done} already done)" in printed
    assert out.read_bytes() == reference.read_bytes()
    assert not shards.exists()
    results = json.loads((tmp_path / "labels.csv.run.json").read_text())["results"]
    assert results["labelled_now"] == 40 - done and results["already_done"] == done
