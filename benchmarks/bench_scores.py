"""Scoring and reading at a million rows: what features_clap_text and every reader of a scores CSV do.

Two side-by-side measurements in one run, on synthetic data of the paper's shapes:

1. **Reading a top-label scores CSV** of N rows: ``auditoryhum.formats.read_scores_csv`` (which
   checks every field and names the line of any bad one) against ``pandas.read_csv`` of the same
   file with no checks - the yardstick the suite is held to (within 2x).
2. **Picking each file's best label** (``auditoryhum.clap.best_labels``: array operations over every
   (file, candidate) pair) against the same choice made one file at a time in a Python loop, as the
   earlier per-row code did; the two must choose the same labels.

    python benchmarks/bench_scores.py                # 1,000,000 rows
    python benchmarks/bench_scores.py --rows 200000

Prints the median of ``--repeats`` timings of each; the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditoryhum import clap, formats  # noqa: E402


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_row_best_labels(audio: np.ndarray, label_lists, label_embeddings) -> list[clap.BestLabel]:
    """The reference: one file at a time, one cosine at a time."""
    results = []
    for row, labels in zip(audio, label_lists):
        if not labels or np.isnan(row).any():
            results.append(clap.NO_LABEL)
            continue
        scores = [float(np.dot(label_embeddings[label], row) / np.linalg.norm(label_embeddings[label])
                        / np.linalg.norm(row)) for label in labels]
        best = int(np.argmax(scores))
        results.append(clap.BestLabel(labels[best], scores[best]))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="files (rows of the CSV)")
    parser.add_argument("--labels", type=int, default=20_000, help="distinct labels")
    parser.add_argument("--candidates", type=int, default=4, help="labels per file (the answer's word pairs)")
    parser.add_argument("--dim", type=int, default=512, help="CLAP embedding size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop_rows", type=int, default=50_000,
                        help="rows the per-row loop is timed on (its time is scaled up to --rows)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(100)
    names = [f"word{i} pair{i % 97}" for i in range(args.labels)]

    with tempfile.TemporaryDirectory(prefix="bench_scores_") as tmp:
        path = Path(tmp) / "top_label_scores.csv"
        rows = [formats.ScoreRow(i + 1, f"clip_{i:07d}.wav", names[i % args.labels], float(rng.random()))
                for i in range(args.rows)]
        formats.write_scores_csv(path, rows)
        import pandas as pd

        ours = median_seconds(lambda: formats.read_scores_csv(path), args.repeats)
        theirs = median_seconds(lambda: pd.read_csv(path, header=None, skipinitialspace=True), args.repeats)
        table = formats.read_scores_csv(path)
        last = table[args.rows - 1]
        assert len(table) == args.rows and last[:3] == rows[-1][:3] and abs(last.score - rows[-1].score) < 1e-6
        print(f"read a {args.rows:,}-row scores CSV: read_scores_csv {ours:.3f} s, pandas.read_csv {theirs:.3f} s "
              f"(ratio {ours / theirs:.2f})")

    audio = rng.normal(size=(args.rows, args.dim)).astype(np.float32)
    label_embeddings = dict(zip(names, rng.normal(size=(args.labels, args.dim)).astype(np.float32)))
    label_lists = [[names[j] for j in rng.integers(0, args.labels, size=args.candidates)] for _ in range(args.rows)]
    arrays = median_seconds(lambda: clap.best_labels(audio, label_lists, label_embeddings), args.repeats)
    n_loop = min(args.loop_rows, args.rows)
    loop = median_seconds(lambda: per_row_best_labels(audio[:n_loop], label_lists[:n_loop], label_embeddings), 1)
    loop_scaled = loop * args.rows / n_loop
    fast = clap.best_labels(audio[:n_loop], label_lists[:n_loop], label_embeddings)
    slow = per_row_best_labels(audio[:n_loop], label_lists[:n_loop], label_embeddings)
    same = all(a.label == b.label and abs(a.score - b.score) < 1e-6 for a, b in zip(fast, slow))
    print(f"best label of {args.rows:,} files x {args.candidates} candidates: arrays {arrays:.2f} s, per-row loop "
          f"{loop_scaled:.1f} s ({loop:.2f} s for {n_loop:,} rows, scaled; speed-up {loop_scaled / arrays:.0f}x); "
          f"same labels: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
