"""Every model the suite runs, described once.

The label and feature scripts, the recipe's model checks (``auditoryhum_tests.sh``) and the tiny
test checkpoints all read these descriptions: which script, which model flag, the folder name the
authors' workflow ``git clone``s it to and from where, which ``model_type`` values a folder may hold,
the adapter classes, and the tiny checkpoint that stands in for it in tests. Classes are named by
``"module:Class"`` so describing a model imports nothing heavy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    key: str  # the recipe's name for it (--mllms qwen2a, ...)
    display_name: str
    model_flag: str  # without the leading dashes
    default_model: str  # the folder name a git clone gives
    clone_url: str
    model_types: tuple[str, ...]  # config.json model_type values a folder may hold
    model_help: str
    label_script: str | None = None  # label_<key>.py
    labeller: str | None = None  # "module:Class" of the labelling adapter
    feature_script: str | None = None  # features_<key>.py
    tower: str | None = None  # "module:Class" of the audio-tower embedder
    tiny_checkpoint: str | None = None  # auditoryhum.tiny_checkpoints builder of a stand-in
    notes: str = ""  # what --help says of it beyond its name

    def labeller_class(self):
        return _load(self.labeller)

    def tower_class(self):
        return _load(self.tower)


def _load(name: str | None):
    if name is None:
        raise ValueError("no class of that kind for this model")
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


QWEN2_AUDIO = Model(
    key="qwen2a", display_name="Qwen2-Audio", model_flag="qwen2a_model", default_model="Qwen2-Audio-7B-Instruct",
    clone_url="https://huggingface.co/Qwen/Qwen2-Audio-7B-Instruct", model_types=("qwen2_audio",),
    model_help="Qwen2-Audio-7B-Instruct model folder (or hub id)",
    label_script="label_qwen2a", labeller="auditoryhum.mllm_qwen2_audio:Qwen2AudioLabeller",
    feature_script="features_qwen2a", tower="auditoryhum.audio_towers:Qwen2AudioTower", tiny_checkpoint="qwen2_audio",
)
QWEN2_5_OMNI = Model(
    key="qwen2_5o", display_name="Qwen2.5-Omni", model_flag="qwen2_5o_model", default_model="Qwen2.5-Omni-3B",
    clone_url="https://huggingface.co/Qwen/Qwen2.5-Omni-3B", model_types=("qwen2_5_omni", "qwen2_5_omni_thinker"),
    model_help="Qwen2.5-Omni-3B/7B model folder (or hub id): the full Omni checkpoint or a thinker-only export",
    label_script="label_qwen2_5o", labeller="auditoryhum.mllm_qwen_omni:Qwen2_5OmniLabeller",
    tiny_checkpoint="qwen2_5_omni", notes="its thinker only (text out, no speech)",
)
QWEN3_OMNI = Model(
    key="qwen3o", display_name="Qwen3-Omni", model_flag="qwen3o_model", default_model="Qwen3-Omni-30B-A3B-Instruct",
    clone_url="https://huggingface.co/Qwen/Qwen3-Omni-30B-A3B-Instruct",
    model_types=("qwen3_omni_moe", "qwen3_omni_moe_thinker"),
    model_help="Qwen3-Omni-30B-A3B-Instruct model folder (or hub id): the full Omni checkpoint or a thinker-only "
    "export",
    label_script="label_qwen3o", labeller="auditoryhum.mllm_qwen_omni:Qwen3OmniLabeller", tiny_checkpoint="qwen3_omni",
    notes="its thinker only (text out, no speech)",
)
GEMMA_3N = Model(
    key="gemma3n", display_name="Gemma-3n", model_flag="gemma3n_model", default_model="gemma-3n-E2B-it-unsloth-bnb-4bit",
    clone_url="https://huggingface.co/unsloth/gemma-3n-E2B-it-unsloth-bnb-4bit", model_types=("gemma3n",),
    model_help="Gemma-3n E2B/E4B model folder (or hub id), e.g. gemma-3n-E4B-it or an unsloth bnb-4bit build",
    label_script="label_gemma3n", labeller="auditoryhum.mllm_gemma3n:Gemma3nLabeller",
    feature_script="features_gemma3n", tower="auditoryhum.audio_towers:Gemma3nAudioTower", tiny_checkpoint="gemma3n",
    notes="clips longer than 30 s are cut",
)
#: The local MLLM labellers, by the recipe's name.
MLLMS = {model.key: model for model in (QWEN2_AUDIO, QWEN2_5_OMNI, QWEN3_OMNI, GEMMA_3N)}

#: The other models the recipe may need a folder of (flag -> default folder and where to get it).
HUMAN_CLAP = Model(
    key="clap", display_name="Human-CLAP", model_flag="clap_model", default_model="human-clap-wsce-mse-mae",
    clone_url="https://huggingface.co/sarulab-speech/human-clap-wsce-mse-mae", model_types=("clap",),
    model_help="CLAP model folder", tiny_checkpoint="clap",
)
LAION_CLAP = Model(
    key="laion_clap", display_name="LAION CLAP", model_flag="clap_model", default_model="clap-htsat-fused",
    clone_url="https://huggingface.co/laion/clap-htsat-fused", model_types=("clap",), model_help="CLAP model folder",
)
AST = Model(
    key="ast", display_name="AST", model_flag="ast_model", default_model="ast-finetuned-audioset-10-10-0.4593",
    clone_url="https://huggingface.co/MIT/ast-finetuned-audioset-10-10-0.4593",
    model_types=("audio-spectrogram-transformer",), model_help="AST model folder", feature_script="features_ast",
    tiny_checkpoint="ast",
)
MPNET = Model(
    key="mpnet", display_name="all-mpnet-base-v2", model_flag="st_model", default_model="all-mpnet-base-v2",
    clone_url="https://huggingface.co/sentence-transformers/all-mpnet-base-v2", model_types=("mpnet",),
    model_help="sentence-transformers model folder",
)
MINILM = Model(
    key="minilm", display_name="all-MiniLM-L6-v2", model_flag="st_model", default_model="all-MiniLM-L6-v2",
    clone_url="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2", model_types=("bert",),
    model_help="sentence-transformers model folder",
)
QWEN2_5_OMNI_7B = Model(
    key="qwen2_5o_7b", display_name="Qwen2.5-Omni-7B", model_flag="qwen2_5o_model", default_model="Qwen2.5-Omni-7B",
    clone_url="https://huggingface.co/Qwen/Qwen2.5-Omni-7B", model_types=QWEN2_5_OMNI.model_types,
    model_help=QWEN2_5_OMNI.model_help,
)
ALL = (*MLLMS.values(), QWEN2_5_OMNI_7B, HUMAN_CLAP, LAION_CLAP, AST, MPNET, MINILM)


def clone_url(folder_name: str) -> str | None:
    """Where the authors' workflow clones a model folder of this name from."""
    return next((model.clone_url for model in ALL if model.default_model == folder_name), None)
