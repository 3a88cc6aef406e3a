"""What this server calls itself on every interface."""

NAME = "search"
VERSION = "0.1.0"
DESCRIPTION = "Search: a full-text index over published notes, kept current from their events and by direct calls."  # noqa: E501
