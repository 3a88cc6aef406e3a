"""What this server calls itself on every interface."""

NAME = "notes"
VERSION = "0.1.0"
DESCRIPTION = "Notes: keeps notes and publishes them to the search index as one saga; announces each publication and deletion as an event."  # noqa: E501
