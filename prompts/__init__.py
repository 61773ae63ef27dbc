"""Prompt templates, shipped as package data (YAML + Jinja) and loaded by name."""
