"""Tiny Gemma-3n: ``Gemma3nForConditionalGeneration`` with one-layer text and audio towers.

Laid out like google/gemma-3n-E2B-it (and its bnb-4bit re-uploads): the real ``Gemma3nProcessor``
(``Gemma3nAudioFeatureExtractor``, ``SiglipImageProcessor``, a ``GemmaTokenizer`` that adds
``<bos>`` and a chat template that starts with it and folds the system text into the first user
turn).

Token ids follow Gemma-3n's block layout: the text vocabulary (``vocab_size_per_layer_input``
ids, ending with ``<start_of_image>`` and ``<start_of_audio>``), then the vision block (from
``<end_of_image>``, ``<image_soft_token>``) and the audio block (from ``<end_of_audio>``,
``<audio_soft_token>``); the model tells text, vision and audio tokens apart by those offsets.
The vision tower is timm's MobileNetV5 encoder with its channels scaled down (``model_args``);
labelling never feeds it an image.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..prompting import PROMPT_TEXT, SYSTEM_TEXT_DEFAULT

HIDDEN = 64
TEXT_VOCAB = 448  # multiple of 64, like every width here (bitsandbytes)
BLOCK = 64  # ids in each of the vision and audio blocks

CONTROL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
BYTE_TOKENS = [f"<0x{byte:02X}>" for byte in range(256)]
#: named tokens the processor reads off the tokenizer (``tokenizer.audio_token``...)
NAMED_TOKENS = {
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
    "boa_token": "<start_of_audio>",
    "eoa_token": "<end_of_audio>",
    "audio_token": "<audio_soft_token>",
}

_CORPUS = [
    PROMPT_TEXT,
    SYSTEM_TEXT_DEFAULT,
    "user model",
    "traffic noise, car horn, birds chirping, wind blowing, dog barking, people talking",
    "rain falling, water flowing, train passing, crowd cheering, fire crackling, door closing",
    "engine running, music playing, footsteps walking, bell ringing, machine humming, baby crying",
]

# Gemma's template: <bos>, the system text folded into the first user turn, "model" for the
# assistant role, media entries as their soft tokens (the processor expands them).
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- else -%}{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') -}}"
    "{%- if message['content'] is string -%}{{- message['content'] | trim -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'audio' -%}{{- '<audio_soft_token>' -}}"
    "{%- elif item['type'] == 'image' -%}{{- '<image_soft_token>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] | trim -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<end_of_turn>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
)


def train_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Gemma's id layout: control tokens, byte-fallback tokens, BPE pieces over "▁"-joined words,
    then the media tokens and their blocks."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    trainer_tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    trainer_tokenizer.normalizer = normalizers.Replace(" ", "▁")
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    trainer = trainers.BpeTrainer(
        vocab_size=TEXT_VOCAB - 2, special_tokens=CONTROL_TOKENS + BYTE_TOKENS, show_progress=False
    )
    trainer_tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    saved = json.loads(trainer_tokenizer.to_str())["model"]
    vocab = dict(saved["vocab"])

    def fill(upto: int, *tokens: str) -> None:
        for token in tokens:
            vocab[token] = len(vocab)
        while len(vocab) < upto:
            vocab[f"<unused{len(vocab)}>"] = len(vocab)

    fill(TEXT_VOCAB - 2)
    fill(TEXT_VOCAB, NAMED_TOKENS["boi_token"], NAMED_TOKENS["boa_token"])
    fill(TEXT_VOCAB + BLOCK, NAMED_TOKENS["eoi_token"], NAMED_TOKENS["image_token"])
    fill(TEXT_VOCAB + 2 * BLOCK, NAMED_TOKENS["eoa_token"], NAMED_TOKENS["audio_token"])
    return vocab, [tuple(merge) for merge in saved["merges"]]


def build_tokenizer():
    from transformers import GemmaTokenizer

    vocab, merges = train_vocab()
    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, **NAMED_TOKENS)
    tokenizer.add_special_tokens({"additional_special_tokens": CONTROL_TOKENS[5:] + list(NAMED_TOKENS.values())})
    return tokenizer


def build_config(tokenizer):
    from transformers import Gemma3nConfig

    ids = tokenizer.convert_tokens_to_ids
    return Gemma3nConfig(
        text_config=dict(
            vocab_size=TEXT_VOCAB + 2 * BLOCK, vocab_size_per_layer_input=TEXT_VOCAB, hidden_size=HIDDEN,
            intermediate_size=2 * HIDDEN, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
            head_dim=HIDDEN // 2, hidden_size_per_layer_input=16, laurel_rank=16, num_kv_shared_layers=0,
            max_position_embeddings=4096,
        ),
        audio_config=dict(
            vocab_size=BLOCK, vocab_offset=TEXT_VOCAB + BLOCK, hidden_size=HIDDEN, conf_num_attention_heads=2,
            conf_num_hidden_layers=1, sscp_conv_channel_size=[16, 8],
        ),
        vision_config=dict(
            vocab_size=BLOCK, vocab_offset=TEXT_VOCAB,
            # timm's MobileNetV5 encoder at a tenth of its channels (about 12 M parameters, most of
            # them in its attention blocks, whose head sizes do not scale); never run by labelling
            model_args={"channel_multiplier": 0.1},
        ),
        boi_token_id=ids(NAMED_TOKENS["boi_token"]), eoi_token_id=ids(NAMED_TOKENS["eoi_token"]),
        image_token_id=ids(NAMED_TOKENS["image_token"]), boa_token_id=ids(NAMED_TOKENS["boa_token"]),
        eoa_token_id=ids(NAMED_TOKENS["eoa_token"]), audio_token_id=ids(NAMED_TOKENS["audio_token"]),
    )


def build(dest: Path) -> None:
    import torch
    from transformers import (
        Gemma3nAudioFeatureExtractor,
        Gemma3nForConditionalGeneration,
        Gemma3nProcessor,
        SiglipImageProcessor,
    )

    tokenizer = build_tokenizer()
    processor = Gemma3nProcessor(
        feature_extractor=Gemma3nAudioFeatureExtractor(),
        image_processor=SiglipImageProcessor(size={"height": 768, "width": 768}),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    torch.manual_seed(0)
    model = Gemma3nForConditionalGeneration(build_config(tokenizer))
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, end_of_turn]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
