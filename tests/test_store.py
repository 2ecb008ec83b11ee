"""The one resumable store of a per-file output (auditoryhum.store), whatever runs the model: pieces
written as they finish, resumed only for the same files, batch size and settings, merged to the
same bytes however the work was split."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from auditoryhum.engine import BatchRows, Outcome, Pieces
from auditoryhum.errors import UserError
from auditoryhum.labelling import LabelJob
from auditoryhum.store import EMBEDDINGS, LABELS, PartialOutput, Piece

NAMES = [f"{i}.wav" for i in range(10)]
MADE_WITH = {"--model": "a"}


def store(tmp_path, names=NAMES, kind=LABELS, batch_size=2, made_with=MADE_WITH, resume=False):
    return PartialOutput(tmp_path / ("l.csv" if kind == LABELS else "e.npy"), names, kind, batch_size, made_with,
                         resume)


def test_pieces_resume_only_for_the_same_files_batch_size_and_settings_and_a_damaged_one_is_redone(tmp_path,
                                                                                                   caplog):
    first = store(tmp_path)
    first.begin()
    first.add_lines(Piece(0, 4), ["a", "b", "", "d"])
    first.add_lines(Piece(6, 8), ["g", "h"])
    first.add_lines(Piece(8, 10), ["i", "j"])
    (first.folder / Piece(8, 10).file_name(LABELS)).write_text("i\n")  # as if cut short

    again = store(tmp_path, resume=True)
    assert again.done == 6 and again.pending() == [range(4, 6), range(8, 10)]
    assert "not a finished piece" in caplog.text
    assert store(tmp_path, batch_size=1, resume=True).pending() == again.pending()  # rows do not depend on it
    with pytest.raises(UserError, match="was made for another file list: row 10 is 9.wav there but other.wav now"):
        store(tmp_path, names=NAMES[:9] + ["other.wav"], resume=True)
    with pytest.raises(UserError, match=r"was begun with other settings \(--model: \"a\" there, \"b\" now\)"):
        store(tmp_path, made_with={"--model": "b"}, resume=True)
    assert store(tmp_path).pending() == [range(0, 10)]  # without --resume an interrupted run starts over

    again.add_lines(Piece(4, 6), ["e", "f"])
    again.add_lines(Piece(8, 10), ["i", "j"])
    again.finish()
    assert (tmp_path / "l.csv").read_text() == "a\nb\n\nd\ne\nf\ng\nh\ni\nj\n" and not again.folder.exists()


def test_a_piece_that_overlaps_another_or_lies_past_the_files_is_redone(tmp_path, caplog):
    first = store(tmp_path)
    first.begin()
    first.add_lines(Piece(0, 4), ["a", "b", "c", "d"])
    first.add_lines(Piece(6, 8), ["g", "h"])
    (first.folder / "2-6.csv").write_text("x\ny\nz\nw\n")  # overlaps 0-4, written by hand (no zero padding)
    (first.folder / "9-12.csv").write_text("p\nq\nr\n")  # past the 10 files
    again = store(tmp_path, resume=True)
    assert sorted(again.finished) == [Piece(0, 4), Piece(6, 8)] and again.pending() == [range(4, 6), range(8, 10)]
    assert caplog.text.count("not a piece of this output") == 2


@pytest.mark.parametrize("manifest", [None, "not json", {"kind": "labels", "batch_size": 2, "made_with": MADE_WITH},
                                      {"kind": "labels", "batch_size": 2, "files": NAMES}])
def test_pieces_without_a_manifest_naming_files_and_settings_are_never_resumed(tmp_path, manifest):
    first = store(tmp_path)
    first.begin()
    first.add_lines(Piece(0, 2), ["a", "b"])
    path = first.folder / "manifest.json"
    if manifest is None:
        path.unlink()
    else:
        path.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    with pytest.raises(UserError, match=f"delete {first.folder} to start over, or drop --resume"):
        store(tmp_path, resume=True)


def test_an_older_versions_partial_output_is_not_resumed(tmp_path, caplog):
    (tmp_path / "l.csv.partial").write_text("dog barking\n")  # the labels partial of an older version
    with pytest.raises(UserError, match="an interrupted run of an older version .* delete .*l.csv.partial"):
        store(tmp_path, resume=True)
    fresh = store(tmp_path)
    assert "older version is discarded" in caplog.text
    fresh.begin()
    assert fresh.folder.is_dir() and (fresh.folder / "manifest.json").exists()


def test_rows_of_a_piece_where_nothing_was_embedded_become_nan(tmp_path):
    rows = store(tmp_path, names=["a", "b", "c"], kind=EMBEDDINGS, batch_size=1)
    rows.begin()
    rows.add_rows(Piece(0, 2), np.zeros((2, 0), np.float32))
    rows.add_rows(Piece(2, 3), np.ones((1, 3), np.float32))
    merged = rows.finish()
    assert merged.shape == (3, 3) and np.isnan(merged[:2]).all() and (merged[2] == 1).all()
    assert np.array_equal(np.load(tmp_path / "e.npy"), merged, equal_nan=True)


def test_finished_batches_are_written_as_stretches_in_order_whatever_order_they_finish(tmp_path):
    output = store(tmp_path, names=NAMES, batch_size=2)
    output.begin()
    pieces = Pieces(output, LabelJob(NAMES), max_files=4)
    done = {batch.start: batch for batch in pieces.batches}
    for start in (2, 0, 6, 8, 4):  # as Ray may hand them back
        pieces.add(done[start], BatchRows([f"line {i}" for i in done[start]], Outcome()))
    assert sorted(path.name for path in output.folder.glob("*.csv")) == [
        "000000000-000000004.csv", "000000004-000000008.csv", "000000008-000000010.csv"]
    output.finish()
    assert (tmp_path / "l.csv").read_text().splitlines() == [f"line {i}" for i in range(10)]


def test_a_killed_run_leaves_its_finished_pieces(tmp_path):
    code = ("import os\n"
            "from auditoryhum.store import LABELS, PartialOutput, Piece\n"
            f"s = PartialOutput({str(tmp_path / 'l.csv')!r}, ['1', '2', '3', '4'], LABELS, 2, {{'m': 1}}, False)\n"
            "s.begin(); s.add_lines(Piece(0, 2), ['a', 'b'])\n"
            "os._exit(9)\n")
    subprocess.run([sys.executable, "-c", code], check=False)
    assert not (tmp_path / "l.csv").exists()
    resumed = PartialOutput(tmp_path / "l.csv", ["1", "2", "3", "4"], LABELS, 2, {"m": 1}, resume=True)
    assert resumed.pending() == [range(2, 4)]


def test_a_partial_folder_that_is_a_symlink_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "l.csv.partial")
    with pytest.raises(UserError, match="is a symbolic link"):
        store(tmp_path)
