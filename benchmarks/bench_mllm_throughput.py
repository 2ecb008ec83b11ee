#!/usr/bin/env python3
"""MLLM labelling throughput: one file at a time versus batched, through the production path.

The labeller is the suite's own adapter (``auditoryhum.mllm_qwen_omni.Qwen2_5OmniLabeller``, or
``auditoryhum.mllm_qwen2_audio.Qwen2AudioLabeller`` with ``--model qwen2a``) loaded with
``from_pretrained`` from a model folder, driven by the shared loop
``auditoryhum.labelling.label_files`` (audio decoding, resampling, prompts, greedy decoding of at
most 64 new tokens, response cleaning and CSV writing all included). The same files are labelled
with batch 1 - as the published scripts ran - and with batch B, side by side in one process
after a warm-up batch of each size; the script prints files/s for both, their ratio, the device
and dtype, the peak GPU memory of each run on CUDA, and how many files got different labels.

Device, dtype and 4-bit loading follow ``auditoryhum.runtime`` as in the label scripts: on CUDA
4-bit NF4 by default (the published setting; ``--dtype bfloat16`` for unquantised), CPU in float32.

Model folders (no model hub is needed):

* ``--preset 3b`` (default): a random-weight Qwen2.5-Omni-3B-sized thinker (4.7 billion
  parameters: the 36-layer 2048-wide LLM, the 32-layer Whisper-large-like audio encoder and the
  32-layer vision encoder) built from a config with the real sizes and saved with
  ``save_pretrained`` beside the processor of the suite's tiny Qwen2.5-Omni checkpoint (its
  feature extractor set to the released 300 s window). The time does not depend on the weight
  values, but random weights almost never emit the end-of-turn token, so every file decodes the
  full 64 tokens; a real checkpoint stops earlier. Refused on CPU unless ``--allow_cpu``.
* ``--preset tiny``: the suite's tiny Qwen2.5-Omni (or Qwen2-Audio) checkpoint; a smoke run that
  works anywhere in seconds; its rates say nothing about real throughput.
* ``--model_dir PATH``: any checkpoint folder of the chosen model, e.g. a ``git clone`` of
  Qwen/Qwen2.5-Omni-3B or Qwen/Qwen2-Audio-7B-Instruct (real weights: real stopping behaviour).

    python benchmarks/bench_mllm_throughput.py --synthetic 16                # GPU, 3B, bf16
    python benchmarks/bench_mllm_throughput.py --synthetic 16 --load_in_4bit
    python benchmarks/bench_mllm_throughput.py --preset tiny --synthetic 3 --batch_size 3  # smoke

Measured figures and the GPU recipe: benchmarks/README.md.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from synthetic_audio import synthetic_clips  # noqa: E402
from auditoryhum import formats  # noqa: E402
from auditoryhum.filelist import list_audio_files  # noqa: E402
from auditoryhum.cli import add_runtime_arguments, entry_point, make_parser, runtime_from_args  # noqa: E402
from auditoryhum.errors import UserError  # noqa: E402
from auditoryhum.labelling import label_files  # noqa: E402
from auditoryhum.runtime import CUDA_4BIT, Runtime  # noqa: E402

DEFAULT_FILEDIR = str(REPO / "example" / "audio" / "*.wav")  # python -m auditoryhum.scripts.example_data puts them there
SEED = 100
#: written into a --checkpoint_dir this script built, so a later run reuses it and nothing else
CHECKPOINT_MARKER = ".bench_mllm_checkpoint"

#: --model -> (adapter class, tiny checkpoint builder, subfolder of the tiny build that is loaded)
MODELS = {
    "qwen2_5o": ("auditoryhum.mllm_qwen_omni:Qwen2_5OmniLabeller", "qwen2_5_omni", "thinker_only"),
    "qwen2a": ("auditoryhum.mllm_qwen2_audio:Qwen2AudioLabeller", "qwen2_audio", ""),
}
#: presets each model has; the real-size one exists for Qwen2.5-Omni only
PRESETS = {"qwen2_5o": ("tiny", "3b"), "qwen2a": ("tiny",)}


def labeller_class(model: str):
    import importlib

    module, name = MODELS[model][0].split(":")
    return getattr(importlib.import_module(module), name)


# -- model folders ---------------------------------------------------------------------------


def build_tiny(model: str, dest: Path) -> Path:
    from auditoryhum.tiny_checkpoints import build

    _, builder, subfolder = MODELS[model]
    return build(builder, dest) / subfolder


def released_omni_feature_extractor():
    """The released Qwen2.5-Omni preprocessor_config.json audio settings: 128 mel bins at 16 kHz,
    n_fft 400, hop 160, every clip padded to a 300 s window (chunk_length 300). The padding is
    real CPU work per file (the encoder itself skips the padded frames), so it is kept."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(
        feature_size=128, sampling_rate=16000, hop_length=160, n_fft=400, chunk_length=300,
        padding_value=0.0, return_attention_mask=True,
    )


def qwen2_5_omni_3b_thinker_config(tiny_thinker_dir: Path):
    """A thinker config with Qwen2.5-Omni-3B's sizes and the tiny tokenizer's token ids.

    Where the values come from:
    * text model: the Qwen2.5-Omni-3B thinker's text_config (the Qwen2.5-3B LLM) as given in the
      issue: hidden 2048, MLP 11008, 36 layers, 16 heads with 2 KV heads (head_dim 128), vocab
      151936, rope theta 1e6 with mrope sections 16/24/24 (= head_dim / 2), 32k positions,
      sliding window off. transformers' defaults are the 7B's (3584 wide, 28 layers, vocab 152064),
      so every size is set here.
    * audio encoder: transformers' Qwen2_5OmniAudioEncoderConfig defaults (docstring checkpoint
      Qwen/Qwen2.5-Omni-7B; both sizes share the Whisper-large-like encoder: d_model 1280,
      32 layers, 20 heads, FFN 5120, 128 mel bins, windows of 100 frames) with output_dim = the
      3B LLM width 2048 instead of the 7B's 3584.
    * vision encoder: the Qwen2.5-VL ViT both Omni sizes use (as in Qwen2.5-VL-3B's
      vision_config): depth 32, width 1280, MLP 3420, 16 heads, window 112, full attention in
      blocks 7/15/23/31, out_hidden_size 2048. transformers' default hidden_size 3584 is the 7B
      LLM width, not the ViT's, so it is set. Audio-only labelling never runs it; it costs memory.
    * lm_head: left untied (the thinker config's default); tying it would save 0.6 GB in bf16,
      not time.
    * token ids (audio/image/video placeholders, end of turn): the tiny checkpoint's, because its
      tokenizer is the one saved with the model; the 151936-row embedding covers it.
    """
    from transformers import (
        Qwen2_5OmniAudioEncoderConfig,
        Qwen2_5OmniTextConfig,
        Qwen2_5OmniThinkerConfig,
        Qwen2_5OmniVisionEncoderConfig,
    )

    config = Qwen2_5OmniThinkerConfig.from_pretrained(tiny_thinker_dir)
    config.text_config = Qwen2_5OmniTextConfig(
        vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
        num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6,
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        eos_token_id=config.text_config.eos_token_id,
    )
    config.audio_config = Qwen2_5OmniAudioEncoderConfig(
        num_mel_bins=128, d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
        max_source_positions=1500, n_window=100, output_dim=2048,
    )
    config.vision_config = Qwen2_5OmniVisionEncoderConfig(
        depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, window_size=112,
        fullatt_block_indexes=[7, 15, 23, 31], out_hidden_size=2048,
    )
    return config


def build_qwen2_5_omni_3b(dest: Path, runtime: Runtime, scratch: Path) -> Path:
    """Random-weight 3B-sized thinker + processor in ``dest``, laid out as a thinker-only export."""
    import torch
    from transformers import GenerationConfig, Qwen2_5OmniProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    tiny = build_tiny("qwen2_5o", scratch / "tiny_processor")
    processor = Qwen2_5OmniProcessor.from_pretrained(tiny)
    processor.feature_extractor = released_omni_feature_extractor()
    config = qwen2_5_omni_3b_thinker_config(tiny)
    print(f"building a random-weight Qwen2.5-Omni-3B-sized thinker in {dest} ...", flush=True)
    torch.manual_seed(SEED)
    # Initialised where it will run and in its dtype: 4.7 B parameters take minutes on a CPU in
    # float32 but seconds on a GPU in bfloat16.
    with torch.device(runtime.device if runtime.device.startswith("cuda") else "cpu"):
        model = Qwen2_5OmniThinkerForConditionalGeneration._from_config(config, dtype=runtime.torch_dtype)
    # Rows past the tokenizer's vocabulary score 0, below the best of the random real rows, so
    # greedy decoding picks tokens that decode to text and the two runs' labels can be compared.
    # The output matrix keeps its full size, so the time is the same.
    with torch.no_grad():
        model.get_output_embeddings().weight[len(processor.tokenizer):] = 0
    model.generation_config = GenerationConfig.from_pretrained(tiny)  # end of turn and pad ids
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return dest


def prepare_model_dir(args, runtime: Runtime, scratch: Path) -> tuple[Path, str]:
    """The folder the adapter loads, and the flag that names it in messages."""
    if args.model_dir:
        return Path(args.model_dir), "--model_dir"
    if not args.checkpoint_dir:
        return build_preset(args.model, args.preset, scratch / "model", runtime, scratch), "--preset"
    dest = Path(args.checkpoint_dir)
    marker = dest / CHECKPOINT_MARKER
    wanted = f"{args.model} {args.preset}\n"
    if marker.exists() and marker.read_text() == wanted:
        print(f"reusing the {args.preset} checkpoint in {dest}", flush=True)
        return preset_folder(args.model, args.preset, dest), "--checkpoint_dir"
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"--checkpoint_dir={dest}: the folder is not empty and holds no {args.model} "
                        f"{args.preset} checkpoint built by this script; pick a new folder")
    build_preset(args.model, args.preset, dest, runtime, scratch)
    marker.write_text(wanted)
    return preset_folder(args.model, args.preset, dest), "--checkpoint_dir"


def build_preset(model: str, preset: str, dest: Path, runtime: Runtime, scratch: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    if preset == "3b":
        return build_qwen2_5_omni_3b(dest, runtime, scratch)
    return build_tiny(model, dest)


def preset_folder(model: str, preset: str, dest: Path) -> Path:
    return dest if preset == "3b" else dest / MODELS[model][2]


def check_preset(args, runtime: Runtime) -> None:
    """Checked before anything is built or loaded."""
    if args.model_dir:
        return
    if args.preset not in PRESETS[args.model]:
        raise UserError(f"--preset {args.preset}: there is no such preset for --model {args.model} "
                        f"(choose {' or '.join(PRESETS[args.model])}, or pass --model_dir)")
    if args.preset == "3b" and runtime.device == "cpu" and not args.allow_cpu:
        raise UserError("--preset 3b on CPU: 4.7 billion parameters in float32 would take hours here; run it on "
                        "a CUDA GPU, use --preset tiny for a smoke run, or add --allow_cpu")


# -- audio -----------------------------------------------------------------------------------


def pick_files(args, scratch: Path) -> list[str]:
    if args.synthetic:
        return synthetic_clips(args.synthetic, args.seconds, scratch / "audio")
    try:
        files = list_audio_files(args.filedir)
    except UserError as err:
        raise UserError(f"{err}; fetch the example recordings with `python -m auditoryhum.scripts.example_data "
                        "--out example/audio`, pass your own glob, or use --synthetic N") from None
    return files[: args.clips]


# -- timing ----------------------------------------------------------------------------------


@dataclass
class TimedRun:
    batch_size: int
    seconds: float
    labels: list[str]
    peak_gpu_bytes: int | None  # None off CUDA

    def files_per_second(self) -> float:
        return len(self.labels) / self.seconds


def timed_run(labeller, files: list[str], batch_size: int, out_csv: Path, runtime: Runtime) -> TimedRun:
    import torch

    cuda = runtime.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    label_files(labeller, files, str(out_csv), batch_size=batch_size)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else None
    return TimedRun(batch_size, seconds, formats.read_labels_csv(out_csv), peak)


def warm_up(labeller, files: list[str], batch_size: int, folder: Path) -> None:
    """One batch of each size first, so one-time costs (CUDA context, kernel selection, allocator
    growth) fall outside both timings."""
    for size in sorted({1, batch_size}):
        label_files(labeller, files[:size], str(folder / f"warm_up_batch{size}.csv"), batch_size=size)


# -- report ----------------------------------------------------------------------------------


def describe_device(runtime: Runtime) -> str:
    import torch
    import transformers

    if runtime.device.startswith("cuda"):
        where = f"{runtime.device} ({torch.cuda.get_device_name(runtime.device)})"
    else:
        where = f"cpu ({platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads)"
    return (f"device: {where}, dtype {runtime.dtype}, 4-bit {'yes' if runtime.load_in_4bit else 'no'}; "
            f"torch {torch.__version__}, transformers {transformers.__version__}")


def parameter_count(labeller) -> str:
    if labeller.runtime.load_in_4bit:
        return "4-bit packed weights"
    count = sum(p.numel() for p in labeller.model.parameters())
    return f"{count / 1e9:.2f} billion parameters" if count >= 1e9 else f"{count / 1e6:.2f} million parameters"


def run_line(run: TimedRun) -> str:
    line = (f"batch {run.batch_size}: {run.files_per_second():.3f} files/s "
            f"({len(run.labels)} files in {run.seconds:.1f} s)")
    if run.peak_gpu_bytes is not None:
        line += f", peak GPU memory {run.peak_gpu_bytes / 1024**3:.2f} GiB"
    return line


def comparison_line(files: list[str], one: TimedRun, many: TimedRun) -> str:
    """Greedy decoding gives the same tokens either way in float32; in bfloat16 the left padding of
    a batch can flip near-ties, so differing files are counted, not treated as a failure."""
    differing = [os.path.basename(path) for path, a, b in zip(files, one.labels, many.labels) if a != b]
    versus = f"(batch 1 vs batch {many.batch_size})"
    if not differing:
        return f"labels: identical for all {len(files)} files {versus}"
    return f"labels: differ for {len(differing)} of {len(files)} files {versus}: {', '.join(differing)}"


# -- command line ----------------------------------------------------------------------------


def get_parser():
    parser = make_parser(
        "bench_mllm_throughput.py",
        __doc__.split("\n\n")[0] + " Prints files/s with batch 1 and batch B, their ratio, device, dtype, "
        "peak GPU memory and whether the two runs' labels agree.",
        'python3 benchmarks/bench_mllm_throughput.py --preset="3b" --synthetic=16 --batch_size=8',
    )
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="qwen2_5o", choices=sorted(MODELS),
                       help="which labeller adapter: Qwen2.5-Omni thinker or Qwen2-Audio")
    source = model.add_mutually_exclusive_group()
    source.add_argument("--preset", default="3b", choices=["tiny", "3b"],
                        help="build a random-weight checkpoint: 3b = Qwen2.5-Omni-3B-sized thinker (needs a GPU "
                        "in practice), tiny = the suite's tiny checkpoint (smoke run)")
    source.add_argument("--model_dir", default=None,
                        help="benchmark this checkpoint folder instead of building a preset (e.g. a git clone of "
                        "Qwen/Qwen2.5-Omni-3B)")
    model.add_argument("--checkpoint_dir", default=None,
                       help="build the preset's checkpoint here and reuse it on later runs (default: a temporary "
                       "folder deleted at exit); the 3b build writes 9.4 GB in bfloat16")
    model.add_argument("--allow_cpu", action="store_true", help="run --preset 3b on a CPU anyway (hours)")

    audio = parser.add_argument_group("audio")
    audio.add_argument("--filedir", default=DEFAULT_FILEDIR,
                       help="glob of the audio files (python -m auditoryhum.scripts.example_data --out example/audio "
                       "fetches the default)")
    audio.add_argument("--clips", type=int, default=16, help="at most this many files of --filedir (sorted order)")
    audio.add_argument("--synthetic", type=int, default=0, metavar="N",
                       help="label N synthetic clips (tones in noise) instead of --filedir")
    audio.add_argument("--seconds", type=float, default=10.0, help="length of each --synthetic clip")

    parser.add_argument("--batch_size", type=int, default=8, help="batch size B of the batched run")
    parser.add_argument("--labels_dir", default=None,
                        help="keep both runs' labels CSVs here (labels_batch1.csv, labels_batch<B>.csv)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    add_runtime_arguments(parser, CUDA_4BIT)
    return parser


@entry_point
def main(argv=None) -> int:
    import torch

    args = get_parser().parse_args(argv)
    if args.batch_size < 2:
        raise UserError(f"--batch_size={args.batch_size}: the batched run needs at least 2 files per batch")
    if args.synthetic < 0:
        raise UserError(f"--synthetic={args.synthetic}: must be at least 0")
    if args.labels_dir and not os.path.isdir(args.labels_dir):
        raise UserError(f"--labels_dir={args.labels_dir}: folder does not exist")
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime = runtime_from_args(args)
    check_preset(args, runtime)
    with tempfile.TemporaryDirectory(prefix="bench_mllm_") as tmp:
        scratch = Path(tmp)
        files = pick_files(args, scratch)
        model_dir, flag = prepare_model_dir(args, runtime, scratch)
        labeller = labeller_class(args.model)(str(model_dir), runtime, flag)
        source = f"--model_dir {model_dir}" if args.model_dir else f"preset {args.preset} (random weights)"
        print(f"model: {labeller.name}, {source}, {parameter_count(labeller)}; {len(files)} files", flush=True)
        print(describe_device(runtime), flush=True)
        warm_up(labeller, files, args.batch_size, scratch)
        labels_dir = Path(args.labels_dir) if args.labels_dir else scratch
        one = timed_run(labeller, files, 1, labels_dir / "labels_batch1.csv", runtime)
        many = timed_run(labeller, files, args.batch_size, labels_dir / f"labels_batch{args.batch_size}.csv", runtime)
    print(run_line(one))
    print(run_line(many))
    print(f"batch {many.batch_size} / batch 1: {many.files_per_second() / one.files_per_second():.2f}x")
    print(comparison_line(files, one, many))
    return 0


if __name__ == "__main__":
    sys.exit(main())
