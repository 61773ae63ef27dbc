"""What the agents exchange: the graph state and every structured answer, as pydantic models.

Each model is the JSON schema a language model must fill in; replies that do not validate are
retried once and then replaced by the rule policy's answer.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigil.core.schemas import ANOMALY_TYPES, UNKNOWN_ANOMALY

TypeName = Literal["running", "falling", "fighting", "loitering", "intrusion", "vehicle", "abandoned_object", "unknown"]
Verdict = Literal["alert", "unknown_anomaly", "suppress"]


class ObserverDecision(BaseModel):
    """The Observer's call on a candidate."""

    model_config = ConfigDict(extra="ignore")

    escalate: bool = Field(description="True to have the Analyst look closer, false to drop the candidate.")
    reason: str = Field(min_length=1, max_length=600, description="One sentence on why.")


class AnalystReport(BaseModel):
    """What the Analyst found."""

    model_config = ConfigDict(extra="ignore")

    proposed_type: TypeName = Field(description="Best anomaly type for the evidence, or 'unknown'.")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure the type is, 0..1.")
    evidence: str = Field(min_length=1, max_length=2000, description="The facts that support it, with times.")
    continuous: bool = Field(True, description="Whether the anomaly persisted rather than blipped.")
    onset_s: float | None = Field(None, description="When the anomaly began (seconds of video), if the evidence says.")


class Explanation(BaseModel):
    """An alert's explanation for a guard."""

    model_config = ConfigDict(extra="ignore")

    what: str = Field(min_length=1, max_length=600, description="What happened.")
    when: str = Field(min_length=1, max_length=200, description="When, in seconds of video.")
    where: str = Field(min_length=1, max_length=300, description="Where in the frame.")
    why: str = Field(min_length=1, max_length=600, description="Why it is unusual for this camera.")

    def text(self) -> str:
        """One paragraph."""
        return f"{self.what} {self.when} {self.where} {self.why}"


class Decision(BaseModel):
    """The Decider's verdict."""

    model_config = ConfigDict(extra="ignore")

    verdict: Verdict = Field(description="alert, unknown_anomaly or suppress.")
    event_type: TypeName = Field(description="The anomaly type; 'unknown' for unknown_anomaly.")
    confidence: float = Field(ge=0.0, le=1.0, description="Confidence in the verdict and type.")
    explanation: Explanation

    @field_validator("event_type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ANOMALY_TYPES and value != UNKNOWN_ANOMALY:
            raise ValueError(f"unknown anomaly type {value!r}")
        return value


# ----------------------------------------------------------------------------- tool arguments
class RollbackArgs(BaseModel):
    """Arguments of rollback_check."""

    seconds: float = Field(10.0, ge=1.0, le=120.0, description="How far back to look.")


class NoArgs(BaseModel):
    """A tool without arguments."""

    model_config = ConfigDict(extra="ignore")


class KeyframeArgs(BaseModel):
    """Arguments of sample_keyframes."""

    n: int = Field(8, ge=1, le=16, description="How many keyframes.")


class AlertState(TypedDict, total=False):
    """The LangGraph state of one candidate event's run through the graph."""

    event: dict[str, Any]                 # the candidate's summary (JSON-able)
    observer: dict[str, Any]              # ObserverDecision
    analyst: dict[str, Any]               # AnalystReport + tool results
    decision: dict[str, Any]              # Decision
    rules_verdict: str                    # what the rules alone decided (memories learn only from it)
    explained_by: Annotated[list[str], operator.add]   # one entry per node: rules | llm:<model>
    trace: Annotated[list[str], operator.add]          # tool calls and fallbacks, for the record
    disagreements: Annotated[list[str], operator.add]  # where the safety floor overruled a model
