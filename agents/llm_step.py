"""One agent's step: the model's answer when it gives a valid one, else the rule policy's.

Every node of the alert graph and of the ask graph does the same: render its prompt, let the
model work (:func:`agents.runner.run_agent`: tool calls, validation against the node's pydantic
schema, one retry), take the model's output when it validates, and otherwise use the rule
policy's answer, recording which produced it (``rules`` or the backend's label) and the run's
trace, each line prefixed with the node's role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from agents.runner import AgentRun, run_agent
from agents.tools import Tool
from prompts import load_prompt
from vigil.core.llm import ChatBackend

#: who produced a node's output when no model did
RULES = "rules"

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")


@dataclass
class Step(Generic[R]):
    """What a node's step produced and who produced it."""

    value: R
    by: str                     # ``rules`` or the backend's label
    by_model: bool              # whether the model's output is the value
    trace: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # tool name -> last result of the model's run


def model_or_rules(
    backend: ChatBackend,
    role: str,
    prompt: str,
    schema: type[T],
    rules: Callable[[], R],
    *,
    variables: dict[str, Any] | None = None,
    take: Callable[[T, dict[str, Any]], R] | None = None,
    ctx: Any = None,
    tools: dict[str, Tool] | None = None,
    validate: Callable[[T], None] | None = None,
    case_file: dict[str, Any] | None = None,
) -> Step[R]:
    """Run the ``role`` agent on the model with prompt ``prompt``; fall back to ``rules()``.

    Args:
        role: the node's name, prefixed to every trace line (``observer: ...``).
        prompt: the template's name in ``prompts/``, rendered with ``variables``.
        schema: the pydantic model the final answer must validate against.
        rules: the rule policy's answer (called only when the model gives no valid output).
        take: ``(output, tool results) -> value``: the model's validated output as the value
            (default: the output itself).
        ctx, tools, validate, case_file: as for :func:`agents.runner.run_agent`.
    """
    msgs = load_prompt(prompt).messages(**(variables or {}))
    run: AgentRun[T] = run_agent(backend, msgs, schema, ctx=ctx, tools=tools, validate=validate, case_file=case_file)
    trace = [f"{role}: {t}" for t in run.trace]
    if run.output is not None:
        results = dict(run.results)
        value: Any = take(run.output, results) if take is not None else run.output
        return Step(value, backend.label, True, trace, results)
    trace.append(f"{role} fell back to rules ({run.error})")
    return Step(rules(), RULES, False, trace, dict(run.results))
