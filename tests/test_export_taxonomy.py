"""export_taxonomy and util_label_studio_import: the Parquet dataset and its card, taxonomy.csv, Label
Studio tasks and the annotations read back from a Label Studio export."""

import json
import math
import random
import xml.etree.ElementTree as ET

import pyarrow.parquet as pq
import pytest
from conftest import error_line, write_tone

from auditoryhum import formats
from auditoryhum.records import read_record
from auditoryhum.scripts import export_taxonomy, util_label_studio_import, util_review_sheet

# Six clips; e has no label (unreadable audio), so it is in no cluster at any level.
FILES = ["a_CarHorn.wav", "b_BirdsSinging.wav", "c_Rain.wav", "d_TrafficJam.wav", "e_Silence.wav", "f_DogBark.wav"]
ANSWERS = ["car horn, traffic noise", "birds singing, wind blowing", "rain falling", "traffic noise, engine idling",
           "", "dog barking, | pipe"]
BEST = [("car horn", 0.41), ("birds singing", 0.52), ("rain falling", 0.33), ("traffic noise", 0.12), ("", math.nan),
        ("dog barking", 0.47)]
LEVEL_1 = (0, 1, 1, 0, -1, 1)
LEVEL_2 = (0, 2, 1, 0, -1, 2)
NAMES_1 = {0: "Street", 1: "Nature | outdoors"}
NAMES_2 = {0: "Traffic", 1: "Rain", 2: "Animals"}


def _tree() -> formats.TaxonomyTree:
    nodes = [formats.TaxonomyNode(1, c, name, None, tuple(i for i, x in enumerate(LEVEL_1) if x == c), ())
             for c, name in NAMES_1.items()]
    nodes += [formats.TaxonomyNode(2, c, name, LEVEL_1[LEVEL_2.index(c)],
                                   tuple(i for i, x in enumerate(LEVEL_2) if x == c), ()) for c, name in NAMES_2.items()]
    return formats.TaxonomyTree(tuple(FILES), (LEVEL_1, LEVEL_2), tuple(nodes), {"made_by": "a test"})


@pytest.fixture
def run_folder(tmp_path, capsys):
    """The audio, the scores and answers of a run, its taxonomy, and annotations from the review
    sheet (a stand-in reviewer writes each file's name: rows e, no label, and d, the lowest score)."""
    audio = tmp_path / "audio"
    audio.mkdir()
    for i, name in enumerate(FILES):
        write_tone(audio / name, seconds=0.2, seed=i)
    formats.write_scores_csv(tmp_path / "scores.csv", [formats.ScoreRow(i + 1, name, label, score)
                                                        for i, (name, (label, score)) in enumerate(zip(FILES, BEST))])
    formats.write_labels_csv(tmp_path / "labels.csv", ANSWERS)
    formats.write_taxonomy_json(tmp_path / "taxonomy.json", _tree())
    assert util_review_sheet.main(["--top_label_scores_csv", str(tmp_path / "scores.csv"), "--review_csv",
                                   str(tmp_path / "sheet.csv"), "--annotations_csv", str(tmp_path / "annotations.csv"),
                                   "--simulate_from_filenames"]) == 0
    capsys.readouterr()
    return tmp_path


def export(folder, capsys, *extra):
    status = export_taxonomy.main([str(a) for a in [
        "--filedir", folder / "audio" / "*.wav", "--top_label_scores_csv", folder / "scores.csv",
        "--text_label_csv", folder / "labels.csv", *extra]])
    out, err = capsys.readouterr()
    return status, out, err


def full_export(folder, capsys, *extra):
    return export(folder, capsys, "--annotations_csv", folder / "annotations.csv", "--taxonomy_json",
                  folder / "taxonomy.json", "--dataset_dir", folder / "dataset", "--taxonomy_csv",
                  folder / "taxonomy.csv", "--label_studio_json", folder / "tasks.json", *extra)


COLUMNS = ["index", "filename", "audio", "mllm_answer", "best_label", "clap_score", "human_note", "cluster_level_1",
           "composite_label_level_1", "cluster_level_2", "composite_label_level_2"]


def test_parquet_dataset_loads_with_load_dataset_with_every_column(run_folder, capsys, tmp_path_factory):
    from datasets import load_dataset

    status, out, err = full_export(run_folder, capsys)
    assert status == 0, err
    dataset_dir = run_folder / "dataset"
    data = load_dataset("parquet", data_files=str(dataset_dir / "data" / "*.parquet"), split="train",
                        cache_dir=str(tmp_path_factory.mktemp("hf_cache")))
    assert data.column_names == COLUMNS
    assert data["filename"] == FILES and data["index"] == list(range(1, 7))
    assert [(dataset_dir / path).resolve() for path in data["audio"]] == \
        [(run_folder / "audio" / name).resolve() for name in FILES]
    assert data["mllm_answer"] == ANSWERS
    assert data["best_label"] == [label or None for label, _ in BEST]
    assert data["clap_score"] == [None if math.isnan(score) else pytest.approx(score) for _, score in BEST]
    assert data["human_note"] == [None, None, None, "traffic jam", "silence", None]
    assert data["cluster_level_1"] == list(LEVEL_1) and data["cluster_level_2"] == list(LEVEL_2)
    assert data["composite_label_level_1"] == [NAMES_1.get(c) for c in LEVEL_1]
    assert data["composite_label_level_2"] == [NAMES_2.get(c) for c in LEVEL_2]
    # typed columns, also for a reader without datasets
    schema = pq.read_table(dataset_dir / "data" / "train-00000-of-00001.parquet").schema
    assert [str(schema.field(name).type) for name in ("index", "clap_score", "cluster_level_2", "human_note")] == \
        ["int64", "double", "int64", "string"]
    assert "6 rows, 11 columns" in err
    record = read_record(dataset_dir, check_output=False)  # beside the folder
    assert record["files"] == FILES and record["results"] == {"rows": 6, "levels": 2, "rows_in_no_cluster": 1,
                                                              "label_studio_tasks": 2}


def test_dataset_card_says_how_it_was_made(run_folder, capsys):
    assert full_export(run_folder, capsys)[0] == 0
    card = (run_folder / "dataset" / "README.md").read_text()
    assert card.startswith("---\npretty_name: ") and "    path: data/train-00000-of-00001.parquet\n" in card
    # from the annotations' run record: the command that made them
    assert f"made by `util_review_sheet.py --top_label_scores_csv {run_folder}/scores.csv" in card
    assert "results: rows_written 6, annotations 2" in card
    # inputs made outside the suite say so
    assert "- **MLLM answers** (`--text_label_csv`): `labels.csv`" in card
    assert card.count("no run record") == 3  # labels, scores, taxonomy
    assert "Level 2: 3 clusters, 1 row in no cluster." in card
    assert "| 1 | 3 | Nature \\| outdoors |" in card  # a pipe in a name does not break the table
    assert '"made_by": "a test"' in card
    assert "- 5 with a best label and a CLAP score; mean CLAP score 0.370000" in card
    for column in COLUMNS:
        assert f"| `{column}` |" in card


def test_the_dataset_folder_loads_by_its_card(run_folder, capsys, tmp_path_factory):
    from datasets import load_dataset

    assert full_export(run_folder, capsys)[0] == 0
    data = load_dataset(str(run_folder / "dataset"), split="train", cache_dir=str(tmp_path_factory.mktemp("hf")))
    assert data.num_rows == 6 and data.column_names == COLUMNS


def test_taxonomy_csv(run_folder, capsys):
    assert full_export(run_folder, capsys)[0] == 0
    assert (run_folder / "taxonomy.csv").read_text() == (
        "file,level_1,level_2\n"
        "a_CarHorn.wav,Street,Traffic\n"
        "b_BirdsSinging.wav,Nature | outdoors,Animals\n"
        "c_Rain.wav,Nature | outdoors,Rain\n"
        "d_TrafficJam.wav,Street,Traffic\n"
        "e_Silence.wav,,\n"
        "f_DogBark.wav,Nature | outdoors,Animals\n"
    )


def test_one_level_from_cluster_ids_and_composite_labels(run_folder, capsys):
    formats.write_cluster_ids(run_folder / "ids.csv", LEVEL_2)
    formats.write_composite_csv(run_folder / "composite.csv", [formats.CompositeLabel(0, 2, "Traffic", ""),
                                                               formats.CompositeLabel(2, 2, "Animals", "")])
    status, _, err = export(run_folder, capsys, "--label_csv", run_folder / "ids.csv", "--composite_csv",
                            run_folder / "composite.csv", "--taxonomy_csv", run_folder / "taxonomy.csv",
                            "--dataset_dir", run_folder / "dataset")
    assert status == 0, err
    assert (run_folder / "taxonomy.csv").read_text().splitlines()[:4] == [
        "file,level_1", "a_CarHorn.wav,Traffic", "b_BirdsSinging.wav,Animals", "c_Rain.wav,cluster 1"]
    table = pq.read_table(run_folder / "dataset" / "data" / "train-00000-of-00001.parquet")
    assert table.column_names == COLUMNS[:9]
    assert table["composite_label_level_1"].to_pylist() == ["Traffic", "Animals", None, "Traffic", None, "Animals"]
    assert table["human_note"].null_count == 6  # no annotations given


# ----------------------------------------------------------------------------------------------
# Label Studio


def test_label_studio_tasks_and_config_fit_together(run_folder, capsys):
    assert full_export(run_folder, capsys, "--audio_url_prefix", "/data/local-files/?d=")[0] == 0
    tasks = json.loads((run_folder / "tasks.json").read_text())
    # the review queue: the file without a label, then the lowest score
    assert [t["data"]["filename"] for t in tasks] == ["e_Silence.wav", "d_TrafficJam.wav"]
    unlabelled, lowest = tasks
    assert unlabelled["predictions"] == [] and unlabelled["data"]["clap_score"] is None
    assert unlabelled["data"]["reason"] == "no label" and unlabelled["data"]["taxonomy"] == ""
    assert lowest["data"]["audio"] == f"/data/local-files/?d={run_folder}/audio/d_TrafficJam.wav"
    assert lowest["data"]["taxonomy"] == "Street > Traffic"
    assert lowest["data"]["mllm_answer"] == "traffic noise, engine idling"
    (prediction,) = lowest["predictions"]
    assert prediction["score"] == pytest.approx(0.12)
    (result,) = prediction["result"]
    assert result["value"] == {"text": ["traffic noise"]} and result["type"] == "textarea"
    config = ET.parse(run_folder / "tasks_config.xml").getroot()
    audio, text_area = config.find("Audio"), config.find("TextArea")
    assert (audio.get("name"), audio.get("value")) == (result["to_name"], "$audio")
    assert (text_area.get("name"), text_area.get("toName")) == (result["from_name"], result["to_name"])
    for tag in config.iter():
        value = tag.get("value", "")
        assert not value.startswith("$") or value[1:] in lowest["data"]


def _annotated_export(tasks, notes, rng):
    """What Label Studio exports once a reviewer has worked through ``tasks``: ids, the reviewer's
    annotation in the prediction's shape (``notes`` by file name), a skipped annotation, in another
    order."""
    exported = []
    for task_id, task in enumerate(tasks, start=100):
        item = {"id": task_id, **task, "annotations": []}
        note = notes.get(task["data"]["filename"])
        if note:
            item["annotations"].append({"id": task_id, "was_cancelled": False, "result": [
                {"id": "x1", "from_name": "label", "to_name": "audio", "type": "textarea",
                 "origin": "manual", "value": {"text": [note]}}]})
        else:
            item["annotations"].append({"id": task_id, "was_cancelled": True, "result": []})
        exported.append(item)
    rng.shuffle(exported)
    return exported


def test_label_studio_export_imports_back_to_the_same_annotations(run_folder, capsys):
    assert full_export(run_folder, capsys, "--label_studio_all_files")[0] == 0
    tasks = json.loads((run_folder / "tasks.json").read_text())
    assert [t["data"]["filename"] for t in tasks] == FILES
    annotations = formats.read_annotations_csv(run_folder / "annotations.csv", len(FILES))
    exported = _annotated_export(tasks, dict(zip(FILES, annotations)), random.Random(0))
    (run_folder / "export.json").write_text(json.dumps(exported))
    status = util_label_studio_import.main(["--label_studio_json", str(run_folder / "export.json"),
                                            "--top_label_scores_csv", str(run_folder / "scores.csv"),
                                            "--annotations_csv", str(run_folder / "imported.csv")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert (run_folder / "imported.csv").read_bytes() == (run_folder / "annotations.csv").read_bytes()
    assert "2 annotations from 6 Label Studio tasks" in out
    assert read_record(run_folder / "imported.csv")["files"] == FILES
    assert read_record(run_folder / "tasks.json")["results"]["label_studio_tasks"] == 6


def test_importer_reads_tasks_it_did_not_make_by_audio_url(run_folder, capsys):
    """Tasks without our data.filename (made by hand in Label Studio) are matched by the audio URL's
    file (a local file, or an upload, whose name Label Studio prefixed); the last annotation counts; a
    note typed on several lines becomes one line."""
    exported = [{"id": 1, "data": {"audio": "/data/local-files/?d=audio/c_Rain.wav"}, "annotations": [
        {"result": [{"from_name": "label", "to_name": "audio", "type": "textarea", "value": {"text": ["drizzle"]}}]},
        {"result": [{"from_name": "label", "to_name": "audio", "type": "textarea",
                     "value": {"text": ["heavy rain,\nthunder", "gutter"]}}]}]},
        {"id": 2, "data": {"audio": "/data/upload/3/0c9f31ab-f_DogBark.wav"}, "annotations": [
            {"result": [{"from_name": "label", "to_name": "audio", "type": "textarea", "value": {"text": ["dog"]}}]}]}]
    (run_folder / "export.json").write_text(json.dumps(exported))
    status = util_label_studio_import.main(["--label_studio_json", str(run_folder / "export.json"),
                                            "--top_label_scores_csv", str(run_folder / "scores.csv"),
                                            "--annotations_csv", str(run_folder / "imported.csv")])
    assert status == 0, capsys.readouterr().err
    assert formats.read_annotations_csv(run_folder / "imported.csv") == ["", "", "heavy rain, thunder, gutter", "",
                                                                         "", "dog"]


BAD_EXPORTS = {
    "a file of another run": ([{"id": 7, "data": {"filename": "zz.wav"}}],
                              "error: {f}/export.json: task 7 is about 'zz.wav', which is not a file of {f}/scores.csv; "
                              "was the export made from another run's tasks?\n"),
    "no annotation yet": ([{"id": 7, "data": {"filename": "c_Rain.wav"}, "annotations": []}],
                          "error: {f}/export.json: none of its 1 tasks has a submitted annotation with text; annotate "
                          "in Label Studio, then export the project again\n"),
    "not a list": ({"tasks": []}, "error: {f}/export.json: not a Label Studio JSON export (expected a list of tasks; "
                                  "export the project as JSON, not JSON_MIN or CSV)\n"),
}


@pytest.mark.parametrize("case", sorted(BAD_EXPORTS))
def test_bad_label_studio_export_is_one_line(case, run_folder, capsys):
    exported, expected = BAD_EXPORTS[case]
    (run_folder / "export.json").write_text(json.dumps(exported))
    status = util_label_studio_import.main(["--label_studio_json", str(run_folder / "export.json"),
                                            "--top_label_scores_csv", str(run_folder / "scores.csv"),
                                            "--annotations_csv", str(run_folder / "imported.csv")])
    assert status == 2
    assert error_line(capsys.readouterr().err) == expected.format(f=run_folder)
    assert not (run_folder / "imported.csv").exists()


# ----------------------------------------------------------------------------------------------
# inputs that do not line up


def test_taxonomy_of_other_files_is_one_line(run_folder, capsys):
    tree = _tree()
    formats.write_taxonomy_json(run_folder / "taxonomy.json",
                                formats.TaxonomyTree(("x.wav", *tree.files[1:]), tree.levels, tree.nodes, {}))
    status, _, err = full_export(run_folder, capsys)
    assert status == 2
    assert error_line(err) == (f'error: {run_folder}/taxonomy.json and --filedir="{run_folder}/audio/*.wav" list '
                               "different files at row 1 (x.wav vs a_CarHorn.wav)\n")
    assert not (run_folder / "dataset").exists() and not (run_folder / "taxonomy.csv").exists()


def test_answers_of_another_length_are_one_line(run_folder, capsys):
    formats.write_labels_csv(run_folder / "labels.csv", ANSWERS[:5])
    status, _, err = full_export(run_folder, capsys)
    assert status == 2
    assert error_line(err) == (f"error: row-count mismatch: {run_folder}/labels.csv has 5 rows but "
                               f'--filedir="{run_folder}/audio/*.wav" has 6\n')


def test_nothing_to_write_is_one_line(run_folder, capsys):
    status, _, err = export(run_folder, capsys, "--taxonomy_json", run_folder / "taxonomy.json")
    assert status == 2
    assert error_line(err) == "error: nothing to write: give --dataset_dir, --label_studio_json and/or --taxonomy_csv\n"
