import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from auditoryhum import formats
from auditoryhum.errors import UserError
from auditoryhum.formats import ScoreRow

# Files as the published supplementary data has them.
PUBLISHED_LABELS = "traffic noise, car horn\nbirds chirping, wind blowing,\n\nspeech murmur\n"
PUBLISHED_ANNOTATIONS = "\nbus engine\n\n"  # shorter than the file list, blank = no note
PUBLISHED_SCORES = "1, a.wav, traffic noise, 0.5312\n2, b.wav, birds chirping, 0.4100\n3, c.wav, , nan\n"


def test_labels_round_trip_published_layout(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(PUBLISHED_LABELS)
    lines = formats.read_labels_csv(path)
    assert lines == ["traffic noise, car horn", "birds chirping, wind blowing,", "", "speech murmur"]
    out = tmp_path / "out.csv"
    formats.write_labels_csv(out, lines)
    assert out.read_text() == PUBLISHED_LABELS


def test_labels_crlf_bom_and_quoted_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes('\ufefftraffic noise, car horn\r\n"rain, thunder"\r\n'.encode())
    assert formats.read_labels_csv(path) == ["traffic noise, car horn", "rain, thunder"]


def test_labels_writer_refuses_line_breaks(tmp_path):
    with pytest.raises(ValueError):
        formats.write_labels_csv(tmp_path / "x.csv", ["a\nb"])


def test_annotations_short_file_is_padded_with_blanks(tmp_path):
    path = tmp_path / "ann.csv"
    path.write_text(PUBLISHED_ANNOTATIONS)
    assert formats.read_annotations_csv(path, n_files=5) == ["", "bus engine", "", "", ""]


def test_annotations_note_past_the_last_file_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "ann.csv"
    path.write_text("a\nb\n\nc\n")
    with pytest.raises(UserError, match=r"line 4 holds a note \('c'\) but there are only 2 audio files"):
        formats.read_annotations_csv(path, n_files=2)


def test_annotations_blank_lines_past_the_last_file_are_dropped(tmp_path):
    path = tmp_path / "ann.csv"
    path.write_text("a\n\nb\n\n  \n\r\n")  # blank rows, as a spreadsheet export may end
    assert formats.read_annotations_csv(path, n_files=3) == ["a", "", "b"]


def test_scores_read_published_layout(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text(PUBLISHED_SCORES)
    rows = formats.read_scores_csv(path)
    assert rows[0] == ScoreRow(1, "a.wav", "traffic noise", 0.5312)
    assert rows[2].label == "" and math.isnan(rows[2].score)


def test_scores_with_commas_and_quotes_round_trip_and_pandas_reads_them(tmp_path):
    rows = [
        ScoreRow(1, "x, y.wav", "car horn", 0.25),
        ScoreRow(2, 'say "hi".wav', "dog bark", 0.5),
        ScoreRow(3, " lead.wav", "", float("nan")),
    ]
    path = tmp_path / "scores.csv"
    formats.write_scores_csv(path, rows)
    back = formats.read_scores_csv(path)
    assert [(r.index, r.filename, r.label) for r in back] == [(r.index, r.filename, r.label) for r in rows]
    frame = pd.read_csv(path, header=None, skipinitialspace=True, keep_default_na=False)
    assert list(frame[1]) == ["x, y.wav", 'say "hi".wav', " lead.wav"]
    assert list(frame[2]) == ["car horn", "dog bark", ""]


def test_scores_wrong_field_count_names_file_and_line(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("1, a.wav, label, 0.5\n2, b.wav, 0.5\n")
    with pytest.raises(UserError, match=r"scores.csv: line 2 has 3 fields"):
        formats.read_scores_csv(path)


def test_missing_and_binary_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        formats.read_labels_csv(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00\x80")
    with pytest.raises(UserError, match="not UTF-8"):
        formats.read_labels_csv(bad)


def test_cluster_ids_and_npy_round_trip(tmp_path):
    formats.write_cluster_ids(tmp_path / "ids.csv", [0, 2, 1])
    assert (tmp_path / "ids.csv").read_text() == "0\n2\n1\n"
    assert formats.read_cluster_ids(tmp_path / "ids.csv").tolist() == [0, 2, 1]
    array = np.arange(6, dtype=np.float64).reshape(3, 2)
    formats.save_npy(tmp_path / "x.npy", array)
    loaded = formats.load_npy(tmp_path / "x.npy")
    assert loaded.dtype == np.float32 and loaded.tolist() == array.tolist()


def test_load_npy_rejects_1d(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(3))
    with pytest.raises(UserError, match="2-D"):
        formats.load_npy(tmp_path / "v.npy")


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with formats.atomic_open(path) as handle:
            handle.write("new\n")
            raise RuntimeError("crash mid-write")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_review_sheet_round_trips_and_names_the_line_of_a_bad_row(tmp_path):
    entries = [formats.SheetEntry(3, "a.wav", 'dog, "barking"', "0.100000", "lowest 1%", "<script>x</script>"),
               formats.SheetEntry(1, "b.wav", "", "nan", "no label", "")]
    sheet = tmp_path / "review_sheet.csv"
    sheet.write_text(formats.format_review_sheet(entries), encoding="utf-8")
    read = formats.read_review_sheet(sheet)
    assert [dataclasses.replace(entry, line=0) for entry in read] == entries
    assert [entry.line for entry in read] == [2, 3]
    sheet.write_text("row,filename,label,score,reason,annotation\n1,a.wav,x,0.1,,ok\n\nsecond,b.wav,y,0.2,,\n")
    with pytest.raises(UserError, match=r"line 4: row 'second' is not a number"):
        formats.read_review_sheet(sheet)


def _tree():
    return formats.TaxonomyTree(
        files=("a.wav", "b.wav", "c.wav", "d.wav"),
        levels=((0, 0, 1, -1), (0, 1, 2, -1)),
        nodes=(formats.TaxonomyNode(1, 0, "Outdoors", None, (0, 1), (("rain", 1), ("wind", 1))),
               formats.TaxonomyNode(1, 1, "Music", None, (2,), (("piano", 1),)),
               formats.TaxonomyNode(2, 0, "Rain", 0, (0,), (("rain", 1),)),
               formats.TaxonomyNode(2, 1, "Wind", 0, (1,), (("wind", 1),)),
               formats.TaxonomyNode(2, 2, "Piano", 1, (2,), (("piano", 1),))),
        about={"naming": "short"},
    )


def test_taxonomy_json_round_trip(tmp_path):
    path = tmp_path / "taxonomy.json"
    formats.write_taxonomy_json(path, _tree())
    tree = formats.read_taxonomy_json(path)
    assert tree == _tree()
    assert tree.level_ids(2).tolist() == [0, 1, 2, -1]
    assert tree.names(1) == {0: "Outdoors", 1: "Music"}
    import json
    assert [level["k"] for level in json.loads(path.read_text())["levels"]] == [2, 3]
    with pytest.raises(UserError, match="levels 1 to 2"):
        tree.level_ids(3)


@pytest.mark.parametrize("text", ['{"format_version": 1, "files": ["a.wav"]}', "[1, 2]", "not json",
                                  '{"format_version": 1, "files": ["a.wav", "b.wav"], "levels": [{"ids": [0]}], '
                                  '"nodes": []}'])
def test_taxonomy_json_malformed_is_one_line(tmp_path, text):
    path = tmp_path / "taxonomy.json"
    path.write_text(text)
    with pytest.raises(UserError, match="taxonomy"):
        formats.read_taxonomy_json(path)


@pytest.mark.parametrize("reader, text, line", [
    (formats.read_scores_csv, '1, a.wav, "traffic noise, 0.5\n2, b.wav, birds, 0.4\n3, c.wav, rain, 0.3\n', 1),
    (formats.read_review_sheet, 'row,filename,label,score,reason,annotator,annotation\n'
                                '1,a.wav,"dog,0.1,lowest 1%,,\n2,b.wav,cat,0.2,lowest 1%,,\n', 2),
    (formats.read_sweep_csv, 'k,silhouette,adjusted_silhouette\n2,"0.5,0.4\n3,0.6,0.3\n', 2),
    (formats.read_composite_csv, 'cluster,n_samples,composite_label,top_labels\n0,3,"Rain,rain (3)\n', 2),
])
def test_an_unbalanced_quote_is_one_line_naming_the_file_and_line(tmp_path, reader, text, line):
    """Read as CSV, the quote would swallow the lines after it (3 rows read as 1) and shift rows."""
    path = tmp_path / "file.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=rf"^{path}: line {line}: malformed quoted field"):
        reader(path)


def test_an_unbalanced_quote_in_a_scores_csv_stops_the_script_that_reads_it(tmp_path, capsys):
    from auditoryhum.scripts import composite_label_stats

    scores = tmp_path / "scores.csv"
    scores.write_text('1, a.wav, "traffic noise, 0.5\n2, b.wav, birds, 0.4\n3, c.wav, rain, 0.3\n')
    ids = tmp_path / "ids.csv"
    ids.write_text("0\n1\n1\n")
    assert composite_label_stats.main([f"--label_csv={ids}", f"--top_label_scores_csv={scores}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {scores}: line 1: malformed quoted field" in err
