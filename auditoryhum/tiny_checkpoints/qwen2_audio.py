"""Tiny Qwen2-Audio: a one-layer Whisper-style audio encoder and a one-layer Qwen2 decoder.

Laid out like Qwen/Qwen2-Audio-7B-Instruct: ``Qwen2AudioForConditionalGeneration`` weights, a
``Qwen2AudioProcessor`` holding a 128-mel ``WhisperFeatureExtractor`` (16 kHz, 30 s window) and a
``Qwen2Tokenizer`` with ChatML and audio special tokens, and the processor's chat template.
"""

from __future__ import annotations

from pathlib import Path

from .tokenizer import train_byte_level_bpe

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]


def build_tokenizer():
    from transformers import Qwen2Tokenizer

    vocab, merges = train_byte_level_bpe()
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    return tokenizer


def build(dest: Path) -> None:
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        Qwen2Config,
        WhisperFeatureExtractor,
    )

    tokenizer = build_tokenizer()
    feature_extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30)
    processor = Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    processor.chat_template = processor.default_chat_template

    config = Qwen2AudioConfig(
        audio_config=Qwen2AudioEncoderConfig(
            num_mel_bins=128, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32,
            max_source_positions=1500,
        ).to_dict(),
        text_config=Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
            eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        ).to_dict(),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
