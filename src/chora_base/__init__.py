"""Tooling that ships with the chora-base template: compliance checker and docs helpers."""

__version__ = "0.1.0"
