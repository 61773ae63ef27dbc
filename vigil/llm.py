"""Chat and vision-language model clients behind one small interface.

Backends:

- ``openai``: any OpenAI-compatible endpoint (``vllm serve``, llama.cpp's server, Ollama, ...).
  Tool calls go through the OpenAI tools API; when the server does not do tools, the client
  switches to JSON-schema-constrained output that names the tool and its arguments.
- ``llamacpp``: a local GGUF model in process (llama-cpp-python), same protocol.

The ``rules`` backend is not here: it is the agents' deterministic policy (``agents.policy``).
Failures (endpoint down, timeout, HTTP error, unparseable reply) raise :class:`LLMError`; the
caller falls back to the rule policy. Nothing in a reply is trusted before the caller has
validated it.
"""

from __future__ import annotations

import base64
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel

from vigil.config import Endpoint
from vigil.errors import VigilError
from vigil.imports import require

log = logging.getLogger(__name__)

ToolMode = Literal["auto", "tools", "json"]
FINAL = "final_answer"


class LLMError(VigilError):
    """The model could not be reached or gave nothing usable (exit status 3 when it ends a command)."""

    exit_code = 3


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a pydantic model of its arguments."""

    name: str
    description: str
    args: type[BaseModel]

    def openai(self) -> dict[str, Any]:
        """The OpenAI tools-API form."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": _schema(self.args)}}


@dataclass
class ToolCall:
    """One tool call requested by the model (arguments not yet validated)."""

    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass
class ChatReply:
    """What the model answered."""

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    mode: str = "tools"  # how the request was made: tools | json


class ChatBackend(ABC):
    """A chat model that can be asked to pick tools."""

    #: recorded on alerts as ``explained_by``
    label: str = "llm"

    def __init__(self) -> None:
        self.calls = 0
        self.failures = 0  # requests that timed out or could not connect

    @abstractmethod
    def complete(self, messages: list[dict[str, Any]], tools: Sequence[ToolSpec]) -> ChatReply:
        """Ask the model for its next step; ``tools`` includes the final-answer tool."""


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema a model is shown. Length limits are left to pydantic: grammar-based
    decoders (llama.cpp) unroll ``maxLength`` into grammars too large to parse."""
    schema = _drop_keys(model.model_json_schema(), {"maxLength", "title"})
    return schema


def _drop_keys(node: Any, keys: set[str]) -> Any:
    if isinstance(node, dict):
        return {k: _drop_keys(v, keys) for k, v in node.items() if k not in keys}
    if isinstance(node, list):
        return [_drop_keys(v, keys) for v in node]
    return node


def action_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """JSON schema of ``{"tool": name, "arguments": {...}}`` over ``tools`` (JSON mode)."""
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"tool": {"const": t.name}, "arguments": _schema(t.args)},
                "required": ["tool", "arguments"],
            }
            for t in tools
        ]
    }


def parse_action(text: str | None) -> list[ToolCall]:
    """Tool calls from a JSON-mode reply: ``{"tool": ..., "arguments": {...}}`` (or a list of them)."""
    if not text:
        return []
    try:
        data = json.loads(_strip_fences(text))
    except json.JSONDecodeError:
        return []
    items = data if isinstance(data, list) else [data]
    calls = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("tool"), str):
            args = item.get("arguments")
            calls.append(ToolCall(item["tool"], args if isinstance(args, dict) else {}))
    return calls


def _strip_fences(text: str) -> str:
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rsplit("```", 1)[0]
    return t.strip()


def _json_mode_messages(messages: list[dict[str, Any]], tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """The conversation rewritten for servers without tool calls: the tool menu in text."""
    menu = "\n".join(f'- {t.name}: {t.description} Arguments schema: {json.dumps(_schema(t.args))}' for t in tools)
    guide = (
        "Reply with one JSON object and nothing else: "
        '{"tool": <tool name>, "arguments": {...}}. Available tools:\n' + menu
    )
    out = []
    for m in messages:
        role = m["role"]
        if role == "tool":
            out.append({"role": "user", "content": f"Result of {m.get('name', 'tool')}: {m['content']}"})
        elif role == "assistant" and m.get("tool_calls"):
            calls = [{"tool": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"] or "{}")}
                     for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": json.dumps(calls[0] if len(calls) == 1 else calls)})
        else:
            out.append({"role": role, "content": m.get("content") or ""})
    if out and out[0]["role"] == "system":
        out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + guide}
    else:
        out.insert(0, {"role": "system", "content": guide})
    return out


def _reply_from_choice(message: Any, mode: str) -> ChatReply:
    """Normalise an OpenAI-style message (object or dict) into a :class:`ChatReply`."""
    get = (lambda k: message.get(k)) if isinstance(message, dict) else (lambda k: getattr(message, k, None))
    content = get("content")
    calls: list[ToolCall] = []
    for tc in get("tool_calls") or []:
        fn = tc.get("function") if isinstance(tc, dict) else tc.function
        name = fn.get("name") if isinstance(fn, dict) else fn.name
        raw = fn.get("arguments") if isinstance(fn, dict) else fn.arguments
        try:
            args = json.loads(raw) if isinstance(raw, str) else (raw or {})
        except json.JSONDecodeError:
            args = {"_unparseable": raw}
        calls.append(ToolCall(str(name), args if isinstance(args, dict) else {}, str((tc.get("id") if isinstance(tc, dict) else tc.id) or "")))
    if not calls and mode == "json":
        calls = parse_action(content)
    return ChatReply(content=content, tool_calls=calls, mode=mode)


class OpenAIChat(ChatBackend):
    """An OpenAI-compatible chat endpoint.

    Args:
        endpoint: URL, model, key and timeout.
        tool_mode: ``tools`` (OpenAI tools API), ``json`` (schema-constrained output), or
            ``auto``: tools first, JSON from then on if the server refuses or ignores tools.
        temperature: sampling temperature (0 for repeatable decisions).
        max_tokens: cap on each reply (a runaway string in constrained output ends there).
    """

    def __init__(self, endpoint: Endpoint, tool_mode: ToolMode = "auto", temperature: float = 0.0,
                 max_tokens: int = 700) -> None:
        super().__init__()
        openai = require("openai", "the openai LLM backend")
        if not endpoint.url:
            raise LLMError("no LLM URL configured (set llm.url in vigil.yaml, VIGIL_LLM_URL or --llm-url)")
        self.endpoint = endpoint
        self.model = endpoint.model or "default"
        key = endpoint.api_key.get_secret_value() if endpoint.api_key else "not-needed"
        self._client = openai.OpenAI(base_url=endpoint.url, api_key=key, timeout=endpoint.timeout_s, max_retries=0)
        self._openai = openai
        self.tool_mode: ToolMode = tool_mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.label = f"llm:{self.model}"

    def _create(self, **kwargs: Any) -> Any:
        self.calls += 1
        try:
            return self._client.chat.completions.create(model=self.model, temperature=self.temperature,
                                                        max_tokens=self.max_tokens, **kwargs)
        except self._openai.APITimeoutError:
            self.failures += 1
            raise LLMError(f"{self.endpoint.url}: no answer within {self.endpoint.timeout_s:g} s") from None
        except self._openai.APIConnectionError:
            self.failures += 1
            raise LLMError(f"{self.endpoint.url}: cannot connect") from None
        except self._openai.APIStatusError as exc:
            raise _StatusError(exc.status_code, str(exc)) from None

    def complete(self, messages: list[dict[str, Any]], tools: Sequence[ToolSpec]) -> ChatReply:
        if self.tool_mode in ("auto", "tools"):
            try:
                resp = self._create(messages=messages, tools=[t.openai() for t in tools], tool_choice="auto")
                reply = _reply_from_choice(resp.choices[0].message, "tools")
                if reply.tool_calls or self.tool_mode == "tools":
                    return reply
                # a server that ignores tools may still have answered in JSON
                fallback = parse_action(reply.content)
                if fallback:
                    return ChatReply(reply.content, fallback, "tools")
                log.info("%s answered without tool calls; switching to JSON-schema output", self.endpoint.url)
            except _StatusError as exc:
                if self.tool_mode == "tools" or exc.status not in (400, 404, 422, 500, 501):
                    raise LLMError(f"{self.endpoint.url}: HTTP {exc.status}") from None
                log.info("%s refused tool calls (HTTP %s); switching to JSON-schema output", self.endpoint.url, exc.status)
            self.tool_mode = "json"
        schema = action_schema(tools)
        msgs = _json_mode_messages(messages, tools)
        try:
            resp = self._create(messages=msgs, response_format={"type": "json_schema", "json_schema": {"name": "action", "schema": schema}})
        except _StatusError:
            try:  # older servers (llama.cpp's Python server) take the schema on json_object
                resp = self._create(messages=msgs, response_format={"type": "json_object", "schema": schema})
            except _StatusError as exc:
                raise LLMError(f"{self.endpoint.url}: HTTP {exc.status}") from None
        return _reply_from_choice(resp.choices[0].message, "json")


class _StatusError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class LlamaCppChat(ChatBackend):
    """A GGUF model run in process with llama-cpp-python (JSON-schema-constrained output)."""

    def __init__(self, model_path: str, n_ctx: int = 4096, temperature: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        llama_cpp = require("llama_cpp", "the llamacpp LLM backend")
        try:
            self._llm = llama_cpp.Llama(model_path=model_path, n_ctx=n_ctx, seed=seed, verbose=False)
        except (ValueError, OSError) as exc:
            raise LLMError(f"cannot load GGUF model {model_path}: {exc}") from None
        self.temperature = temperature
        self.label = f"llamacpp:{model_path.rsplit('/', 1)[-1]}"

    def complete(self, messages: list[dict[str, Any]], tools: Sequence[ToolSpec]) -> ChatReply:
        self.calls += 1
        try:
            resp = self._llm.create_chat_completion(
                messages=_json_mode_messages(messages, tools),
                response_format={"type": "json_object", "schema": action_schema(tools)},
                temperature=self.temperature,
                max_tokens=512,
            )
        except Exception as exc:  # llama.cpp raises assorted runtime errors
            raise LLMError(f"local model failed: {exc}") from None
        return _reply_from_choice(resp["choices"][0]["message"], "json")


class VisionClient:
    """Asks an OpenAI-compatible vision-language model about keyframes (base64 JPEG parts)."""

    def __init__(self, endpoint: Endpoint, max_tokens: int = 300) -> None:
        openai = require("openai", "the VLM client")
        if not endpoint.url:
            raise LLMError("no VLM URL configured (set vlm.url in vigil.yaml, VIGIL_VLM_URL or --vlm-url)")
        key = endpoint.api_key.get_secret_value() if endpoint.api_key else "not-needed"
        self._client = openai.OpenAI(base_url=endpoint.url, api_key=key, timeout=endpoint.timeout_s, max_retries=0)
        self._openai = openai
        self.endpoint = endpoint
        self.model = endpoint.model or "default"
        self.max_tokens = max_tokens
        self.calls = 0

    @staticmethod
    def image_part(image: np.ndarray, quality: int = 85) -> dict[str, Any]:
        """An RGB frame as an OpenAI image content part."""
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise LLMError("could not encode a keyframe as JPEG")
        b64 = base64.b64encode(buf.tobytes()).decode("ascii")
        return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64}"}}

    def describe(self, images: Sequence[np.ndarray], system: str, prompt: str) -> str:
        """The model's description of ``images``."""
        content: list[dict[str, Any]] = [{"type": "text", "text": prompt}] + [self.image_part(im) for im in images]
        self.calls += 1
        try:
            resp = self._client.chat.completions.create(
                model=self.model, temperature=0.0, max_tokens=self.max_tokens,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": content}],
            )
        except self._openai.APITimeoutError:
            raise LLMError(f"{self.endpoint.url}: no answer within {self.endpoint.timeout_s:g} s") from None
        except self._openai.APIConnectionError:
            raise LLMError(f"{self.endpoint.url}: cannot connect") from None
        except self._openai.APIStatusError as exc:
            raise LLMError(f"{self.endpoint.url}: HTTP {exc.status_code}") from None
        text = (resp.choices[0].message.content or "").strip()
        if not text:
            raise LLMError(f"{self.endpoint.url}: empty description")
        return text
