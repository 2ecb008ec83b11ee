#!/usr/bin/env python3
"""The per-file engine against an earlier checkout of the suite, side by side in one run.

Runs the same command lines - ``label_qwen2a.py`` (the tiny random-weight Qwen2-Audio) and
``features_clap.py`` (the tiny CLAP) on the same synthetic clips, in process, one torch thread -
with this checkout and with ``--before`` (another checkout, e.g. one made with
``git worktree add /tmp/before <commit>``), alternating ``--repeats`` times so a change in the
machine's load hits both alike. Each run is its own process, as a user runs it; files per second
come from the run records (the files, not loading the model), and the outputs of the two
checkouts are compared byte for byte. It also counts the lines of the modules of the per-file path
in each checkout, and - one more run of each command under a profiler hook - how many of the
package's files and functions one run executes.

    git worktree add /tmp/before <commit before the change>
    python benchmarks/bench_engine.py --before /tmp/before            # 120 clips, ~6 minutes on 2 cores

Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from synthetic_audio import synthetic_clips  # noqa: E402

#: the modules that exist for the per-file stages (before and after the engine), by path
PER_FILE_PATH = ("auditoryhum/engine.py", "auditoryhum/store.py", "auditoryhum/labelling.py", "auditoryhum/features.py",
                 "auditoryhum/pipeline.py", "auditoryhum/shards.py", "auditoryhum/ray_backend.py",
                 "auditoryhum/scripts/common.py", "auditoryhum/scripts/per_file.py")


def lines_of(checkout: Path) -> tuple[int, list[str]]:
    found = [(path, len((checkout / path).read_text().splitlines())) for path in PER_FILE_PATH
             if (checkout / path).is_file()]
    return sum(n for _, n in found), [f"{Path(path).name} {n}" for path, n in found]


def run(checkout: Path, script: str, args: list[str], out: Path) -> float:
    """The files per second the run recorded."""
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, str(checkout / f"{script}.py"), *args], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"{checkout}: {script}.py failed:\n{done.stderr[-2000:]}")
    return json.loads(Path(f"{out}.run.json").read_text())["results"]["files_per_second"]


#: run under a profiler hook: which functions of the package a run calls, and in which files
_TRACER = """
import json, os, runpy, sys, threading
checkout, script, out = sys.argv[1:4]
package = os.path.join(checkout, "auditoryhum") + os.sep
seen, to_model = set(), []
def hook(frame, event, arg):
    if event != "call":
        return
    if frame.f_code.co_filename.startswith(package):
        seen.add((os.path.relpath(frame.f_code.co_filename, checkout), frame.f_code.co_qualname))
    elif not to_model and frame.f_code.co_name == "_call_impl":  # the first call into a torch module
        at = frame
        while at is not None:
            if at.f_code.co_filename.startswith(package):
                to_model.append(os.path.relpath(at.f_code.co_filename, checkout))
            at = at.f_back
sys.argv = [script, *sys.argv[4:]]
sys.setprofile(hook)
threading.setprofile(hook)
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as stop:
    if stop.code:
        raise
finally:
    sys.setprofile(None)
json.dump({"called": sorted(seen), "to_model": to_model}, open(out, "w"))
"""


def calls_of(checkout: Path, script: str, args: list[str], trace: Path) -> tuple[int, int, int, int]:
    """What one run of ``script`` executes of the package: files and functions, and the package's
    frames (and their files) on the stack when the model is first called."""
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-c", _TRACER, str(checkout), str(checkout / f"{script}.py"), str(trace),
                           *args], env=env, capture_output=True, text=True, cwd=checkout)  # "-c" imports from cwd
    if done.returncode:
        raise SystemExit(f"{checkout}: traced {script}.py failed:\n{done.stderr[-2000:]}")
    traced = json.loads(trace.read_text())
    called, to_model = traced["called"], traced["to_model"]
    return len({path for path, _ in called}), len(called), len(to_model), len(set(to_model))


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the suite to compare with")
    parser.add_argument("--clips", type=int, default=120, help="synthetic clips")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip (16 kHz)")
    parser.add_argument("--batch_size", type=int, default=4, help="files per model call")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the alternating runs (median printed)")
    return parser


def main(argv=None) -> int:
    from auditoryhum.tiny_checkpoints import build

    args = get_parser().parse_args(argv)
    checkouts = {"before": args.before.resolve(), "after": REPO}
    with tempfile.TemporaryDirectory(prefix="bench_engine_") as tmp:
        work = Path(tmp)
        synthetic_clips(args.clips, args.seconds, work / "clips")
        glob = f"--filedir={work / 'clips'}/*.wav"
        models = {"qwen2a": build("qwen2_audio", work / "qwen2_audio"), "clap": build("clap", work / "clap")}
        commands = {
            "label_qwen2a": lambda out: [glob, f"--qwen2a_model={models['qwen2a']}", f"--text_label_csv={out}",
                                         "--device=cpu", f"--batch_size={args.batch_size}"],
            "features_clap": lambda out: [glob, f"--clap_model={models['clap']}", f"--clap_npy={out}", "--device=cpu",
                                          f"--batch_size={args.batch_size}"],
        }
        print(f"{args.clips} clips of {args.seconds:g} s, batch {args.batch_size}, in process, 1 torch thread; "
              f"{platform.machine()}, {os.cpu_count()} CPUs", flush=True)
        rates: dict[tuple[str, str], list[float]] = {}
        outputs: dict[tuple[str, str], bytes] = {}
        for repeat in range(args.repeats):
            for script, command in commands.items():
                for name, checkout in checkouts.items():
                    out = work / f"{name}_{script}_{repeat}{'.csv' if script.startswith('label') else '.npy'}"
                    rates.setdefault((script, name), []).append(run(checkout, script, command(out), out))
                    outputs[(script, name)] = out.read_bytes()
        rows = ["| script | checkout | files/s (median) | runs | output |", "|---|---|---|---|---|"]
        for (script, name), values in rates.items():
            same = "the same bytes" if outputs[(script, "before")] == outputs[(script, "after")] else "DIFFERS"
            rows.append(f"| {script}.py | {name} | {statistics.median(values):.2f} | "
                        f"{', '.join(f'{v:.2f}' for v in values)} | {same} |")
        for name, checkout in checkouts.items():
            total, parts = lines_of(checkout)
            rows.append(f"| per-file path | {name} | {total} lines | {', '.join(parts)} | |")
        for script, command in commands.items():
            for name, checkout in checkouts.items():
                out = work / f"traced_{name}_{script}{'.csv' if script.startswith('label') else '.npy'}"
                files, functions, frames, frame_files = calls_of(checkout, script, command(out), work / "trace.json")
                rows.append(f"| {script}.py, one run | {name} | {files} package files, {functions} functions run | "
                            f"script to model: {frames} calls in {frame_files} files | |")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
