"""The model's processor (tokenizer + image processor + chat template), and saving it for vLLM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from perception.hub import resolve_model
from vigil.core.errors import ConfigError, first_line
from vigil.core.imports import require

#: model types whose processor can be assembled without its video half
IMAGE_ONLY_FAMILIES = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}


def load_processor(model: str | Path, trust_remote_code: bool = False) -> Any:
    """The processor of ``model`` (a local folder or hub id, see :func:`perception.hub.resolve_model`).

    ``AutoProcessor`` first. The Qwen2-VL family's processor also builds a video processor,
    which needs torchvision; where that is missing, the same processor is assembled without it
    (Vigil sends frames as images, as ``vigil eval predict`` does). Anything else that cannot load
    is one line naming the model.
    """
    transformers = require("transformers", "VLM tuning", extra="train")
    model = resolve_model(model)
    try:
        return transformers.AutoProcessor.from_pretrained(str(model), trust_remote_code=trust_remote_code)
    except (ImportError, AttributeError, TypeError, ValueError, OSError) as exc:
        first = exc
    try:
        model_type = transformers.AutoConfig.from_pretrained(str(model), trust_remote_code=trust_remote_code).model_type
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--model {model}: cannot load it ({first_line(exc, None)}); give a local model folder or a "
                          "hub id this machine can download") from None
    if model_type not in IMAGE_ONLY_FAMILIES:
        raise ConfigError(f"--model {model}: cannot load its processor ({first_line(first, None)})")
    cls = image_only_processor(getattr(transformers, IMAGE_ONLY_FAMILIES[model_type]))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model), trust_remote_code=trust_remote_code)
    image_processor = transformers.AutoImageProcessor.from_pretrained(str(model), trust_remote_code=trust_remote_code)
    template = getattr(tokenizer, "chat_template", None)
    jinja = Path(model) / "chat_template.jinja"
    if jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    if not template:
        raise ConfigError(f"--model {model}: no chat template (chat_template.jinja or the tokenizer's)")
    return cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)


def image_only_processor(base: type) -> type:
    """A subclass of a Qwen2-VL-family processor that has no video processor."""
    from transformers.processing_utils import ProcessorMixin

    class ImageOnlyProcessor(base):  # type: ignore[misc, valid-type]
        """``base`` without its video half; frames go in as images."""

        saved_as = base.__name__

        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None,
                     **kwargs: Any) -> None:
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return ImageOnlyProcessor


def save_processor(processor: Any, folder: str | Path) -> None:
    """Save ``processor`` so ``AutoProcessor`` (and ``vllm serve``) load it as the model's own class."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(str(folder))
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None and not (folder / "preprocessor_config.json").is_file():
        image_processor.save_pretrained(str(folder))  # the file older transformers (and vLLM images) look for
    real = getattr(processor, "saved_as", None)
    if real is None:
        return
    for name in ("processor_config.json", "tokenizer_config.json", "preprocessor_config.json"):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if "processor_class" in data:
                data["processor_class"] = real
                path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
