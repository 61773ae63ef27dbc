"""Agents: the LangGraph Observer -> Analyst -> Decider graphs that explain candidate events."""
