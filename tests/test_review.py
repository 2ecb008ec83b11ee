"""The HITL review sheet: lowest-scoring files out, a person's notes back in as annotations."""

from __future__ import annotations

import csv
import math

import pytest

from auditoryhum import formats, review
from auditoryhum.scripts import util_review_sheet
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
    assert run(scores_csv, tmp_path) == 2
    captured = capsys.readouterr()
    assert "review sheet: 2 of 4 files (0 without a label, 2 lowest 50% by CLAP score)" in captured.out
    assert captured.err.startswith("error: ") and "no annotation filled in yet" in captured.err
    with open(tmp_path / "sheet.csv", newline="") as handle:
        sheet = list(csv.reader(handle))
    assert sheet == [["row", "filename", "label", "score", "reason", "annotation"],
                     ["4", "src_clip4.wav", "label 4", "0.020000", "lowest 50%", ""],
                     ["2", "src_clip2.wav", "label 2", "0.050000", "lowest 50%", ""]]
    assert not (tmp_path / "ann.csv").exists()


def test_a_label_less_file_reaches_the_reviewer_and_its_note_the_annotations(tmp_path, capsys):
    path = tmp_path / "top_label_scores.csv"
    formats.write_scores_csv(path, [ScoreRow(1, "a.wav", "dog barking", 0.4), ScoreRow(2, "b.wav", "", math.nan),
                                    ScoreRow(3, "c.wav", "rain", 0.1)])
    assert run(path, tmp_path, "--fraction", "0.01") == 2
    assert "2 of 3 files (1 without a label, 1 lowest 1% by CLAP score)" in capsys.readouterr().out
    with open(tmp_path / "sheet.csv", newline="") as handle:
        sheet = list(csv.reader(handle))
    assert [row[:2] + row[4:] for row in sheet[1:]] == [["2", "b.wav", "no label", ""], ["3", "c.wav", "lowest 1%", ""]]
    lines = (tmp_path / "sheet.csv").read_text().splitlines()
    (tmp_path / "sheet.csv").write_text("\n".join([lines[0], lines[1] + "crow caw", lines[2]]) + "\n")
    assert run(path, tmp_path) == 0
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


def test_simulated_annotator_fills_the_sheet_from_file_names(scores_csv, tmp_path):
    assert run(scores_csv, tmp_path, "--simulate_from_filenames") == 0
    assert formats.read_annotations_csv(tmp_path / "ann.csv") == ["", "clip", "", "clip"]


def test_sheet_from_another_run_is_refused(scores_csv, tmp_path, capsys):
    (tmp_path / "sheet.csv").write_text("row,filename,label,score,annotation\n2,other.wav,x,0.1,note\n")
    assert run(scores_csv, tmp_path) == 2
    assert "belongs to another run" in capsys.readouterr().err
