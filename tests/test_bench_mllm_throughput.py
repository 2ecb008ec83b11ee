"""benchmarks/bench_mllm_throughput.py: a smoke run of the tiny preset on CPU, and its checks."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from auditoryhum import formats

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_mllm_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mllm_throughput", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_tiny_preset_prints_both_rates_the_ratio_and_identical_labels(bench, tmp_path, capsys):
    status = bench.main([
        "--preset", "tiny", "--device", "cpu", "--synthetic", "3", "--seconds", "1", "--batch_size", "3",
        "--labels_dir", str(tmp_path),
    ])

    assert status == 0
    out = capsys.readouterr().out
    assert re.search(r"^model: Qwen2\.5-Omni, preset tiny \(random weights\), .*; 3 files$", out, re.M)
    assert re.search(r"^device: cpu .*, dtype float32, 4-bit no;", out, re.M)
    assert re.search(r"^batch 1: \d+\.\d{3} files/s \(3 files in \d+\.\d s\)$", out, re.M)
    assert re.search(r"^batch 3: \d+\.\d{3} files/s \(3 files in \d+\.\d s\)$", out, re.M)
    assert re.search(r"^batch 3 / batch 1: \d+\.\d{2}x$", out, re.M)
    assert "labels: identical for all 3 files (batch 1 vs batch 3)" in out
    one = formats.read_labels_csv(tmp_path / "labels_batch1.csv")
    batched = formats.read_labels_csv(tmp_path / "labels_batch3.csv")
    assert len(one) == 3 and all(line.strip() for line in one)
    assert batched == one


def test_differing_labels_are_counted_and_named(bench):
    files = ["x/a.wav", "x/b.wav", "x/c.wav"]
    one = bench.TimedRun(1, 1.0, ["dog barking", "car horn", "rain falling"], None)
    batched = bench.TimedRun(8, 1.0, ["dog barking", "car engine", "rain falling"], None)

    assert bench.comparison_line(files, one, batched) == "labels: differ for 1 of 3 files (batch 1 vs batch 8): b.wav"


def test_3b_preset_is_refused_on_cpu_before_anything_is_built(bench, tmp_path, capsys):
    checkpoint = tmp_path / "checkpoint"

    status = bench.main(["--preset", "3b", "--device", "cpu", "--synthetic", "1", "--checkpoint_dir", str(checkpoint)])

    assert status == 2
    assert "--preset 3b on CPU" in capsys.readouterr().err
    assert not checkpoint.exists()
