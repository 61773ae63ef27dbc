"""Vigil: agentic video-anomaly understanding.

The ``vigil`` package is the application shell (configuration, schemas, store, command line).
Perception, agents, prompts, the data engine and evaluation live in sibling packages; see
``DESIGN.md`` in the project docs for the dependency direction.
"""

__version__ = "0.1.0"
