"""Faults and hostile input through the real scripts: no traceback, no silent wrong result, nothing lost.

Every case here once ended in a traceback, a silently wrong output or lost work; each must now give
one clear line (exit 2) or the right result. The full-disk cases write to a small tmpfs (mounted
when the tests run as root, as CI does) or, where mounting is not allowed, to a folder with a file
size limit (RLIMIT_FSIZE): a real write failure either way.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import error_line, partial_lines, write_tone

from auditoryhum import formats, records
from auditoryhum.formats import ScoreRow
from auditoryhum.scripts import (
    cluster_ag,
    cluster_sweep,
    composite_label_stats,
    composite_labels,
    features_ast,
    features_clap,
    features_clap_text,
    features_gemma3n,
    features_mfcc,
    features_qwen2a,
    features_st,
    label_gemma3n,
    label_qwen2_5o,
    label_qwen2a,
    label_qwen3o,
    recipe_support,
    util_merge_csv,
    util_resample,
    util_score_boost,
)

REPO = Path(__file__).resolve().parents[1]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------------------------
# very short clips, and a file the model fails on


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory) -> Path:
    """A normal clip, and clips of 1, 30 and 50 ms: each must get a normal row."""
    folder = tmp_path_factory.mktemp("short")
    write_tone(folder / "a_normal.wav", seconds=0.5, seed=1)
    for ms in (1, 30, 50):
        write_tone(folder / f"b_{ms:02d}ms.wav", seconds=ms / 1000, seed=ms)
    return folder


@pytest.mark.parametrize("script, flag, checkpoint", [
    (label_qwen2a, "--qwen2a_model", "qwen2_audio"),
    (label_qwen3o, "--qwen3o_model", "qwen3_omni"),
], ids=["qwen2a", "qwen3o"])
def test_very_short_clips_are_padded_and_labelled(script, flag, checkpoint, short_clips, tiny_checkpoint, tmp_path):
    out = tmp_path / "labels.csv"
    assert script.main([f"--filedir={short_clips}/*.wav", f"{flag}={tiny_checkpoint(checkpoint)}",
                        f"--text_label_csv={out}", "--batch_size=2", "--device=cpu"]) == 0
    results = json.loads(Path(f"{out}.run.json").read_text())["results"]
    assert results["model_failures"] == 0 and results["unreadable_files"] == 0
    assert len(formats.read_labels_csv(out)) == 4
    # qwen2a needs 61 ms (all three short clips padded), qwen3o 13 ms (the 1 ms clip only)
    assert results["padded_to_minimum"] == {"qwen2_audio": 3, "qwen3_omni": 1}[checkpoint]


@pytest.mark.parametrize("script, model_flags, npy_flag", [
    (features_ast, ["--ast_model={ast}"], "--ast_npy"),
    (features_gemma3n, ["--gemma3n_model={gemma3n}"], "--gemma3n_npy"),
    (features_qwen2a, ["--qwen2a_model={qwen2_audio}"], "--qwen2a_npy"),
    (features_clap, ["--clap_model={clap}"], "--clap_npy"),
    (features_mfcc, [], "--mfcc_npy"),
], ids=["ast", "gemma3n", "qwen2a", "clap", "mfcc"])
def test_very_short_clips_get_a_real_embedding(script, model_flags, npy_flag, short_clips, tiny_checkpoint, tmp_path):
    out = tmp_path / "x.npy"
    flags = [flag.format(**{name: tiny_checkpoint(name) for name in ("ast", "gemma3n", "qwen2_audio", "clap")
                            if f"{{{name}}}" in flag}) for flag in model_flags]
    batch = [] if script is features_mfcc else ["--batch_size=2"]
    assert script.main([f"--filedir={short_clips}/*.wav", *flags, f"{npy_flag}={out}", *batch]) == 0
    array = np.load(out)
    assert array.shape[0] == 4 and np.isfinite(array).all()


def test_a_file_the_model_fails_on_costs_only_that_file(short_clips, tiny_checkpoint, tmp_path, monkeypatch, caplog):
    from auditoryhum.mllm_qwen2_audio import Qwen2AudioLabeller

    original = Qwen2AudioLabeller.label_prepared  # the model step (the processor's runs ahead of it)

    def fails_on_30ms(self, requests, prepared):
        if any("30ms" in request.path for request in requests):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(self, requests, prepared)

    monkeypatch.setattr(Qwen2AudioLabeller, "label_prepared", fails_on_30ms)
    out = tmp_path / "labels.csv"
    assert label_qwen2a.main([f"--filedir={short_clips}/*.wav", f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
                              f"--text_label_csv={out}", "--batch_size=4", "--device=cpu"]) == 0
    lines = formats.read_labels_csv(out)
    assert [bool(line) for line in lines] == [True, True, False, True]  # sorted: a, 01ms, 30ms, 50ms
    assert "b_30ms.wav: Qwen2-Audio failed on this file (CUDA error" in caplog.text
    assert json.loads(Path(f"{out}.run.json").read_text())["results"]["model_failures"] == 1


# ----------------------------------------------------------------------------------------------
# two runs at once, and --resume after the files changed


def start_labelling_holder(short_clips, tiny_checkpoint, out: Path) -> subprocess.Popen:
    """label_qwen2a.py writing ``out`` in another process, returned once it holds the output's lock."""
    holder = subprocess.Popen(
        [sys.executable, str(REPO / "label_qwen2a.py"), f"--filedir={short_clips}/*.wav",
         f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}", f"--text_label_csv={out}", "--device=cpu"],
        env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = out.with_name(f".{out.name}.lock")
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip()):
        assert time.monotonic() < deadline and holder.poll() is None, "the first run never took its lock"
        time.sleep(0.01)
    return holder


def test_a_second_run_on_the_same_output_waits_for_the_first_then_runs(short_clips, tiny_checkpoint, tmp_path,
                                                                       capsys, monkeypatch):
    out = tmp_path / "labels.csv"
    args = [f"--filedir={short_clips}/*.wav", f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
            f"--text_label_csv={out}", "--device=cpu"]
    holder = start_labelling_holder(short_clips, tiny_checkpoint, out)
    try:
        assert label_qwen2a.main(args) == 0  # waits, then labels
        assert f"another run (pid {holder.pid}) is writing this output; waiting for it" in capsys.readouterr().err
    finally:
        assert holder.wait(timeout=120) == 0
    assert len(formats.read_labels_csv(out)) == 4 and not out.with_name(".labels.csv.lock").exists()

    # the wait is bounded: past it, one line naming the holder, and its output is left to it
    monkeypatch.setenv("AUDITORYHUM_LOCK_WAIT", "0.3")
    holder = start_labelling_holder(short_clips, tiny_checkpoint, out)
    try:
        assert label_qwen2a.main(args) == 2
        assert f"another run (pid {holder.pid}) is still writing this output after 0.3 s" in one_error_line(capsys)
    finally:
        assert holder.wait(timeout=120) == 0
    assert len(formats.read_labels_csv(out)) == 4


def test_an_output_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "merged.csv"
    out.symlink_to(victim)
    (tmp_path / "a.csv").write_text("rain\nbird\n")
    assert util_merge_csv.main([f"--csv1={tmp_path / 'a.csv'}", f"--csv2={tmp_path / 'a.csv'}", f"--csv3={out}"]) == 2
    assert "is a symbolic link; outputs are never written through one" in one_error_line(capsys)
    assert victim.read_text() == "precious" and out.is_symlink()


def test_a_lock_file_that_is_a_symlink_is_refused_not_written_through(tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    npy = tmp_path / "m.npy"
    (tmp_path / ".m.npy.lock").symlink_to(target)
    write_tone(tmp_path / "a.wav", seconds=0.2)
    assert features_mfcc.main([f"--filedir={tmp_path}/a.wav", f"--mfcc_npy={npy}"]) == 2
    line = one_error_line(capsys)
    assert f"the lock file of {npy} is a symbolic link" in line
    assert target.read_text() == "keep me\n" and not npy.exists()


def label_interrupted_after_two_batches(monkeypatch, args: list[str]) -> None:
    """Run label_qwen2a.py, stopped as by Ctrl-C once two batches are labelled: its partial output stays."""
    from auditoryhum.mllm_qwen2_audio import Qwen2AudioLabeller

    original, calls = Qwen2AudioLabeller.label_prepared, []  # the model step

    def interrupted_after_two(self, requests, prepared):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return original(self, requests, prepared)

    with monkeypatch.context() as patch:
        patch.setattr(Qwen2AudioLabeller, "label_prepared", interrupted_after_two)
        assert label_qwen2a.main(args) == 130


def test_resume_after_the_file_list_changed_names_the_first_differing_file(short_clips, tiny_checkpoint, tmp_path,
                                                                           monkeypatch, capsys):
    folder = tmp_path / "wav"
    shutil.copytree(short_clips, folder)
    out = tmp_path / "labels.csv"
    args = [f"--filedir={folder}/*.wav", f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
            f"--text_label_csv={out}", "--device=cpu"]
    label_interrupted_after_two_batches(monkeypatch, args)
    assert len(partial_lines(out)) == 2
    write_tone(folder / "a_added.wav", seconds=0.3)  # sorts before a_normal.wav: every row would shift
    assert label_qwen2a.main([*args, "--resume"]) == 2
    assert "was made for another file list: row 1 is a_normal.wav there but a_added.wav now" in one_error_line(capsys)
    (folder / "a_added.wav").unlink()
    assert label_qwen2a.main([*args, "--resume"]) == 0
    assert "(2 already done)" in capsys.readouterr().out


def test_resume_continues_only_what_was_begun_the_same_way(short_clips, tiny_checkpoint, tmp_path, monkeypatch,
                                                          capsys, caplog):
    """An interrupted run resumed with another model stops in one line (its lines and the new ones
    would mix two models); with only another --batch_size it continues. A finished output made with
    another model is labelled again, one made the same way is kept."""
    from auditoryhum.mllm_qwen2_audio import Qwen2AudioLabeller

    model = tiny_checkpoint("qwen2_audio")
    other_model = tmp_path / "other_qwen2_audio"
    shutil.copytree(model, other_model)
    out = tmp_path / "labels.csv"
    args = [f"--filedir={short_clips}/*.wav", f"--text_label_csv={out}", "--device=cpu"]
    label_interrupted_after_two_batches(monkeypatch, [*args, f"--qwen2a_model={model}"])
    assert label_qwen2a.main([*args, f"--qwen2a_model={other_model}", "--resume"]) == 2
    assert (f"{out}.partial: was begun with other settings (--qwen2a_model: " in one_error_line(capsys)
            and Path(f"{out}.partial").exists())
    assert label_qwen2a.main([*args, f"--qwen2a_model={model}", "--resume", "--batch_size=2"]) == 0
    assert "(2 already done)" in capsys.readouterr().out

    assert label_qwen2a.main([*args, f"--qwen2a_model={model}", "--resume"]) == 0
    assert "Nothing left to do" in capsys.readouterr().err
    original, calls = Qwen2AudioLabeller.label_prepared, []
    monkeypatch.setattr(Qwen2AudioLabeller, "label_prepared",
                        lambda self, requests, prepared: calls.append(1) or original(self, requests, prepared))
    assert label_qwen2a.main([*args, f"--qwen2a_model={other_model}", "--resume"]) == 0
    assert len(calls) == 4 and "made again (made with other settings: --qwen2a_model: " in caplog.text
    assert records.read_record(out)["made_with"]["--qwen2a_model"]["path"] == str(other_model)


def test_resume_of_a_finished_output_made_from_other_files_makes_it_again(short_clips, tiny_checkpoint, tmp_path,
                                                                          caplog):
    folder = tmp_path / "wav"
    shutil.copytree(short_clips, folder)
    out = tmp_path / "labels.csv"
    args = [f"--filedir={folder}/*.wav", f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
            f"--text_label_csv={out}", "--device=cpu", "--resume"]
    assert label_qwen2a.main(args) == 0
    finished, record = out.read_bytes(), records.record_path(out).read_bytes()
    first = sorted(folder.glob("*.wav"))[0]
    first.rename(folder / "0_renamed.wav")  # as many files as before, the first one another
    assert label_qwen2a.main(args) == 0
    assert f"{out}: made again (its run record names other files)" in caplog.text
    assert records.record_path(out).read_bytes() != record
    assert records.read_record(out)["files"][0] == "0_renamed.wav" and len(out.read_bytes()) == len(finished)


# ----------------------------------------------------------------------------------------------
# a full disk


@pytest.fixture
def small_disk(tmp_path):
    """(folder, make, free_up): ``make(free)`` leaves room for about ``free`` bytes of output (on a
    tmpfs, whose every file takes whole 4 KiB pages, plus two pages for a lock and a small side
    file) and returns the preexec function a subprocess writing there needs (None on a tmpfs)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    holder = {}

    def make(free: int):
        if mounted:
            filler = folder / "filler"
            with contextlib.suppress(OSError), open(filler, "wb") as handle:
                handle.write(b"\0" * (64 * 1024))
            size = filler.stat().st_size
            filler.write_bytes(b"\0" * max(0, size - free - 2 * PAGE))
            holder["filler"] = filler
            return None

        def limit_file_size():  # a file written there fails past ``free`` bytes (EFBIG)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (free, free))

        return limit_file_size

    def free_up():
        if "filler" in holder:
            holder["filler"].unlink()

    yield folder, make, free_up
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


PAGE = 4096


def run_wrapper(script: str, args: list[str], preexec=None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / f"{script}.py"), *map(str, args)], capture_output=True, text=True,
                          preexec_fn=preexec, env=dict(os.environ, OMP_NUM_THREADS="1", **env), timeout=300)


def test_a_full_disk_while_labelling_is_one_line_and_resume_finishes_the_same_bytes(short_clips, tiny_checkpoint,
                                                                                    tmp_path, small_disk):
    folder, make, free_up = small_disk
    wav = tmp_path / "wav"
    wav.mkdir()
    for i in range(40):
        write_tone(wav / f"clip{i:02d}.wav", seconds=0.1, freq=200 + 20 * i, seed=i)
    args = [f"--filedir={wav}/*.wav", f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}", "--device=cpu"]
    reference = tmp_path / "reference.csv"
    assert run_wrapper("label_qwen2a", [*args, f"--text_label_csv={reference}"]).returncode == 0
    out = folder / "labels.csv"
    assert len(reference.read_bytes()) > PAGE + 1024
    # room for some of the lines, then the disk is full (finished lines written after every batch)
    full = run_wrapper("label_qwen2a", [*args, f"--text_label_csv={out}"], make(PAGE), AUDITORYHUM_FLUSH_SECONDS="0")
    errors = [line for line in full.stderr.splitlines() if line.startswith("error: ")]
    assert full.returncode == 2 and len(errors) == 1 and "Traceback" not in full.stderr, full.stderr
    assert "labels.csv.partial/" in errors[0] and ": cannot write" in errors[0] and "re-run with --resume" in errors[0]
    free_up()
    resumed = run_wrapper("label_qwen2a", [*args, f"--text_label_csv={out}", "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == reference.read_bytes()


def test_every_writer_meets_a_full_disk_with_one_line_and_no_half_file(tmp_path, small_disk):
    folder, make, _ = small_disk
    wav = tmp_path / "wav"
    wav.mkdir()
    for i in range(6):
        write_tone(wav / f"c{i}.wav", seconds=0.3, freq=300 + 50 * i, seed=i)
    st = tmp_path / "st.npy"
    formats.save_npy(st, np.random.default_rng(0).normal(size=(40, 16)))
    scores = tmp_path / "scores.csv"
    formats.write_scores_csv(scores, [ScoreRow(i + 1, f"c{i}.wav", f"label {i % 5}", 0.1 * (i % 7))
                                      for i in range(40)])
    ids = tmp_path / "ids.csv"
    formats.write_cluster_ids(ids, [i % 3 for i in range(40)])
    notes = tmp_path / "notes.csv"
    notes.write_text("\nbus\n")
    preexec = make(0)
    cases = {
        "features_mfcc": [f"--filedir={wav}/*.wav", f"--mfcc_npy={folder / 'mfcc.npy'}"],
        "cluster_ag": [f"--cluster_npy={st}", "--n_clusters=3", f"--label_csv={folder / 'ids.csv'}",
                       f"--png_plot={folder / 'ag.png'}"],
        "cluster_sweep": [f"--cluster_npy={st}", f"--sweep_csv={folder / 'sweep.csv'}",
                          f"--label_csv={folder / 'sweep_ids.csv'}", f"--png_plot={folder / 'sweep.png'}"],
        "composite_label_stats": [f"--label_csv={ids}", f"--top_label_scores_csv={scores}",
                                  f"--json_out={folder / 'stats.json'}"],
        "util_score_boost": [f"--csv1={scores}", f"--csv2={scores}", f"--csv3={notes}",
                             f"--summary_txt={folder / 'boost.txt'}"],
        "util_merge_csv": [f"--csv1={scores}", f"--csv2={notes}", f"--csv3={folder / 'merged.csv'}"],
    }
    for script, args in cases.items():
        result = run_wrapper(script, args, preexec)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, (script, result.stderr)
        assert str(folder) in errors[0], (script, errors[0])
    left = sorted(path.name for path in folder.iterdir() if path.name != "filler")
    # nothing half-written, no run record claiming anything finished, no lock left behind
    assert not [name for name in left if name.endswith((".tmp", ".run.json", ".lock"))], left


def test_resample_on_a_full_disk_names_the_disk_not_the_duration_and_keeps_the_original(small_disk):
    folder, make, _ = small_disk
    original = write_tone(folder / "clip.wav", seconds=1.0, rate=8000)  # 16 kB; at 16 kHz it needs 32 kB
    before = original.read_bytes()
    result = run_wrapper("util_resample", [f"--filedir={folder}/*.wav", "--sampling_rate=16000", "--bits=s16",
                                           "--channels=1"], make(8 * 1024))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    failed = next(line for line in result.stderr.splitlines() if "clip.wav" in line)
    assert "no space left on the disk" in failed or "File too large" in failed, failed
    assert "lasts" not in failed.split(";")[0] and original.read_bytes() == before


def test_resample_says_a_file_it_may_not_read_cannot_be_read_not_that_it_cannot_be_decoded(tmp_path, monkeypatch,
                                                                                           capsys):
    import builtins

    locked = write_tone(tmp_path / "locked.wav", seconds=0.3, rate=22050)
    real_open = builtins.open

    def open_refusing_locked(file, *args, **kwargs):  # a file of another user (the tests run as root)
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_refusing_locked)
    assert util_resample.main([f"--filedir={tmp_path}/*.wav", "--sampling_rate=16000"]) == 1
    err = capsys.readouterr().err
    assert "cannot read the file (Permission denied)" in err and "cannot decode" not in err


# ----------------------------------------------------------------------------------------------
# a run stopped half-way is never taken for a finished one


def test_a_clustering_stopped_between_its_writes_leaves_no_record(tmp_path, monkeypatch, capsys):
    from auditoryhum import tsne

    st = tmp_path / "st.npy"
    formats.save_npy(st, np.random.default_rng(1).normal(size=(30, 8)))
    args = [f"--cluster_npy={st}", "--n_clusters=3", f"--label_csv={tmp_path / 'ids.csv'}",
            f"--png_plot={tmp_path / 'ag.png'}"]
    assert cluster_ag.main(args) == 0
    assert recipe_support.main(["up_to_date", str(tmp_path / "ids.csv"), *args]) == 0

    def disk_full(*_, **__):
        raise OSError(28, "No space left on device", str(tmp_path / "ag.png"))

    before = {name: (tmp_path / name).read_bytes() for name in ("ids.csv", "ag.png", "ids.csv.run.json")}
    monkeypatch.setattr(tsne, "draw_scatter", disk_full)
    assert cluster_ag.main([*args[:1], "--n_clusters=2", *args[2:]]) == 2
    assert "ag.png: No space left on device" in one_error_line(capsys)
    # none of the failed run's outputs appears: the old ids, plot and record stay together
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert recipe_support.main(["up_to_date", str(tmp_path / "ids.csv"), *args]) == 0
    assert recipe_support.main(["up_to_date", str(tmp_path / "ids.csv"), *args[:1], "--n_clusters=2", *args[2:]]) == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_clustering_killed_during_its_plot_leaves_the_old_outputs_and_the_next_run_clears_its_temporaries(
        tmp_path):
    st = tmp_path / "st.npy"
    formats.save_npy(st, np.random.default_rng(2).normal(size=(400, 16)))
    ids, png = tmp_path / "ids.csv", tmp_path / "ag.png"
    args = [f"--cluster_npy={st}", f"--label_csv={ids}", f"--png_plot={png}"]
    assert cluster_ag.main([*args, "--n_clusters=3"]) == 0
    before = {path: path.read_bytes() for path in (ids, png, Path(f"{ids}.run.json"))}

    # a t-SNE cache of its own, so the plot takes its time
    run = subprocess.Popen([sys.executable, str(REPO / "cluster_ag.py"), *args, "--n_clusters=5"],
                           env=dict(os.environ, OMP_NUM_THREADS="1", AUDITORYHUM_CACHE=str(tmp_path / "cache")),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    held = f".ids.csv.{run.pid}-*.tmp"  # the new ids, written and held back while the t-SNE plot is made
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(held)) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert list(tmp_path.glob(held)), "the kill must land while the plot is made"
    assert {path: path.read_bytes() for path in before} == before  # the old run's outputs, all of them

    assert cluster_ag.main([*args, "--n_clusters=5"]) == 0
    assert not list(tmp_path.glob(".*.tmp"))  # the killed run's temporaries are gone
    assert ids.read_bytes() != before[ids] and png.read_bytes() != before[png]


def test_a_failed_run_that_wrote_nothing_keeps_the_previous_record(tmp_path, capsys):
    st = tmp_path / "st.npy"
    formats.save_npy(st, np.random.default_rng(1).normal(size=(30, 8)))
    args = [f"--cluster_npy={st}", f"--label_csv={tmp_path / 'ids.csv'}", f"--png_plot={tmp_path / 'ag.png'}"]
    assert cluster_ag.main([*args, "--n_clusters=3"]) == 0
    record = Path(f"{tmp_path / 'ids.csv'}.run.json").read_text()
    assert cluster_ag.main([*args, "--n_clusters=99"]) == 2  # refused before writing anything
    assert "--n_clusters=99" in one_error_line(capsys)
    assert Path(f"{tmp_path / 'ids.csv'}.run.json").read_text() == record


def test_composite_labels_stopped_part_way_leave_no_short_csv(tmp_path, tiny_checkpoint, monkeypatch):
    from auditoryhum.composite import LocalLLM

    scores, ids = tmp_path / "scores.csv", tmp_path / "ids.csv"
    formats.write_scores_csv(scores, [ScoreRow(i + 1, f"c{i}.wav", ["rain", "traffic", "birds"][i % 3], 0.2)
                                      for i in range(9)])
    formats.write_cluster_ids(ids, [i % 3 for i in range(9)])
    answers = iter(["falling rain", KeyboardInterrupt()])

    def chat(self, messages):
        value = next(answers)
        if isinstance(value, BaseException):
            raise value
        return value

    monkeypatch.setattr(LocalLLM, "chat", chat)
    out = tmp_path / "composite.csv"
    assert composite_labels.main([f"--label_csv={ids}", f"--top_label_scores_csv={scores}", "--device=cpu",
                                  f"--llm_model={tiny_checkpoint('causal_lm')}", f"--composite_csv={out}"]) == 130
    assert not out.exists() and not Path(f"{out}.run.json").exists()
    assert "falling rain" in Path(f"{out}.partial").read_text()


# ----------------------------------------------------------------------------------------------
# util_resample: samples a WAV cannot honestly hold, leftovers of killed runs


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_resample_refuses_non_finite_samples_and_keeps_the_original(tmp_path, capsys, bad):
    path = tmp_path / "x.wav"
    data = np.sin(np.arange(8000) / 10).astype(np.float32) * 0.3
    data[100] = bad
    sf.write(path, data, 44100, subtype="FLOAT")
    before = path.read_bytes()
    assert util_resample.main(["--filedir", str(path), "--sampling_rate=16000", "--bits=s16", "--channels=1"]) == 1
    assert "holds NaN or infinite samples" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_resample_removes_what_killed_runs_left_and_keeps_a_live_runs(tmp_path):
    write_tone(tmp_path / "a.wav", seconds=0.2, rate=16000)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".a.wav.resample-{dead.stdout.strip()}-x1.tmp"
    live = tmp_path / f".a.wav.resample-{os.getpid()}-x2.tmp"
    stale.write_bytes(b"RIFF")
    live.write_bytes(b"RIFF")
    assert util_resample.main(["--filedir", str(tmp_path / "*.wav"), "--sampling_rate=16000", "--bits=s16",
                               "--channels=1"]) == 0
    assert not stale.exists() and live.exists()


# ----------------------------------------------------------------------------------------------
# wrong and damaged model folders: one line naming the flag, the folder and the cause

MODEL_SCRIPTS = {
    "label_qwen2a": (label_qwen2a, "--qwen2a_model", "qwen2_audio", ["--text_label_csv={out}.csv"]),
    "label_qwen2_5o": (label_qwen2_5o, "--qwen2_5o_model", "qwen2_5_omni", ["--text_label_csv={out}.csv"]),
    "label_qwen3o": (label_qwen3o, "--qwen3o_model", "qwen3_omni", ["--text_label_csv={out}.csv"]),
    "label_gemma3n": (label_gemma3n, "--gemma3n_model", "gemma3n", ["--text_label_csv={out}.csv"]),
    "features_qwen2a": (features_qwen2a, "--qwen2a_model", "qwen2_audio", ["--qwen2a_npy={out}.npy"]),
    "features_gemma3n": (features_gemma3n, "--gemma3n_model", "gemma3n", ["--gemma3n_npy={out}.npy"]),
    "features_ast": (features_ast, "--ast_model", "ast", ["--ast_npy={out}.npy"]),
    "features_clap": (features_clap, "--clap_model", "clap", ["--clap_npy={out}.npy"]),
}


def damage(case: str, folder: Path, checkpoint: Path, other: Path) -> None:
    if case == "empty":
        folder.mkdir()
    elif case == "garbage-config":
        folder.mkdir()
        (folder / "config.json").write_text("{not json")
    elif case == "other-architecture":
        shutil.copytree(other, folder)
    elif case == "truncated-weights":
        shutil.copytree(checkpoint, folder)
        weights = next(folder.glob("*.safetensors"))
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


@pytest.mark.parametrize("case", ["empty", "garbage-config", "other-architecture", "truncated-weights"])
@pytest.mark.parametrize("name", list(MODEL_SCRIPTS))
def test_a_wrong_or_damaged_model_folder_is_one_line(name, case, short_clips, tiny_checkpoint, tmp_path, capsys):
    script, flag, checkpoint, outputs = MODEL_SCRIPTS[name]
    folder = tmp_path / "model"
    damage(case, folder, tiny_checkpoint(checkpoint), tiny_checkpoint("ast" if checkpoint != "ast" else "clap"))
    out = tmp_path / "out"
    assert script.main([f"--filedir={short_clips}/*.wav", f"{flag}={folder}",
                        *[o.format(out=out) for o in outputs], "--device=cpu"]) == 2
    line = one_error_line(capsys)
    assert f"{flag}={folder}" in line
    assert not list(tmp_path.glob("out*"))


@pytest.mark.parametrize("case", ["empty", "garbage-config", "other-architecture", "truncated-weights"])
def test_features_clap_text_and_composite_labels_meet_damaged_folders_with_one_line(case, short_clips, tiny_checkpoint,
                                                                                   tmp_path, capsys):
    folder = tmp_path / "model"
    damage(case, folder, tiny_checkpoint("clap"), tiny_checkpoint("ast"))
    clap_npy, labels = tmp_path / "clap.npy", tmp_path / "labels.csv"
    formats.save_npy(clap_npy, np.ones((4, 32)))
    formats.write_labels_csv(labels, ["rain"] * 4)
    assert features_clap_text.main([f"--filedir={short_clips}/*.wav", f"--clap_model={folder}",
                                    f"--clap_npy={clap_npy}", f"--text_label_csv={labels}",
                                    f"--top_label_scores_csv={tmp_path / 'top.csv'}", "--device=cpu"]) == 2
    assert f"--clap_model={folder}" in one_error_line(capsys)
    llm = tmp_path / "llm"
    damage(case, llm, tiny_checkpoint("causal_lm"), tiny_checkpoint("clap"))
    scores, ids = tmp_path / "scores.csv", tmp_path / "ids.csv"
    formats.write_scores_csv(scores, [ScoreRow(1, "a.wav", "rain", 0.2), ScoreRow(2, "b.wav", "bird", 0.3)])
    formats.write_cluster_ids(ids, [0, 1])
    assert composite_labels.main([f"--label_csv={ids}", f"--top_label_scores_csv={scores}", f"--llm_model={llm}",
                                  f"--composite_csv={tmp_path / 'c.csv'}", "--device=cpu"]) == 2
    assert f"--llm_model={llm}" in one_error_line(capsys)


def test_features_st_refuses_a_folder_that_is_not_a_sentence_transformer(tiny_checkpoint, tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    formats.write_scores_csv(scores, [ScoreRow(1, "a.wav", "rain", 0.2)])
    assert features_st.main([f"--st_model={tiny_checkpoint('clap')}", f"--label_csv={scores}",
                             f"--st_npy={tmp_path / 'st.npy'}", "--device=cpu"]) == 2
    assert "not a sentence-transformers model folder (no modules.json)" in one_error_line(capsys)
    assert not (tmp_path / "st.npy").exists()


# ----------------------------------------------------------------------------------------------
# malformed files and values


def test_outputs_get_the_mode_the_umask_gives(tmp_path):
    scores = tmp_path / "scores.csv"
    formats.write_scores_csv(scores, [ScoreRow(1, "a.wav", "rain", 0.2), ScoreRow(2, "b.wav", "rain", 0.3)])
    old = os.umask(0o022)
    try:
        assert composite_label_stats.main([f"--label_csv={_ids(tmp_path, [0, 1])}", f"--top_label_scores_csv={scores}",
                                           f"--json_out={tmp_path / 'stats.json'}"]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "stats.json").stat().st_mode & 0o777 == 0o644
    assert Path(f"{tmp_path / 'stats.json'}.run.json").stat().st_mode & 0o777 == 0o644


def _ids(folder: Path, ids) -> Path:
    path = folder / "ids.csv"
    path.write_text("".join(f"{i}\n" for i in ids))
    return path


@pytest.mark.parametrize("content, message", [
    ("0\n1.7\n", "line 2: '1.7' is not a cluster id"),
    ("0\ninf\n", "line 2: 'inf' is not a cluster id"),
    ("0\nnan\n", "line 2: 'nan' is not a cluster id"),
    ("0\n1e30\n", "line 2: '1e30' is not a cluster id"),
    ("0\n-99999999999\n", "line 2: '-99999999999' is not a cluster id"),
])
def test_a_cluster_ids_csv_that_is_not_integers_is_one_line(content, message, tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    formats.write_scores_csv(scores, [ScoreRow(1, "a.wav", "rain", 0.2), ScoreRow(2, "b.wav", "rain", 0.3)])
    (tmp_path / "ids.csv").write_text(content)
    assert composite_label_stats.main([f"--label_csv={tmp_path / 'ids.csv'}", f"--top_label_scores_csv={scores}"]) == 2
    assert message in one_error_line(capsys)


def test_an_npy_of_strings_is_one_line(tmp_path, capsys):
    np.save(tmp_path / "st.npy", np.array([["a", "b"], ["c", "d"], ["e", "f"]]))
    assert cluster_sweep.main([f"--cluster_npy={tmp_path / 'st.npy'}", f"--sweep_csv={tmp_path / 's.csv'}",
                               f"--label_csv={tmp_path / 'i.csv'}", f"--png_plot={tmp_path / 'p.png'}"]) == 2
    assert "holds <U1 values, expected numbers" in one_error_line(capsys)


def test_a_penalty_that_overflows_is_one_line_not_k_equals_2(tmp_path, capsys):
    formats.save_npy(tmp_path / "st.npy", np.random.default_rng(2).normal(size=(20, 4)))
    assert cluster_sweep.main([f"--cluster_npy={tmp_path / 'st.npy'}", f"--sweep_csv={tmp_path / 's.csv'}",
                               f"--label_csv={tmp_path / 'i.csv'}", f"--png_plot={tmp_path / 'p.png'}",
                               "--penalty=1e308"]) == 2
    assert "--penalty=1e+308: lambda * k overflows" in one_error_line(capsys)
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("script", [cluster_ag, cluster_sweep], ids=["cluster_ag", "cluster_sweep"])
def test_embeddings_so_large_their_distances_overflow_are_one_line_not_a_silhouette_of_0(script, tmp_path, capsys):
    formats.save_npy(tmp_path / "st.npy", np.random.default_rng(3).normal(size=(20, 4)) * 1e37)
    args = [f"--cluster_npy={tmp_path / 'st.npy'}", f"--label_csv={tmp_path / 'i.csv'}", f"--png_plot={tmp_path / 'p.png'}"]
    args += ["--n_clusters=3"] if script is cluster_ag else [f"--sweep_csv={tmp_path / 's.csv'}"]
    assert script.main(args) == 2
    captured = capsys.readouterr()
    assert "holds values as large as" in error_line(captured.err) and "Silhouette" not in captured.out
    assert not (tmp_path / "i.csv").exists()


def test_an_infinite_score_is_refused_not_a_boost_of_inf(tmp_path, capsys):
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    formats.write_scores_csv(before, [ScoreRow(1, "a.wav", "rain", 0.2), ScoreRow(2, "b.wav", "bird", 0.1)])
    after.write_text("1, a.wav, rain, 0.2\n2, b.wav, bird song, inf\n")
    (tmp_path / "notes.csv").write_text("\nbird song\n")
    assert util_score_boost.main([f"--csv1={before}", f"--csv2={after}", f"--csv3={tmp_path / 'notes.csv'}"]) == 2
    assert f"{after}: line 2: score inf is not a cosine" in one_error_line(capsys)


def test_a_scores_csv_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("\ufeff1, a.wav, rain, 0.200000\n2, b.wav, bird, 0.100000\n", encoding="utf-8")
    assert [row.label for row in formats.read_scores_csv(path)] == ["rain", "bird"]


def test_a_dangling_symlink_keeps_its_row_and_is_named(tmp_path, caplog):
    write_tone(tmp_path / "a.wav", seconds=0.3)
    (tmp_path / "b.wav").symlink_to(tmp_path / "gone.wav")
    write_tone(tmp_path / "c.wav", seconds=0.3, freq=600)
    assert features_mfcc.main([f"--filedir={tmp_path}/*.wav", f"--mfcc_npy={tmp_path / 'm.npy'}"]) == 0
    array = np.load(tmp_path / "m.npy")
    assert array.shape[0] == 3 and np.isnan(array[1]).all() and np.isfinite(array[[0, 2]]).all()
    assert "broken symbolic links" in caplog.text and "b.wav" in caplog.text


def test_a_labels_csv_made_for_another_folder_is_caught_by_name(tmp_path, short_clips, tiny_checkpoint, capsys):
    """Two folders with as many files: the row counts agree, the names in the records do not."""
    other = tmp_path / "other"
    other.mkdir()
    for i in range(4):
        write_tone(other / f"z{i}.wav", seconds=0.2, seed=i)
    labels, mfcc = tmp_path / "labels.csv", tmp_path / "m.npy"
    assert label_qwen2a.main([f"--filedir={other}/*.wav", f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
                              f"--text_label_csv={labels}", "--device=cpu"]) == 0
    assert features_mfcc.main([f"--filedir={other}/*.wav", f"--mfcc_npy={mfcc}"]) == 0
    capsys.readouterr()
    (tmp_path / "unused").mkdir()  # a folder never loaded: the rows are checked first
    args = [f"--filedir={short_clips}/*.wav", f"--clap_model={tmp_path / 'unused'}",
            f"--top_label_scores_csv={tmp_path / 'top.csv'}"]
    assert features_clap_text.main([*args, f"--clap_npy={mfcc}", f"--text_label_csv={labels}"]) == 2
    assert (f"{labels} and --filedir=\"{short_clips}/*.wav\" list different files at row 1 (z0.wav vs a_normal.wav)"
            in one_error_line(capsys))
    plain = tmp_path / "plain.csv"  # the same lines without a record: checked by count, as published CSVs are
    plain.write_text(labels.read_text())
    assert features_clap_text.main([*args, f"--clap_npy={mfcc}", f"--text_label_csv={plain}"]) == 2
    assert f"{mfcc} and --filedir=" in one_error_line(capsys)  # the embeddings' record still names z0.wav
    assert not (tmp_path / "top.csv").exists()


#: run records no script writes: (name, text, what the one warning says)
HOSTILE_RECORDS = [
    ("not-json", "{not json", "unusable run record (Expecting property name"),
    ("newer", json.dumps({"format_version": records.FORMAT_VERSION + 1, "files": ["x"]}), "newer than this version reads"),
    ("no-version", json.dumps({"files": ["x"]}), "not a run record (no format_version)"),
    ("output-a-string", json.dumps({"format_version": 1, "output": "labels.csv"}), "output not of the type"),
    ("output-a-list", json.dumps({"format_version": 1, "output": [1, 2]}), "output not of the type"),
    ("inputs-a-dict", json.dumps({"format_version": 1, "inputs": {"flag": "--x"}}), "inputs not of the type"),
    ("inputs-of-strings", json.dumps({"format_version": 1, "inputs": ["a"]}), "inputs not of the type"),
    ("results-a-list", json.dumps({"format_version": 1, "results": [1]}), "results not of the type"),
    ("files-of-numbers", json.dumps({"format_version": 1, "files": [1, 2]}), "files not of the type"),
    ("deeply-nested", '{"format_version": 1, "results": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "nested too deeply to be a run record"),
]


@pytest.mark.parametrize("text, warning", [case[1:] for case in HOSTILE_RECORDS], ids=[c[0] for c in HOSTILE_RECORDS])
def test_a_record_no_script_writes_is_no_record_named_in_one_warning(tmp_path, caplog, text, warning):
    path = tmp_path / "labels.csv"
    formats.write_labels_csv(path, ["rain", "bird"])
    Path(f"{path}.run.json").write_text(text)
    assert records.recorded_files(path) is None and records.recorded_stand_ins(path) == []
    assert records.up_to_date(path) == "no finished run record"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warning in warnings[0] and "checking" in warnings[0], warnings
    # a script that takes it as an input goes on by the row count
    assert util_merge_csv.main([f"--csv1={path}", f"--csv2={path}", f"--csv3={tmp_path / 'merged.csv'}"]) == 0


def test_two_files_of_the_same_name_under_a_recursive_glob_are_refused(tmp_path, capsys):
    for folder in ("park", "street"):
        (tmp_path / folder).mkdir()
        write_tone(tmp_path / folder / "take1.wav", seconds=0.2)
    assert features_mfcc.main([f"--filedir={tmp_path}/**/*.wav", f"--mfcc_npy={tmp_path / 'm.npy'}"]) == 2
    line = one_error_line(capsys)
    assert f"two files are named take1.wav: {tmp_path}/park/take1.wav and {tmp_path}/street/take1.wav" in line
    assert not (tmp_path / "m.npy").exists()


def test_a_glob_the_shell_expanded_is_explained(tmp_path, capsys):
    files = [str(write_tone(tmp_path / f"{name}.wav", seconds=0.2)) for name in ("a", "b", "c")]
    # what `features_mfcc.py --filedir *.wav ...` hands the script when the glob is not quoted
    assert features_mfcc.main(["--filedir", *files, f"--mfcc_npy={tmp_path / 'm.npy'}"]) == 2
    line = one_error_line(capsys)
    assert "the shell expanded the glob into 3 files" in line and 'quote it, e.g. --filedir="*.wav"' in line


def test_a_missing_model_folder_is_named_before_any_model_code_loads(tmp_path):
    wav = write_tone(tmp_path / "a.wav", seconds=0.2)
    code = ("import sys; from auditoryhum.scripts import label_qwen2a; "
            f"status = label_qwen2a.main(['--filedir={wav}', '--qwen2a_model={tmp_path / 'Qwen2-Audio'}', "
            f"'--text_label_csv={tmp_path / 'l.csv'}']); print(status, 'torch' in sys.modules, "
            "'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.split() == ["2", "False", "False"], done.stderr
    assert done.stderr == f"error: --qwen2a_model={tmp_path / 'Qwen2-Audio'}: model folder not found (git clone the " \
                          "model there, or pass its path)\n"
