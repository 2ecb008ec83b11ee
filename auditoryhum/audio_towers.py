"""Audio embeddings from the MLLMs' own audio encoders (SPEC §3).

* Qwen2-Audio: the audio tower's last hidden state summed over time (the Whisper encoder always
  sees a 30 s window, padding included, as the published features were computed).
* Gemma-3n: the audio tower's output with the mask all False, summed over time.

Each tower is an ``embed_batch`` callable for :func:`auditoryhum.features.embed_audio_files`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .errors import UserError
from .runtime import Runtime, resolve_model_path


class _AudioTower:
    """Loads a whole MLLM checkpoint, keeps its audio encoder and drops the rest."""

    model_type: str

    def __init__(self, model_path: str, runtime: Runtime, flag: str):
        from transformers import AutoConfig, AutoFeatureExtractor

        model_path = resolve_model_path(model_path, flag)
        try:
            config = AutoConfig.from_pretrained(model_path)
        except (OSError, ValueError) as err:
            raise UserError(f"{flag}={model_path}: not a model folder ({str(err).splitlines()[0]})") from None
        if config.model_type != self.model_type:
            raise UserError(
                f"{flag}={model_path}: the folder holds a {type(config).__name__} ({config.model_type}) model, "
                f"but this script needs {self.model_type}"
            )
        self.feature_extractor = AutoFeatureExtractor.from_pretrained(model_path)
        self.sampling_rate = self.feature_extractor.sampling_rate
        model = self.model_class().from_pretrained(model_path, **runtime.from_pretrained_kwargs())
        self.tower = model.model.audio_tower.eval()
        del model  # the language model is not needed: free its memory

    def model_class(self):
        raise NotImplementedError

    def _to_tower(self, tensor):
        first = next(self.tower.parameters())
        return tensor.to(first.device, first.dtype)


class Qwen2AudioTower(_AudioTower):
    model_type = "qwen2_audio"

    def model_class(self):
        from transformers import Qwen2AudioForConditionalGeneration

        return Qwen2AudioForConditionalGeneration

    def __call__(self, audios: list[np.ndarray]) -> np.ndarray:
        import torch

        # Whisper features are always the 30 s window, so any batch gives the same rows.
        features = self.feature_extractor(audios, sampling_rate=self.sampling_rate, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.tower(self._to_tower(features["input_features"])).last_hidden_state
        return hidden.float().sum(dim=1).cpu().numpy()


class Gemma3nAudioTower(_AudioTower):
    model_type = "gemma3n"

    def model_class(self):
        from transformers import Gemma3nForConditionalGeneration

        return Gemma3nForConditionalGeneration

    def __call__(self, audios: list[np.ndarray]) -> np.ndarray:
        import torch

        # With the mask all False every frame counts, padding included, so clips are batched only
        # with clips of the same length: each row is then what the clip gives on its own.
        by_length: dict[int, list[int]] = defaultdict(list)
        for index, audio in enumerate(audios):
            by_length[audio.shape[0]].append(index)
        rows: list[np.ndarray | None] = [None] * len(audios)
        for indices in by_length.values():
            mel = self.feature_extractor(
                [audios[i] for i in indices], sampling_rate=self.sampling_rate, return_tensors="pt"
            )["input_features"]
            not_padding = torch.zeros(mel.shape[:2], dtype=torch.bool, device=self.tower.device)
            with torch.inference_mode():
                hidden = self.tower(self._to_tower(mel), not_padding).last_hidden_state
            for i, row in zip(indices, hidden.float().sum(dim=1).cpu().numpy()):
                rows[i] = row
        return np.stack(rows)


# ----------------------------------------------------------------------------------------------
# command line shared by features_qwen2a.py and features_gemma3n.py


def tower_parser(prog: str, tower_name: str, model_flag: str, npy_flag: str, example: str):
    from .cli import add_filedir_argument, make_parser
    from .runtime import CUDA_4BIT, add_runtime_arguments

    parser = make_parser(
        prog,
        f"Embed each audio file with {tower_name}'s audio tower (output summed over time) and save an "
        "(n_files, d) float32 .npy in sorted-file order; unreadable files get NaN rows.",
        example,
    )
    add_filedir_argument(parser)
    parser.add_argument(f"--{model_flag}", required=True, help=f"{tower_name} model folder (or hub id)")
    parser.add_argument(f"--{npy_flag}", required=True, help="output .npy")
    parser.add_argument("--batch_size", type=int, default=8, help="files per encoder call")
    add_runtime_arguments(parser, CUDA_4BIT)
    return parser


def run_tower(args, tower_class: type[_AudioTower], model_flag: str, npy_flag: str) -> int:
    from . import formats
    from .audio import list_audio_files
    from .cli import require_at_least_one, require_output_folder
    from .features import embed_audio_files
    from .runtime import runtime_from_args

    out = getattr(args, npy_flag)
    require_at_least_one(args.batch_size, "--batch_size")
    require_output_folder(out, f"--{npy_flag}")
    files = list_audio_files(args.filedir)
    tower = tower_class(getattr(args, model_flag), runtime_from_args(args), f"--{model_flag}")
    embeddings = embed_audio_files(files, tower.sampling_rate, tower, args.batch_size, desc=f"{model_flag} audio tower")
    formats.save_npy(out, embeddings)
    print(f"wrote {out}: {embeddings.shape[0]} files x {embeddings.shape[1]} dimensions")
    return 0
