"""Shared helpers for the repository's tests."""
