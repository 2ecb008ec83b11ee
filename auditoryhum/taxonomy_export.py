"""The taxonomy and its evidence, written where users' tools read them (export_taxonomy.py).

Every output is built from the same rows - one per audio file, in the sorted-file order of every
per-file input - each holding the file, the MLLM's whole answer, CLAP's best label and its score, the
human note, and the cluster at each level of the taxonomy (with the cluster's name, its composite
label). The levels come from the taxonomy tree (``taxonomy.json``, coarsest first), or - one level -
from a cluster ids CSV and, for the names, the composite labels CSV.

* a Parquet dataset that ``datasets.load_dataset("parquet", ...)`` (or pyarrow) loads, in a folder
  with a dataset card (README.md) saying how it was made, from the inputs' run records;
* Label Studio tasks and its labeling config (:mod:`auditoryhum.label_studio`);
* ``taxonomy.csv``: file, then the name of its cluster at each level.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import __version__, formats, records

#: Where the Parquet file lies inside the dataset folder (the Hugging Face Hub's layout for one split).
PARQUET_NAME = "data/train-00000-of-00001.parquet"
CARD_NAME = "README.md"
#: Clusters listed per level in the card (the largest first); the Parquet file has them all.
CARD_CLUSTERS_PER_LEVEL = 50


@dataclass(frozen=True)
class Level:
    """One partition of the rows: a cluster id per row (-1 = in no cluster), and the names."""

    ids: np.ndarray
    names: dict[int, str]  # the composite label of each cluster that has one

    def name(self, cluster: int) -> str:
        """A cluster's name for people to read: its composite label, ``cluster <id>`` without one,
        "" for a row in no cluster."""
        if cluster == formats.NO_CLUSTER:
            return ""
        return self.names.get(cluster) or f"cluster {cluster}"


def levels_of_tree(tree: formats.TaxonomyTree) -> list[Level]:
    return [Level(tree.level_ids(level), {c: n for c, n in tree.names(level).items() if n})
            for level in range(1, len(tree.levels) + 1)]


def level_of_ids(ids: np.ndarray, composite: Sequence[formats.CompositeLabel]) -> list[Level]:
    return [Level(np.asarray(ids, dtype=np.int64), {row.cluster: row.composite_label for row in composite
                                                   if row.composite_label})]


@dataclass(frozen=True)
class TaxonomyRows:
    """What every output is built from: row i of each belongs to audio file i."""

    scores: formats.ScoresTable
    answers: list[str]  # the MLLM's whole answer (labels CSV line)
    notes: list[str] | None  # the human note ("" = none); None without an annotations CSV
    audio_paths: list[str]  # as the --filedir glob gives them
    levels: list[Level]

    def __len__(self) -> int:
        return len(self.scores)

    def path_in_taxonomy(self, row: int) -> str:
        """``coarsest > ... > finest`` cluster names of a row (levels where it is in no cluster left out)."""
        names = [level.name(int(level.ids[row])) for level in self.levels]
        return " > ".join(name for name in names if name)


# ----------------------------------------------------------------------------------------------
# the Parquet dataset


def parquet_columns(rows: TaxonomyRows, dataset_folder: Path) -> dict[str, list]:
    """The dataset's columns. Missing values are nulls: no best label, no score (NaN), no note, no
    composite label for a row in no cluster. ``audio`` is the clip's path relative to the dataset
    folder, so the folder and the audio move together."""
    columns: dict[str, list] = {
        "index": list(rows.scores.indices),
        "filename": list(rows.scores.filenames),
        "audio": [Path(os.path.relpath(Path(path).resolve(), dataset_folder.resolve())).as_posix()
                  for path in rows.audio_paths],
        "mllm_answer": list(rows.answers),
        "best_label": [label or None for label in rows.scores.labels],
        "clap_score": [None if math.isnan(score) else score for score in rows.scores.scores],
        "human_note": [note or None for note in rows.notes] if rows.notes is not None else [None] * len(rows),
    }
    for number, level in enumerate(rows.levels, start=1):
        ids = [int(i) for i in level.ids]
        columns[f"cluster_level_{number}"] = ids
        columns[f"composite_label_level_{number}"] = [
            level.names.get(i) if i != formats.NO_CLUSTER else None for i in ids]
    return columns


def write_parquet(path: formats.PathLike, columns: dict[str, list]) -> None:
    """The columns as one Parquet file (typed explicitly, so an all-null column keeps its type)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"index": pa.int64(), "clap_score": pa.float64()}
    fields = [pa.field(name, types.get(name, pa.int64() if name.startswith("cluster_level_") else pa.string()))
              for name in columns]
    arrays = [pa.array(values, type=field.type) for values, field in zip(columns.values(), fields)]
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    with formats.atomic_open(path, "wb") as handle:
        pq.write_table(table, handle)


COLUMN_DOCS = {
    "index": "the file's 1-based row in the top-label scores CSV (and every per-file output of the run)",
    "filename": "the audio file's name",
    "audio": "the clip's path, relative to this folder",
    "mllm_answer": "the multimodal LLM's whole answer (word pairs, separated by commas; empty: no answer)",
    "best_label": "the piece of the answer that CLAP aligns best with the clip (null: no usable label)",
    "clap_score": "that label's CLAP cosine with the clip (null: not scored)",
    "human_note": "the reviewer's note (null: not reviewed)",
}


def _column_doc(name: str) -> str:
    if name.startswith("cluster_level_"):
        return f"the file's cluster at level {name.rsplit('_', 1)[1]} of the taxonomy (-1: in no cluster)"
    if name.startswith("composite_label_level_"):
        return "that cluster's composite label (null: none, or in no cluster)"
    return COLUMN_DOCS[name]


def dataset_card(rows: TaxonomyRows, columns: Sequence[str], title: str, inputs: Sequence[tuple[str, str, str]],
                 about: dict | None) -> str:
    """README.md of the dataset folder: the Hub's YAML header (so ``load_dataset(folder)`` finds the
    Parquet file), what the rows are, the columns, the taxonomy's levels, and how every input was
    made, from its run record. ``inputs``: ``(what, flag, path)`` of each input file."""
    scores = np.array(rows.scores.scores, dtype=np.float64)
    scored = np.isfinite(scores)
    n_notes = sum(bool(note) for note in rows.notes) if rows.notes is not None else 0
    lines = [
        "---",
        f"pretty_name: {json.dumps(title, ensure_ascii=False)}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {PARQUET_NAME}",
        "tags:",
        "- audio",
        "- audio-scene-classification",
        "- auditoryhum",
        "---",
        "",
        f"# {title}",
        "",
        f"An audio-scene taxonomy of {len(rows)} recordings, made with the AuditoryHuM suite {__version__} (the method "
        "of Zhong et al., *AuditoryHuM: Auditory Scene Label Generation and Clustering using Human-MLLM "
        "Collaboration*, arXiv 2602.19409): a multimodal LLM described each clip in word pairs; CLAP scored every "
        "pair against the clip and the best one was kept with its score; the worst-aligned clips went to a person; "
        "the labels were embedded with a sentence transformer and clustered into the levels below, each cluster "
        "named by a composite label. The sections below say which models and settings made this copy, from the "
        "run records of its inputs.",
        "",
        "## Rows",
        "",
        f"- {len(rows)} rows, one per audio file, in the sorted-file order of the run.",
        f"- {int(scored.sum())} with a best label and a CLAP score"
        + (f"; mean CLAP score {scores[scored].mean():.6f}" if scored.any() else "")
        + f"; {len(rows) - int(scored.sum())} without (an empty or non-English answer, or unreadable audio).",
        f"- {n_notes} with a human note." if rows.notes is not None else "- No human notes were given to the export.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'dataset = load_dataset("parquet", data_files="{PARQUET_NAME}", split="train")  # from this folder',
        "```",
        "",
        "## Columns",
        "",
        "| column | what it holds |",
        "| --- | --- |",
        *[f"| `{name}` | {_column_doc(name)} |" for name in columns],
        "",
        "## The taxonomy",
        "",
    ]
    for number, level in enumerate(rows.levels, start=1):
        clustered = level.ids[level.ids != formats.NO_CLUSTER]
        ids, counts = np.unique(clustered, return_counts=True)
        order = sorted(zip(ids.tolist(), counts.tolist()), key=lambda item: (-item[1], item[0]))
        outside = len(level.ids) - clustered.size
        rows_text = "1 row" if outside == 1 else f"{outside} rows"
        lines += [f"Level {number}: {len(order)} clusters, {rows_text} in no cluster.", "",
                  "| cluster | files | composite label |", "| ---: | ---: | --- |"]
        lines += [f"| {c} | {n} | {_cell(level.name(c))} |" for c, n in order[:CARD_CLUSTERS_PER_LEVEL]]
        if len(order) > CARD_CLUSTERS_PER_LEVEL:
            lines.append(f"| ... | | {len(order) - CARD_CLUSTERS_PER_LEVEL} smaller clusters, in the Parquet file |")
        lines.append("")
    lines += ["## How it was made", ""]
    lines += [provenance(what, flag, path) for what, flag, path in inputs]
    if about:
        lines += ["", "What the taxonomy file says about itself:", "", "```json",
                  json.dumps(about, indent=1, ensure_ascii=False), "```"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def provenance(what: str, flag: str, path: str) -> str:
    """One line of the card: an input file, and - from its run record - the command that made it,
    when, with which suite version and models, and the figures it printed."""
    head = f"- **{what}** (`{flag}`): `{os.path.basename(path)}`, SHA-256 `{records.sha256_of(path)[:16]}...`"
    record = records.read_record(path)
    if record is None:
        return head + "; no run record (made outside the suite, or changed since)."
    command = shlex.join([str(record.get("script", "?")), *(str(arg) for arg in record.get("argv") or [])])
    models = [_model_name(item) for item in record.get("inputs") or [] if item.get("kind") == records.MODEL]
    parts = [head, f"made by `{command}`", f"finished {record.get('finished', '?')}",
             f"AuditoryHuM {record.get('package_version', '?')}"]
    if models:
        parts.append("models: " + ", ".join(f"`{model}`" for model in models))
    results = record.get("results") or {}
    if results:
        parts.append("results: " + ", ".join(f"{key} {value}" for key, value in results.items()))
    return "; ".join(parts) + "."


# ----------------------------------------------------------------------------------------------
# taxonomy.csv


def format_taxonomy_csv(rows: TaxonomyRows) -> str:
    """``file,level_1,level_2,...``: each file and the name of its cluster at each level (empty
    where it is in no cluster)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", *(f"level_{number}" for number in range(1, len(rows.levels) + 1))])
    for row, filename in enumerate(rows.scores.filenames):
        writer.writerow([filename, *(level.name(int(level.ids[row])) for level in rows.levels)])
    return out.getvalue()


def _model_name(described: dict) -> str:
    """A model input of a run record by name: its config's name, hub id, file, or folder name."""
    return (described.get("name_or_path") or described.get("hub_id") or described.get("file")
            or os.path.basename(str(described.get("path", ""))))


def model_version(scores_csv: str) -> str:
    """What made the scores, for Label Studio's ``model_version``: the CLAP model its run record
    names, else the scores file's name."""
    record = records.read_record(scores_csv) or {}
    for item in record.get("inputs") or []:
        if item.get("flag") == "--clap_model" and _model_name(item):
            return f"CLAP {_model_name(item)}"
    return f"CLAP ({os.path.basename(scores_csv)})"
