"""Tiny Qwen3-Omni (MoE), in both layouts a labeller meets.

``dest`` is laid out like Qwen/Qwen3-Omni-30B-A3B-Instruct: a
``Qwen3OmniMoeForConditionalGeneration`` (model_type ``qwen3_omni_moe``) whose safetensors hold the
mixture-of-experts thinker under ``thinker.*`` beside a talker and a code2wav vocoder;
``dest/thinker_only`` holds the same thinker saved on its own by
``Qwen3OmniMoeThinkerForConditionalGeneration``. The processor is the real
``Qwen3OmniMoeProcessor`` with a ``Qwen2Tokenizer`` carrying Qwen3-Omni's media tokens
(``<|audio_start|><|audio_pad|><|audio_end|>``...).

One decoder layer with 4 experts, 2 of them routed per token; widths are multiples of 64.
"""

from __future__ import annotations

from pathlib import Path

from .qwen2_5_omni import (
    HEAD_DIM,
    HEADS,
    HIDDEN,
    build_tokenizer,
    chatml_template,
    media_token_ids,
    padded_vocab_size,
    save_both_layouts,
    whisper_feature_extractor,
)

NAMED_TOKENS = {
    "audio_token": "<|audio_pad|>",
    "audio_bos_token": "<|audio_start|>",
    "audio_eos_token": "<|audio_end|>",
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_bos_token": "<|vision_start|>",
    "vision_eos_token": "<|vision_end|>",
}

# Qwen3's temporal/height/width rotary sections are interleaved; they sum to head_dim / 2 = 16.
MROPE = {"rope_type": "default", "rope_theta": 1000000.0, "interleaved": True, "mrope_section": [6, 5, 5]}
#: the talker's text-to-speech control ids, in embedding rows past the tokenizer's vocabulary
TTS_IDS = ("tts_pad_token_id", "tts_bos_token_id", "tts_eos_token_id")


def thinker_config(tokenizer):
    from transformers import Qwen3OmniMoeThinkerConfig

    media = media_token_ids(tokenizer)
    del media["audio_end_token_id"], media["vision_end_token_id"]  # not fields of this config
    return Qwen3OmniMoeThinkerConfig(
        audio_config=dict(
            num_mel_bins=128, encoder_layers=1, encoder_attention_heads=HEADS, encoder_ffn_dim=2 * HIDDEN,
            d_model=HIDDEN, output_dim=HIDDEN, downsample_hidden_size=HIDDEN,
        ),
        vision_config=dict(
            depth=1, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_heads=HEADS, out_hidden_size=HIDDEN,
            deepstack_visual_indexes=[0], num_position_embeddings=64,
        ),
        text_config=dict(
            vocab_size=padded_vocab_size(tokenizer, len(TTS_IDS)), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
            moe_intermediate_size=HIDDEN, num_experts=4, num_experts_per_tok=2, num_hidden_layers=1,
            num_attention_heads=HEADS, num_key_value_heads=1, max_position_embeddings=4096,
            rope_parameters=MROPE, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        ),
        **media,
    )


def full_config(thinker, tokenizer):
    from transformers import Qwen3OmniMoeConfig

    ids = tokenizer.convert_tokens_to_ids
    media = dict(
        audio_token_id=thinker.audio_token_id, image_token_id=thinker.image_token_id,
        video_token_id=thinker.video_token_id, vision_start_token_id=thinker.vision_start_token_id,
        audio_start_token_id=thinker.audio_start_token_id,
    )
    # the talker speaks in its own 128-code vocabulary; its control codes sit at the end of it
    codec = dict(codec_pad_id=120, codec_bos_id=121, codec_eos_token_id=122, codec_nothink_id=123,
                 codec_think_bos_id=124, codec_think_eos_id=125)
    return Qwen3OmniMoeConfig(
        thinker_config=thinker.to_dict(),
        talker_config=dict(
            text_config=dict(
                vocab_size=128, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, moe_intermediate_size=HIDDEN,
                num_experts=4, num_experts_per_tok=2, num_hidden_layers=1, num_attention_heads=HEADS,
                num_key_value_heads=1, rope_parameters=MROPE,
                # read by the talker's model code though not declared by its config class; the
                # released config.json carries it (as it does spatial_merge_size below)
                shared_expert_intermediate_size=HIDDEN,
            ),
            code_predictor_config=dict(
                vocab_size=128, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=1,
                num_attention_heads=HEADS, num_key_value_heads=1, head_dim=HEAD_DIM, num_code_groups=4,
            ),
            num_code_groups=4, thinker_hidden_size=HIDDEN, accept_hidden_layer=0, spatial_merge_size=2, **codec,
            **media,
        ),
        code2wav_config=dict(
            codebook_size=128, hidden_size=HIDDEN, num_attention_heads=HEADS, num_key_value_heads=HEADS,
            intermediate_size=2 * HIDDEN, num_hidden_layers=1, num_quantizers=4, upsample_rates=[2, 2],
            upsampling_ratios=[2], decoder_dim=HIDDEN,
        ),
        im_start_token_id=ids("<|im_start|>"), im_end_token_id=ids("<|im_end|>"),
        system_token_id=tokenizer("system").input_ids[0], user_token_id=thinker.user_token_id,
        assistant_token_id=tokenizer("assistant").input_ids[0],
        **{name: len(tokenizer) + i for i, name in enumerate(TTS_IDS)},
    )


def build(dest: Path) -> None:
    import torch
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        Qwen3OmniMoeForConditionalGeneration,
        Qwen3OmniMoeProcessor,
        Qwen3OmniMoeThinkerForConditionalGeneration,
    )

    processor = Qwen3OmniMoeProcessor(
        image_processor=Qwen2VLImageProcessor(),
        video_processor=Qwen2VLVideoProcessor(),
        feature_extractor=whisper_feature_extractor(),
        tokenizer=build_tokenizer(NAMED_TOKENS),
        chat_template=chatml_template(NAMED_TOKENS, default_system=None),
    )
    config = thinker_config(processor.tokenizer)
    torch.manual_seed(0)
    thinker = Qwen3OmniMoeThinkerForConditionalGeneration(config)
    full = Qwen3OmniMoeForConditionalGeneration(full_config(config, processor.tokenizer))
    save_both_layouts(dest, processor, thinker, full)
