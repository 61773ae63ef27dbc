"""Running one LLM-backed agent: tool calls, validation, one retry, then the rule policy.

The model sees the agent's tools plus a ``final_answer`` tool whose arguments are the agent's
output model. Each tool call's arguments are validated with the tool's pydantic model and the
result is sent back; an unknown tool gets a message saying which tools exist. A reply that does
not validate is answered once with the validation error; a second bad reply, an endpoint that
is down or slow, or running out of steps ends the run without an output, and the caller uses
the rule policy's answer instead.

Untrusted text (file names, scene descriptions, VLM output, tool results, stored explanations,
earlier model replies) never goes into the instructions. It reaches the model as data: the
JSON of a tool message, either a tool's result or the *case file*, a ``read_case_file`` call
already answered at the start of the conversation (:func:`case_file_messages`). Strings are
JSON-escaped and bounded, so a result is always whole JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from agents.tools import Tool
from vigil.core.llm import (
    CASE_FILE,
    FINAL,
    ChatBackend,
    LLMError,
    ToolSpec,
    case_file_messages,
    data_json,
)

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

@dataclass
class AgentRun(Generic[T]):
    """The outcome of one agent's run."""

    output: T | None
    results: dict[str, Any] = field(default_factory=dict)   # tool name -> last result
    trace: list[str] = field(default_factory=list)
    error: str | None = None


def run_agent(
    backend: ChatBackend,
    messages: list[dict[str, Any]],
    output: type[T],
    ctx: Any = None,
    tools: dict[str, Tool] | None = None,
    max_steps: int = 8,
    validate: Callable[[T], None] | None = None,
    case_file: dict[str, Any] | None = None,
) -> AgentRun[T]:
    """Let the model call ``tools`` until it gives a valid ``output`` (see the module docstring).

    Args:
        ctx: what the tools work on (a :class:`~agents.tools.ToolContext` for alerts, an
            :class:`~agents.ask.AskContext` for questions).
        validate: extra checks on the output (raise ``ValueError`` to reject it).
        case_file: the data the agent works on; sent as the answered ``read_case_file`` call at
            the start of the conversation (it is not offered again: it is already there).
    """
    tools = dict(tools or {})
    specs = [t.spec for t in tools.values()] + [ToolSpec(FINAL, "Give your answer.", output)]
    msgs = list(messages) + (case_file_messages(case_file) if case_file is not None else [])
    run: AgentRun[T] = AgentRun(None)
    retried = False
    for _step in range(max_steps):
        try:
            reply = backend.complete(msgs, specs)
        except LLMError as exc:
            run.error = str(exc)
            run.trace.append(f"model unavailable: {exc}")
            return run
        problems: list[str] = []
        if not reply.tool_calls:
            problems.append("the reply called no tool; call a tool or final_answer")
        assistant_calls = []
        tool_messages = []
        for i, call in enumerate(reply.tool_calls):
            call_id = call.id or f"call_{len(msgs)}_{i}"
            assistant_calls.append({"id": call_id, "type": "function",
                                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)}})
            if call.name == FINAL:
                try:
                    answer = output.model_validate(call.arguments)
                    if validate:
                        validate(answer)
                except (ValidationError, ValueError) as exc:
                    problems.append(f"final_answer did not validate: {_short(exc)}")
                    continue
                run.output = answer
                run.trace.append(f"{FINAL}({_args(call.arguments)})")
                return run
            tool = tools.get(call.name)
            if tool is None:
                text = (f"The case file is already above; call one of: {', '.join(list(tools) + [FINAL])}."
                        if call.name == CASE_FILE else
                        f"Unknown tool {call.name!r}, should be one of: {', '.join(list(tools) + [FINAL])}.")
                problems.append(text)
                run.trace.append(text)
                tool_messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name, "content": text})
                continue
            try:
                args = tool.spec.args.model_validate(call.arguments)
            except ValidationError as exc:
                text = f"Invalid arguments for {call.name}: {_short(exc)}"
                problems.append(text)
                run.trace.append(text)
                tool_messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name, "content": text})
                continue
            result = tool.run(ctx, args) if ctx is not None else {}
            run.results[call.name] = result
            run.trace.append(f"{call.name}({_args(call.arguments)})")
            tool_messages.append({"role": "tool", "tool_call_id": call_id, "name": call.name,
                                  "content": data_json(result)})
        if assistant_calls:
            msgs.append({"role": "assistant", "content": reply.content or "", "tool_calls": assistant_calls})
            msgs.extend(tool_messages)
        if problems and not tool_messages:
            if retried:
                run.error = "; ".join(problems)
                run.trace.append(f"invalid reply twice: {run.error}")
                return run
            retried = True
            run.trace.append(f"invalid reply, retrying: {'; '.join(problems)}")
            msgs.append({"role": "user", "content": "Your reply was not valid: " + "; ".join(problems)
                         + f". Reply again, calling {FINAL} with arguments that match its schema."})
    run.error = f"no final answer within {max_steps} steps"
    run.trace.append(run.error)
    return run


def _short(exc: Exception) -> str:
    text = str(exc).replace("\n", " ")
    return text[:300]


def _args(arguments: dict[str, Any]) -> str:
    text = json.dumps(arguments, default=str)
    return text if len(text) < 120 else text[:117] + "..."
