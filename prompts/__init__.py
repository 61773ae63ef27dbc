"""Prompt templates: YAML files shipped as package data, rendered with Jinja (StrictUndefined).

Each file holds a ``system`` and a ``user`` template and a ``description``. A missing variable
fails loudly instead of leaving a hole in what the model reads.

>>> from prompts import load_prompt
>>> messages = load_prompt("observer").messages(candidate="...", camera="lobby")  # doctest: +SKIP

``pools/`` holds question pools for instruction datasets (:func:`load_pool`); ``objects.yaml``
the words for what the object detector names (:func:`load_object_words`); ``question_words.yaml``
the function and presence words that help read questions (:func:`load_question_words`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, UndefinedError

_ENV = Environment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


class PromptError(ValueError):
    """A prompt file that is missing, malformed, or rendered without a variable it needs."""


@dataclass(frozen=True)
class PromptTemplate:
    """A system + user prompt pair."""

    name: str
    description: str
    system: str
    user: str

    def render(self, **variables: Any) -> tuple[str, str]:
        """The system and user texts with ``variables`` filled in."""
        try:
            return _ENV.from_string(self.system).render(**variables), _ENV.from_string(self.user).render(**variables)
        except UndefinedError as exc:
            raise PromptError(f"prompt {self.name!r}: {exc}") from None

    def messages(self, **variables: Any) -> list[dict[str, str]]:
        """Chat messages ready for an OpenAI-compatible endpoint."""
        system, user = self.render(**variables)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def prompt_names() -> list[str]:
    """Names of the shipped prompts."""
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".yaml"))


@cache
def load_prompt(name: str) -> PromptTemplate:
    """Load ``<name>.yaml`` from this package."""
    path = resources.files(__package__) / f"{name}.yaml"
    if not path.is_file():
        raise PromptError(f"no prompt named {name!r}; shipped: {', '.join(prompt_names())}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = {"system", "user"} - set(data or {})
    if missing:
        raise PromptError(f"prompt {name!r} lacks {', '.join(sorted(missing))}")
    return PromptTemplate(name, str(data.get("description", "")), str(data["system"]), str(data["user"]))


@cache
def load_pool(name: str) -> dict[str, list[str]]:
    """Load the question pools ``pools/<name>.yaml``: task -> list of questions."""
    path = resources.files(__package__) / "pools" / f"{name}.yaml"
    if not path.is_file():
        raise PromptError(f"no question pool named {name!r}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(q, str) for q in v) for v in data.values()):
        raise PromptError(f"question pool {name!r} must map each task to a list of questions")
    return {str(k): list(v) for k, v in data.items()}


@cache
@cache
def load_question_words() -> tuple[frozenset[str], frozenset[str]]:
    """The words of ``question_words.yaml``: function words and presence words."""
    path = resources.files(__package__) / "question_words.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for key in ("function", "presence"):
        text = data.get(key) if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise PromptError(f"question_words.yaml: {key!r} must be a block of words")
        out.append(frozenset(text.lower().split()))
    return out[0], out[1]


@cache
def load_object_words() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """The words of ``objects.yaml``: detector class -> words, class group -> words."""
    path = resources.files(__package__) / "objects.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for key in ("classes", "groups"):
        table = data.get(key) if isinstance(data, dict) else None
        if not isinstance(table, dict) or not all(isinstance(v, list) and all(isinstance(w, str) for w in v)
                                                  for v in table.values()):
            raise PromptError(f"objects.yaml: {key!r} must map each name to a list of words")
        out.append({str(k): tuple(w.lower() for w in v) for k, v in table.items()})
    return out[0], out[1]
