"""The HITL review sheet: lowest-scoring files out, a person's notes back in as annotations."""

from __future__ import annotations

import csv
import math

import pytest
from conftest import error_line

from auditoryhum import formats, records, review
from auditoryhum.scripts import util_merge_csv, util_review_sheet
from auditoryhum.formats import ScoreRow


def scores(values: list[float]) -> list[ScoreRow]:
    return [ScoreRow(i, f"src_clip{i}.wav", f"label {i}", v) for i, v in enumerate(values, start=1)]


def test_lowest_rows_takes_the_lowest_fraction_rounded_down_but_at_least_one():
    rows = scores([0.5, 0.1, math.nan, 0.3, 0.2])
    assert [r.index for r in review.lowest_rows(rows, 0.01)] == [2]  # NaN rows are never picked
    assert [r.index for r in review.lowest_rows(rows, 0.5)] == [2, 5]  # 4 scored rows -> 2
    many = scores([i / 1000 for i in range(1000, 0, -1)])
    assert [r.score for r in review.lowest_rows(many)] == [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007,
                                                          0.008, 0.009, 0.01]
    assert review.lowest_rows(scores([math.nan])) == []


def test_files_without_a_label_go_on_the_sheet_first_with_their_reason():
    rows = scores([0.5, 0.1, 0.3, 0.2])
    rows[2] = ScoreRow(3, "src_clip3.wav", "", math.nan)  # an empty or non-English answer
    rows[0] = ScoreRow(1, "src_clip1.wav", "", math.nan)
    chosen = review.review_rows(rows, 0.01)
    assert [(row.index, reason) for row, reason in chosen] == [(1, "no label"), (3, "no label"), (2, "lowest 1%")]
    assert review.lowest_reason(0.025) == "lowest 2.5%"
    # every file label-less: all of them are on the sheet, none "lowest"
    unlabelled = [ScoreRow(i, f"f{i}.wav", "", math.nan) for i in (1, 2)]
    assert [reason for _, reason in review.review_rows(unlabelled)] == ["no label", "no label"]


@pytest.mark.parametrize("name, note", [
    ("lincity_TraficHigh1.wav", "trafic high"),
    ("animals_cat.wav", "cat"),
    ("sonicpi_misc_crow.wav", "misc crow"),
    ("airport-barcelona-0-0-a.wav", "airport barcelona"),
])
def test_note_from_filename(name, note):
    assert review.note_from_filename(name) == note


@pytest.fixture
def scores_csv(tmp_path):
    path = tmp_path / "top_label_scores.csv"
    formats.write_scores_csv(path, scores([0.4, 0.05, 0.3, 0.02]))
    return path


def run(scores_csv, tmp_path, *extra):
    return util_review_sheet.main(["--top_label_scores_csv", str(scores_csv), "--review_csv", str(tmp_path / "sheet.csv"),
                        "--annotations_csv", str(tmp_path / "ann.csv"), "--fraction", "0.5", *extra])


def test_first_run_writes_the_sheet_and_waits_for_the_reviewer(scores_csv, tmp_path, capsys):
    assert run(scores_csv, tmp_path) == util_review_sheet.EXIT_AWAITING_REVIEW
    captured = capsys.readouterr()
    assert captured.out == ""  # no result yet: the sheet is a message, the notes are the result
    assert "review sheet: 2 files of 4 (0 without a label, 2 lowest 50% by CLAP score)" in captured.err
    error = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "no note on the sheet yet, nothing to merge" in error[0]
    assert "python3 util_review_app.py --review_csv=" in error[0]
    with open(tmp_path / "sheet.csv", newline="") as handle:
        sheet = list(csv.reader(handle))
    assert sheet == [["row", "filename", "label", "score", "reason", "annotator", "annotation"],
                     ["4", "src_clip4.wav", "label 4", "0.020000", "lowest 50%", "", ""],
                     ["2", "src_clip2.wav", "label 2", "0.050000", "lowest 50%", "", ""]]
    assert not (tmp_path / "ann.csv").exists()


def test_a_label_less_file_reaches_the_reviewer_and_its_note_the_annotations(tmp_path, capsys):
    path = tmp_path / "top_label_scores.csv"
    formats.write_scores_csv(path, [ScoreRow(1, "a.wav", "dog barking", 0.4), ScoreRow(2, "b.wav", "", math.nan),
                                    ScoreRow(3, "c.wav", "rain", 0.1)])
    assert run(path, tmp_path, "--fraction", "0.01") == util_review_sheet.EXIT_AWAITING_REVIEW
    assert "2 files of 3 (1 without a label, 1 lowest 1% by CLAP score)" in capsys.readouterr().err
    with open(tmp_path / "sheet.csv", newline="") as handle:
        sheet = list(csv.reader(handle))
    assert [row[:2] + row[4:] for row in sheet[1:]] == [["2", "b.wav", "no label", "", ""],
                                                        ["3", "c.wav", "lowest 1%", "", ""]]
    lines = (tmp_path / "sheet.csv").read_text().splitlines()
    (tmp_path / "sheet.csv").write_text("\n".join([lines[0], lines[1] + "crow caw", lines[2]]) + "\n")
    assert run(path, tmp_path) == 0
    assert capsys.readouterr().out == "1 annotation written to " + str(tmp_path / "ann.csv") + "\n"
    assert formats.read_annotations_csv(tmp_path / "ann.csv") == ["", "crow caw", ""]


def test_a_sheet_without_the_reason_column_still_reads(scores_csv, tmp_path):
    (tmp_path / "sheet.csv").write_text("row,filename,label,score,annotation\n2,src_clip2.wav,label 2,0.05,bell\n")
    assert run(scores_csv, tmp_path) == 0
    assert formats.read_annotations_csv(tmp_path / "ann.csv") == ["", "bell", "", ""]


def test_filled_sheet_becomes_an_annotations_csv(scores_csv, tmp_path):
    run(scores_csv, tmp_path)
    sheet = tmp_path / "sheet.csv"
    # as a spreadsheet saves it (BOM, CRLF, quotes), and a second note typed in a text editor
    rows = sheet.read_text().splitlines()
    rows[1] = rows[1] + '"dog barking, car horn "'
    rows[2] = rows[2] + "rain, thunder"
    sheet.write_text("\ufeff" + "\r\n".join(rows) + "\r\n", encoding="utf-8")
    assert run(scores_csv, tmp_path) == 0
    assert formats.read_annotations_csv(tmp_path / "ann.csv") == ["", "rain, thunder", "", "dog barking, car horn"]


def test_simulated_annotator_fills_the_sheet_from_file_names_and_says_so(scores_csv, tmp_path, capsys):
    assert run(scores_csv, tmp_path, "--simulate_from_filenames") == 0
    assert capsys.readouterr().out.startswith("2 annotations written to ")  # ... (2 simulated ...
    assert formats.read_annotations_csv(tmp_path / "ann.csv") == ["", "clip", "", "clip"]
    entries = formats.read_review_sheet(tmp_path / "sheet.csv")
    assert [entry.annotator for entry in entries] == [review.SIMULATED_ANNOTATOR] * 2
    record = records.read_record(tmp_path / "ann.csv")
    assert record["stand_ins"] == ["simulated annotator: 2 of the 2 human notes were made from the file names "
                                   "(util_review_sheet.py --simulate_from_filenames), not by a person"]
    assert record["results"]["simulated_annotations"] == 2
    # everything made from the notes says so too
    labels = tmp_path / "labels.csv"
    labels.write_text("a\nb\nc\nd\n")
    assert util_merge_csv.main([f"--csv1={labels}", f"--csv2={tmp_path / 'ann.csv'}",
                                f"--csv3={tmp_path / 'merged.csv'}"]) == 0
    assert records.read_record(tmp_path / "merged.csv")["stand_ins"] == record["stand_ins"]
    assert "not real results - made with simulated annotator" in capsys.readouterr().err

    # a note a person changes is theirs: the sheet keeps the marker column, the text tells
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(sheet.read_text().replace(",clip\n", ",clip with a bell\n", 1))
    assert run(scores_csv, tmp_path, "--simulate_from_filenames") == 0
    assert records.read_record(tmp_path / "ann.csv")["stand_ins"] == [
        "simulated annotator: 1 of the 2 human notes were made from the file names "
        "(util_review_sheet.py --simulate_from_filenames), not by a person"]


def test_a_larger_fraction_adds_rows_to_the_sheet_and_keeps_its_notes(scores_csv, tmp_path, capsys):
    run(scores_csv, tmp_path, "--fraction", "0.25")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(sheet.read_text().rstrip("\n") + "bell\n")
    assert run(scores_csv, tmp_path, "--fraction", "0.75") == 0
    err = capsys.readouterr().err
    assert "2 rows added for --fraction=0.75; the 1 note already on it kept" in err
    assert [entry.row for entry in formats.read_review_sheet(sheet)] == [4, 2, 3]
    assert formats.read_annotations_csv(tmp_path / "ann.csv") == ["", "", "", "bell"]
    # a smaller fraction keeps the sheet as it is, and says so
    assert run(scores_csv, tmp_path, "--fraction", "0.25") == 0
    assert "kept as it is, with 2 rows that --fraction=0.25 would not select" in capsys.readouterr().err
    assert [entry.row for entry in formats.read_review_sheet(sheet)] == [4, 2, 3]


def test_an_edited_sheet_makes_the_annotations_out_of_date(scores_csv, tmp_path):
    args = [f"--top_label_scores_csv={scores_csv}", f"--review_csv={tmp_path / 'sheet.csv'}",
            f"--annotations_csv={tmp_path / 'ann.csv'}", "--fraction", "0.5", "--simulate_from_filenames"]
    assert util_review_sheet.main(args) == 0
    assert records.up_to_date(tmp_path / "ann.csv", args) is None
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(sheet.read_text().replace(",clip\n", ",a bell\n", 1))
    assert records.up_to_date(tmp_path / "ann.csv", args) == f"--review_csv {sheet} changed"


def test_sheet_from_another_run_is_refused(scores_csv, tmp_path, capsys):
    (tmp_path / "sheet.csv").write_text("row,filename,label,score,annotation\n2,other.wav,x,0.1,note\n")
    assert run(scores_csv, tmp_path) == 2
    assert "belongs to another run" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# the order of the queue

#: (file, best label, its score, cluster, runner-up score or None): the lowest three share cluster 0,
#: the smallest margins are further up, and one file has no label at all
QUEUE = [("a.wav", "hum", 0.10, 0, 0.02), ("b.wav", "buzz", 0.11, 0, 0.05), ("c.wav", "drone", 0.12, 0, 0.11),
         ("d.wav", "car horn", 0.30, 1, 0.29), ("e.wav", "engine", 0.40, 1, 0.10), ("f.wav", "dog bark", 0.50, 2, 0.495),
         ("g.wav", "bird song", 0.60, 2, None), ("h.wav", "train", 0.70, 1, 0.20), ("i.wav", "rain", 0.80, 2, 0.10),
         ("j.wav", "", math.nan, -1, None)]


@pytest.fixture
def queue_inputs(tmp_path):
    scores = [ScoreRow(i, name, label, score) for i, (name, label, score, _, _) in enumerate(QUEUE, start=1)]
    formats.write_scores_csv(tmp_path / "scores.csv", scores)
    multi = []
    for row, (_, _, _, _, second) in zip(scores, QUEUE):
        if not row.label:
            multi.append(formats.LabelRow(row.index, row.filename, "", math.nan, 0))
            continue
        multi.append(formats.LabelRow(row.index, row.filename, row.label, row.score, 1))
        if second is not None:
            multi.append(formats.LabelRow(row.index, row.filename, f"{row.label} 2", second, 2))
    formats.write_multi_label_csv(tmp_path / "multi.csv", multi)
    formats.write_cluster_ids(tmp_path / "ids.csv", [cluster for *_, cluster, _ in QUEUE])
    return tmp_path


def sheet_of(folder, order, fraction, *extra):
    sheet = folder / f"{order}_{fraction}.csv"
    assert util_review_sheet.main([f"--top_label_scores_csv={folder / 'scores.csv'}", f"--review_csv={sheet}",
                                   f"--annotations_csv={folder / 'ann.csv'}", f"--fraction={fraction}",
                                   f"--order={order}", *extra]) == util_review_sheet.EXIT_AWAITING_REVIEW
    return [(entry.filename, entry.reason) for entry in formats.read_review_sheet(sheet)]


def test_the_three_orders_pick_different_files_and_say_why(queue_inputs, capsys):
    folder = queue_inputs
    margin = f"--multi_label_csv={folder / 'multi.csv'}"
    diverse = f"--cluster_ids_csv={folder / 'ids.csv'}"
    assert sheet_of(folder, "lowest", 0.34) == [("j.wav", "no label"), ("a.wav", "lowest 34%"), ("b.wav", "lowest 34%"),
                                                ("c.wav", "lowest 34%")]
    assert sheet_of(folder, "margin", 0.34, margin) == [
        ("j.wav", "no label"), ("f.wav", "margin 0.005 (dog bark vs dog bark 2)"),
        ("c.wav", "margin 0.010 (drone vs drone 2)"), ("d.wav", "margin 0.010 (car horn vs car horn 2)")]
    assert sheet_of(folder, "diverse", 0.34, diverse) == [
        ("j.wav", "no label"), ("a.wav", "lowest in cluster 0"), ("d.wav", "lowest in cluster 1"),
        ("f.wav", "lowest in cluster 2")]
    assert "(1 without a label, 3 (34%) with the smallest margin between their two best labels)" in \
        capsys.readouterr().err
    # a larger share: the next round of every cluster, and the files without a runner-up last
    assert [reason for _, reason in sheet_of(folder, "diverse", 0.67, diverse)][4:] == [
        "2nd lowest in cluster 0", "2nd lowest in cluster 1", "2nd lowest in cluster 2"]
    assert [name for name, _ in sheet_of(folder, "margin", 1.0, margin)] == [
        "j.wav", "f.wav", "c.wav", "d.wav", "b.wav", "a.wav", "e.wav", "h.wav", "i.wav", "g.wav"]
    assert sheet_of(folder, "margin", 1.0, margin)[-1] == ("g.wav", "margin unknown (no second label)")


@pytest.mark.parametrize("extra, message", [
    (["--order=margin"], "--order margin needs --multi_label_csv"),
    (["--order=diverse"], "--order diverse needs --cluster_ids_csv"),
    (["--cluster_ids_csv=ids.csv"], "--cluster_ids_csv is for --order diverse"),
])
def test_an_order_without_its_input_is_one_line(queue_inputs, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(queue_inputs)
    assert util_review_sheet.main(["--top_label_scores_csv=scores.csv", "--review_csv=sheet.csv",
                                   "--annotations_csv=ann.csv", *extra]) == 2
    assert error_line(capsys.readouterr().err) == f"error: {message}\n"
    assert not (queue_inputs / "sheet.csv").exists()


def test_a_multi_label_csv_of_other_scores_is_refused(queue_inputs, capsys):
    rows = formats.read_multi_label_csv(queue_inputs / "multi.csv")
    rows[0] = rows[0]._replace(label="something else")
    formats.write_multi_label_csv(queue_inputs / "other.csv", rows)
    assert util_review_sheet.main([f"--top_label_scores_csv={queue_inputs / 'scores.csv'}",
                                   f"--review_csv={queue_inputs / 'sheet.csv'}", f"--annotations_csv={queue_inputs / 'a.csv'}",
                                   "--order=margin", f"--multi_label_csv={queue_inputs / 'other.csv'}"]) == 2
    assert "file 1 is 'a.wav' with best label 'something else', the scores CSV has 'a.wav' with 'hum'" in \
        error_line(capsys.readouterr().err)
