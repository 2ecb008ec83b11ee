"""Tiny ``ASTForAudioClassification`` checkpoint (the architecture of
``ast-finetuned-audioset-10-10-0.4593``), random weights.

Real feature extractor settings except ``max_length``: 128 filterbank frames (1.28 s) instead of
1024, kept equal to ``config.max_length`` as the model's position embeddings require. AST has no
tokenizer. The checkpoint is a few hundred kilobytes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

MAX_LENGTH_FRAMES = 128
LABELS = ("Speech", "Music", "Vehicle")


def build(dest: Path) -> None:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_mel_bins=128,
        max_length=MAX_LENGTH_FRAMES,
        patch_size=16,
        frequency_stride=10,
        time_stride=10,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    torch.manual_seed(0)
    model = ASTForAudioClassification(config)
    _randomise_identity_initialised_parameters(model)
    model.save_pretrained(dest)
    with warnings.catch_warnings():
        # The real extractor's benign empty-mel-filter warning (see auditoryhum.ast_embedding).
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        feature_extractor = ASTFeatureExtractor(num_mel_bins=config.num_mel_bins, max_length=MAX_LENGTH_FRAMES)
    feature_extractor.save_pretrained(dest)


def _randomise_identity_initialised_parameters(model) -> None:
    """A fresh model has zero CLS/distillation tokens and position embeddings and identity layer
    norms; a trained one has none of that. Random values here keep tests from passing by accident
    (say, reading the wrong layer norm, which is indistinguishable while all norms are identity)."""
    import torch

    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        embeddings = model.audio_spectrogram_transformer.embeddings
        for parameter in (embeddings.cls_token, embeddings.distillation_token, embeddings.position_embeddings):
            parameter.copy_(0.02 * torch.randn(parameter.shape, generator=generator))
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1.0 + 0.1 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
