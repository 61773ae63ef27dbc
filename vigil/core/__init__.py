"""Foundations every layer may import: configuration, schemas, errors, logging, optional imports,
the store, the pattern memory, LLM clients and the plugin registry. Nothing here imports a layer
above it (``import-linter`` checks this in ``make test``)."""
