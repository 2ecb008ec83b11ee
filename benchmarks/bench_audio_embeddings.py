#!/usr/bin/env python3
"""Per-file loop versus batched path for the audio embedding models at their real sizes.

Both models run through the suite's production code: the shared loop
``auditoryhum.features.embed_files`` (the per-file engine: sorted files, decoding and resampling included) with
the model's own audio embedder (``auditoryhum.ast_embedding.ASTEmbedder`` and
``auditoryhum.clap.embed_audio_batch``), once with batch 1 - one file at a time, as the published
scripts ran - and once batched. The two runs are measured side by side in one process, on the
same files, and their embeddings are compared.

The weights are random (no model hub here; the time does not depend on the weight values), but
the architectures are the real ones:

* AST: ``ASTConfig()``, i.e. ``ast-finetuned-audioset-10-10-0.4593`` (12 layers, 768-d, 1024
  frames, 527 AudioSet classes) with the default ``ASTFeatureExtractor``;
* CLAP: ``ClapConfig()`` has the sizes of ``laion/clap-htsat-fused`` (HTSAT-tiny audio tower:
  patch 96, depths 2-2-6-2, 768-d; RoBERTa-base text tower; projection 512) but leaves fusion
  off, so fusion is switched on here (``aff_2d``, as in the fused checkpoints and the suite's
  tiny CLAP), with the published feature extractor settings (48 kHz, 10 s, fusion crops,
  repeat-padding).

Every clip costs the same whatever its length (AST pads or cuts to 10.24 s, CLAP to 10 s), so a
few clips give a fair rate. The default run (8 clips per model) takes about two minutes of CPU
time on a 2-core CPU; AST dominates (about 10 s a clip there). Measured figures:
benchmarks/README.md.

    python benchmarks/bench_audio_embeddings.py                       # example recordings
    python benchmarks/bench_audio_embeddings.py --synthetic 16        # no example needed
    python benchmarks/bench_audio_embeddings.py --clips 32 --repeats 3 --models clap
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from synthetic_audio import synthetic_clips  # noqa: E402
from auditoryhum.features import AudioEmbedder, embed_files  # noqa: E402

DEFAULT_FILEDIR = str(REPO / "example" / "audio" / "*.wav")  # where ./run_example.sh puts them
SEED = 100


def real_size_ast(device: str):
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    from auditoryhum.ast_embedding import ASTEmbedder

    torch.manual_seed(SEED)
    model = ASTForAudioClassification(ASTConfig(num_labels=527)).to(device).eval()
    return ASTEmbedder(model, ASTFeatureExtractor(), device)


def real_size_clap(device: str, work_dir: Path):
    import torch
    from transformers import ClapConfig, ClapModel, ClapProcessor

    from auditoryhum import clap as clap_module
    from auditoryhum.tiny_checkpoints import build

    # The processor (feature extractor with the published settings; its tokenizer is not used
    # here) comes from the suite's CLAP checkpoint layout; only the model is made real-size.
    processor = ClapProcessor.from_pretrained(build("clap", work_dir / "clap_processor"))
    torch.manual_seed(SEED)
    config = ClapConfig(audio_config={"enable_fusion": True, "fusion_type": "aff_2d"})
    clap = clap_module.Clap(model=ClapModel(config).to(device).eval(), processor=processor)
    return clap_module.ClapAudioEmbedder(clap)


def pick_files(args, work_dir: Path) -> list[str]:
    if args.synthetic:
        return synthetic_clips(args.synthetic, 10.0, work_dir)
    files = sorted(glob.glob(args.filedir))
    if not files:
        sys.exit(
            f'no files match --filedir="{args.filedir}": run ./run_example.sh first (it fetches the '
            "example recordings), pass your own glob, or use --synthetic N"
        )
    return files[: args.clips]


def clips_per_second(files: list[str], model: AudioEmbedder, batch_size: int) -> tuple[float, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="bench_embeddings_") as folder:
        start = time.perf_counter()
        embeddings = embed_files(model, files, str(Path(folder) / "out.npy"), batch_size)
        return len(files) / (time.perf_counter() - start), embeddings


def bench(model: AudioEmbedder, files: list[str], batch_size: int, repeats: int) -> None:
    # One clip first, so one-time costs (allocator, kernel selection) fall outside both timings.
    clips_per_second(files[:1], model, 1)
    per_file, batched, max_difference = [], [], 0.0
    for _ in range(repeats):  # alternated, so a change in machine load hits both paths alike
        rate_one, one = clips_per_second(files, model, 1)
        rate_many, many = clips_per_second(files, model, batch_size)
        per_file.append(rate_one)
        batched.append(rate_many)
        max_difference = max(max_difference, float(np.nanmax(np.abs(one - many))))
    one, many = statistics.median(per_file), statistics.median(batched)
    print(
        f"{model.name:5s} per-file (batch 1): {one:7.3f} clips/s | batched (batch {batch_size}): "
        f"{many:7.3f} clips/s | batched / per-file: {many / one:5.2f}x | "
        f"max |difference| {max_difference:.1e}",
        flush=True,
    )


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--filedir", default=DEFAULT_FILEDIR, help="glob of the clips (./run_example.sh fetches the default)"
    )
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="use N synthetic 10 s clips instead of --filedir"
    )
    parser.add_argument("--clips", type=int, default=8, help="at most this many files of --filedir")
    parser.add_argument("--batch_size", type=int, default=8, help="batch size of the batched path")
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds per path (the median is printed)")
    parser.add_argument("--models", nargs="+", default=["clap", "ast"], choices=["clap", "ast"], help="which models")
    parser.add_argument("--device", default="cpu", help='"cpu" or "cuda" (float32 either way)')
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return parser


def main(argv=None) -> int:
    import torch

    args = get_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_audio_") as tmp:
        work_dir = Path(tmp)
        files = pick_files(args, work_dir)
        print(
            f"{len(files)} clips, batch {args.batch_size}, {args.repeats} round(s); {platform.machine()}, "
            f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, "
            f"device {args.device}",
            flush=True,
        )
        builders = {"clap": lambda: real_size_clap(args.device, work_dir), "ast": lambda: real_size_ast(args.device)}
        for name in args.models:
            bench(builders[name](), files, args.batch_size, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
