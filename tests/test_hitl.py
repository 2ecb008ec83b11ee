import pytest

from auditoryhum import formats
from auditoryhum.formats import ScoreRow
from auditoryhum.scripts import util_merge_csv, util_score_boost


def test_merge_takes_annotation_where_present_short_file(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("traffic noise, car horn\nbirds chirping\nrain falling\n")
    (tmp_path / "notes.csv").write_text("\nbus engine, brakes squeal\n")
    assert util_merge_csv.main([f"--csv1={tmp_path}/labels.csv", f"--csv2={tmp_path}/notes.csv",
                                f"--csv3={tmp_path}/merged.csv"]) == 0
    assert (tmp_path / "merged.csv").read_text() == (
        "traffic noise, car horn\nbus engine, brakes squeal\nrain falling\n")
    assert "Merged 1 annotation into 3 label lines" in capsys.readouterr().out


def test_merge_refuses_more_annotations_than_labels(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("a b\n")
    (tmp_path / "notes.csv").write_text("x\ny\n")
    assert util_merge_csv.main([f"--csv1={tmp_path}/labels.csv", f"--csv2={tmp_path}/notes.csv",
                                f"--csv3={tmp_path}/merged.csv"]) == 2
    assert "line 2 holds a note ('y') but there are only 1 audio file;" in capsys.readouterr().err
    assert not (tmp_path / "merged.csv").exists()


def scores(path, values):
    formats.write_scores_csv(path, [ScoreRow(i + 1, f"{i}.wav", "x y", v) for i, v in enumerate(values)])


def test_score_boost_means_over_annotated_rows(tmp_path, capsys):
    scores(tmp_path / "before.csv", [0.5, 0.1, 0.9, 0.2])
    scores(tmp_path / "after.csv", [0.5, 0.4, 0.9, 0.6])
    (tmp_path / "notes.csv").write_text("\nbus\n\nrain\n")
    assert util_score_boost.main([f"--csv1={tmp_path}/before.csv", f"--csv2={tmp_path}/after.csv",
                                  f"--csv3={tmp_path}/notes.csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Annotated rows: 2"
    assert float(out[1].split(": ")[1]) == pytest.approx(0.15)
    assert float(out[2].split(": ")[1]) == pytest.approx(0.5)
    assert float(out[3].split(": ")[1]) == pytest.approx(0.35)


def test_score_boost_leaves_out_unscored_rows_and_checks_alignment(tmp_path, capsys):
    scores(tmp_path / "before.csv", [float("nan"), 0.2])
    scores(tmp_path / "after.csv", [0.3, 0.6])
    (tmp_path / "notes.csv").write_text("a\nb\n")
    assert util_score_boost.main([f"--csv1={tmp_path}/before.csv", f"--csv2={tmp_path}/after.csv",
                                  f"--csv3={tmp_path}/notes.csv"]) == 0
    out = capsys.readouterr().out
    assert "without a score (left out): 1" in out and "before: 0.2" in out
    scores(tmp_path / "after.csv", [0.3, 0.6, 0.7])
    assert util_score_boost.main([f"--csv1={tmp_path}/before.csv", f"--csv2={tmp_path}/after.csv",
                                  f"--csv3={tmp_path}/notes.csv"]) == 2
    assert "before.csv has 2 rows but" in capsys.readouterr().err


def test_a_line_of_spaces_is_no_note_unless_asked_as_published(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("traffic noise\nbirds chirping\nrain falling\n")
    (tmp_path / "notes.csv").write_text("\n   \nheavy rain\n")
    args = [f"--csv1={tmp_path}/labels.csv", f"--csv2={tmp_path}/notes.csv", f"--csv3={tmp_path}/merged.csv"]
    assert util_merge_csv.main(args) == 0
    assert (tmp_path / "merged.csv").read_text() == "traffic noise\nbirds chirping\nheavy rain\n"
    assert util_merge_csv.main([*args, "--whitespace_notes"]) == 0
    assert (tmp_path / "merged.csv").read_text() == "traffic noise\n   \nheavy rain\n"  # the published merge
    assert "Merged 2 annotations" in capsys.readouterr().out

    scores(tmp_path / "before.csv", [0.1, 0.2, 0.3])
    scores(tmp_path / "after.csv", [0.1, 0.4, 0.5])
    boost = [f"--csv1={tmp_path}/before.csv", f"--csv2={tmp_path}/after.csv", f"--csv3={tmp_path}/notes.csv"]
    capsys.readouterr()
    assert util_score_boost.main(boost) == 0
    assert "Annotated rows: 1\n" in capsys.readouterr().out
    assert util_score_boost.main([*boost, "--whitespace_notes"]) == 0
    out = capsys.readouterr().out
    assert "Annotated rows: 2\n" in out and "Mean CLAP score before: 0.250000" in out
