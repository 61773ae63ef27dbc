"""A tiny random Qwen2-VL (a few layers, a word-level tokenizer over given texts) for tests.

Its outputs mean nothing; it exercises the same processor, chat template, LoRA, merge and
generation code a real Qwen2-VL does, in seconds on a CPU.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from perception.vlm.processor import image_only_processor, save_processor
from vigil.core.imports import require

SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|image_pad|>", "<|video_pad|>")
#: Qwen2-VL's ChatML template, reduced to what Vigil sends (text and image parts)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tiny_qwen2_vl(folder: str | Path, texts: Iterable[str], seed: int = 0, image_side: int = 56) -> Path:
    """Build and save a tiny random Qwen2-VL whose vocabulary is the words of ``texts``.

    Args:
        folder: where ``save_pretrained`` writes the model and its processor.
        texts: the texts it will see (instructions, prompts); other words become ``[UNK]``.
        image_side: frames are resized to about this many pixels a side (few vision tokens).
    """
    torch = require("torch", "the tiny Qwen2-VL", extra="train")
    transformers = require("transformers", "the tiny Qwen2-VL", extra="train")
    tokenizers = require("tokenizers", "the tiny Qwen2-VL", extra="train")
    words = sorted({w.lower() for t in texts for w in re.findall(r"\w+|[^\w\s]", t)})
    vocab = {t: i for i, t in enumerate([*SPECIAL, "[UNK]", *words])}
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = tokenizers.normalizers.Lowercase()
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.decoder = tokenizers.decoders.WordPiece(prefix="##")
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="<|endoftext|>", eos_token="<|im_end|>",
        additional_special_tokens=list(SPECIAL[1:]))
    tokenizer.chat_template = CHAT_TEMPLATE
    pixels = image_side * image_side
    image_processor = transformers.Qwen2VLImageProcessor(min_pixels=pixels // 2, max_pixels=pixels)
    processor = image_only_processor(transformers.Qwen2VLProcessor)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    config = transformers.Qwen2VLConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                     "bos_token_id": vocab["<|endoftext|>"], "eos_token_id": vocab["<|im_end|>"],
                     "pad_token_id": vocab["<|endoftext|>"], "initializer_range": 0.2},
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"])
    torch.manual_seed(seed)
    model = transformers.Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = vocab["<|im_end|>"]
    model.generation_config.pad_token_id = vocab["<|endoftext|>"]
    folder = Path(folder)
    model.save_pretrained(str(folder))
    save_processor(processor, folder)
    return folder
