"""Tiny Qwen2.5-Omni, in both layouts a labeller meets.

``dest`` is laid out like Qwen/Qwen2.5-Omni-7B: a ``Qwen2_5OmniForConditionalGeneration``
(model_type ``qwen2_5_omni``) whose safetensors hold the thinker under ``thinker.*`` beside a talker
and a token2wav vocoder. ``dest/thinker_only`` holds the same thinker weights saved on their own by
``Qwen2_5OmniThinkerForConditionalGeneration`` (model_type ``qwen2_5_omni_thinker``). Both folders
carry the real ``Qwen2_5OmniProcessor``: a 128-mel ``WhisperFeatureExtractor``, Qwen2-VL image and
video processors, and a ``Qwen2Tokenizer`` with the Omni special tokens and a chat template that
places ``<|audio_bos|><|AUDIO|><|audio_eos|>``.

Widths are multiples of 64 so bitsandbytes can quantise every linear layer (``--load_in_4bit``).
The helpers here are shared with the Qwen3-Omni builder.
"""

from __future__ import annotations

from pathlib import Path

from .tokenizer import train_byte_level_bpe

THINKER_ONLY_SUBFOLDER = "thinker_only"

#: named special tokens the Omni processor reads off the tokenizer (``tokenizer.audio_token``...)
NAMED_TOKENS = {
    "audio_token": "<|AUDIO|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}

HIDDEN = 64
HEADS = 2
HEAD_DIM = HIDDEN // HEADS
#: Qwen2.5-Omni's talker reads these ids from the thinker's embedding rows past the tokenizer's
#: vocabulary (the released embedding is padded, too)
TTS_TEXT_IDS = ("tts_text_pad_token_id", "tts_text_start_token_id", "tts_text_end_token_id")


def chatml_template(named_tokens: dict[str, str], default_system: str | None) -> str:
    """ChatML with the Omni media placeholders: each media entry of a message becomes its
    begin/placeholder/end tokens. ``default_system`` is the system turn a conversation without one
    gets (Qwen2.5-Omni's released template adds one, Qwen3-Omni's does not)."""
    audio = named_tokens["audio_bos_token"] + named_tokens["audio_token"] + named_tokens["audio_eos_token"]
    image = named_tokens["vision_bos_token"] + named_tokens["image_token"] + named_tokens["vision_eos_token"]
    video = named_tokens["vision_bos_token"] + named_tokens["video_token"] + named_tokens["vision_eos_token"]
    default_turn = (
        "{%- if loop.first and message['role'] != 'system' -%}"
        "{{- '<|im_start|>system\\n" + default_system + "<|im_end|>\\n' -}}"
        "{%- endif -%}"
    ) if default_system else ""
    return (
        "{%- for message in messages -%}" + default_turn +
        "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
        "{%- if message['content'] is string -%}{{- message['content'] -}}"
        "{%- else -%}{%- for item in message['content'] -%}"
        "{%- if item['type'] == 'audio' -%}{{- '" + audio + "' -}}"
        "{%- elif item['type'] == 'image' -%}{{- '" + image + "' -}}"
        "{%- elif item['type'] == 'video' -%}{{- '" + video + "' -}}"
        "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}"
        "{%- endif -%}{%- endfor -%}{%- endif -%}"
        "{{- '<|im_end|>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
    )


def build_tokenizer(named_tokens: dict[str, str]):
    """A ``Qwen2Tokenizer`` with ChatML and the named media tokens the Omni processors read."""
    from transformers import Qwen2Tokenizer

    vocab, merges = train_byte_level_bpe()
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, **named_tokens)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|im_start|>", "<|im_end|>", *named_tokens.values()]}
    )
    return tokenizer


def padded_vocab_size(tokenizer, spare_rows: int = 0) -> int:
    """Embedding rows: the tokenizer's vocabulary plus ``spare_rows``, padded to a multiple of 64."""
    return -(-(len(tokenizer) + spare_rows) // 64) * 64


def media_token_ids(tokenizer) -> dict[str, int]:
    """The thinker config's media token ids, looked up in the tokenizer."""
    ids = tokenizer.convert_tokens_to_ids
    return dict(
        audio_token_id=ids(tokenizer.audio_token), image_token_id=ids(tokenizer.image_token),
        video_token_id=ids(tokenizer.video_token), audio_start_token_id=ids(tokenizer.audio_bos_token),
        audio_end_token_id=ids(tokenizer.audio_eos_token), vision_start_token_id=ids(tokenizer.vision_bos_token),
        vision_end_token_id=ids(tokenizer.vision_eos_token), user_token_id=tokenizer("user").input_ids[0],
    )


def whisper_feature_extractor():
    from transformers import WhisperFeatureExtractor

    # A 30 s window keeps the tiny model's tests fast; a released processor pads to its own.
    return WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30, return_attention_mask=True)


def save_both_layouts(dest: Path, processor, thinker, full) -> None:
    """``full`` (thinker under ``thinker.*``) into ``dest``; ``thinker`` alone into the subfolder."""
    end_of_turn = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    full.thinker.load_state_dict(thinker.state_dict())
    for model in (thinker, full):
        model.generation_config.eos_token_id = end_of_turn
        model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    full.save_pretrained(dest)
    processor.save_pretrained(dest)
    thinker.save_pretrained(dest / THINKER_ONLY_SUBFOLDER)
    processor.save_pretrained(dest / THINKER_ONLY_SUBFOLDER)


def thinker_config(tokenizer):
    from transformers import Qwen2_5OmniThinkerConfig

    media = media_token_ids(tokenizer)
    return Qwen2_5OmniThinkerConfig(
        audio_config=dict(
            num_mel_bins=128, encoder_layers=1, encoder_attention_heads=HEADS, encoder_ffn_dim=2 * HIDDEN,
            d_model=HIDDEN, output_dim=HIDDEN,
        ),
        vision_config=dict(
            depth=1, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_heads=HEADS, out_hidden_size=HIDDEN,
            fullatt_block_indexes=[0],
        ),
        text_config=dict(
            vocab_size=padded_vocab_size(tokenizer, len(TTS_TEXT_IDS)), hidden_size=HIDDEN,
            intermediate_size=2 * HIDDEN, num_hidden_layers=1, num_attention_heads=HEADS, num_key_value_heads=1,
            max_position_embeddings=4096, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
            # temporal/height/width rotary sections: they must sum to head_dim / 2 = 16
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]},
        ),
        audio_token_index=media.pop("audio_token_id"),
        image_token_index=media.pop("image_token_id"),
        video_token_index=media.pop("video_token_id"),
        **media,
    )


def full_config(thinker):
    from transformers import Qwen2_5OmniConfig

    vocab_size = thinker.text_config.vocab_size
    tts_text_ids = {name: vocab_size - len(TTS_TEXT_IDS) + i for i, name in enumerate(TTS_TEXT_IDS)}
    return Qwen2_5OmniConfig(
        thinker_config=thinker.to_dict(),
        talker_config=dict(
            embedding_size=HIDDEN, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=1,
            num_attention_heads=HEADS, num_key_value_heads=1, head_dim=HEAD_DIM,
            rope_parameters=thinker.text_config.rope_parameters,
            audio_token_index=thinker.audio_token_index, image_token_index=thinker.image_token_index,
            video_token_index=thinker.video_token_index, audio_start_token_id=thinker.audio_start_token_id,
            audio_end_token_id=thinker.audio_end_token_id, vision_start_token_id=thinker.vision_start_token_id,
            vision_end_token_id=thinker.vision_end_token_id, **tts_text_ids,
        ),
        token2wav_config=dict(
            dit_config=dict(
                hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=HEADS, head_dim=HEAD_DIM,
                emb_dim=HIDDEN, enc_emb_dim=HIDDEN, enc_dim=HIDDEN, enc_channels=[HIDDEN] * 4 + [3 * HIDDEN],
                enc_attention_channels=HIDDEN, enc_se_channels=HIDDEN, look_ahead_layers=[0],
                look_backward_layers=[0],
            ),
            bigvgan_config=dict(
                upsample_initial_channel=HIDDEN, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]],
                upsample_rates=[2, 2], upsample_kernel_sizes=[4, 4],
            ),
        ),
    )


def build(dest: Path) -> None:
    import torch
    from transformers import (
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniProcessor,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    processor = Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(),
        video_processor=Qwen2VLVideoProcessor(),
        feature_extractor=whisper_feature_extractor(),
        tokenizer=build_tokenizer(NAMED_TOKENS),
        chat_template=chatml_template(NAMED_TOKENS, default_system="You are a helpful assistant."),
    )
    config = thinker_config(processor.tokenizer)
    torch.manual_seed(0)
    thinker = Qwen2_5OmniThinkerForConditionalGeneration(config)
    full = Qwen2_5OmniForConditionalGeneration(full_config(config))
    save_both_layouts(dest, processor, thinker, full)
