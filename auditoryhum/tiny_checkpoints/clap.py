"""A tiny random-weight CLAP checkpoint laid out like ``laion/clap-htsat-fused`` / Human-CLAP.

Real classes throughout: ``ClapModel`` (RoBERTa text tower, HTSAT audio tower with AFF feature
fusion, as the fused checkpoints have), ``ClapFeatureExtractor`` with the published settings
(48 kHz, 64 mel bins, hop 480, 10 s, ``fusion`` truncation, ``repeatpad`` padding) and a
byte-level BPE ``RobertaTokenizer`` trained here with the ``tokenizers`` library. Only the sizes
are tiny. The spectrogram geometry stays the real one (64 mel bins, ``spec_size`` 256): the
feature extractor's fusion path hard-codes 64 mel bins and the audio tower reshapes the
1001-frame mel into a 256x256 image, so shrinking those would no longer be the real code path.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

#: RoBERTa's special tokens in RoBERTa's id order (<s>=0, <pad>=1, </s>=2, <unk>=3), which the
#: text config's bos/pad/eos ids assume.
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

#: Word pairs of the kind the MLLMs answer with: enough for a BPE with some real merges.
_CORPUS = [
    "traffic noise, car horn, engine idling, tyre screech",
    "birds chirping, wind blowing, leaves rustling, distant thunder",
    "people talking, crowd murmur, footsteps walking, door closing",
    "dog barking, cat meowing, baby crying, phone ringing",
    "rain falling, water dripping, river flowing, ocean waves",
    "music playing, guitar strumming, piano melody, drum beat",
    "machine humming, fan whirring, keyboard typing, clock ticking",
    "train passing, airplane overhead, siren wailing, bus braking",
    "speech male, speech female, child laughing, television background",
    "kitchen clatter, dishes clinking, kettle boiling, microwave beeping",
]


def train_tokenizer(vocab_size: int = 400) -> Tokenizer:
    """A byte-level BPE like RoBERTa's, trained on a few label lines."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tokenizer


def _roberta_tokenizer():
    """The trained BPE wrapped in the class ClapProcessor loads for CLAP (``RobertaTokenizer``)."""
    import json

    from transformers import RobertaTokenizer

    trained = json.loads(train_tokenizer().to_str())["model"]
    merges = [tuple(pair) for pair in trained["merges"]]
    return RobertaTokenizer(vocab=trained["vocab"], merges=merges, model_max_length=64)


def _config():
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    text = ClapTextConfig(
        vocab_size=400,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=66,  # 64 tokens + RoBERTa's padding-index offset of 2
    )
    audio = ClapAudioConfig(
        spec_size=256,
        num_mel_bins=64,
        window_size=8,
        patch_embeds_hidden_size=8,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        hidden_size=16,  # = patch_embeds_hidden_size * 2 ** (len(depths) - 1), what HTSAT outputs
        num_hidden_layers=2,
        enable_fusion=True,
        fusion_type="aff_2d",
        aff_block_r=4,
    )
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=32)


def build(dest: Path) -> None:
    import torch
    from transformers import ClapFeatureExtractor, ClapModel, ClapProcessor

    torch.manual_seed(0)
    model = ClapModel(_config()).eval()
    feature_extractor = ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=48_000,
        hop_length=480,
        max_length_s=10,
        fft_window_size=1024,
        frequency_min=50,
        frequency_max=14_000,
        truncation="fusion",
        padding="repeatpad",
    )
    processor = ClapProcessor(feature_extractor=feature_extractor, tokenizer=_roberta_tokenizer())
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
